package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/clock/clocktest"
)

// Sleep returns true once d has passed on the clock, false as soon as the
// context ends, and leaves no timer behind either way.
func TestSleep(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	done := make(chan bool, 1)
	go func() { done <- clock.Sleep(context.Background(), clk, time.Minute) }()
	if d := clk.WaitTimer(t); d != time.Minute {
		t.Fatalf("Sleep armed a timer of %s, want 1m", d)
	}
	clk.Advance(59 * time.Second)
	select {
	case <-done:
		t.Fatal("Sleep returned before its duration passed")
	default:
	}
	clk.Advance(time.Second)
	if !<-done {
		t.Fatal("Sleep = false after its duration passed")
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- clock.Sleep(ctx, clk, time.Hour) }()
	clk.BlockUntil(t, 1)
	cancel()
	if <-done {
		t.Fatal("Sleep = true after its context ended")
	}
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers left pending", n)
	}
}
