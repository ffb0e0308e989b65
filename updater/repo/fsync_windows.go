package repo

// syncDir is a no-op: Windows cannot fsync a directory and NTFS journals
// renames itself.
func syncDir(string) {}
