//go:build !windows

package safefile

import (
	"errors"
	"os"
	"syscall"
)

var errWouldBlock = errors.New("lock held")

// flock locks are per open file description and released by the kernel
// when the holder exits, even by SIGKILL.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errWouldBlock
	}
	return err
}

func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
