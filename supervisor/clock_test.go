package supervisor

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual Clock: time moves only on Advance. Every NewTimer
// reports its duration on created so a test can wait for the code under
// test to block on a timer instead of sleeping.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	created chan time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), created: make(chan time.Duration, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d), clk: c}
	c.timers = append(c.timers, t)
	c.fireLocked()
	c.mu.Unlock()
	c.created <- d
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fireLocked()
}

func (c *fakeClock) fireLocked() {
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			t.c <- c.now
		}
	}
}

// waitTimer returns the duration of the next timer created.
func (c *fakeClock) waitTimer(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.created:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no timer was created within 10s")
		return 0
	}
}

type fakeTimer struct {
	c    chan time.Time
	at   time.Time
	clk  *fakeClock
	done bool // fired or stopped; guarded by clk.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	wasActive := !t.done
	t.done = true
	return wasActive
}

func TestFakeClockTimers(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	a := c.NewTimer(time.Second)
	b := c.NewTimer(3 * time.Second)
	if !b.Stop() {
		t.Fatal("Stop of an active timer reported false")
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-a.C():
		t.Fatal("timer fired early")
	default:
	}
	c.Advance(time.Millisecond)
	select {
	case <-a.C():
	default:
		t.Fatal("timer did not fire at its deadline")
	}
	c.Advance(time.Hour)
	select {
	case <-b.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if a.Stop() {
		t.Fatal("Stop of a fired timer reported true")
	}
}

func TestRealClock(t *testing.T) {
	t.Parallel()
	c := RealClock()
	before := time.Now()
	if now := c.Now(); now.Before(before) {
		t.Fatalf("RealClock.Now() = %v, before %v", now, before)
	}
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(10 * time.Second):
		t.Fatal("real timer of 1ms did not fire within 10s")
	}
	if tm.Stop() {
		t.Fatal("Stop after fire reported true")
	}
}
