// Package tooltest finds the outside tools (7zz, bsdtar, cpio, ...) that
// the packaging tests check their output with. `make test` installs them
// (scripts/test-deps.sh); on a laptop without one the test skips, but
// under CI=true a missing tool fails the test, so a check is never
// silently lost.
package tooltest

import (
	"os"
	"os/exec"
	"testing"
)

// Need returns the path of the named tool, or ends the test: Skip on a
// laptop, Fatal under CI=true.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true (make test installs it via scripts/test-deps.sh): %v", name, err)
	}
	t.Skipf("%s not installed (run `make test-deps`): %v", name, err)
	return ""
}

// Run runs a tool and returns its stdout, failing the test with the
// tool's stderr when it exits non-zero.
func Run(t testing.TB, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(Need(t, name), args...)
	cmd.Dir = dir
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr)
	}
	return out
}
