package supervisor

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/orbitagent/orbit/internal/testwait"
)

// TestRealParentKilledLeavesNoChild plays orbit dying by SIGKILL: the child
// must follow through Pdeathsig, even though the parent churned OS threads
// while the child ran (the golang/go#27505 trap).
func TestRealParentKilledLeavesNoChild(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	parent := exec.Command(selfExe(t))
	parent.Env = append(os.Environ(), childModeEnv+"=parent", childPidfileEnv+"="+pidfile)
	parent.Stderr = os.Stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })

	child := waitPidfile(t, pidfile)
	testwait.For(t, "parent churned its OS threads", func() bool {
		_, err := os.Stat(pidfile + ".churned")
		return err == nil
	})
	if again := waitPidfile(t, pidfile); !alive(child) || again != child {
		t.Fatalf("child %d (alive %v) was replaced by %d while the parent lived", child, alive(child), again)
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	testwait.For(t, "child gone after its supervisor was SIGKILLed", func() bool { return !alive(child) })
}
