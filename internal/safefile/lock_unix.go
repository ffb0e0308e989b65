//go:build !windows

package safefile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

var errWouldBlock = errors.New("lock held")

// openLockFile opens (or creates) the lock file without following a
// symbolic link and refuses anything but a regular file, checked on the
// opened descriptor. O_NONBLOCK keeps a FIFO put there from blocking.
func openLockFile(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, perm)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("open lock file %s: %w (it is a symbolic link): remove it, the lock is created where it belongs", path, ErrLockFileType)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open lock file %s: %w (it is a %s): remove it", path, ErrLockFileType, kind(fi.Mode()))
	}
	return f, nil
}

// lockDir flocks the directory itself, which no one can delete from under
// the holder; an open directory can be flocked on Linux and macOS.
func lockDir(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := lockFile(d); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

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
