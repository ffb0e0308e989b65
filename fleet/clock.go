package fleet

import "github.com/orbitagent/orbit/clock"

// Clock is the agent's source of time, injected so tests drive poll
// intervals, enroll backoff, the 401 grace period and token rotation
// without sleeping.
type Clock = clock.Clock

// Timer is the part of *time.Timer the agent needs.
type Timer = clock.Timer

// RealClock returns a Clock backed by the time package.
func RealClock() Clock { return clock.Real() }
