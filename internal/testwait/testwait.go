// Package testwait polls for what a test waits on in real time (a child
// process, a file, a server's record of a call), where no fake clock or
// channel can say when it happened. The bound is how long a test waits
// before it fails, generous because the machine is shared: it is never a
// timing assertion (speed goals are benchmarks).
package testwait

import (
	"testing"
	"time"
)

// Limit is For's bound.
const Limit = 20 * time.Second

// interval is the pause between two polls.
const interval = 5 * time.Millisecond

// Poll calls cond until it holds, for at most limit, and reports whether
// it did: for a test that says more than For when it gives up.
func Poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		time.Sleep(interval)
	}
	return true
}

// For polls cond until it holds, and fails the test after Limit.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Limit, what, cond)
}

// Within is For with another bound (a chain of real processes that takes
// longer than Limit on a loaded machine).
func Within(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}

// Recv is the next value from ch; the test fails if none comes within
// Limit.
func Recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(Limit):
		t.Fatalf("%s did not happen within %s", what, Limit)
		var zero T
		return zero
	}
}
