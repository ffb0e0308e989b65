package supervisor

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// interactiveDesktop is the desktop a logged-on user sees. Without it
// CreateProcessAsUser puts the child on a desktop that is not visible and
// takes no input (os/exec cannot set it, hence this starter).
const interactiveDesktop = `winsta0\default`

// startAsUser starts the child in the user's WTS session with that
// session's user token (CreateProcessAsUser; orbit runs as LocalSystem,
// which may query it), on the interactive desktop, suspended until it is
// in a kill-on-close job like every other child. Only its three standard
// handles are inherited.
func startAsUser(spec Spec, stdout, stderr *os.File) (Child, error) {
	var tok windows.Token
	if err := windows.WTSQueryUserToken(spec.User.Session, &tok); err != nil {
		return nil, fmt.Errorf("get the user token of session %d (%s; orbit must run as LocalSystem): %w", spec.User.Session, spec.User.Name, err)
	}
	defer tok.Close()
	env := spec.Env
	if env == nil {
		var err error
		if env, err = tok.Environ(false); err != nil {
			return nil, fmt.Errorf("build the environment of %s: %w", spec.User.Name, err)
		}
	}
	block, err := envBlock(env)
	if err != nil {
		return nil, err
	}
	std, err := inheritableStdHandles(stdout, stderr)
	if err != nil {
		return nil, err
	}
	defer std.close()

	attrs, err := windows.NewProcThreadAttributeList(1)
	if err != nil {
		return nil, fmt.Errorf("start %s as %s: %w", spec.Path, spec.User.Name, err)
	}
	defer attrs.Delete()
	if err := attrs.Update(windows.PROC_THREAD_ATTRIBUTE_HANDLE_LIST, unsafe.Pointer(&std.handles[0]),
		uintptr(len(std.handles))*unsafe.Sizeof(std.handles[0])); err != nil {
		return nil, fmt.Errorf("start %s as %s: limit inherited handles: %w", spec.Path, spec.User.Name, err)
	}
	si := windows.StartupInfoEx{ProcThreadAttributeList: attrs.List()}
	si.Cb = uint32(unsafe.Sizeof(si))
	si.Flags = windows.STARTF_USESTDHANDLES
	si.StdInput, si.StdOutput, si.StdErr = std.handles[0], std.handles[1], std.handles[2]
	if si.Desktop, err = windows.UTF16PtrFromString(interactiveDesktop); err != nil {
		return nil, err
	}
	app, err := windows.UTF16PtrFromString(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("start %s: bad path: %w", spec.Path, err)
	}
	cmdLine, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(append([]string{spec.Path}, spec.Args...)))
	if err != nil {
		return nil, fmt.Errorf("start %s: bad argument: %w", spec.Path, err)
	}
	var dir *uint16
	if spec.Dir != "" {
		if dir, err = windows.UTF16PtrFromString(spec.Dir); err != nil {
			return nil, fmt.Errorf("start %s: bad directory %q: %w", spec.Path, spec.Dir, err)
		}
	}

	job, err := newKillOnCloseJob()
	if err != nil {
		return nil, err
	}
	flags := uint32(windows.CREATE_UNICODE_ENVIRONMENT | windows.CREATE_NEW_PROCESS_GROUP |
		windows.CREATE_SUSPENDED | windows.EXTENDED_STARTUPINFO_PRESENT)
	var pi windows.ProcessInformation
	if err := windows.CreateProcessAsUser(tok, app, cmdLine, nil, nil, true, flags, &block[0], dir, &si.StartupInfo, &pi); err != nil {
		windows.CloseHandle(job)
		return nil, fmt.Errorf("start %s as %s (CreateProcessAsUser): %w", spec.Path, spec.User.Name, err)
	}
	defer windows.CloseHandle(pi.Thread)
	if err := windows.AssignProcessToJobObject(job, pi.Process); err != nil {
		_ = windows.TerminateProcess(pi.Process, 1)
		windows.CloseHandle(pi.Process)
		windows.CloseHandle(job)
		return nil, fmt.Errorf("assign the child process %d to its job object: %w", pi.ProcessId, err)
	}
	if _, err := windows.ResumeThread(pi.Thread); err != nil {
		_ = windows.TerminateJobObject(job, 1)
		windows.CloseHandle(pi.Process)
		windows.CloseHandle(job)
		return nil, fmt.Errorf("resume the child process %d: %w", pi.ProcessId, err)
	}
	proc := pi.Process
	wait := func() (int, error) {
		defer windows.CloseHandle(proc)
		if _, err := windows.WaitForSingleObject(proc, windows.INFINITE); err != nil {
			return -1, fmt.Errorf("wait for the child process: %w", err)
		}
		var code uint32
		if err := windows.GetExitCodeProcess(proc, &code); err != nil {
			return -1, fmt.Errorf("read the child's exit code: %w", err)
		}
		if code != 0 {
			return int(code), fmt.Errorf("exit status %d", code)
		}
		return 0, nil
	}
	return &winChild{pid: int(pi.ProcessId), wait: wait, job: job}, nil
}

// envBlock is env as CreateProcess wants it: NUL-separated UTF-16 strings
// ending with an empty one.
func envBlock(env []string) ([]uint16, error) {
	var b []uint16
	for _, kv := range env {
		if strings.IndexByte(kv, 0) >= 0 || !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("environment entry %q is not NAME=value", kv)
		}
		u, err := windows.UTF16FromString(kv) // ends with its NUL
		if err != nil {
			return nil, err
		}
		b = append(b, u...)
	}
	if len(b) == 0 {
		b = append(b, 0)
	}
	return append(b, 0), nil
}

// stdHandles are inheritable copies of the child's stdin (NUL), stdout and
// stderr, closed once the child has its own.
type stdHandles struct {
	handles []windows.Handle
	nul     *os.File
}

func inheritableStdHandles(stdout, stderr *os.File) (*stdHandles, error) {
	nul, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("open %s for the child's stdin: %w", os.DevNull, err)
	}
	s := &stdHandles{nul: nul}
	cur := windows.CurrentProcess()
	for _, f := range []*os.File{nul, stdout, stderr} {
		if f == nil {
			f = nul
		}
		var dup windows.Handle
		if err := windows.DuplicateHandle(cur, windows.Handle(f.Fd()), cur, &dup, 0, true, windows.DUPLICATE_SAME_ACCESS); err != nil {
			s.close()
			return nil, fmt.Errorf("pass the child its standard handles: %w", err)
		}
		s.handles = append(s.handles, dup)
	}
	return s, nil
}

func (s *stdHandles) close() {
	for _, h := range s.handles {
		windows.CloseHandle(h)
	}
	s.nul.Close()
}
