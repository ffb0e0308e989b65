package testwait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	if !Poll(Limit, func() bool { return n.Add(1) == 3 }) || n.Load() != 3 {
		t.Fatalf("Poll stopped after %d calls, want true on the third", n.Load())
	}
	n.Store(0)
	if Poll(20*time.Millisecond, func() bool { n.Add(1); return false }) {
		t.Fatal("Poll of a condition that never holds returned true")
	}
	if n.Load() < 2 {
		t.Fatalf("Poll called cond %d times before giving up, want it polled", n.Load())
	}
	// A condition that holds right at the deadline still counts.
	start := time.Now()
	if !Poll(10*time.Millisecond, func() bool { return time.Since(start) > 10*time.Millisecond }) {
		t.Fatal("a condition that held when the bound ran out was reported false")
	}
}
