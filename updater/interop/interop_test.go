//go:build !windows

// Package interop_test checks the updater against repositories made by
// updater/repo (the engine of `orbitctl updates`), through the exported API
// only, as cmd/orbit uses it.
package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/updater"
	"github.com/orbitagent/orbit/updater/repo"
)

const day = 24 * time.Hour

type restarts struct {
	mu    sync.Mutex
	calls []string
}

func (r *restarts) Restart(c component.Name) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, string(c))
}

func (r *restarts) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

var passphrases = repo.MapPassphrases{"root": "r", "targets": "t", "snapshot": "s", "timestamp": "ts"}

// fixture is a repository made by updater/repo plus an orbit root directory
// for the updater, with osqueryd targets that are shell scripts printing
// their version.
type fixture struct {
	t      *testing.T
	dir    string // repository (holds keys/ and repository/)
	r      *repo.Repo
	bins   string
	layout rootdir.Layout
	roots  []byte // root.json as bundled in the package
	rs     *restarts
}

// newFixture initializes and opens a repository; clock, if set, is its
// signing time.
func newFixture(t *testing.T, consistent bool, clock clock.Clock) *fixture {
	t.Helper()
	dir := t.TempDir()
	if err := repo.Init(dir, repo.InitOptions{Passphrases: passphrases, ScryptLogN: 10, ConsistentSnapshot: consistent, Clock: clock}); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(dir, repo.OpenOptions{Passphrases: passphrases, ScryptLogN: 10, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	rootJSON, err := r.RootJSON()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := updater.ParseRoots(string(rootJSON))
	if err != nil {
		t.Fatal(err)
	}
	layout, err := rootdir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := layout.Create(); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, r: r, bins: t.TempDir(), layout: layout, roots: roots, rs: &restarts{}}
}

// add publishes osqueryd `version` under the given channels.
func (f *fixture) add(version string, tags ...string) {
	f.t.Helper()
	p := filepath.Join(f.bins, "osqueryd-"+version)
	body := fmt.Sprintf("#!/bin/sh\necho \"osqueryd version %s\"\n", version)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		f.t.Fatal(err)
	}
	err := f.r.AddTarget(context.Background(), repo.AddTarget{File: p, Name: "osqueryd", Platform: "linux", Version: version, Tags: tags, FileName: "osqueryd"})
	if err != nil {
		f.t.Fatal(err)
	}
}

// newUpdater starts an updater on the fixture's root directory, as orbit
// does at every start: state and cached metadata come from disk.
func (f *fixture) newUpdater(url string, clock clock.Clock) *updater.Updater {
	f.t.Helper()
	u, err := updater.New(updater.Config{
		Layout: f.layout, UpdateURL: url, RootJSON: f.roots, Platform: "linux",
		Components: []updater.Component{{Name: "osqueryd", Channel: "stable", FileName: "osqueryd"}},
		Restarter:  f.rs, Clock: clock, Logger: zerolog.New(io.Discard),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// running executes the installed osqueryd and returns what it prints.
func running(t *testing.T, u *updater.Updater) string {
	t.Helper()
	p, err := u.ExecPath("osqueryd")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// readRole returns role.json from dir.
func readRole(t *testing.T, dir, role string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, role+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUpdaterWithOrbitctlRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, false, nil)
	f.add("1.0.0", "stable", "1.0", "1")
	var requests atomic.Int64
	h := repo.Handler(f.dir)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, req)
	}))
	defer srv.Close()
	u := f.newUpdater(srv.URL, nil)
	published := repo.RepositoryPath(f.dir)

	rotate := func(role, version string) func() {
		return func() {
			if err := f.r.Rotate(role); err != nil {
				t.Fatal(err)
			}
			f.add(version, "stable", version[:3], "1")
		}
	}
	steps := []struct {
		name    string
		publish func()
		// restart makes a new Updater on the same root directory before
		// the check, as an orbit restarted after the rotation would.
		restart bool
		want    string
	}{
		{"first install", func() {}, false, "osqueryd version 1.0.0"},
		{"new stable", func() { f.add("1.1.0", "stable", "1.1", "1") }, false, "osqueryd version 1.1.0"},
		{"targets key rotated", rotate("targets", "1.2.0"), false, "osqueryd version 1.2.0"},
		{"root key rotated", rotate("root", "1.3.0"), false, "osqueryd version 1.3.0"},
		{"snapshot key rotated", rotate("snapshot", "1.4.0"), false, "osqueryd version 1.4.0"},
		{"timestamp key rotated", rotate("timestamp", "1.5.0"), false, "osqueryd version 1.5.0"},
		{"snapshot key rotated, orbit restarted", rotate("snapshot", "1.6.0"), true, "osqueryd version 1.6.0"},
		{"timestamp key rotated, orbit restarted", rotate("timestamp", "1.7.0"), true, "osqueryd version 1.7.0"},
		{"pinned channel", func() { u.SetChannels("", "1.1", "") }, false, "osqueryd version 1.1.0"},
	}
	for i, s := range steps {
		var cachedRoot []byte
		if i > 0 {
			cachedRoot = readRole(t, f.layout.TUF(), "root")
		}
		s.publish()
		if strings.Contains(s.name, "rotated") && bytes.Equal(cachedRoot, readRole(t, published, "root")) {
			t.Fatalf("%s: the updater's cached root is already the rotated one: the check would not start from pre-rotation metadata", s.name)
		}
		if s.restart {
			u = f.newUpdater(srv.URL, nil)
		}
		res, err := u.Check(ctx)
		if err != nil || !slices.Equal(res.Installed, []string{"osqueryd"}) {
			t.Fatalf("%s: %+v %v", s.name, res, err)
		}
		if got := running(t, u); got != s.want {
			t.Fatalf("%s: running %q, want %q", s.name, got, s.want)
		}
		// The updater now trusts exactly what the repository publishes.
		for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
			if !bytes.Equal(readRole(t, f.layout.TUF(), role), readRole(t, published, role)) {
				t.Fatalf("%s: cached %s.json differs from the published one", s.name, role)
			}
		}
	}
	if f.rs.count() != len(steps) {
		t.Fatalf("restarts %v", f.rs.calls)
	}
	requests.Store(0)
	res, err := u.Check(ctx)
	if err != nil || len(res.Unchanged) != 1 || requests.Load() != 2 {
		t.Fatalf("no-change check: %+v %v, %d requests", res, err, requests.Load())
	}
	// A timestamp-only re-sign is picked up and changes nothing.
	if err := f.r.Timestamp(); err != nil {
		t.Fatal(err)
	}
	if res, err := u.Check(ctx); err != nil || len(res.Unchanged) != 1 {
		t.Fatalf("after timestamp: %+v %v", res, err)
	}
	if !bytes.Equal(readRole(t, f.layout.TUF(), "timestamp"), readRole(t, published, "timestamp")) {
		t.Fatal("re-signed timestamp not cached")
	}
}

// TestTimestampOnlyRenewal: the repository's timestamp lives 14 days; a
// check on day 13 passes, a timestamp signed 15 days ago stops updates
// (the installed binary keeps running) and `orbitctl updates timestamp`
// alone, with targets and snapshot still those of day 0, brings them back.
//
// The updater's Clock does not reach go-tuf: go-tuf judges expiry by the
// real time (updater.refresh never calls UnsafeSetRefTime). So "day N" is
// made by signing with a repository clock set N days before now, and the
// updater's clock is kept at now, which holds whether or not the updater
// passes its clock to go-tuf later.
func TestTimestampOnlyRenewal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	repoClock := clocktest.New(now.Add(-13 * day)) // day 0 is 13 days ago: now is day 13

	f := newFixture(t, false, repoClock)
	f.add("1.0.0", "stable")
	srv := httptest.NewServer(repo.Handler(f.dir))
	defer srv.Close()
	u := f.newUpdater(srv.URL, clocktest.New(now))
	published := repo.RepositoryPath(f.dir)

	// Day 13: metadata signed on day 0 is valid.
	res, err := u.Check(ctx)
	if err != nil || !slices.Equal(res.Installed, []string{"osqueryd"}) || running(t, u) != "osqueryd version 1.0.0" {
		t.Fatalf("day 13: %+v %v", res, err)
	}
	installed, err := u.ExecPath("osqueryd")
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(installed)
	if err != nil {
		t.Fatal(err)
	}

	// Day 15 without renewal: the newest timestamp is 15 days old. A new
	// target is waiting, so a check that ignored expiry would install it.
	repoClock.Set(now.Add(-15 * day))
	f.add("2.0.0", "stable")
	res, err = u.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "expired") || len(res.Installed) != 0 {
		t.Fatalf("day 15 with a 15-day-old timestamp: %+v %v; want an expiry error", res, err)
	}
	if p, _ := u.ExecPath("osqueryd"); p != installed {
		t.Fatalf("day 15: installed path moved from %s to %s", installed, p)
	}
	if after, _ := os.ReadFile(installed); !bytes.Equal(after, before) || running(t, u) != "osqueryd version 1.0.0" {
		t.Fatal("day 15: installed binary changed by a check on expired metadata")
	}
	oldTargets, oldSnapshot := readRole(t, published, "targets"), readRole(t, published, "snapshot")

	// Day 15 after a timestamp-only renewal: targets and snapshot stay the
	// ones signed 15 days ago; the updater installs the waiting target.
	repoClock.Set(now)
	if err := f.r.Timestamp(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readRole(t, published, "targets"), oldTargets) || !bytes.Equal(readRole(t, published, "snapshot"), oldSnapshot) {
		t.Fatal("Timestamp re-signed more than timestamp.json")
	}
	res, err = u.Check(ctx)
	if err != nil || !slices.Equal(res.Installed, []string{"osqueryd"}) || running(t, u) != "osqueryd version 2.0.0" {
		t.Fatalf("day 15 after renewal: %+v %v", res, err)
	}
	if res, err := u.Check(ctx); err != nil || len(res.Unchanged) != 1 {
		t.Fatalf("day 15, second check: %+v %v", res, err)
	}
}
