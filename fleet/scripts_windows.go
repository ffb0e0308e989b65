package fleet

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"time"
)

const scriptExt = ".ps1"

func execScript(ctx context.Context, path, _ string, out io.Writer, env []string) (int, error) {
	cmd := exec.CommandContext(ctx, "powershell", "-MTA", "-ExecutionPolicy", "Bypass", "-File", path)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if cmd.ProcessState != nil && ctx.Err() == nil {
		// Windows exit codes are unsigned 32-bit; a killed process reports
		// 0xFFFFFFFF, which Fleet expects as -1.
		code := int(int32(cmd.ProcessState.ExitCode()))
		if _, isExit := err.(*exec.ExitError); isExit || err == nil {
			return code, nil
		}
		return code, err
	}
	return -1, err
}
