package supervisor

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testuser"
)

// A Spec with a User starts the child with exactly that user's uid, gid
// and supplementary groups (none of root's), in the given directory and
// environment, and the runner can still stop it.
func TestExecStarterRunsAsUser(t *testing.T) {
	t.Parallel()
	u := testuser.New(t)
	env := []string{"HOME=" + u.Home, "USER=" + u.Name, "PATH=/usr/bin:/bin"}
	spec := Spec{Path: "/bin/sleep", Args: []string{"600"}, Env: env, Dir: u.Home,
		User: &User{Name: u.Name, UID: u.UID, GID: u.GID, Groups: u.Groups}}
	child, err := ExecStarter{}.Start(spec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := child.PID()
	testuser.CheckCreds(t, pid, u)
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != u.Home {
		t.Errorf("cwd %q (%v), want %s", cwd, err, u.Home)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"); !slices.Equal(got, env) {
		t.Errorf("environment %q, want exactly %q", got, env)
	}
	if err := child.Terminate(); err != nil {
		t.Fatalf("terminate the user's child: %v", err)
	}
	if code, _ := child.Wait(); code != -1 {
		t.Errorf("exit code %d after SIGTERM, want -1 (signal)", code)
	}
	if alive(pid) {
		t.Errorf("child %d still alive after Wait", pid)
	}
}
