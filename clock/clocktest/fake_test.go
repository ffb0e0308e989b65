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
