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

const scriptExt = ""

// allowedInterpreters are the shebangs executed directly, as Fleet's orbit
// allows (fleet.ValidateShebang); a script without a shebang runs with sh.
var allowedInterpreters = []string{
	"/bin/sh", "/bin/bash", "/bin/zsh",
	"/usr/bin/env sh", "/usr/bin/env bash", "/usr/bin/env zsh",
	"/usr/bin/sh", "/usr/bin/bash", "/usr/bin/zsh",
}

func execScript(ctx context.Context, path, contents string, out io.Writer, env []string) (int, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", path)
	if strings.HasPrefix(contents, "#!") {
		line, _, _ := strings.Cut(contents[2:], "\n")
		interp := strings.Join(strings.Fields(line), " ")
		ok := false
		for _, a := range allowedInterpreters {
			if interp == a {
				ok = true
			}
		}
		if !ok {
			return -1, fmt.Errorf("interpreter %q not supported: use #!/bin/sh, #!/bin/bash or #!/bin/zsh", shorten(interp, 80))
		}
		if err := os.Chmod(path, 0o700); err != nil {
			return -1, fmt.Errorf("mark script executable: %w", err)
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
	err := cmd.Run()
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
