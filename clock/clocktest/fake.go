// Package clocktest is a manual clock for tests: time moves only on
// Advance, Set or Jump, and tests synchronise on timers being created or
// pending instead of sleeping.
package clocktest

import (
	"sync"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock"
)

// Fake is a clock.Clock whose time moves only with Advance, Set and Jump.
//
// It keeps two clocks, as a real machine does: a timeline that timers and
// Mono follow (Advance and Set move it), and the wall clock that Now reads,
// which is the timeline plus a skew that only Jump changes.
type Fake struct {
	mu      sync.Mutex
	now     time.Time     // the timeline
	origin  time.Time     // timeline reading of Mono() == 0
	skew    time.Duration // wall clock minus timeline
	pending []*timer
	created chan time.Duration
}

// New returns a fake clock reading start.
func New(start time.Time) *Fake {
	return &Fake{now: start, origin: start, created: make(chan time.Duration, 1024)}
}

type timer struct {
	f    *Fake
	when time.Time
	ch   chan time.Time
}

// Now returns the fake wall time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now.Add(f.skew)
}

// Mono is the fake monotonic clock: it moves with Advance and Set, never
// with Jump.
func (f *Fake) Mono() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now.Sub(f.origin)
}

// NewTimer makes a timer that fires when Advance reaches its deadline (at
// once for d <= 0), and reports d to WaitTimer.
func (f *Fake) NewTimer(d time.Duration) clock.Timer {
	f.mu.Lock()
	t := &timer{f: f, when: f.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- f.now.Add(f.skew)
	} else {
		f.pending = append(f.pending, t)
	}
	f.mu.Unlock()
	select {
	case f.created <- d:
	default: // nobody waits for creations in this test
	}
	return t
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for i, x := range t.f.pending {
		if x == t {
			t.f.pending = append(t.f.pending[:i], t.f.pending[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves time forward by d, firing due timers.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
}

// Set moves the whole fake time so that Now reads to, forward or back (a
// signing clock in a test may go back to sign "old" metadata), firing the
// timers due by then. Mono moves with it. To step the wall clock alone, as
// NTP or an admin does on a running machine, use Jump.
func (f *Fake) Set(to time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(to.Add(-f.skew))
}

// Jump steps the wall clock to to, forward or back: Now reads to, while
// timers and Mono, which follow the monotonic clock, do not move.
func (f *Fake) Jump(to time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skew = to.Sub(f.now)
}

func (f *Fake) setLocked(to time.Time) {
	f.now = to
	kept := f.pending[:0]
	for _, t := range f.pending {
		if !t.when.After(f.now) {
			t.ch <- f.now.Add(f.skew)
			continue
		}
		kept = append(kept, t)
	}
	f.pending = kept
}

// NextDeadline is the earliest pending timer's deadline on the wall clock
// (zero if none).
func (f *Fake) NextDeadline() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next time.Time
	for _, t := range f.pending {
		if next.IsZero() || t.when.Before(next) {
			next = t.when
		}
	}
	if next.IsZero() {
		return next
	}
	return next.Add(f.skew)
}

// Pending is the number of timers waiting to fire.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// WaitTimer returns the duration of the next timer created, failing the
// test if none is created within 10 s of real time.
func (f *Fake) WaitTimer(t testing.TB) time.Duration {
	t.Helper()
	select {
	case d := <-f.created:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no timer was created within 10s")
		return 0
	}
}

// BlockUntil waits, bounded in real time, until n timers are pending: the
// code under test is then idle, waiting on them.
func (f *Fake) BlockUntil(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.Pending() != n {
		if time.Now().After(deadline) {
			t.Fatalf("code under test did not become idle: %d timers pending, want %d", f.Pending(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
