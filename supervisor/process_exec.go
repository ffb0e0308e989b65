package supervisor

import (
	"errors"
	"os"
	"os/exec"
)

// errChildGone is returned when signalling a child that has been reaped.
var errChildGone = errors.New("child process has already exited")

// ExecStarter starts children with os/exec, contained so that their whole
// tree can be stopped and dies with us: on Unix each child leads its own
// process group (and on Linux gets SIGKILL when its parent thread dies); on
// Windows each child runs in a Job Object that is killed when orbit exits.
// A Spec with a User starts the child as that user (startAsUser).
type ExecStarter struct{}

// Start implements Starter.
func (ExecStarter) Start(spec Spec, stdout, stderr *os.File) (Child, error) {
	if spec.User != nil {
		return startAsUser(spec, stdout, stderr)
	}
	return startCmd(command(spec, stdout, stderr))
}

// command is the exec.Cmd for spec, without process attributes.
func command(spec Spec, stdout, stderr *os.File) *exec.Cmd {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	// Hand over files, never other writers: os/exec would otherwise copy
	// through a goroutine that Wait blocks on.
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	return cmd
}

func exitStatus(cmd *exec.Cmd, err error) (int, error) {
	if cmd.ProcessState == nil {
		return -1, err
	}
	if err == nil {
		return 0, nil
	}
	return cmd.ProcessState.ExitCode(), err
}
