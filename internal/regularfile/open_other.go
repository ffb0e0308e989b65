//go:build !unix

package regularfile

import "os"

// openNonBlocking: opening a named pipe or a device on Windows does not
// wait for a peer, so a plain open suffices; the type is checked after.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
