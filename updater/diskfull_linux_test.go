package updater

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
)

// mountTmpfs puts a tmpfs of size bytes, mode 0755, on dir until the test
// ends; the returned func unmounts it early.
func mountTmpfs(t *testing.T, dir string, size string) (unmount func()) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		testbin.Unavailable(t, "cannot mount a tmpfs on %s: %v", dir, err)
	}
	mounted := true
	unmount = func() {
		if mounted {
			if err := syscall.Unmount(dir, 0); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
			mounted = false
		}
	}
	t.Cleanup(unmount)
	return unmount
}

// A full disk is the host's problem, not the release's: three installs that
// fail with ENOSPC are retried with backoff (10 s, 20 s, 40 s), and once
// the disk has room the release installs at the next retry. It is never
// rested and never counted against its hash.
func TestDiskFullIsRetriedNotRested(t *testing.T) {
	t.Parallel()
	testbin.NeedRoot(t, "mounts a tmpfs")
	e := newEnv(t, false)
	v1 := script("1.0.0", 0, e.marks, 0)
	e.repo.addTarget(osqTarget, v1, "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	cfg.Interval = time.Hour
	cfg.HealthInterval = 24 * time.Hour
	check(t, e.updater(cfg))
	v2 := script("2.0.0", 0, e.marks, 256<<10) // larger than the disk
	e.repo.addTarget(osqTarget, v2, "2.0.0")
	e.repo.publish()
	unmount := mountTmpfs(t, e.layout.Staging(), "64k")

	u := e.updater(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	e.clock.BlockUntil(t, 2)
	e.clock.Advance(u.cfg.MaxSplay) // the first check, after the splay
	p := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
	for i, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		e.clock.BlockUntil(t, 2)
		if next := e.clock.NextDeadline().Sub(e.clock.Now()); next != wait {
			t.Fatalf("after disk-full failure %d the next check is in %s, want a retry in %s", i+1, next, wait)
		}
		if !bytes.Equal(mustRead(t, p), v1) {
			t.Fatalf("failure %d: installed binary changed", i+1)
		}
		if i < 2 {
			e.clock.Advance(wait)
		}
	}
	u.stMu.Lock()
	failures := len(u.st.Failures)
	u.stMu.Unlock()
	if failures != 0 {
		t.Fatalf("disk-full failures counted against the release: %d entries", failures)
	}

	unmount() // the admin made room
	e.clock.Advance(40 * time.Second)
	e.clock.BlockUntil(t, 2)
	if !bytes.Equal(mustRead(t, p), v2) {
		t.Fatal("v2 not installed at the first retry after the disk had room")
	}
	if next := e.clock.NextDeadline().Sub(e.clock.Now()); next != cfg.Interval {
		t.Fatalf("after the install the next check is in %s, want the interval %s", next, cfg.Interval)
	}
	cancel()
	<-done
	var actions []string
	for _, ev := range e.status.Snapshot().Updates {
		if ev.Component == "osqueryd" && ev.Version == "2.0.0" {
			actions = append(actions, ev.Action)
			if ev.Action == "retrying" && (!strings.HasPrefix(ev.Message, "disk: ") || !strings.Contains(ev.Message, "no space left")) {
				t.Fatalf("retrying event %q does not name a full disk", ev.Message)
			}
		}
	}
	if !slices.Equal(actions, []string{"retrying", "installed"}) {
		t.Fatalf("events for v2 = %v, want one retrying then installed", actions)
	}
}

// A staging on another filesystem than bin/ (a tmpfs) cannot be renamed
// into place: the verified file is copied from its descriptor next to the
// installed one and renamed there.
func TestStagingOnAnotherFilesystem(t *testing.T) {
	t.Parallel()
	testbin.NeedRoot(t, "mounts a tmpfs")
	e := newEnv(t, false)
	mountTmpfs(t, e.layout.Staging(), "1m")
	v1 := script("1.0.0", 0, e.marks, 0)
	e.repo.addTarget(osqTarget, v1, "1.0.0")
	e.repo.publish()
	u := e.updater(e.config(osqComp))
	check(t, u)
	v2 := script("2.0.0", 0, e.marks, 100<<10)
	e.repo.addTarget(osqTarget, v2, "2.0.0")
	e.repo.publish()
	if res := check(t, u); !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("%+v", res)
	}
	p := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
	if !bytes.Equal(mustRead(t, p), v2) || !bytes.Equal(mustRead(t, p+".previous"), v1) {
		t.Fatal("v2 not installed over v1 across filesystems")
	}
	if out, err := versionOf(p); err != nil || !strings.Contains(out, "2.0.0") {
		t.Fatalf("installed v2: %q %v", out, err)
	}
	if ents, _ := os.ReadDir(e.layout.Staging()); len(ents) != 0 {
		t.Fatalf("staging not cleaned: %v", ents)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 2 {
		t.Fatalf("temporary files left next to the binary: %v", ents)
	}
}
