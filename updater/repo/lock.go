package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

var errLocked = errors.New("locked")

// ErrLocked is returned (wrapped) when another orbitctl holds the
// repository lock.
var ErrLocked = errors.New("repository is locked by another orbitctl process")

const lockName = ".orbitctl.lock"

// repoLock is an exclusive advisory lock on DIR/.orbitctl.lock; the kernel
// drops it when the process dies, so a crash never leaves it stuck.
type repoLock struct{ f *os.File }

func acquireLock(dir string) (*repoLock, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil && len(b) > 0 {
			holder = " (pid " + strings.TrimSpace(string(b)) + ")"
		}
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w%s: wait for it to finish and try again", ErrLocked, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid is only a hint for the error message above.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &repoLock{f: f}, nil
}

func (l *repoLock) release() error {
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
