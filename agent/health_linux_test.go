package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// healthRig runs the real agent, standalone, with the real stand-in
// osqueryd and the real process runner; only the health check's clock is
// fake, so the ping schedule is stepped, not slept through.
type healthRig struct {
	cfg    Config
	clk    *clocktest.Fake
	log    *logcapture.Buffer
	done   <-chan error
	osq    *osquery.Client
	cancel context.CancelFunc
}

func newHealthRig(t *testing.T) *healthRig {
	t.Helper()
	// Unix socket paths are short: a root of its own under /tmp.
	l, err := rootdir.New(filepath.Join(testdir.Short(t), "r"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := standalone(t)
	cfg.Layout = l
	cfg.OsquerydPath = testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
	cfg.StopGrace = 5 * time.Second
	cfg.PingTimeout = 300 * time.Millisecond // a wedged osqueryd never answers
	r := &healthRig{cfg: cfg, clk: clocktest.New(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)), log: &logcapture.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(func() { cancel(); <-r.done })
	r.done = run(ctx, cfg, Deps{Logger: zerolog.New(r.log).Level(zerolog.DebugLevel), HealthClock: r.clk})
	r.osq, err = osquery.NewClient(osquery.ClientConfig{Socket: l.ExtensionsSocket(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// running waits (bounded, real time) for osqueryd running with a pid other
// than not.
func (r *healthRig) running(t *testing.T, not int) status.Component {
	t.Helper()
	return stateOf(t, r.cfg, "osqueryd", func(c status.Component) bool {
		return c.State == status.StateRunning && c.PID != 0 && c.PID != not
	})
}

// tick is one ping: the check waits on its timer, time moves a ping
// interval, and the check is back on its timer once the ping is recorded.
func (r *healthRig) tick(t *testing.T) {
	t.Helper()
	r.clk.BlockUntil(t, 1)
	r.clk.Advance(osquery.DefaultPingInterval)
	r.clk.BlockUntil(t, 1)
}

const unhealthyLine = "osqueryd is not answering on its extension socket: restarting it"

// A wedged osqueryd (alive, its socket answering nothing) is restarted
// through the process runner after the third missed ping, with one log
// line, and the restart counts as a failure.
func TestWedgedOsquerydIsRestartedAfterThreeMissedPings(t *testing.T) {
	t.Parallel()
	r := newHealthRig(t)
	first := r.running(t, 0)
	if !testwait.Poll(testwait.Limit, func() bool { return r.osq.Ping(context.Background()) == nil }) {
		t.Fatalf("the stand-in never answered:\n%s", r.log.String())
	}
	r.tick(t) // answered: out of the start grace for good

	wedge := filepath.Join(r.cfg.Layout.OsqueryDB(), "standin_wedge")
	if err := os.WriteFile(wedge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r.tick(t)
	r.tick(t)
	if c := r.running(t, 0); c.PID != first.PID || c.ConsecutiveFailures != 0 {
		t.Fatalf("restarted after two missed pings: %+v", c)
	}
	r.tick(t)
	// The third miss: the runner stops the wedged one (SIGTERM still
	// works: only its socket is wedged) and starts another after its
	// backoff; let the new one answer.
	if err := os.Remove(wedge); err != nil {
		t.Fatal(err)
	}
	second := r.running(t, first.PID)
	if second.ConsecutiveFailures != 1 || !strings.Contains(second.LastError, "missed 3 pings") || second.Restarts != 1 {
		t.Fatalf("after the restart: %+v, want one failure with the missed pings as its error", second)
	}
	if n := strings.Count(r.log.String(), unhealthyLine); n != 1 {
		t.Fatalf("%d unhealthy lines, want 1:\n%s", n, r.log.String())
	}
	// The new osqueryd has its own start grace and answers: no more.
	for range 4 {
		r.tick(t)
	}
	if c := r.running(t, 0); c.PID != second.PID {
		t.Fatalf("restarted again: %+v", c)
	}
	if n := strings.Count(r.log.String(), unhealthyLine); n != 1 {
		t.Fatalf("%d unhealthy lines after the restart, want still 1", n)
	}
}

// An osqueryd slow to create its socket is inside its start grace: the
// missed pings do not count. Not parallel: the stand-in's switch is in the
// environment orbit passes on to it.
func TestSlowOsquerydSocketIsLeftAlone(t *testing.T) {
	t.Setenv("OSQUERYD_STANDIN_SOCKET_DELAY_MS", "3600000")
	r := newHealthRig(t)
	first := r.running(t, 0)
	for range 4 { // four minutes of the five-minute grace
		r.tick(t)
	}
	if c := r.running(t, 0); c.PID != first.PID || c.Restarts != 0 {
		t.Fatalf("a slow start was restarted: %+v", c)
	}
	if strings.Contains(r.log.String(), unhealthyLine) {
		t.Fatalf("a slow start was called unhealthy:\n%s", r.log.String())
	}
}
