package clock

import (
	"testing"
	"time"
)

func TestRealTimerFiresAndStops(t *testing.T) {
	t.Parallel()
	c := Real()
	before := c.Now()
	tm := c.NewTimer(time.Millisecond)
	got := <-tm.C()
	if got.Before(before) {
		t.Fatalf("timer fired at %v, before %v", got, before)
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported it active")
	}
	long := c.NewTimer(time.Hour)
	if !long.Stop() {
		t.Fatal("Stop of a pending timer reported it inactive")
	}
}

func TestRealMonoMovesForward(t *testing.T) {
	t.Parallel()
	c := Real()
	a := c.Mono()
	<-c.NewTimer(time.Millisecond).C()
	if b := c.Mono(); b < a+time.Millisecond {
		t.Fatalf("Mono went from %s to %s across a 1ms timer", a, b)
	}
}
