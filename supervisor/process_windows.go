package supervisor

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

type winChild struct {
	pid int
	// wait waits for the process to exit and returns its exit status.
	wait func() (int, error)

	mu     sync.Mutex
	job    windows.Handle
	closed bool
}

func startCmd(cmd *exec.Cmd) (Child, error) {
	job, err := newKillOnCloseJob()
	if err != nil {
		return nil, err
	}
	// Suspended until it is in the job, so nothing it spawns can escape the
	// job. A new process group lets CTRL_BREAK reach the child alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_SUSPENDED,
	}
	if err := cmd.Start(); err != nil {
		windows.CloseHandle(job)
		return nil, err
	}
	if err := assignAndResume(job, uint32(cmd.Process.Pid)); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		windows.CloseHandle(job)
		return nil, err
	}
	wait := func() (int, error) { return exitStatus(cmd, cmd.Wait()) }
	return &winChild{pid: cmd.Process.Pid, wait: wait, job: job}, nil
}

// newKillOnCloseJob creates a job whose processes are killed when its last
// handle closes: ours is not inherited, so the tree dies with orbit.
func newKillOnCloseJob() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("create a job object for the child: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, fmt.Errorf("set kill-on-close on the child's job object: %w", err)
	}
	return job, nil
}

func assignAndResume(job windows.Handle, pid uint32) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
	if err != nil {
		return fmt.Errorf("open the child process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		return fmt.Errorf("assign the child process %d to its job object: %w", pid, err)
	}
	return resumeThreads(pid)
}

// resumeThreads resumes the suspended main thread of pid; os/exec does not
// give us its handle, so find it in a thread snapshot.
func resumeThreads(pid uint32) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("list threads to resume the child: %w", err)
	}
	defer windows.CloseHandle(snap)
	var te windows.ThreadEntry32
	te.Size = uint32(unsafe.Sizeof(te))
	resumed := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return fmt.Errorf("open thread %d of the child: %w", te.ThreadID, err)
		}
		_, err = windows.ResumeThread(th)
		windows.CloseHandle(th)
		if err != nil {
			return fmt.Errorf("resume thread %d of the child: %w", te.ThreadID, err)
		}
		resumed++
	}
	if resumed == 0 {
		return errors.New("resume the child: no thread of it found")
	}
	return nil
}

func (c *winChild) PID() int { return c.pid }

// Terminate sends CTRL_BREAK to the child's process group. It fails when we
// share no console with the child (as a service); the caller then kills.
func (c *winChild) Terminate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errChildGone
	}
	return windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(c.pid))
}

func (c *winChild) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errChildGone
	}
	return windows.TerminateJobObject(c.job, 1)
}

func (c *winChild) Wait() (int, error) {
	code, err := c.wait()
	c.mu.Lock()
	// Kill whatever the child left in its job, then let the job go.
	_ = windows.TerminateJobObject(c.job, 1)
	windows.CloseHandle(c.job)
	c.closed = true
	c.mu.Unlock()
	return code, err
}
