// Package clock is the source of time that orbit's long-running parts
// (process runner, Fleet agent, run group) take by injection, so tests
// drive backoffs, poll intervals and grace periods without sleeping.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	// Now is the wall time: for what is persisted, shown or compared with
	// other machines (expiry dates, timestamps in the state file).
	Now() time.Time
	// NewTimer fires after d on the monotonic clock: a step of the wall
	// clock neither delays nor hastens it.
	NewTimer(d time.Duration) Timer
	// Mono reads the monotonic clock: the time since a point fixed for the
	// process. Only the difference of two readings means anything, and a
	// step of the wall clock (NTP, an admin, a resumed VM) does not move
	// it. Durations within a run (rest periods, watch windows) are
	// measured with it; Now's readings do not survive a restart anyway.
	Mono() time.Duration
}

// Timer is the part of *time.Timer callers need.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// Real returns a Clock backed by the time package.
func Real() Clock { return realClock{} }

type realClock struct{}

// monoOrigin is the point Mono counts from; time.Since uses the monotonic
// reading it carries.
var monoOrigin = time.Now()

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) Mono() time.Duration            { return time.Since(monoOrigin) }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// Sleep waits d on c, or until ctx ends; it reports whether all of d
// passed (false: ctx ended first).
func Sleep(ctx context.Context, c Clock, d time.Duration) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}
