package status

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/safefile"
)

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	if _, err := Read(path); !errors.Is(err, ErrNoState) {
		t.Fatalf("Read before any write = %v, want ErrNoState", err)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := NewStore(path, "1.2.3", clocktest.New(now))
	if err := s.UpdateComponent("osqueryd", func(c *Component) { c.State = "running"; c.PID = 42; c.Restarts = 2 }); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFleet(Fleet{URL: "https://fleet", Enrolled: true}); err != nil {
		t.Fatal(err)
	}
	for i := range maxUpdateEvents + 5 {
		if err := s.AddUpdateEvent(UpdateEvent{Component: "osqueryd", Action: "installed", Version: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Components["osqueryd"]
	if c.Name != "osqueryd" || c.State != "running" || c.PID != 42 || c.Restarts != 2 {
		t.Fatalf("component = %+v", c)
	}
	if got.OrbitVersion != "1.2.3" || got.Fleet == nil || !got.Fleet.Enrolled {
		t.Fatalf("snapshot = %+v", got)
	}
	if n := len(got.Updates); n != maxUpdateEvents || got.Updates[n-1].Version != fmt.Sprint(maxUpdateEvents+4) {
		t.Fatalf("updates kept %d, last %+v", n, got.Updates[n-1])
	}
	// A new run keeps the update history, so a rollback stays visible.
	s2 := NewStore(path, "1.2.4", nil)
	if len(s2.Snapshot().Updates) != maxUpdateEvents || len(s2.Snapshot().Components) != 0 {
		t.Fatalf("new store: %+v", s2.Snapshot())
	}
}

func TestReadRefusesHugeOrSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	huge := filepath.Join(dir, "state.json")
	// Valid JSON, but more than a state file ever holds: orbit status must
	// not read it all.
	if err := os.WriteFile(huge, append(append([]byte("{"), bytes.Repeat([]byte(" "), 5<<20)...), '}'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(huge); !errors.Is(err, safefile.ErrTooLarge) {
		t.Fatalf("Read of a 5 MiB state file = %v, want ErrTooLarge", err)
	}
	if _, err := Read(dir); !errors.Is(err, safefile.ErrNotRegular) {
		t.Fatalf("Read of a directory = %v, want ErrNotRegular", err)
	}
}

func TestReadCorrupt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := Read(path); err == nil || errors.Is(err, ErrNoState) {
		t.Fatalf("Read corrupt = %v", err)
	}
}
