//go:build unix

package regularfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// openNonBlocking opens read-only with O_NONBLOCK, which makes open() of a
// FIFO or a terminal return at once; on a regular file it changes nothing.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
}
