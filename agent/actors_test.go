package agent

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/supervisor"
)

func newFakeClock() *clocktest.Fake {
	return clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// runGate runs g on its own goroutine and returns its answer's channel.
func runGate(ctx context.Context, g gate) <-chan bool {
	done := make(chan bool, 1)
	go func() { done <- g(ctx) }()
	return done
}

func waitGate(t *testing.T, done <-chan bool) bool {
	t.Helper()
	return testwait.Recv(t, done, "the gate's answer")
}

// recv waits, bounded in real time, for a value from ch.

func TestInstalledGatePollsOnTheClock(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	var installed atomic.Bool
	var looks atomic.Int32
	path := func() (string, error) {
		looks.Add(1)
		if installed.Load() {
			return "/opt/orbit/bin/osqueryd", nil
		}
		return "", errors.New("not installed yet")
	}
	var log logcapture.Buffer
	done := runGate(context.Background(), installedGate(clk, path, "osqueryd", zerolog.New(&log)))
	for range 3 {
		if d := clk.WaitTimer(t); d != installedPoll {
			t.Fatalf("poll timer %s, want %s", d, installedPoll)
		}
		clk.Advance(installedPoll)
	}
	clk.WaitTimer(t) // still not installed: a fourth poll is armed
	installed.Store(true)
	clk.Advance(installedPoll)
	if !waitGate(t, done) {
		t.Fatal("gate did not open once osqueryd was installed")
	}
	if n := looks.Load(); n != 5 {
		t.Fatalf("%d looks, want 5 (one at once, one per poll)", n)
	}
	if !strings.Contains(log.String(), `"waiting_for":"osqueryd","message":"waiting for the updater to install a component"`) {
		t.Fatalf("wait not logged: %s", log.String())
	}
}

func TestInstalledGateOpensAtOnceOrStopsWithTheContext(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	there := func() (string, error) { return "/bin/osqueryd", nil }
	if !waitGate(t, runGate(context.Background(), installedGate(clk, there, "osqueryd", zerolog.Nop()))) {
		t.Fatal("gate closed although osqueryd is installed")
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers armed for an installed osqueryd", clk.Pending())
	}
	ctx, cancel := context.WithCancel(context.Background())
	missing := func() (string, error) { return "", errors.New("missing") }
	done := runGate(ctx, installedGate(clk, missing, "osqueryd", zerolog.Nop()))
	clk.WaitTimer(t)
	cancel()
	if waitGate(t, done) {
		t.Fatal("gate opened on a cancelled context")
	}
	clk.BlockUntil(t, 0) // the poll timer was stopped
}

func TestFleetReadyGate(t *testing.T) {
	t.Parallel()
	t.Run("ready", func(t *testing.T) {
		t.Parallel()
		clk := newFakeClock()
		ready := make(chan struct{})
		done := runGate(context.Background(), fleetReadyGate(clk, ready, zerolog.Nop()))
		clk.WaitTimer(t)
		close(ready)
		if !waitGate(t, done) {
			t.Fatal("gate closed after Fleet was ready")
		}
		clk.BlockUntil(t, 0)
	})
	t.Run("gives up after 30s", func(t *testing.T) {
		t.Parallel()
		clk := newFakeClock()
		var log logcapture.Buffer
		done := runGate(context.Background(), fleetReadyGate(clk, make(chan struct{}), zerolog.New(&log)))
		if d := clk.WaitTimer(t); d != 30*time.Second {
			t.Fatalf("wait %s, want 30s", d)
		}
		clk.Advance(30*time.Second - time.Nanosecond)
		select {
		case <-done:
			t.Fatal("gate opened before 30 s")
		default:
		}
		clk.Advance(time.Nanosecond)
		if !waitGate(t, done) {
			t.Fatal("gate closed after the wait")
		}
		if !strings.Contains(log.String(), "no config from Fleet yet") {
			t.Fatalf("give-up not logged: %s", log.String())
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		clk := newFakeClock()
		ctx, cancel := context.WithCancel(context.Background())
		done := runGate(ctx, fleetReadyGate(clk, make(chan struct{}), zerolog.Nop()))
		clk.WaitTimer(t)
		cancel()
		if waitGate(t, done) {
			t.Fatal("gate opened on a cancelled context")
		}
	})
}

func TestGatedRunsTheActorOnlyAfterEveryGate(t *testing.T) {
	t.Parallel()
	var ran atomic.Bool
	actor := supervisor.ActorFunc(func(ctx context.Context) error { ran.Store(true); return nil })
	open := func(context.Context) bool { return true }
	closed := func(context.Context) bool { return false }
	if err := gated(actor, open, closed).Run(context.Background()); err != nil || ran.Load() {
		t.Fatalf("actor ran (%v) behind a closed gate: %v", ran.Load(), err)
	}
	if err := gated(actor, open, open).Run(context.Background()); err != nil || !ran.Load() {
		t.Fatalf("actor did not run behind open gates: %v", err)
	}
}

func TestSelfUpdateTurnsTheHookIntoAShutdown(t *testing.T) {
	t.Parallel()
	s := newSelfUpdate()
	s.Trigger("/opt/orbit/bin/orbit/orbit")
	s.Trigger("/somewhere/else") // only the first hand-over counts, and never blocks
	err := s.Run(context.Background())
	if !errors.Is(err, supervisor.ErrShutdown) || s.path != "/opt/orbit/bin/orbit/orbit" {
		t.Fatalf("Run = %v with path %q, want ErrShutdown with the first path", err, s.path)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newSelfUpdate().Run(ctx); err != nil {
		t.Fatalf("Run without an update = %v, want nil on cancel", err)
	}
}
