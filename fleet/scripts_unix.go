//go:build !windows

package fleet

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const scriptExt = ".sh"

func execScript(ctx context.Context, path, contents string, out io.Writer, env []string) (int, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", path)
	direct, err := ValidateShebang(contents)
	if err != nil {
		// Fleet's agent words it so (orbit/pkg/scripts ExecCmd).
		return -1, fmt.Errorf("validating script %s: %w", path, err)
	}
	if direct {
		if err := os.Chmod(path, 0o700); err != nil {
			return -1, fmt.Errorf("marking script as executable %s: %w", path, err)
		}
		cmd = exec.CommandContext(ctx, path)
	}
	cmd.Dir = dirOf(path)
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	// A process group lets the timeout kill the script's children too
	// (a "sleep" left behind would hold the output pipe open).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	if cmd.ProcessState != nil && ctx.Err() == nil {
		if _, isExit := err.(*exec.ExitError); isExit || err == nil {
			return cmd.ProcessState.ExitCode(), nil
		}
		return cmd.ProcessState.ExitCode(), err
	}
	return -1, err
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "."
}
