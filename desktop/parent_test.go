package desktop

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
)

func TestWatchParent(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var checks atomic.Int32
	alive := func() bool { return checks.Add(1) < 4 }
	done := make(chan error, 1)
	go func() { done <- WatchParent(context.Background(), clk, 2*time.Second, alive) }()
	for range 3 {
		if d := clk.WaitTimer(t); d != 2*time.Second {
			t.Fatalf("check interval %s", d)
		}
		select {
		case err := <-done:
			t.Fatalf("returned %v while the parent is alive", err)
		default:
		}
		clk.Advance(2 * time.Second)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WatchParent = %v, want nil once the parent is gone", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WatchParent did not notice the parent is gone")
	}
	if n := checks.Load(); n != 4 {
		t.Fatalf("%d checks, want 4", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- WatchParent(ctx, clk, time.Second, func() bool { return true }) }()
	clk.WaitTimer(t)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel WatchParent = %v", err)
	}
}
