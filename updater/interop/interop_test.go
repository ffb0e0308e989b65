//go:build !windows

// Package interop_test checks the updater against repositories made by
// updater/repo (the engine of `orbitctl updates`), through the exported API
// only, as cmd/orbit uses it.
package interop_test

import (
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
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/updater"
	"github.com/orbitagent/orbit/updater/repo"
)

type restarts struct{ calls []string }

func (r *restarts) Restart(c string) { r.calls = append(r.calls, c) }

func TestUpdaterWithOrbitctlRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	pass := repo.MapPassphrases{"root": "r", "targets": "t", "snapshot": "s", "timestamp": "ts"}
	if err := repo.Init(dir, repo.InitOptions{Passphrases: pass, ScryptLogN: 10}); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(dir, repo.OpenOptions{Passphrases: pass, ScryptLogN: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bins := t.TempDir()
	add := func(version string, tags ...string) {
		t.Helper()
		f := filepath.Join(bins, "osqueryd-"+version)
		body := fmt.Sprintf("#!/bin/sh\necho \"osqueryd version %s\"\n", version)
		if err := os.WriteFile(f, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		err := r.AddTarget(ctx, repo.AddTarget{File: f, Name: "osqueryd", Platform: "linux", Version: version, Tags: tags, FileName: "osqueryd"})
		if err != nil {
			t.Fatal(err)
		}
	}
	add("1.0.0", "stable", "1.0", "1")
	rootJSON, err := r.RootJSON()
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	h := repo.Handler(dir)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, req)
	}))
	defer srv.Close()

	layout, err := rootdir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := layout.Create(); err != nil {
		t.Fatal(err)
	}
	roots, err := updater.ParseRoots(string(rootJSON))
	if err != nil {
		t.Fatal(err)
	}
	rs := &restarts{}
	u, err := updater.New(updater.Config{
		Layout: layout, UpdateURL: srv.URL, RootJSON: roots, Platform: "linux",
		Components: []updater.Component{{Name: "osqueryd", Channel: "stable", FileName: "osqueryd"}},
		Restarter:  rs, Logger: zerolog.New(io.Discard),
	})
	if err != nil {
		t.Fatal(err)
	}
	versionNow := func() string {
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
	steps := []struct {
		name    string
		publish func()
		want    string
	}{
		{"first install", func() {}, "osqueryd version 1.0.0"},
		{"new stable", func() { add("1.1.0", "stable", "1.1", "1") }, "osqueryd version 1.1.0"},
		{"targets key rotated", func() {
			if err := r.Rotate("targets"); err != nil {
				t.Fatal(err)
			}
			add("1.2.0", "stable", "1.2", "1")
		}, "osqueryd version 1.2.0"},
		{"root key rotated", func() {
			if err := r.Rotate("root"); err != nil {
				t.Fatal(err)
			}
			add("1.3.0", "stable", "1.3", "1")
		}, "osqueryd version 1.3.0"},
		{"pinned channel", func() { u.SetChannels("", "1.1", "") }, "osqueryd version 1.1.0"},
	}
	for _, s := range steps {
		s.publish()
		res, err := u.Check(ctx)
		if err != nil || !slices.Equal(res.Installed, []string{"osqueryd"}) {
			t.Fatalf("%s: %+v %v", s.name, res, err)
		}
		if got := versionNow(); got != s.want {
			t.Fatalf("%s: running %q, want %q", s.name, got, s.want)
		}
	}
	if len(rs.calls) != len(steps) {
		t.Fatalf("restarts %v", rs.calls)
	}
	requests.Store(0)
	res, err := u.Check(ctx)
	if err != nil || len(res.Unchanged) != 1 || requests.Load() != 2 {
		t.Fatalf("no-change check: %+v %v, %d requests", res, err, requests.Load())
	}
	// A timestamp-only re-sign is picked up and changes nothing.
	if err := r.Timestamp(); err != nil {
		t.Fatal(err)
	}
	if res, err := u.Check(ctx); err != nil || len(res.Unchanged) != 1 {
		t.Fatalf("after timestamp: %+v %v", res, err)
	}
}
