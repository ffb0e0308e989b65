package status

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock/clocktest"
)

// fileVersion is a probe that reads the "version" from the binary file.
func fileVersion(probes *atomic.Int32) func(component, path string) string {
	return func(component, path string) string {
		probes.Add(1)
		b, _ := os.ReadFile(path)
		return component + "-" + string(b)
	}
}

func TestReporterWritesTheLatestStatusAndProbesOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "osqueryd")
	if err := os.WriteFile(bin, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	store := NewStore(filepath.Join(dir, "state.json"), "1.0.0", clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	var probes atomic.Int32
	r := NewReporter(ReporterConfig{
		Store:   store,
		Logger:  zerolog.Nop(),
		Binary:  func(string) (string, error) { return bin, nil },
		Version: fileVersion(&probes),
	})
	started := time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)
	first := Process{Name: "osqueryd", State: StateRunning, PID: 41, StartedAt: started}
	latest := Process{Name: "osqueryd", State: StateRunning, PID: 42, Restarts: 3, ConsecutiveFailures: 2,
		LastError: "child exited: exit status 3", LastExitCode: 3, StartedAt: started.Add(time.Second)}
	r.Report(first)
	r.Report(latest)
	r.Close() // writes what is pending
	if got, want := store.Snapshot().Components["osqueryd"], (Component{Process: latest, Path: bin, Version: "osqueryd-v1"}); got != want {
		t.Fatalf("component %+v, want %+v", got, want)
	}
	if n := probes.Load(); n != 1 {
		t.Fatalf("%d version probes of one binary, want 1", n)
	}
	if snap, err := Read(filepath.Join(dir, "state.json")); err != nil || snap.Components["osqueryd"].PID != 42 {
		t.Fatalf("state file: %+v, %v", snap.Components, err)
	}

	// A stopped process keeps the version and path it last ran.
	r = NewReporter(ReporterConfig{Store: store, Binary: func(string) (string, error) { return bin, nil }, Version: fileVersion(&probes)})
	stopped := Process{Name: "osqueryd", State: StateStopped, LastExitCode: -1}
	r.Report(stopped)
	r.Close()
	if got, want := store.Snapshot().Components["osqueryd"], (Component{Process: stopped, Path: bin, Version: "osqueryd-v1"}); got != want {
		t.Fatalf("stopped component %+v, want %+v", got, want)
	}
}

func TestVersionCacheProbesAReplacedBinaryAgain(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "osqueryd")
	if err := os.WriteFile(bin, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	var probes atomic.Int32
	var c versionCache
	probe := fileVersion(&probes)
	for range 2 {
		if v := c.get("osqueryd", bin, probe); v != "osqueryd-v1" {
			t.Fatalf("version %q", v)
		}
	}
	if n := probes.Load(); n != 1 {
		t.Fatalf("%d probes, want 1", n)
	}
	if err := os.WriteFile(bin, []byte("v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	if v := c.get("osqueryd", bin, probe); v != "osqueryd-v2" || probes.Load() != 2 {
		t.Fatalf("after replacing the binary: %q after %d probes, want osqueryd-v2 after 2", v, probes.Load())
	}
	if v := c.get("osqueryd", bin, func(string, string) string { return "" }); v != "osqueryd-v2" {
		t.Fatalf("cached version lost: %q", v)
	}
	if v := c.get("osqueryd", bin+".missing", probe); v != "" {
		t.Fatalf("version of a missing file: %q", v)
	}
}
