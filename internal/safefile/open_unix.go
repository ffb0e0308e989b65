//go:build !windows

package safefile

import (
	"os"
	"syscall"
)

// openNoWait opens path for reading without blocking on a FIFO that has no
// writer and without making a terminal orbit's controlling one; for a
// regular file the flags change nothing.
func openNoWait(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}
