package testbin

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNeedToolHelper is run by TestNeedTool in a child test binary.
func TestNeedToolHelper(t *testing.T) {
	if os.Getenv("TESTBIN_NEED_HELPER") != "1" {
		t.Skip("run by TestNeedTool")
	}
	NeedTool(t, "orbit-no-such-tool-3c1f")
	t.Log("reached after a missing tool")
}

// A missing tool skips the test on a laptop and fails it under CI=true,
// and the test goes no further in either case; a present tool is found.
func TestNeedTool(t *testing.T) {
	t.Parallel()
	if p := NeedTool(t, "sh"); !strings.HasSuffix(p, "sh") {
		t.Fatalf("NeedTool(sh) = %q", p)
	}
	for _, tc := range []struct {
		ci   string
		want string
	}{
		{"", "--- SKIP: TestNeedToolHelper"},
		{"false", "--- SKIP: TestNeedToolHelper"},
		{"true", "--- FAIL: TestNeedToolHelper"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNeedToolHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTBIN_NEED_HELPER=1", "CI="+tc.ci)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "reached after a missing tool") {
			t.Errorf("CI=%q: want %q and a stop at the missing tool, got:\n%s", tc.ci, tc.want, out)
		}
		if !strings.Contains(string(out), "orbit-no-such-tool-3c1f not installed") {
			t.Errorf("CI=%q: the message does not name the tool:\n%s", tc.ci, out)
		}
	}
}
