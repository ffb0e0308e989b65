package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Unavailable ends a test whose prerequisite (a tool, root, a kernel
// feature) is missing: the test is skipped on a laptop, but fails under
// CI=true, where `make test` provides everything (scripts/test-deps.sh),
// so a check is never silently lost.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: required under CI=true (make test provides it)", msg)
	}
	t.Skip(msg)
}

// NeedTool returns the path of an external tool a test needs, or ends the
// test as Unavailable.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s not installed (make test-deps installs it): %v", name, err)
	}
	return p
}

// NeedRoot ends the test as Unavailable unless it runs as root; why says
// what needs it (CI runs the tests as root).
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root: %s", why)
	}
}

// RunTool runs an external tool (found with NeedTool) in dir and returns
// its stdout, failing the test with the tool's stderr when it exits
// non-zero.
func RunTool(t testing.TB, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(NeedTool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr)
	}
	return out
}
