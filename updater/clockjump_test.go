//go:build !windows

package updater

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"
)

const year = 365 * 24 * time.Hour

// restingEnv has osqueryd v1 installed and a v2 that fails its exec check
// tried maxTries times: v2 rests.
func restingEnv(t *testing.T) (*env, Config, *Updater) {
	t.Helper()
	e, cfg, u, _ := withV1(t, nil)
	e.repo.addTarget(osqTarget, []byte("#!/bin/sh\nexit 3\n"), "2.0.0")
	e.repo.publish()
	for i := 0; i < maxTries; i++ {
		if res := check(t, u); res.Failed["osqueryd"] == nil {
			t.Fatalf("try %d of the broken v2: %+v", i, res)
		}
	}
	if res := check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
		t.Fatalf("broken v2 not resting after %d failures: %+v", maxTries, res)
	}
	return e, cfg, u
}

// A rest lasts 24 h of real time whatever the wall clock does: a step back
// does not stretch it (to a year and a day), a step forward does not end it,
// and after a restart, when only the persisted wall time is left, it is
// capped at its nominal length from now.
func TestRestFollowsTheMonotonicClock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		step    time.Duration
		restart bool
	}{
		{"wall clock back a year", -year, false},
		{"wall clock forward a year", year, false},
		{"wall clock back a year, then a restart", -year, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, cfg, u := restingEnv(t)
			e.clock.Jump(e.clock.Now().Add(c.step))
			if c.restart {
				u = e.updater(cfg)
			}
			if res := check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
				t.Fatalf("right after the step: %+v, want still resting", res)
			}
			e.clock.Advance(cooldown - time.Hour)
			if res := check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
				t.Fatalf("23 h into the rest: %+v, want still resting", res)
			}
			e.clock.Advance(2 * time.Hour)
			if res := check(t, u); len(res.Resting) != 0 || res.Failed["osqueryd"] == nil {
				t.Fatalf("25 h after the rest began: %+v, want v2 tried again", res)
			}
		})
	}
}

// The rollback window is 10 min of real time: a crash loop right after a
// wall clock stepped forward a year is still rolled back, and one after the
// window is not blamed on the release because the wall clock went back.
func TestRollbackWindowFollowsTheMonotonicClock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		step     time.Duration
		restart  bool
		wait     time.Duration
		rollback bool
	}{
		{"forward a year, crash at once", year, false, 0, true},
		{"back a year, crash after the window", -year, false, 11 * time.Minute, false},
		{"back a year, restart, crash after the window", -year, true, 11 * time.Minute, false},
		{"back a year, restart, crash within the window", -year, true, 9 * time.Minute, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, cfg, u, v1 := withV1(t, nil)
			e.repo.addTarget(osqTarget, script("2.0.0", 1, e.marks, 0), "2.0.0")
			e.repo.publish()
			if res := check(t, u); !slices.Equal(res.Installed, []string{"osqueryd"}) || !e.rec.CrashLooping("osqueryd") {
				t.Fatalf("crashing v2 not installed: %+v", res)
			}
			e.clock.Jump(e.clock.Now().Add(c.step))
			if c.restart {
				u = e.updater(cfg)
			}
			e.clock.Advance(c.wait)
			var res CheckResult
			u.checkMu.Lock()
			u.evaluateWatchesLocked(context.Background(), &res)
			u.checkMu.Unlock()
			if rolled := slices.Equal(res.RolledBack, []string{"osqueryd"}); rolled != c.rollback {
				t.Fatalf("rolled back = %v, want %v", rolled, c.rollback)
			}
			p := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
			if got := bytes.Equal(mustRead(t, p), v1); got != c.rollback {
				t.Fatalf("v1 back in place = %v, want %v", got, c.rollback)
			}
		})
	}
}

// Run's splay and interval are timers, which follow the monotonic clock: a
// wall clock stepped back a year right after the start does not hold the
// first check back.
func TestRunTimersIgnoreWallClockSteps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	cfg.Interval = time.Hour
	cfg.HealthInterval = 24 * time.Hour
	check(t, e.updater(cfg))
	u := e.updater(cfg)
	e.srv.reset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	e.clock.BlockUntil(t, 2)
	e.clock.Jump(e.clock.Now().Add(-year))
	e.clock.Advance(u.cfg.MaxSplay + time.Second)
	e.clock.BlockUntil(t, 2)
	if n := e.srv.requests.Load(); n != 2 {
		t.Fatalf("%d requests after the splay, want a check (2)", n)
	}
	e.clock.Jump(e.clock.Now().Add(2 * year))
	e.clock.Advance(cfg.Interval)
	e.clock.BlockUntil(t, 2)
	if n := e.srv.requests.Load(); n != 4 {
		t.Fatalf("%d requests after an interval, want a second check (4)", n)
	}
	cancel()
	<-done
}
