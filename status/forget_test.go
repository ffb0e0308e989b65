package status

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock/clocktest"
)

// Forget removes a component from the state file; the last of Report and
// Forget for a name wins, however the writer batches them.
func TestReporterForget(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	store := NewStore(path, "1.0.0", clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	r := NewReporter(ReporterConfig{Store: store, Logger: zerolog.Nop()})
	alice := Process{Name: "desktop/alice", User: "alice", Session: "2", State: StateRunning, PID: 7}
	bob := Process{Name: "desktop/bob", User: "bob", Session: "5", State: StateRunning, PID: 8}
	r.Report(alice)
	r.Report(bob)
	r.Forget("desktop/alice")
	r.Forget("desktop/bob")
	r.Report(bob) // bob logged in again
	r.Close()
	snap, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Components["desktop/alice"]; ok {
		t.Errorf("alice's tray app is still in the state file after Forget: %+v", snap.Components)
	}
	if got := snap.Components["desktop/bob"]; got.Process != bob {
		t.Errorf("bob's tray app %+v, want %+v (reported after Forget)", got.Process, bob)
	}

	// Forget of something already written removes it.
	r = NewReporter(ReporterConfig{Store: store, Logger: zerolog.Nop()})
	r.Forget("desktop/bob")
	r.Close()
	if snap, _ := Read(path); len(snap.Components) != 0 {
		t.Errorf("components %+v, want none", snap.Components)
	}
}
