package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
)

// TestUpdatesEndToEnd runs the real orbit binary against a TUF repository
// made with our release tool and served over HTTP on 127.0.0.1: orbit
// installs osqueryd 5.12.1 from it at first start, replaces it with 5.13.0
// when that is published (osqueryd alone restarts), and finally updates
// itself by re-exec (same pid, new version).
func TestUpdatesEndToEnd(t *testing.T) {
	t.Parallel()
	tr := newTUFRepo(t)
	tr.add(t, "osqueryd", testbinOsqueryd(t, "5.12.1"), "5.12.1")

	root := filepath.Join(t.TempDir(), "orbit")
	// --update-interval is the minimum (10s): the first periodic check
	// comes after a random splay of up to that, so each step below takes
	// up to about 20 s.
	args := append([]string{"--root-dir=" + root, "--stop-grace=2s", "--debug"}, tr.updateArgs()...)
	p := startOrbitArgs(t, nil, args...)

	state := func() status.Snapshot {
		s, _ := status.Read(filepath.Join(root, "state.json"))
		return s
	}
	waitVersion := func(component, version string) {
		t.Helper()
		testwait.Within(t, 60*time.Second, component+" "+version+" running", func() bool {
			c := state().Components[component]
			return c.State == "running" && c.Version == version
		})
	}

	// 1. First start: osqueryd is fetched at once and run.
	waitVersion("osqueryd", "5.12.1")
	want := filepath.Join(root, "bin", "osqueryd", "linux", "stable", "osqueryd")
	if got := state().Components["osqueryd"].Path; got != want {
		t.Fatalf("osqueryd runs from %s, want %s", got, want)
	}
	// osqueryd waited for its install: no failed start was counted.
	if c := state().Components["osqueryd"]; c.Restarts != 0 || c.LastError != "" {
		t.Fatalf("osqueryd before its install counted as failing: restarts %d, last error %q", c.Restarts, c.LastError)
	}
	orbitPID := p.cmd.Process.Pid

	// 2. A new osqueryd is installed and restarted; orbit keeps running.
	tr.add(t, "osqueryd", testbinOsqueryd(t, "5.13.0"), "5.13.0")
	waitVersion("osqueryd", "5.13.0")
	if s := state(); s.OrbitPID != orbitPID || s.Components["orbit"].Version != "1.0.0-test" {
		t.Fatalf("orbit changed on an osqueryd update: %+v", s.Components["orbit"])
	}
	if _, err := os.Stat(want + ".previous"); err != nil {
		t.Fatalf("previous osqueryd not kept: %v", err)
	}

	// 3. orbit updates itself: the same process execs the new binary.
	tr.add(t, "orbit", testbinOrbit(t, "2.0.0-test"), "2.0.0-test")
	testwait.Within(t, 60*time.Second, "orbit 2.0.0-test running", func() bool {
		s := state()
		return s.OrbitVersion == "2.0.0-test" && s.Components["osqueryd"].State == "running"
	})
	if s := state(); s.OrbitPID != orbitPID {
		t.Fatalf("orbit pid %d after self-update, want the same pid %d (re-exec)", s.OrbitPID, orbitPID)
	}
	exe, _ := os.Readlink("/proc/" + itoa(orbitPID) + "/exe")
	if filepath.Dir(exe) != filepath.Join(root, "bin", "orbit", "linux", "stable") {
		t.Fatalf("orbit runs %s, want the installed update", exe)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("orbit exit after self-update: %v", err)
	}
}
