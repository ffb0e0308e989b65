package supervisor

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// setPdeathsig makes the kernel SIGKILL the child when the thread that forked
// it dies; Run forks from a thread locked for the children's lifetime, so
// this fires exactly when orbit itself dies (even by SIGKILL).
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// waitExitedNoReap blocks until pid has exited but leaves it a zombie.
func waitExitedNoReap(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil
	}
}
