package safefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Lock is an exclusive lock on a directory, taken through a lock file in
// it, held until Release or the end of the process: the kernel drops it
// when the holder dies, even by SIGKILL, so a crash never leaves it
// stuck. On Unix both the file and its directory are flocked: deleting or
// replacing the file does not free the directory, so a second process
// cannot take it while the holder runs. On Windows the file is locked
// with LockFileEx and held open without delete sharing, so it cannot be
// deleted or renamed while held. A directory holds one such lock.
type Lock struct {
	f   *os.File
	dir *os.File // nil on Windows
}

// ErrLockFileType is TryLock's error for a lock path that is a symbolic
// link (or reparse point) or not a regular file: it is never followed,
// so nothing it points at is overwritten.
var ErrLockFileType = errors.New("lock file is not a regular file")

// TryLock takes the lock on path's directory (creating path with perm if
// missing) without waiting. A held lock is a *HeldError. The holder's pid
// is recorded in the file, only as a hint for that error.
func TryLock(path string, perm os.FileMode) (*Lock, error) {
	f, err := openLockFile(path, perm)
	if err != nil {
		return nil, err
	}
	held := func() error {
		holder := readHolder(f)
		f.Close()
		return &HeldError{Path: path, Holder: holder}
	}
	if err := lockFile(f); err != nil {
		if errors.Is(err, errWouldBlock) {
			return nil, held()
		}
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	dir, err := lockDir(filepath.Dir(path))
	if err != nil {
		_ = unlockFile(f)
		if errors.Is(err, errWouldBlock) {
			// The holder's lock file was deleted or replaced: this one is
			// new, and names nobody.
			return nil, held()
		}
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", filepath.Dir(path), err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, dir: dir}, nil
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
	if l.dir != nil {
		_ = unlockFile(l.dir)
		_ = l.dir.Close()
	}
	l.f, l.dir = nil, nil
	return err
}

func readHolder(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	return strings.TrimSpace(string(buf[:n]))
}
