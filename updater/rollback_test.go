//go:build !windows

package updater

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
)

// buildStandIn is the stand-in osqueryd built with ldflags.
func buildStandIn(t *testing.T, ldflags string) []byte {
	t.Helper()
	return mustRead(t, testbin.Build(t, "./testdata/osqueryd", "osqueryd", ldflags))
}

func TestRollbackOfCrashingRelease(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		builds func(t *testing.T, marks string) (v1, v2, v3 []byte)
	}{
		{"script", func(t *testing.T, marks string) ([]byte, []byte, []byte) {
			return script("1.0.0", 0, marks, 0), script("2.0.0", 0, marks, 0), script("3.0.0", 1, marks, 0)
		}},
		{"stand-in osqueryd", func(t *testing.T, _ string) ([]byte, []byte, []byte) {
			return buildStandIn(t, "-X main.version=1.0.0"), buildStandIn(t, "-X main.version=2.0.0"),
				buildStandIn(t, "-X main.version=3.0.0 -X main.crashAtStart=1")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, false)
			v1, v2, v3 := c.builds(t, e.marks)
			e.repo.addTarget(osqTarget, v1, "1.0.0")
			e.repo.publish()
			cfg := e.config(osqComp)
			cfg.Interval = time.Hour
			u := e.updater(cfg)
			check(t, u)
			e.repo.addTarget(osqTarget, v2, "2.0.0")
			e.repo.publish()
			check(t, u)
			// v2 runs fine through its window.
			e.clock.Advance(u.cfg.RollbackWindow + time.Minute)
			if res := check(t, u); len(res.RolledBack) != 0 {
				t.Fatalf("healthy v2 rolled back: %+v", res)
			}

			e.repo.addTarget(osqTarget, v3, "3.0.0")
			e.repo.publish()
			e.rec.mu.Lock()
			e.rec.restarts = nil
			e.rec.mu.Unlock()
			if res := check(t, u); !slices.Equal(res.Installed, []string{"osqueryd"}) {
				t.Fatalf("v3 not installed: %+v", res)
			}
			p := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
			if !bytes.Equal(mustRead(t, p), v3) || !e.rec.CrashLooping("osqueryd") {
				t.Fatal("v3 is not installed and crashing")
			}

			// Run's health tick, within the window, rolls it back on its own.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- u.Run(ctx) }()
			e.clock.BlockUntil(t, 2)
			e.clock.Advance(10 * time.Second)
			e.clock.BlockUntil(t, 2) // the next health tick is armed after the rollback
			cancel()
			<-done
			if !bytes.Equal(mustRead(t, p), v2) {
				t.Fatal("v2 not restored")
			}
			if out, err := versionOf(p); err != nil || !strings.Contains(out, "2.0.0") {
				t.Fatalf("restored binary: %q %v", out, err)
			}
			if got := e.rec.calls(); !slices.Equal(got, []string{"osqueryd", "osqueryd"}) {
				t.Fatalf("restarts = %v, want install and rollback", got)
			}
			if e.rec.CrashLooping("osqueryd") {
				t.Fatal("restored v2 crashes")
			}
			var rolled bool
			for _, ev := range e.status.Snapshot().Updates {
				rolled = rolled || (ev.Action == "rolled_back" && ev.Version == "3.0.0")
			}
			if !rolled {
				t.Fatalf("no rolled_back event: %+v", e.status.Snapshot().Updates)
			}

			// The bad hash is not retried, not even by a restarted agent.
			if res := check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
				t.Fatalf("v3 retried: %+v", res)
			}
			u = e.updater(cfg)
			e.clock.Advance(cooldown - time.Hour)
			if res := check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
				t.Fatalf("v3 retried after restart: %+v", res)
			}
			if !bytes.Equal(mustRead(t, p), v2) {
				t.Fatal("v2 replaced")
			}
			// A rolled-back release is bad for good, even after the
			// 24 h rest that other failures get.
			e.clock.Advance(48 * time.Hour)
			if res := check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
				t.Fatalf("rolled-back v3 retried after 48 h: %+v", res)
			}
			if !bytes.Equal(mustRead(t, p), v2) {
				t.Fatal("v2 replaced by the bad v3")
			}
		})
	}
}

func TestNoRollbackAfterWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	u := e.updater(cfg)
	check(t, u)
	v2 := script("2.0.0", 1, e.marks, 0)
	e.repo.addTarget(osqTarget, v2, "2.0.0")
	e.repo.publish()
	check(t, u)
	// It crashes only after the window: an ordinary runtime problem, the
	// supervisor's business, not a bad release.
	e.clock.Advance(u.cfg.RollbackWindow + time.Minute)
	if res := check(t, u); len(res.RolledBack) != 0 {
		t.Fatalf("rolled back after the window: %+v", res)
	}
	if !bytes.Equal(mustRead(t, e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")), v2) {
		t.Fatal("v2 replaced")
	}
}
