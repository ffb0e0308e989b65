package desktop

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// ParentAlive returns a probe of the parent process. Windows never
// re-parents, so the probe holds a handle on the parent (which also keeps
// its pid from being reused) and asks whether it has exited.
func ParentAlive() (func() bool, error) {
	ppid := os.Getppid()
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(ppid))
	if err != nil {
		return nil, fmt.Errorf("watch the parent process %d: %w", ppid, err)
	}
	return func() bool {
		ev, err := windows.WaitForSingleObject(h, 0)
		return err == nil && ev == uint32(windows.WAIT_TIMEOUT)
	}, nil
}
