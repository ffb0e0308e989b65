package supervisor

import (
	"errors"
	"fmt"

	"github.com/orbitagent/orbit/internal/safefile"
)

// ErrLocked means another orbit already runs on the same root directory.
var ErrLocked = errors.New("another orbit is already running with this root directory")

// AcquireLock takes the single-instance lock on a root directory (its
// orbit.lock) without waiting. On failure the error wraps ErrLocked and
// names the holder's pid when known.
func AcquireLock(path string) (*safefile.Lock, error) {
	l, err := safefile.TryLock(path, 0o644)
	var held *safefile.HeldError
	if errors.As(err, &held) {
		if held.Holder != "" {
			return nil, fmt.Errorf("%w (pid %s, lock %s): stop it first, or use another --root-dir", ErrLocked, held.Holder, path)
		}
		return nil, fmt.Errorf("%w (lock %s): stop it first, or use another --root-dir", ErrLocked, path)
	}
	return l, err
}
