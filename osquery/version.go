package osquery

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/orbitagent/orbit/internal/capped"
)

// Version runs `<path> --version` in osqueryd's environment (without the
// enroll secret) and returns the last word it prints ("osqueryd version
// 5.12.1" gives "5.12.1"), or "" when it does not answer within 5 s.
func Version(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := &capped.Buffer{Max: 4096}
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Stdout = out
	cmd.WaitDelay = time.Second
	cmd.Env = ChildEnv(os.Environ(), "")
	if err := cmd.Run(); err != nil {
		return ""
	}
	f := strings.Fields(out.String())
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}
