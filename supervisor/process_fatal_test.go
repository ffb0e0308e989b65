package supervisor

import (
	"testing"
	"time"

	"github.com/orbitagent/orbit/status"
)

// A fatal exit code (a configuration error a restart cannot fix) waits the
// backoff's maximum at once; other exits keep the usual schedule, and a
// requested restart still starts at once.
func TestProcessFatalExitCodeBacksOffHard(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ProcessConfig) { c.FatalExitCodes = []int{2} })
	h.run(t)

	for i, tc := range []struct {
		code int
		want time.Duration
	}{
		{1, time.Second},     // an ordinary crash: the first step
		{2, 5 * time.Minute}, // fatal: straight to the cap
		{1, 4 * time.Second}, // other exits keep their own schedule (third failure)
	} {
		c := h.starter.Next(t)
		h.waitStatus(t, "running", running(c.PID()))
		start := h.clk.Now()
		c.Exit(tc.code)
		if d := h.clk.WaitTimer(t); d != tc.want {
			t.Fatalf("run %d exit %d: restart in %s, want %s", i, tc.code, d, tc.want)
		}
		st := h.waitStatus(t, "backoff", func(s status.Process) bool { return s.State == status.StateBackoff })
		if got := st.NextStartAt.Sub(start); got != tc.want || st.LastExitCode != tc.code {
			t.Fatalf("run %d: status %+v, want next start in %s and exit code %d", i, st, tc.want, tc.code)
		}
		if i < 2 {
			h.clk.Advance(tc.want)
		}
	}
	// A new binary may fix a bad setting: a requested restart does not wait.
	h.p.Restart()
	c := h.starter.Next(t)
	h.waitStatus(t, "running after the requested restart", running(c.PID()))
	h.stop(t)
}
