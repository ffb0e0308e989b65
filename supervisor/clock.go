package supervisor

import "github.com/orbitagent/orbit/clock"

// Clock is the runner's source of time, injected so tests can drive
// backoff, grace periods and rate limits without sleeping.
type Clock = clock.Clock

// Timer is the part of *time.Timer the runner needs.
type Timer = clock.Timer

// RealClock returns a Clock backed by the time package.
func RealClock() Clock { return clock.Real() }
