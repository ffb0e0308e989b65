package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/status"
)

// TestRollbackEndToEnd runs the real orbit, the real process runner and a
// TUF repository: an osqueryd release that crashes at start is rolled back
// to the previous one within the watch window and never tried again, and
// the next good release installs (the crash history of the bad one is not
// held against it).
func TestRollbackEndToEnd(t *testing.T) {
	t.Parallel()
	tr := newTUFRepo(t)
	add := func(file, version string) { tr.add(t, "osqueryd", file, version) }
	add(testbinOsqueryd(t, "5.12.1"), "5.12.1")

	root := filepath.Join(t.TempDir(), "orbit")
	p := startOrbitArgs(t, nil, append([]string{"--root-dir=" + root, "--stop-grace=2s"}, tr.updateArgs()...)...)
	state := func() status.Snapshot {
		s, _ := status.Read(filepath.Join(root, "state.json"))
		return s
	}
	running := func(version string) func() bool {
		return func() bool {
			c := state().Components["osqueryd"]
			return c.State == "running" && c.Version == version
		}
	}
	eventuallyWithin(t, 60*time.Second, "5.12.1 running", running("5.12.1"))

	// A release that passes its exec check but crashes at start.
	bad := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "-X main.version=5.13.0 -X main.crashAtStart=1")
	add(bad, "5.13.0")
	var rolledBack status.UpdateEvent
	eventuallyWithin(t, 120*time.Second, "5.13.0 rolled back", func() bool {
		for _, ev := range state().Updates {
			if ev.Action == "rolled_back" && ev.Component == "osqueryd" {
				rolledBack = ev
				return true
			}
		}
		return false
	})
	if rolledBack.Version != "5.13.0" {
		t.Fatalf("rollback event %+v, want it to name 5.13.0", rolledBack)
	}
	eventuallyWithin(t, 60*time.Second, "5.12.1 running again", running("5.12.1"))

	// The next good release installs and stays.
	add(testbinOsqueryd(t, "5.14.0"), "5.14.0")
	eventuallyWithin(t, 60*time.Second, "5.14.0 running", running("5.14.0"))
	// It stays through a health check of the watch window (every 10 s):
	// the bad release's crash loop is not blamed on it.
	for end := time.Now().Add(12 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if c := state().Components["osqueryd"]; c.Version != "5.14.0" {
			t.Fatalf("5.14.0 replaced by %s during its watch window", c.Version)
		}
	}
	installs := 0
	for _, ev := range state().Updates {
		if ev.Action == "installed" && ev.Version == "5.13.0" {
			installs++
		}
	}
	if installs != 1 {
		t.Fatalf("bad 5.13.0 installed %d times, want once (never retried)", installs)
	}
	out, _, _ := runOrbit(t, nil, "status", "--root-dir="+root)
	if !strings.Contains(out, "rolled_back 5.13.0") {
		t.Fatalf("orbit status does not show the rollback:\n%s", out)
	}
	p.cmd.Process.Signal(os.Interrupt)
	p.wait(t, 30*time.Second)
}
