package safefile

// SyncDir is a no-op on Windows: directories cannot be opened for sync and
// NTFS renames are journaled.
func SyncDir(string) {}
