package supervisor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrLocked means another orbit already runs on the same root directory.
var ErrLocked = errors.New("another orbit is already running with this root directory")

// Lock is the single-instance lock on a root directory. The kernel drops
// the lock when the process dies, so a `kill -9` never leaves it stuck.
type Lock struct {
	f *os.File
}

// AcquireLock takes the lock at path without waiting. On failure the error
// wraps ErrLocked and names the holder's pid when known.
func AcquireLock(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			if holder != "" {
				return nil, fmt.Errorf("%w (pid %s, lock %s): stop it first, or use another --root-dir", ErrLocked, holder, path)
			}
			return nil, fmt.Errorf("%w (lock %s): stop it first, or use another --root-dir", ErrLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Record our pid for the message a second instance prints.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
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
