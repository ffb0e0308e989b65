package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor/supervisortest"
)

// fakeChild is a Child whose exit the test controls.
type fakeChild = supervisortest.Child[Spec]

// fakeStarter hands the test each child it starts; a child exits with 0
// on Terminate unless the test says it ignores it.
type fakeStarter struct{ *supervisortest.Starter[Spec] }

func newFakeStarter() fakeStarter { return fakeStarter{supervisortest.NewStarter[Spec]()} }

func (s fakeStarter) Start(spec Spec, _, _ *os.File) (Child, error) { return s.Launch(spec), nil }

// harness runs a Process on a fake clock and records its log and statuses.
type harness struct {
	p       *Process
	clk     *clocktest.Fake
	starter fakeStarter
	log     *logBuffer
	cancel  context.CancelFunc
	done    chan error

	mu     sync.Mutex
	states []string
}

func newHarness(t *testing.T, mod func(*ProcessConfig)) *harness {
	t.Helper()
	h := &harness{clk: newFakeClock(), starter: newFakeStarter(), log: &logBuffer{}, done: make(chan error, 1)}
	cfg := ProcessConfig{
		Name:    "fake",
		Spec:    func(context.Context) (Spec, error) { return Spec{Path: "/bin/fake"}, nil },
		Backoff: backoff.Config{Jitter: -1},
		Logger:  zerolog.New(h.log),
		Clock:   h.clk,
		Starter: h.starter,
		OnStatus: func(s status.Process) {
			// Invariants of every snapshot, whatever the test does.
			live := s.State == status.StateRunning || s.State == status.StateStopping
			if (s.State == status.StateRunning && s.PID == 0) || (s.PID != 0 && !live) {
				t.Errorf("status %+v: a pid goes with running or stopping, and running with a pid", s)
			}
			if (s.State == status.StateBackoff) == s.NextStartAt.IsZero() {
				t.Errorf("status %+v: NextStartAt must be set exactly in backoff", s)
			}
			if s.CrashLoop != (s.ConsecutiveFailures >= DefaultCrashLoopThreshold) {
				t.Errorf("status %+v: CrashLoop disagrees with ConsecutiveFailures", s)
			}
			h.mu.Lock()
			h.states = append(h.states, s.State)
			h.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := NewProcess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	return h
}

func (h *harness) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.p.Run(ctx) }()
	t.Cleanup(func() { supervisortest.Stop(cancel, h.clk, h.done) })
}

// waitStatus polls until the status satisfies cond: the fake starter hands
// out a child before the Process records it.
func (h *harness) waitStatus(t *testing.T, what string, cond func(status.Process) bool) status.Process {
	t.Helper()
	var st status.Process
	if !testwait.Poll(testwait.Limit, func() bool { st = h.p.Status(); return cond(st) }) {
		t.Fatalf("%s: status %+v", what, st)
	}
	return st
}

func running(pid int) func(status.Process) bool {
	return func(s status.Process) bool { return s.State == status.StateRunning && s.PID == pid }
}

// stop cancels Run and waits for it to return.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
}

func (h *harness) sawState(state string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.states {
		if s == state {
			return true
		}
	}
	return false
}

func TestProcessCrashLoopDetection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.run(t)

	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second}
	for i, delay := range want {
		c := h.starter.Next(t)
		c.Exit(2)
		if got := h.clk.WaitTimer(t); got != delay {
			t.Fatalf("failure %d: backoff %s, want %s", i+1, got, delay)
		}
		st := h.p.Status()
		if st.State != status.StateBackoff || st.ConsecutiveFailures != i+1 || st.LastExitCode != 2 || st.PID != 0 {
			t.Fatalf("failure %d: status %+v", i+1, st)
		}
		if wantLoop := i+1 >= DefaultCrashLoopThreshold; st.CrashLoop != wantLoop {
			t.Fatalf("failure %d: CrashLoop = %v, want %v", i+1, st.CrashLoop, wantLoop)
		}
		if !st.NextStartAt.Equal(h.clk.Now().Add(delay)) {
			t.Fatalf("NextStartAt = %v, want now+%s", st.NextStartAt, delay)
		}
		if !strings.Contains(st.LastError, "exit status 2") {
			t.Fatalf("LastError = %q", st.LastError)
		}
		h.clk.Advance(delay)
	}
	if n := len(h.log.withMessage(t, "child is crash-looping")); n != 1 {
		t.Fatalf("crash-loop warning logged %d times over 7 failures, want once", n)
	}

	// A stable run clears the crash loop and restarts at once.
	c := h.starter.Next(t)
	h.waitStatus(t, "running", running(c.PID()))
	h.clk.Advance(backoff.DefaultStableAfter)
	c.Exit(1)
	c = h.starter.Next(t) // no timer to advance: the restart is immediate
	st := h.waitStatus(t, "running", running(c.PID()))
	if st.CrashLoop || st.ConsecutiveFailures != 0 || st.State != status.StateRunning || st.Restarts != 8 || st.PID != c.PID() {
		t.Fatalf("after a stable run: status %+v", st)
	}
	if n := len(h.log.withMessage(t, "child crash loop cleared")); n != 1 {
		t.Fatalf("crash-loop cleared logged %d times, want once", n)
	}
	h.stop(t)
	if st := h.p.Status(); st.State != status.StateStopped || st.PID != 0 {
		t.Fatalf("after stop: status %+v", st)
	}
}

// A requested restart (new binary or flags) starts with a clean slate: the
// updater must not roll back a fresh release for its predecessor's crashes.
func TestProcessRestartClearsCrashLoop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.run(t)
	for i := 0; i < DefaultCrashLoopThreshold; i++ {
		h.starter.Next(t).Exit(2)
		h.clk.Advance(h.clk.WaitTimer(t))
	}
	c := h.starter.Next(t)
	if st := h.waitStatus(t, "running", running(c.PID())); !st.CrashLoop {
		t.Fatalf("want a crash loop before the restart: %+v", st)
	}
	h.p.Restart()
	if d := h.clk.WaitTimer(t); d != DefaultStopGrace {
		t.Fatalf("restart: timer %s, want the stop grace %s", d, DefaultStopGrace)
	}
	c = h.starter.Next(t)
	st := h.waitStatus(t, "running", running(c.PID()))
	if st.CrashLoop || st.ConsecutiveFailures != 0 {
		t.Fatalf("after a requested restart: %+v, want the crash loop cleared", st)
	}
	c.Exit(2)
	if d := h.clk.WaitTimer(t); d != time.Second {
		t.Fatalf("first failure after the restart backs off %s, want 1s", d)
	}
	h.stop(t)
}

func TestProcessRestartCoalesces(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.starter.SetIgnoreTerm(func(Spec) bool { return true })
	h.run(t)

	first := h.starter.Next(t)
	h.waitStatus(t, "running", running(first.PID()))
	h.p.Restart()
	testwait.Recv(t, first.Terms, "graceful stop of the first child")
	if st := h.p.Status(); st.State != status.StateStopping {
		t.Fatalf("state during restart = %q, want stopping", st.State)
	}
	// Requests made while the restart is under way are served by its start.
	for i := 0; i < 10; i++ {
		h.p.Restart()
	}
	first.Exit(0)
	second := h.starter.Next(t)
	if st := h.waitStatus(t, "running", running(second.PID())); st.Restarts != 1 || st.ConsecutiveFailures != 0 || st.PID != second.PID() {
		t.Fatalf("after restart: status %+v", st)
	}
	go func() { <-second.Terms; second.Exit(0) }()
	h.stop(t)
	if n := h.starter.Starts(); n != 2 {
		t.Fatalf("%d starts, want 2: restart requests did not coalesce", n)
	}
	if len(first.Terms) != 0 || len(second.Terms) != 0 {
		t.Fatalf("extra terminate signals: first %d, second %d", len(first.Terms), len(second.Terms))
	}
	if h.sawState(status.StateBackoff) {
		t.Fatal("a requested restart went through backoff")
	}
}

func TestProcessRestartDuringBackoffStartsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.run(t)
	h.starter.Next(t).Exit(1)
	if d := h.clk.WaitTimer(t); d != time.Second {
		t.Fatalf("backoff %s, want 1s", d)
	}
	h.p.Restart()
	c := h.starter.Next(t) // the clock never moved
	if st := h.waitStatus(t, "running", running(c.PID())); st.State != status.StateRunning || st.PID != c.PID() || st.Restarts != 1 {
		t.Fatalf("status %+v", st)
	}
	h.stop(t)
}

func TestProcessStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ProcessConfig) { c.StopGrace = 7 * time.Second })
	h.starter.SetIgnoreTerm(func(Spec) bool { return true })
	h.run(t)
	c := h.starter.Next(t)
	h.cancel()
	testwait.Recv(t, c.Terms, "graceful stop")
	if d := h.clk.WaitTimer(t); d != 7*time.Second {
		t.Fatalf("grace timer %s, want StopGrace 7s", d)
	}
	if c.Kills() != 0 {
		t.Fatal("killed before the grace period ended")
	}
	h.clk.Advance(7 * time.Second)
	h.stop(t)
	if c.Kills() != 1 {
		t.Fatalf("Kill called %d times, want 1", c.Kills())
	}
	if n := len(h.log.withMessage(t, "child did not exit within the stop grace period; killing its process tree")); n != 1 {
		t.Fatalf("kill warning logged %d times", n)
	}
}

func TestProcessStartFailuresBackOffAndRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mod     func(*ProcessConfig)
		wantErr string
	}{
		{"spec error", func(c *ProcessConfig) {
			c.Spec = func(context.Context) (Spec, error) { return Spec{}, errors.New("channel path unknown") }
		}, "channel path unknown"},
		{"empty path", func(c *ProcessConfig) {
			c.Spec = func(context.Context) (Spec, error) { return Spec{}, nil }
		}, "empty Path"},
		{"before-start hook error", func(c *ProcessConfig) {
			c.BeforeStart = func(context.Context) error { return errors.New("stale osqueryd would not die") }
		}, "stale osqueryd would not die"},
		{"exec error", func(c *ProcessConfig) {
			c.Starter = ExecStarter{}
			c.Spec = func(context.Context) (Spec, error) {
				return Spec{Path: "/nonexistent/orbit-test/osqueryd"}, nil
			}
		}, "/nonexistent/orbit-test/osqueryd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.mod)
			h.run(t)
			for i, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
				if got := h.clk.WaitTimer(t); got != delay {
					t.Fatalf("attempt %d: backoff %s, want %s", i+1, got, delay)
				}
				st := h.p.Status()
				if st.State != status.StateBackoff || st.ConsecutiveFailures != i+1 || st.Restarts != i || !strings.Contains(st.LastError, tc.wantErr) {
					t.Fatalf("attempt %d: status %+v, want backoff with error %q", i+1, st, tc.wantErr)
				}
				h.clk.Advance(delay)
			}
			h.clk.WaitTimer(t)
			h.stop(t)
			if n := h.starter.Starts(); n != 0 {
				t.Fatalf("the fake starter was called %d times", n)
			}
			if n := len(h.log.withMessage(t, "child start failed; will retry with backoff")); n != 4 {
				t.Fatalf("start failure logged %d times, want 4", n)
			}
		})
	}
}

func TestProcessSpecAskedBeforeEveryStart(t *testing.T) {
	t.Parallel()
	var calls, hooks atomic.Int32
	h := newHarness(t, func(c *ProcessConfig) {
		c.Spec = func(context.Context) (Spec, error) {
			n := calls.Add(1)
			return Spec{Path: fmt.Sprintf("/bin/v%d", n), Args: []string{"--n", fmt.Sprint(n)}, Dir: "/tmp"}, nil
		}
		c.BeforeStart = func(context.Context) error { hooks.Add(1); return nil }
	})
	h.run(t)
	h.starter.Next(t)
	h.p.Restart()
	h.starter.Next(t)
	h.stop(t)
	if specs := h.starter.Specs(); len(specs) != 2 || specs[0].Path != "/bin/v1" || specs[1].Path != "/bin/v2" || specs[1].Args[1] != "2" {
		t.Fatalf("specs = %+v, want a fresh spec per start", specs)
	}
	if hooks.Load() != 2 {
		t.Fatalf("BeforeStart ran %d times, want 2", hooks.Load())
	}
}

func TestProcessRunTwiceIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.run(t)
	h.starter.Next(t)
	if err := h.p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Run = %v, want already running", err)
	}
	h.stop(t)
}

func TestProcessRunReturnsAtOnceWhenCancelled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if h.starter.Starts() != 0 || h.p.Status().State != status.StateStopped {
		t.Fatalf("starts %d, status %+v", h.starter.Starts(), h.p.Status())
	}
}

func TestNewProcessValidation(t *testing.T) {
	t.Parallel()
	spec := func(context.Context) (Spec, error) { return Spec{Path: "/bin/true"}, nil }
	tests := []struct {
		name string
		cfg  ProcessConfig
		want string // "" = valid
	}{
		{"valid", ProcessConfig{Name: "osqueryd", Spec: spec}, ""},
		{"no name", ProcessConfig{Spec: spec}, "Name"},
		{"no spec", ProcessConfig{Name: "osqueryd"}, "Spec"},
		{"negative grace", ProcessConfig{Name: "osqueryd", Spec: spec, StopGrace: -time.Second}, "StopGrace"},
		{"grace over 10m", ProcessConfig{Name: "osqueryd", Spec: spec, StopGrace: 11 * time.Minute}, "must be between 0 and 10m"},
		{"negative crash-loop threshold", ProcessConfig{Name: "osqueryd", Spec: spec, CrashLoopThreshold: -1}, "CrashLoopThreshold"},
		{"bad backoff", ProcessConfig{Name: "osqueryd", Spec: spec, Backoff: backoff.Config{Multiplier: 0.1}}, "multiplier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewProcess(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				st := p.Status()
				if st.Name != tc.cfg.Name || st.State != status.StateStopped {
					t.Fatalf("initial status %+v", st)
				}
				if p.cfg.StopGrace != DefaultStopGrace || p.cfg.CrashLoopThreshold != DefaultCrashLoopThreshold {
					t.Fatalf("defaults not applied: %+v", p.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewProcess error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// Fail (a health check gave up on a live child) stops the child as Restart
// does but counts the run as a failure, however long it lasted: the backoff
// grows, the crash-loop detector counts it, and the reason is the last
// error. A Fail while no child runs is dropped.
func TestProcessFailCountsAsAFailedRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.run(t)

	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
	for i, delay := range want {
		c := h.starter.Next(t)
		h.waitStatus(t, "running", running(c.PID()))
		// Long past the stable time: an exit would reset the backoff, a
		// Fail must not.
		h.clk.Advance(10 * backoff.DefaultStableAfter)
		h.p.Fail("osqueryd missed 3 pings")
		if d := h.clk.WaitTimer(t); d != DefaultStopGrace {
			t.Fatalf("fail %d: timer %s, want the stop grace %s", i+1, d, DefaultStopGrace)
		}
		testwait.Recv(t, c.Terms, "graceful stop of the failed child")
		if got := h.clk.WaitTimer(t); got != delay {
			t.Fatalf("fail %d: backoff %s, want %s", i+1, got, delay)
		}
		st := h.p.Status()
		if st.State != status.StateBackoff || st.ConsecutiveFailures != i+1 || st.LastError != "osqueryd missed 3 pings" {
			t.Fatalf("fail %d: status %+v", i+1, st)
		}
		if wantLoop := i+1 >= DefaultCrashLoopThreshold; st.CrashLoop != wantLoop {
			t.Fatalf("fail %d: CrashLoop = %v, want %v", i+1, st.CrashLoop, wantLoop)
		}
		// No child runs during the backoff: this Fail is dropped, it does
		// not stop the next child.
		h.p.Fail("late report about the stopped child")
		h.clk.Advance(delay)
	}
	c := h.starter.Next(t)
	st := h.waitStatus(t, "running", running(c.PID()))
	if st.ConsecutiveFailures != len(want) || st.Restarts != len(want) {
		t.Fatalf("after the last fail: %+v", st)
	}
	select {
	case <-c.Terms:
		t.Fatal("a Fail made during the backoff stopped the next child")
	default:
	}
	// A requested restart still clears the record.
	h.p.Restart()
	h.clk.WaitTimer(t)
	c = h.starter.Next(t)
	if st := h.waitStatus(t, "running", running(c.PID())); st.CrashLoop || st.ConsecutiveFailures != 0 {
		t.Fatalf("after a requested restart: %+v", st)
	}
	if n := len(h.log.withMessage(t, "child is crash-looping")); n != 1 {
		t.Fatalf("crash-loop warning logged %d times, want once", n)
	}
	h.stop(t)
}
