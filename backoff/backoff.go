// Package backoff computes retry delays: a base delay that grows by a
// factor up to a cap, with jitter so that many hosts failing for a shared
// cause do not retry in step, and a reset once a run has lasted long
// enough to count as healthy. It is pure (no clock, no goroutines): the
// caller measures how long each run lasted and waits on its own clock.
//
// The process runner, the run group, the Fleet agent's enroll retries and
// the updater's retries of a missing component each use it with their own
// parameters.
package backoff

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults of Config: the process runner's schedule.
const (
	DefaultInitial     = time.Second
	DefaultMax         = 5 * time.Minute
	DefaultMultiplier  = 2.0
	DefaultJitter      = 0.2
	DefaultStableAfter = time.Minute
)

// JitterMode says how Jitter moves a delay.
type JitterMode int

const (
	// Spread spreads a delay d uniformly over [d*(1-Jitter), d*(1+Jitter)],
	// then caps it at Max.
	Spread JitterMode = iota
	// Extend caps d at Max, then adds up to d*Jitter: a delay is never
	// shorter than the schedule (Fleet's orbit jitters its enroll retries
	// so).
	Extend
)

// Config describes a schedule. Each zero field takes its default (see the
// Default* constants); a negative Jitter disables jitter.
type Config struct {
	// Initial is the delay after the first failure.
	Initial time.Duration
	// Max caps the delay (with Spread, jitter included).
	Max time.Duration
	// Multiplier grows the delay after each further failure (>= 1).
	Multiplier float64
	// Jitter is the fraction of a delay that jitter may move it by (<= 1).
	Jitter float64
	// Mode is how jitter applies; default Spread.
	Mode JitterMode
	// StableAfter is how long a run must last to count as healthy: it
	// starts the schedule over.
	StableAfter time.Duration
	// DelayAfterStable makes the retry after a healthy run wait Initial,
	// the new schedule's first step; by default it is immediate.
	DelayAfterStable bool
	// Rand returns a value in [0, 1); default math/rand/v2.Float64.
	Rand func() float64
}

func (c Config) withDefaults() Config {
	if c.Initial == 0 {
		c.Initial = DefaultInitial
	}
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Multiplier == 0 {
		c.Multiplier = DefaultMultiplier
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	} else if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.StableAfter == 0 {
		c.StableAfter = DefaultStableAfter
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

// Validate reports a schedule that cannot work; zero fields are valid
// (they take defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Initial < 0 || c.Max < 0 || c.StableAfter < 0:
		return errors.New("backoff durations must not be negative")
	case c.Initial > c.Max:
		return fmt.Errorf("backoff initial delay %s is larger than the maximum %s; lower Initial or raise Max", c.Initial, c.Max)
	case c.Multiplier < 1:
		return fmt.Errorf("backoff multiplier %v must be at least 1", c.Multiplier)
	case c.Jitter > 1:
		return fmt.Errorf("backoff jitter %v must be at most 1 (a fraction of the delay)", c.Jitter)
	case c.Mode != Spread && c.Mode != Extend:
		return fmt.Errorf("backoff jitter mode %d is unknown: use Spread or Extend", c.Mode)
	}
	return nil
}

// Backoff is one schedule's state. Not safe for concurrent use.
type Backoff struct {
	cfg      Config
	failures int
}

// New returns a Backoff for cfg after applying defaults.
func New(cfg Config) (*Backoff, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid backoff config: %w", err)
	}
	return &Backoff{cfg: cfg.withDefaults()}, nil
}

// Config returns the schedule with defaults applied.
func (b *Backoff) Config() Config { return b.cfg }

// Next records a run that lasted ranFor (0 for an attempt that failed at
// once) and returns how long to wait before the next one.
func (b *Backoff) Next(ranFor time.Duration) time.Duration {
	if ranFor >= b.cfg.StableAfter {
		// A healthy run: whatever ended it is not a crash loop, so start
		// the schedule over.
		b.failures = 0
		if !b.cfg.DelayAfterStable {
			return 0
		}
	}
	b.failures++
	d := float64(b.cfg.Initial)
	for i := 1; i < b.failures && d < float64(b.cfg.Max); i++ {
		d *= b.cfg.Multiplier
	}
	switch {
	case b.cfg.Jitter == 0:
	case b.cfg.Mode == Extend:
		d = min(d, float64(b.cfg.Max))
		d += d * b.cfg.Jitter * b.cfg.Rand()
		return time.Duration(d)
	default:
		d *= 1 + b.cfg.Jitter*(2*b.cfg.Rand()-1)
	}
	return time.Duration(max(min(d, float64(b.cfg.Max)), 0))
}

// Failures is the number of consecutive failures (runs shorter than
// StableAfter, or attempts) since the last reset.
func (b *Backoff) Failures() int { return b.failures }

// Reset forgets past failures.
func (b *Backoff) Reset() { b.failures = 0 }
