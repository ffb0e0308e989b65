package updater

// checkPrivateDir is left to the host-side check on Windows, where the
// root's ACL (Program Files: administrators only) decides who can write;
// Go's mode bits do not describe ACLs.
//
// SEAM (issue 14): replace with rootdir.Layout.CheckWritableDir (branch
// hostharden) once that lands.
func checkPrivateDir(string) error { return nil }
