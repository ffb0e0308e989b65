//go:build unix

package supervisor

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// groupGoneTimeout bounds the wait for killed group members to disappear.
const groupGoneTimeout = 2 * time.Second

type unixChild struct {
	cmd *exec.Cmd
	pid int // also the process group id (Setpgid)

	mu     sync.Mutex
	reaped bool
}

// startCmd starts cmd in a process group of its own; attributes already
// set on cmd (a user's credentials) are kept.
func startCmd(cmd *exec.Cmd) (Child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setPdeathsig(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &unixChild{cmd: cmd, pid: cmd.Process.Pid}, nil
}

func (c *unixChild) PID() int { return c.pid }

func (c *unixChild) Terminate() error { return c.signalGroup(unix.SIGTERM) }

func (c *unixChild) Kill() error { return c.signalGroup(unix.SIGKILL) }

// signalGroup signals the whole group, never after the leader was reaped:
// from then on its pid, our group id, may belong to someone else.
func (c *unixChild) signalGroup(sig unix.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reaped {
		return errChildGone
	}
	if err := unix.Kill(-c.pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errChildGone
		}
		return err
	}
	return nil
}

func (c *unixChild) Wait() (int, error) {
	var err error
	if waitExitedNoReap(c.pid) {
		// The leader is a zombie, so the group id cannot be reused yet:
		// kill what it left behind, then reap it.
		_ = c.Kill()
		err = c.cmd.Wait()
		c.mu.Lock()
		c.reaped = true
		c.mu.Unlock()
	} else {
		// No waitid(WNOWAIT) here: reap first, then kill the rest. The group
		// id stays reserved while any member lives, so the kill can only miss
		// (never hit a stranger) unless the group emptied in between.
		err = c.cmd.Wait()
		_ = unix.Kill(-c.pid, unix.SIGKILL)
		c.mu.Lock()
		c.reaped = true
		c.mu.Unlock()
	}
	waitGroupGone(c.pid)
	return exitStatus(c.cmd, err)
}

// waitGroupGone waits (bounded) until SIGKILLed group members are gone, so
// that "stopped" means the tree is gone, not merely signalled. Members
// reparented to init count until init reaps them.
func waitGroupGone(pgid int) {
	deadline := time.Now().Add(groupGoneTimeout)
	for time.Now().Before(deadline) {
		if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
