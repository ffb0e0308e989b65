package clocktest

import (
	"testing"
	"time"
)

func newFakeClock() *Fake { return New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

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

func TestWaitTimerAndBlockUntil(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	go c.NewTimer(5 * time.Second)
	if d := c.WaitTimer(t); d != 5*time.Second {
		t.Fatalf("WaitTimer = %s, want 5s", d)
	}
	c.BlockUntil(t, 1)
	if want := c.Now().Add(5 * time.Second); !c.NextDeadline().Equal(want) {
		t.Fatalf("NextDeadline = %v, want %v", c.NextDeadline(), want)
	}
	c.Advance(5 * time.Second)
	c.BlockUntil(t, 0)
}

func TestSetMovesBothWaysAndFiresDueTimers(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	start := c.Now()
	tm := c.NewTimer(time.Hour)
	c.Set(start.Add(-24 * time.Hour))
	if !c.Now().Equal(start.Add(-24 * time.Hour)) {
		t.Fatalf("Now after Set back = %v", c.Now())
	}
	select {
	case <-tm.C():
		t.Fatal("timer fired when time went back")
	default:
	}
	c.Set(start.Add(time.Hour))
	select {
	case <-tm.C():
	default:
		t.Fatal("timer did not fire when Set reached its deadline")
	}
	if c.Pending() != 0 {
		t.Fatalf("%d timers pending after firing", c.Pending())
	}
}

func TestJumpStepsTheWallClockOnly(t *testing.T) {
	t.Parallel()
	for _, step := range []time.Duration{-365 * 24 * time.Hour, 365 * 24 * time.Hour} {
		c := newFakeClock()
		start, mono := c.Now(), c.Mono()
		tm := c.NewTimer(time.Hour)
		c.Jump(start.Add(step))
		if !c.Now().Equal(start.Add(step)) {
			t.Fatalf("step %s: Now after Jump = %v", step, c.Now())
		}
		if c.Mono() != mono {
			t.Fatalf("step %s: Mono moved with the wall clock: %s -> %s", step, mono, c.Mono())
		}
		select {
		case <-tm.C():
			t.Fatalf("step %s: a timer fired on a wall-clock step", step)
		default:
		}
		if want := c.Now().Add(time.Hour); !c.NextDeadline().Equal(want) {
			t.Fatalf("step %s: NextDeadline = %v, want %v (wall time)", step, c.NextDeadline(), want)
		}
		// Time goes on from the new wall reading.
		c.Advance(time.Hour)
		if got := <-tm.C(); !got.Equal(start.Add(step + time.Hour)) {
			t.Fatalf("step %s: timer fired at %v", step, got)
		}
		if c.Mono() != mono+time.Hour || !c.Now().Equal(start.Add(step+time.Hour)) {
			t.Fatalf("step %s: after Advance Mono %s Now %v", step, c.Mono(), c.Now())
		}
		// Set still moves everything, Mono included, and keeps the skew.
		c.Set(start.Add(step + 2*time.Hour))
		if c.Mono() != mono+2*time.Hour || !c.Now().Equal(start.Add(step+2*time.Hour)) {
			t.Fatalf("step %s: after Set Mono %s Now %v", step, c.Mono(), c.Now())
		}
	}
}
