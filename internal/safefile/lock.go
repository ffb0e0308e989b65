package safefile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrLocked means another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// HeldError is TryLock's error when the lock is held. It wraps ErrLocked;
// callers put it in their own words.
type HeldError struct {
	Path string
	// Holder is the pid the holder recorded in the file, "" if unknown.
	Holder string
}

func (e *HeldError) Error() string {
	if e.Holder != "" {
		return fmt.Sprintf("%s is locked by pid %s", e.Path, e.Holder)
	}
	return fmt.Sprintf("%s is locked by another process", e.Path)
}

func (e *HeldError) Unwrap() error { return ErrLocked }

// Lock is an exclusive advisory lock on a file, held until Release or the
// end of the process: the kernel drops it when the holder dies, even by
// SIGKILL, so a crash never leaves it stuck. (flock on Unix, LockFileEx on
// Windows.)
type Lock struct {
	f *os.File
}

// TryLock takes the lock on path (created with perm if missing) without
// waiting. A held lock is a *HeldError. The holder's pid is recorded in
// the file, only as a hint for that error.
func TryLock(path string, perm os.FileMode) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &HeldError{Path: path, Holder: holder}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock (and the pid hint). Releasing twice, or a nil
// Lock, is harmless.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unlockFile(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

func readHolder(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	return strings.TrimSpace(string(buf[:n]))
}
