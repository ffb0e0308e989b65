package osquery

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testdir"
)

// wedgeFile under the stand-in's database wedges its extension manager.
const standinWedgeFile = "standin_wedge"

type healthRig struct {
	h        *Health
	clk      *clocktest.Fake
	restarts atomic.Int32
	logs     *logcapture.Buffer
}

// newHealthRig runs a health check on socket with a fake clock; pings
// time out after 200 ms of real time (a wedged osqueryd never answers).
func newHealthRig(t *testing.T, socket string, grace time.Duration) *healthRig {
	t.Helper()
	r := &healthRig{clk: newFakeClock()}
	log, buf := testLogger()
	r.logs = buf
	h, err := NewHealth(HealthConfig{Socket: socket, Timeout: 200 * time.Millisecond, StartGrace: grace,
		OnUnhealthy: func() { r.restarts.Add(1) }, Clock: r.clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	runActor(t, h.Run)
	return r
}

// tick lets one ping happen: the check is idle on its timer, time moves
// one interval, and the check is idle again once the ping is recorded.
func (r *healthRig) tick(t *testing.T) {
	t.Helper()
	r.clk.BlockUntil(t, 1)
	r.clk.Advance(DefaultPingInterval)
	r.clk.BlockUntil(t, 1)
}

func (r *healthRig) expect(t *testing.T, step string, missed, restarts int) {
	t.Helper()
	if got := r.h.Missed(); got != missed {
		t.Fatalf("%s: %d missed pings, want %d; log:\n%s", step, got, missed, r.logs.String())
	}
	if got := int(r.restarts.Load()); got != restarts {
		t.Fatalf("%s: %d restarts, want %d; log:\n%s", step, got, restarts, r.logs.String())
	}
}

const unhealthyLine = "osqueryd is not answering on its extension socket: restarting it"

func TestHealthRestartsAWedgedOsquerydAfterThreeMissedPings(t *testing.T) {
	t.Parallel()
	osq := startStandin(t, testdir.Short(t), nil)
	osq.waitAnswering(t)
	r := newHealthRig(t, osq.socket, DefaultStartGrace)

	r.tick(t)
	r.expect(t, "healthy", 0, 0)
	if err := os.WriteFile(filepath.Join(osq.db, standinWedgeFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r.tick(t)
	r.expect(t, "first missed ping", 1, 0)
	r.tick(t)
	r.expect(t, "second missed ping", 2, 0)
	r.tick(t)
	r.expect(t, "third missed ping", 0, 1)
	if n := countLines(r.logs.String(), unhealthyLine); n != 1 {
		t.Fatalf("%d unhealthy lines, want 1:\n%s", n, r.logs.String())
	}
	if !strings.Contains(r.logs.String(), `"level":"error"`) || !strings.Contains(r.logs.String(), `"missed_pings":3`) {
		t.Fatalf("the unhealthy line lacks its level or count:\n%s", r.logs.String())
	}
	// Restarted: osqueryd gets its start grace again, the callback is not
	// repeated for the same spell.
	for range 3 {
		r.tick(t)
	}
	r.expect(t, "within the new start grace", 0, 1)
	if osq.exited() {
		t.Fatal("the wedged stand-in died: the test proves nothing")
	}
}

func TestHealthLeavesASlowStartAlone(t *testing.T) {
	t.Parallel()
	t.Run("socket never appears within the grace", func(t *testing.T) {
		t.Parallel()
		osq := startStandin(t, testdir.Short(t), []string{"OSQUERYD_STANDIN_SOCKET_DELAY_MS=3600000"})
		r := newHealthRig(t, osq.socket, 5*time.Minute)
		for i := 1; i <= 4; i++ { // 4 minutes
			r.tick(t)
			r.expect(t, "inside the start grace", 0, 0)
		}
		// From 5 minutes on, missed pings count.
		r.tick(t)
		r.expect(t, "grace over", 1, 0)
		r.tick(t)
		r.tick(t)
		r.expect(t, "three counted misses", 0, 1)
	})
	t.Run("socket appears late", func(t *testing.T) {
		t.Parallel()
		osq := startStandin(t, testdir.Short(t), []string{"OSQUERYD_STANDIN_SOCKET_DELAY_MS=300"})
		r := newHealthRig(t, osq.socket, 5*time.Minute)
		r.tick(t)
		osq.waitAnswering(t)
		r.tick(t)
		r.tick(t)
		r.tick(t)
		r.expect(t, "answering after a slow start", 0, 0)
		if strings.Contains(r.logs.String(), unhealthyLine) {
			t.Fatalf("a slow start was reported unhealthy:\n%s", r.logs.String())
		}
	})
}

// A ping answered between misses starts the count over.
func TestHealthAnswerResetsTheCount(t *testing.T) {
	t.Parallel()
	osq := startStandin(t, testdir.Short(t), nil)
	osq.waitAnswering(t)
	r := newHealthRig(t, osq.socket, DefaultStartGrace)
	wedge := filepath.Join(osq.db, standinWedgeFile)
	r.tick(t)
	for range 2 {
		if err := os.WriteFile(wedge, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r.tick(t)
		r.tick(t)
		r.expect(t, "two misses", 2, 0)
		if err := os.Remove(wedge); err != nil {
			t.Fatal(err)
		}
		r.tick(t)
		r.expect(t, "answered again", 0, 0)
	}
	if !strings.Contains(r.logs.String(), "osqueryd answers on its extension socket again") {
		t.Fatalf("no recovery line:\n%s", r.logs.String())
	}
}

// Started (osqueryd restarted by the runner) gives a new grace period.
func TestHealthStartedResetsTheGrace(t *testing.T) {
	t.Parallel()
	requireUnix(t)
	r := newHealthRig(t, filepath.Join(testdir.Short(t), "absent.em"), 90*time.Second)
	r.tick(t) // 60 s: in grace
	r.tick(t) // 120 s: counts
	r.expect(t, "after the grace", 1, 0)
	r.h.Started()
	r.tick(t)
	r.expect(t, "new grace", 0, 0)
}

func TestHealthConfigValidate(t *testing.T) {
	t.Parallel()
	cb := func() {}
	cases := []struct {
		name string
		cfg  HealthConfig
		want string
	}{
		{"no socket", HealthConfig{OnUnhealthy: cb}, "no socket"},
		{"no callback", HealthConfig{Socket: "/s"}, "no OnUnhealthy"},
		{"negative", HealthConfig{Socket: "/s", OnUnhealthy: cb, MaxMissed: -1}, "negative"},
		{"ok", HealthConfig{Socket: "/s", OnUnhealthy: cb}, ""},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
