package supervisor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults of BackoffConfig.
const (
	DefaultBackoffInitial     = time.Second
	DefaultBackoffMax         = 5 * time.Minute
	DefaultBackoffMultiplier  = 2.0
	DefaultBackoffJitter      = 0.2
	DefaultBackoffStableAfter = time.Minute
)

// BackoffConfig describes the restart schedule. Each zero field takes its
// default (see the Default* constants); a negative Jitter disables jitter.
type BackoffConfig struct {
	// Initial is the delay after the first failed run.
	Initial time.Duration
	// Max caps the delay, jitter included.
	Max time.Duration
	// Multiplier grows the delay after each further failed run (>= 1).
	Multiplier float64
	// Jitter spreads each delay uniformly over [d*(1-Jitter), d*(1+Jitter)]
	// so that many hosts restarting after a shared cause do not stay in step.
	Jitter float64
	// StableAfter is how long a run must last to count as healthy: it resets
	// the schedule and the restart after it is immediate.
	StableAfter time.Duration
	// Rand returns a value in [0, 1); default math/rand/v2.Float64.
	Rand func() float64
}

func (c BackoffConfig) withDefaults() BackoffConfig {
	if c.Initial == 0 {
		c.Initial = DefaultBackoffInitial
	}
	if c.Max == 0 {
		c.Max = DefaultBackoffMax
	}
	if c.Multiplier == 0 {
		c.Multiplier = DefaultBackoffMultiplier
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultBackoffJitter
	} else if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.StableAfter == 0 {
		c.StableAfter = DefaultBackoffStableAfter
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

func (c BackoffConfig) validate() error {
	switch {
	case c.Initial < 0 || c.Max < 0 || c.StableAfter < 0:
		return errors.New("backoff durations must not be negative")
	case c.Initial > c.Max:
		return fmt.Errorf("backoff initial delay %s is larger than the maximum %s; lower Initial or raise Max", c.Initial, c.Max)
	case c.Multiplier < 1:
		return fmt.Errorf("backoff multiplier %v must be at least 1", c.Multiplier)
	case c.Jitter > 1:
		return fmt.Errorf("backoff jitter %v must be at most 1 (a fraction of the delay)", c.Jitter)
	}
	return nil
}

// Backoff computes restart delays. It is a pure state machine (no clock, no
// goroutines); the caller measures how long each run lasted. Not safe for
// concurrent use.
type Backoff struct {
	cfg      BackoffConfig
	failures int
}

// NewBackoff returns a Backoff for cfg after applying defaults.
func NewBackoff(cfg BackoffConfig) (*Backoff, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("invalid backoff config: %w", err)
	}
	return &Backoff{cfg: cfg}, nil
}

// Next records a run that lasted ranFor (0 for a start that failed) and
// returns how long to wait before the next start.
func (b *Backoff) Next(ranFor time.Duration) time.Duration {
	if ranFor >= b.cfg.StableAfter {
		// A healthy run: whatever killed it is not a crash loop, so come back
		// at once and start the schedule over.
		b.failures = 0
		return 0
	}
	b.failures++
	d := float64(b.cfg.Initial)
	for i := 1; i < b.failures && d < float64(b.cfg.Max); i++ {
		d *= b.cfg.Multiplier
	}
	if b.cfg.Jitter > 0 {
		d *= 1 + b.cfg.Jitter*(2*b.cfg.Rand()-1)
	}
	if d > float64(b.cfg.Max) {
		d = float64(b.cfg.Max)
	}
	if d < 0 {
		d = 0
	}
	return time.Duration(d)
}

// Failures is the number of consecutive runs (or start attempts) that ended
// before StableAfter.
func (b *Backoff) Failures() int { return b.failures }

// Reset forgets past failures.
func (b *Backoff) Reset() { b.failures = 0 }
