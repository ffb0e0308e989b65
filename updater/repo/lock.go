package repo

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/orbitagent/orbit/internal/safefile"
)

// ErrLocked is returned (wrapped) when another orbitctl holds the
// repository lock.
var ErrLocked = errors.New("repository is locked by another orbitctl process")

const lockName = ".orbitctl.lock"

// acquireLock takes the exclusive lock on DIR/.orbitctl.lock that keeps a
// second editor out.
func acquireLock(dir string) (*safefile.Lock, error) {
	l, err := safefile.TryLock(filepath.Join(dir, lockName), 0o600)
	var held *safefile.HeldError
	if errors.As(err, &held) {
		holder := ""
		if held.Holder != "" {
			holder = " (pid " + held.Holder + ")"
		}
		return nil, fmt.Errorf("%w%s: wait for it to finish and try again", ErrLocked, holder)
	}
	return l, err
}
