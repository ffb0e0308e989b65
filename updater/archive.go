package updater

import "strings"

// isArchive reports whether a target file is extracted on install (by
// package extract).
func isArchive(fileName string) bool { return strings.HasSuffix(fileName, ".tar.gz") }
