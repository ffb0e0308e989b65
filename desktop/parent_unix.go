//go:build unix

package desktop

import "os"

// ParentAlive returns a probe of the parent process: on Unix an orphan is
// re-parented (to init or a subreaper), so a changed parent pid means the
// parent is gone. A tray started by init itself is never orphaned.
func ParentAlive() (func() bool, error) {
	ppid := os.Getppid()
	return func() bool { return os.Getppid() == ppid }, nil
}
