//go:build !windows

package updater

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/status"
)

var osqComp = Component{Name: "osqueryd", Channel: "stable", FileName: "osqueryd"}

func check(t *testing.T, u *Updater) CheckResult {
	t.Helper()
	res, err := u.Check(context.Background())
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return res
}

func TestHappyPathOnlyChangedComponentReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	desk := Component{Name: "desktop", Channel: "stable", FileName: "desktop.tar.gz", ExecInArchive: "fleet-desktop/fleet-desktop"}
	osq1 := script("1.0.0", 0, e.marks, 0)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", osq1, "1.0.0")
	e.repo.addTarget("desktop/linux/stable/desktop.tar.gz", testbin.TarGz(t, map[string][]byte{"fleet-desktop/fleet-desktop": script("d1", 0, e.marks, 0)}), "d1")
	e.repo.publish()
	u := e.updater(e.config(osqComp, desk))

	res := check(t, u)
	slices.Sort(res.Installed)
	if !slices.Equal(res.Installed, []string{"desktop", "osqueryd"}) || len(res.Failed) != 0 {
		t.Fatalf("first check: %+v", res)
	}
	osqPath := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
	if p, _ := u.ExecPath("osqueryd"); p != osqPath {
		t.Fatalf("ExecPath = %q, want %q", p, osqPath)
	}
	if out, err := versionOf(osqPath); err != nil || !strings.Contains(out, "1.0.0") {
		t.Fatalf("installed osqueryd --version = %q, %v", out, err)
	}
	deskPath, err := u.ExecPath("desktop")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := versionOf(deskPath); err != nil || !strings.Contains(out, "d1") {
		t.Fatalf("installed desktop --version = %q, %v", out, err)
	}

	// v2 of osqueryd only.
	e.rec.mu.Lock()
	e.rec.restarts = nil
	e.rec.mu.Unlock()
	osq2 := script("2.0.0", 0, e.marks, 0)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", osq2, "2.0.0")
	e.repo.publish()
	res = check(t, u)
	if !slices.Equal(res.Installed, []string{"osqueryd"}) || !slices.Equal(res.Unchanged, []string{"desktop"}) {
		t.Fatalf("second check: %+v", res)
	}
	if got := e.rec.calls(); !slices.Equal(got, []string{"osqueryd"}) {
		t.Fatalf("restarts = %v, want only osqueryd", got)
	}
	if !bytes.Equal(mustRead(t, osqPath), osq2) || !bytes.Equal(mustRead(t, osqPath+".previous"), osq1) {
		t.Fatal("bin file is not v2 or previous is not v1")
	}
	if p, _ := u.ExecPath("desktop"); p != deskPath {
		t.Fatalf("desktop moved: %q -> %q", deskPath, p)
	}
	snap := e.status.Snapshot()
	if snap.Components["osqueryd"].Version != "2.0.0" {
		t.Fatalf("status version = %q", snap.Components["osqueryd"].Version)
	}
	var installedEvents int
	for _, ev := range snap.Updates {
		if ev.Action == "installed" {
			installedEvents++
		}
	}
	if installedEvents != 3 {
		t.Fatalf("installed events = %d, want 3: %+v", installedEvents, snap.Updates)
	}

	// A desktop v2 replaces the extracted directory and keeps the previous one.
	e.repo.addTarget("desktop/linux/stable/desktop.tar.gz", testbin.TarGz(t, map[string][]byte{"fleet-desktop/fleet-desktop": script("d2", 0, e.marks, 0)}), "d2")
	e.repo.publish()
	res = check(t, u)
	if !slices.Equal(res.Installed, []string{"desktop"}) {
		t.Fatalf("third check: %+v", res)
	}
	p2, _ := u.ExecPath("desktop")
	if out, err := versionOf(p2); err != nil || !strings.Contains(out, "d2") || p2 == deskPath {
		t.Fatalf("desktop v2 at %q: %q %v", p2, out, err)
	}
	if _, err := os.Stat(deskPath); err != nil {
		t.Fatalf("previous desktop removed: %v", err)
	}
}

func TestNoChangeCheckCost(t *testing.T) {
	t.Parallel()
	for _, consistent := range []bool{false, true} {
		e := newEnv(t, consistent)
		e.repo.addTarget("osqueryd/linux/stable/osqueryd", script("1.0.0", 0, e.marks, 0), "1.0.0")
		e.repo.publish()
		u := e.updater(e.config(osqComp))
		check(t, u)
		e.srv.reset()
		res := check(t, u)
		if len(res.Unchanged) != 1 {
			t.Fatalf("consistent=%v: %+v", consistent, res)
		}
		// TUF requires the probe for the next root and the timestamp; nothing else.
		want := []string{"/2.root.json", "/timestamp.json"}
		if got := e.srv.requested(); !slices.Equal(got, want) {
			t.Fatalf("consistent=%v: requests %v, want %v", consistent, got, want)
		}
		if res.Requests != 2 || res.Bytes != e.srv.bytes.Load()-int64(len("404 page not found\n")) {
			t.Fatalf("consistent=%v: result counts %d requests %d bytes, server sent %d", consistent, res.Requests, res.Bytes, e.srv.bytes.Load())
		}
		if res.Bytes > 2048 {
			t.Fatalf("no-change check read %d bytes", res.Bytes)
		}
	}
}

// boot runs CheckBoot as the orbit at exe.
func (e *env) boot(exe string) BootResult {
	e.t.Helper()
	r, err := CheckBoot(e.layout, BootConfig{Executable: exe, Clock: e.clock, Logger: zerolog.New(io.Discard)})
	if err != nil {
		e.t.Fatalf("CheckBoot as %s: %v", exe, err)
	}
	return r
}

func TestSelfUpdateTrialAndBootRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	orbitComp := orbitFor("linux", "stable")
	o1 := script("1.0.0", 0, e.marks, 0)
	e.repo.addTarget("orbit/linux/stable/orbit", o1, "1.0.0")
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	var hooked []string
	cfg := e.config(orbitComp, osqComp)
	cfg.SelfUpdated = func(p string) { hooked = append(hooked, p) }
	u := e.updater(cfg)
	res := check(t, u)
	stable := StableOrbitPath(e.layout)
	if !res.SelfUpdated || !slices.Equal(hooked, []string{stable}) {
		t.Fatalf("first install of orbit: %+v hooked %v", res, hooked)
	}
	if res.Installed[len(res.Installed)-1] != "orbit" {
		t.Fatalf("orbit not installed last: %v", res.Installed)
	}
	// The first install has nothing to fall back on: the service runs it
	// at once, with nothing pending.
	if link, err := os.Readlink(stable); err != nil || link != "linux/stable/orbit" {
		t.Fatalf("stable link = %q, %v", link, err)
	}
	known := e.layout.Bin("orbit", "linux", "stable", "orbit")
	if r := e.boot(known); r != (BootResult{}) {
		t.Fatalf("CheckBoot after first install = %+v", r)
	}

	// v2 is installed as a candidate; the service still runs v1.
	o2 := script("2.0.0", 0, e.marks, 0)
	e.repo.addTarget("orbit/linux/stable/orbit", o2, "2.0.0")
	e.repo.publish()
	hooked = nil
	u = e.updater(cfg)
	res = check(t, u)
	if !res.SelfUpdated || !slices.Equal(hooked, []string{stable}) {
		t.Fatalf("orbit v2: %+v hooked %v", res, hooked)
	}
	candidate := known + ".candidate"
	if !bytes.Equal(mustRead(t, candidate), o2) {
		t.Fatal("v2 is not the candidate")
	}
	if out, err := versionOf(stable, "version"); err != nil || !strings.Contains(out, "1.0.0") {
		t.Fatalf("stable orbit during the trial = %q, %v; want the known-good 1.0.0", out, err)
	}
	// After the hand-over the old process checks no more.
	if r2, _ := u.Check(context.Background()); r2.Requests != 0 {
		t.Fatalf("check after self-update made %d requests", r2.Requests)
	}

	// The known-good orbit (what the stable path runs) counts each boot and
	// starts the candidate, which dies each time; the candidate itself
	// counts nothing.
	for i := 1; i <= 3; i++ {
		if r := e.boot(stable); r.RunCandidate != candidate || r.Boots != i || r.RolledBack || r.Candidate {
			t.Fatalf("known-good boot %d: %+v", i, r)
		}
		if r := e.boot(candidate); !r.Candidate || r.RunCandidate != "" || r.Boots != i {
			t.Fatalf("candidate boot %d: %+v", i, r)
		}
	}
	r := e.boot(stable)
	if !r.RolledBack || r.RunCandidate != "" || r.Version != "2.0.0" || r.Boots != 3 {
		t.Fatalf("boot 4: %+v, want a rollback of 2.0.0", r)
	}
	if exists(candidate) {
		t.Fatal("rolled-back candidate left in place")
	}
	if out, err := versionOf(stable, "version"); err != nil || !strings.Contains(out, "1.0.0") {
		t.Fatalf("after boot rollback stable orbit = %q, %v", out, err)
	}
	if r := e.boot(stable); r != (BootResult{}) {
		t.Fatalf("boot after the rollback: %+v, want nothing pending", r)
	}
	// The bad hash is never tried again, not even after the 24 h rest.
	hooked = nil
	u = e.updater(cfg)
	e.srv.reset()
	e.clock.Advance(48 * time.Hour)
	res = check(t, u)
	if !slices.Contains(res.Resting, "orbit") || len(hooked) != 0 {
		t.Fatalf("after rollback: %+v", res)
	}
	for _, p := range e.srv.requested() {
		if strings.HasPrefix(p, "/targets/orbit/") {
			t.Fatalf("the rolled-back orbit was downloaded again: %v", e.srv.requested())
		}
	}

	// A healthy v3: the candidate promotes itself after SelfHealthyAfter.
	o3 := script("3.0.0", 0, e.marks, 0)
	e.repo.addTarget("orbit/linux/stable/orbit", o3, "3.0.0")
	e.repo.publish()
	check(t, u)
	if r := e.boot(stable); r.RunCandidate != candidate || r.Boots != 1 {
		t.Fatalf("boot of v3: %+v", r)
	}
	// While v3 is on trial, a v4 waits.
	e.repo.addTarget("orbit/linux/stable/orbit", script("4.0.0", 0, e.marks, 0), "4.0.0")
	e.repo.publish()
	ccfg := cfg
	ccfg.Executable = candidate
	u = e.updater(ccfg) // v3, running
	if res := check(t, u); !slices.Equal(res.Unchanged, []string{"osqueryd", "orbit"}) || res.SelfUpdated {
		t.Fatalf("v4 during the trial of v3: %+v", res)
	}
	// Only the candidate promotes itself.
	if err := e.updater(cfg).MarkHealthy(); err != nil || !exists(candidate) {
		t.Fatalf("MarkHealthy in the known-good orbit: %v (candidate present %v)", err, exists(candidate))
	}
	if err := u.MarkHealthy(); err != nil {
		t.Fatal(err)
	}
	if exists(candidate) || !bytes.Equal(mustRead(t, known), o3) || !bytes.Equal(mustRead(t, known+".previous"), o1) {
		t.Fatal("v3 not promoted to the channel file with v1 kept as previous")
	}
	if out, err := versionOf(stable, "version"); err != nil || !strings.Contains(out, "3.0.0") {
		t.Fatalf("stable orbit after promotion = %q, %v", out, err)
	}
	if r := e.boot(stable); r != (BootResult{}) {
		t.Fatalf("boot after healthy: %+v", r)
	}
	var healthy bool
	for _, ev := range e.status.Snapshot().Updates {
		healthy = healthy || (ev.Action == "healthy" && ev.Version == "3.0.0")
	}
	if !healthy {
		t.Fatalf("no healthy event: %+v", e.status.Snapshot().Updates)
	}
	// Now v4 is installed on trial.
	hooked = nil
	if res := check(t, e.updater(cfg)); !res.SelfUpdated || !bytes.Equal(mustRead(t, candidate), mustRead(t, e.repo.dir+"/targets/orbit/linux/stable/orbit")) {
		t.Fatalf("v4 after v3 proved healthy: %+v", res)
	}
}

// A promotion killed after the candidate became the channel file, before
// the state was written, is finished by the next boot check.
func TestInterruptedPromotionIsFinished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	cfg := e.config(orbitFor("linux", "stable"))
	cfg.SelfUpdated = func(string) {}
	e.repo.addTarget("orbit/linux/stable/orbit", script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	check(t, e.updater(cfg))
	o2 := script("2.0.0", 0, e.marks, 0)
	e.repo.addTarget("orbit/linux/stable/orbit", o2, "2.0.0")
	e.repo.publish()
	check(t, e.updater(cfg))
	known := e.layout.Bin("orbit", "linux", "stable", "orbit")
	if r := e.boot(StableOrbitPath(e.layout)); r.RunCandidate != known+".candidate" {
		t.Fatalf("%+v", r)
	}
	// The kill: the candidate was renamed, nothing else happened.
	if err := os.Rename(known+".candidate", known); err != nil {
		t.Fatal(err)
	}
	if r := e.boot(known); r.RunCandidate != "" || r.RolledBack {
		t.Fatalf("boot after an interrupted promotion: %+v", r)
	}
	st, err := loadState(e.layout)
	if err != nil || st.SelfUpdate != nil || st.Components["orbit"].Path != known || st.Components["orbit"].Version != "2.0.0" {
		t.Fatalf("state after the finished promotion: %+v %v", st, err)
	}
	if res := check(t, e.updater(cfg)); !slices.Equal(res.Unchanged, []string{"orbit"}) {
		t.Fatalf("check after the finished promotion: %+v", res)
	}
}

func TestMissingTargetDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	desk := Component{Name: "desktop", Channel: "stable", FileName: "desktop.tar.gz", ExecInArchive: "d/d"}
	u := e.updater(e.config(desk, osqComp))
	res := check(t, u)
	if !slices.Equal(res.Missing, []string{"desktop"}) || !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("%+v", res)
	}
	if _, err := u.ExecPath("desktop"); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("ExecPath(desktop) = %v", err)
	}
	// Retried: once published it is installed.
	e.repo.addTarget("desktop/linux/stable/desktop.tar.gz", testbin.TarGz(t, map[string][]byte{"d/d": script("d1", 0, e.marks, 0)}), "d1")
	e.repo.publish()
	if res = check(t, u); !slices.Equal(res.Installed, []string{"desktop"}) {
		t.Fatalf("%+v", res)
	}
}

func TestOfflineRunsBundledThenAdoptsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	bundled := script("1.0.0", 0, e.marks, 0)
	p := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, bundled, 0o755); err != nil {
		t.Fatal(err)
	}
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", bundled, "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	url := e.srv.srv.URL
	cfg.UpdateURL = "http://127.0.0.1:1" // nothing listens: network down
	u := e.updater(cfg)
	if got, err := u.ExecPath("osqueryd"); err != nil || got != p {
		t.Fatalf("ExecPath offline = %q, %v", got, err)
	}
	if _, err := u.Check(context.Background()); err == nil {
		t.Fatal("check with the network down succeeded")
	}
	if !bytes.Equal(mustRead(t, p), bundled) {
		t.Fatal("bundled file changed")
	}
	// Network back: the bundled file is the target, adopted with no download.
	cfg.UpdateURL = url
	u = e.updater(cfg)
	res := check(t, u)
	for _, r := range e.srv.requested() {
		if strings.HasPrefix(r, "/targets/") {
			t.Fatalf("downloaded %s although the bundled file is current", r)
		}
	}
	if len(e.rec.calls()) != 0 || !slices.Equal(res.Unchanged, []string{"osqueryd"}) {
		t.Fatalf("adopting a bundled file: %+v, restarts %v", res, e.rec.calls())
	}
	e.srv.reset()
	if res = check(t, u); !slices.Equal(res.Unchanged, []string{"osqueryd"}) {
		t.Fatalf("%+v", res)
	}
}

// A staging directory that cannot be used is the host's problem: every
// check logs it once and tries again, the release is never rested, and it
// installs as soon as staging works.
func TestLocalInstallErrorKeepsOldAndRetries(t *testing.T) {
	t.Parallel()
	var log logcapture.Buffer
	e, _, u, v1 := withV1(t, &log)
	p := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")

	// Staging unusable (as with a broken or read-only disk).
	if err := os.RemoveAll(e.layout.Staging()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.layout.Staging(), []byte("not a dir"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", script("2.0.0", 0, e.marks, 0), "2.0.0")
	e.repo.publish()
	const tries = maxTries + 2
	for i := 0; i < tries; i++ {
		res := check(t, u)
		if res.Failed["osqueryd"] == nil || len(res.Resting) != 0 || !slices.Equal(res.Retrying, []string{"osqueryd"}) {
			t.Fatalf("try %d: %+v, want a failure to retry, no rest", i, res)
		}
		if !bytes.Equal(mustRead(t, p), v1) {
			t.Fatal("old version replaced")
		}
	}
	// One clear line per failure: what failed, why, and that the old
	// version keeps running.
	if n := strings.Count(log.String(), `"message":"update failed for a reason not the release's, retrying soon; previous version left in place"`); n != tries {
		t.Fatalf("%d failure log lines for %d failures:\n%s", n, tries, log.String())
	}
	if !strings.Contains(log.String(), `"component":"osqueryd"`) || !strings.Contains(log.String(), "staging") || !strings.Contains(log.String(), `"failure_class":"disk"`) {
		t.Fatalf("failure log does not say what failed:\n%s", log.String())
	}
	// A restart does not turn them into a rest either.
	u = e.updater(e.config(osqComp))
	if res := check(t, u); len(res.Resting) != 0 || res.Failed["osqueryd"] == nil {
		t.Fatalf("after restart: %+v", res)
	}
	// Staging is back: the next check installs, no 24 h wait.
	os.Remove(e.layout.Staging())
	if res := check(t, u); !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("staging repaired: %+v", res)
	}
	var retrying, failed int
	for _, ev := range e.status.Snapshot().Updates {
		switch {
		case ev.Component != "osqueryd":
		case ev.Action == "retrying":
			retrying++
		case ev.Action == "failed":
			failed++
		}
	}
	if retrying != 2 || failed != 0 {
		t.Fatalf("events: %d retrying (one per run of failures, and the restart), %d failed; want 2 and 0", retrying, failed)
	}
}

// A release whose verified file fails its exec check is its own fault: 3
// tries, then 24 h of rest, kept across a restart.
func TestBrokenReleaseRests(t *testing.T) {
	t.Parallel()
	var log logcapture.Buffer
	e, _, u, _ := withV1(t, &log)
	e.repo.addTarget(osqTarget, []byte("#!/bin/sh\nexit 3\n"), "2.0.0")
	e.repo.publish()
	for i := 0; i < maxTries; i++ {
		if res := check(t, u); res.Failed["osqueryd"] == nil || len(res.Retrying) != 0 {
			t.Fatalf("try %d: %+v, want a counted failure", i, res)
		}
	}
	if n := strings.Count(log.String(), `"message":"update failed, previous version left in place"`); n != maxTries {
		t.Fatalf("%d failure log lines for %d failures:\n%s", n, maxTries, log.String())
	}
	if !strings.Contains(log.String(), `"failure_class":"release"`) || !strings.Contains(log.String(), "exec check") {
		t.Fatalf("failure log does not say what failed:\n%s", log.String())
	}
	if res := check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
		t.Fatalf("after %d failures: %+v", maxTries, res)
	}
	u = e.updater(e.config(osqComp))
	if res := check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
		t.Fatalf("after restart: %+v", res)
	}
	// After 24 h it gets a fresh set of tries; a fixed release (a new
	// hash) installs at once.
	e.clock.Advance(cooldown + time.Minute)
	if res := check(t, u); len(res.Resting) != 0 || res.Failed["osqueryd"] == nil {
		t.Fatalf("after cooldown: %+v, want the broken release tried again", res)
	}
	e.repo.addTarget(osqTarget, script("2.0.1", 0, e.marks, 0), "2.0.1")
	e.repo.publish()
	if res := check(t, u); !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("fixed release: %+v", res)
	}
	var failed int
	for _, ev := range e.status.Snapshot().Updates {
		if ev.Action == "failed" && ev.Component == "osqueryd" {
			failed++
		}
	}
	if failed != maxTries+1 {
		t.Fatalf("failed events = %d, want %d", failed, maxTries+1)
	}
}

func TestExecCheckFailureNeverInstalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	v1 := script("1.0.0", 0, e.marks, 0)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", v1, "1.0.0")
	e.repo.publish()
	u := e.updater(e.config(osqComp))
	check(t, u)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", []byte("#!/bin/sh\nexit 3\n"), "2.0.0")
	e.repo.publish()
	res := check(t, u)
	if res.Failed["osqueryd"] == nil || !strings.Contains(res.Failed["osqueryd"].Error(), "exec check") {
		t.Fatalf("%+v", res)
	}
	if !bytes.Equal(mustRead(t, e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")), v1) {
		t.Fatal("replaced by a binary that fails its exec check")
	}
}

func TestSetChannelsSwitchesAndRollsBackAcross(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	stable := script("1.0.0", 0, e.marks, 0)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", stable, "1.0.0")
	e.repo.addTarget("osqueryd/linux/edge/osqueryd", script("2.0.0-edge", 1, e.marks, 0), "2.0.0-edge")
	e.repo.publish()
	u := e.updater(e.config(osqComp))
	check(t, u)
	u.SetChannels("", "edge", "")
	select {
	case <-u.wake:
	default:
		t.Fatal("SetChannels did not wake Run")
	}
	res := check(t, u)
	edgePath := e.layout.Bin("osqueryd", "linux", "edge", "osqueryd")
	if p, _ := u.ExecPath("osqueryd"); !slices.Equal(res.Installed, []string{"osqueryd"}) || p != edgePath {
		t.Fatalf("%+v path %q", res, p)
	}
	// The edge build crashes at start: roll back to the stable file.
	e.clock.Advance(time.Minute)
	res = check(t, u)
	stablePath := e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
	if p, _ := u.ExecPath("osqueryd"); !slices.Equal(res.RolledBack, []string{"osqueryd"}) || p != stablePath {
		t.Fatalf("%+v path %q", res, p)
	}
	u.SetChannels("", "", "") // empty keeps the current channels
	if res = check(t, u); !slices.Equal(res.Resting, []string{"osqueryd"}) {
		t.Fatalf("%+v", res)
	}
}

func TestRunChecksMissingAtOnceThenAfterSplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	cfg.Interval = time.Hour
	u := e.updater(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	// Run registers its splay and health timers only after the immediate check.
	e.clock.BlockUntil(t, 2)
	if _, err := u.ExecPath("osqueryd"); err != nil {
		t.Fatalf("missing component not fetched at once: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Everything installed: no request until the splay has passed.
	e.srv.reset()
	clock := newFakeClock()
	cfg.Clock = clock
	cfg.HealthInterval = 24 * time.Hour
	u = e.updater(cfg)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- u.Run(ctx) }()
	clock.BlockUntil(t, 2)
	if n := e.srv.requests.Load(); n != 0 {
		t.Fatalf("%d requests before the splay", n)
	}
	clock.Advance(10 * time.Minute) // splay < min(interval, 10 min)
	clock.BlockUntil(t, 2)          // next interval timer registered after the check
	if n := e.srv.requests.Load(); n != 2 {
		t.Fatalf("%d requests after the splay, want 2", n)
	}
	cancel()
	<-done
}

// With the update server down at first boot, a missing component is
// retried from 10 s, doubling, instead of after a splay and an interval.
func TestRunRetriesMissingSoonWhenServerIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	down := func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }
	e.srv.set("/timestamp.json", down)
	cfg := e.config(osqComp)
	cfg.Interval = time.Hour
	clock := newFakeClock()
	cfg.Clock = clock
	cfg.HealthInterval = 24 * time.Hour
	u := e.updater(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	for _, d := range []time.Duration{10 * time.Second, 20 * time.Second} {
		clock.BlockUntil(t, 2)
		if _, err := u.ExecPath("osqueryd"); err == nil {
			t.Fatal("installed while the server is down")
		}
		clock.Advance(d)
	}
	e.srv.set("/timestamp.json", nil) // the network is back
	clock.BlockUntil(t, 2)
	clock.Advance(40 * time.Second)
	clock.BlockUntil(t, 2)
	if _, err := u.ExecPath("osqueryd"); err != nil {
		t.Fatalf("not installed on the retry 70 s after boot: %v", err)
	}
	cancel()
	<-done
}

func TestParseRoots(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t, false)
	file := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(file, r.bundled, 0o644)
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"inline", string(r.bundled), true},
		{"inline with space", "  " + string(r.bundled), true},
		{"file", file, true},
		{"missing file", file + ".nope", false},
		{"empty", "", false},
		{"not root", `{"signed":{"_type":"targets"}}`, false},
		// Well-formed roots that go-tuf would refuse at every check: refused
		// at start instead.
		{"unsigned root", string(editRoot(t, r.bundled, func(m map[string]any) { m["signatures"] = []any{} })), false},
		{"tampered root", string(editRoot(t, r.bundled, func(m map[string]any) { m["signed"].(map[string]any)["version"] = 7 })), false},
		{"a device", "/dev/zero", false},
		{"a directory", t.TempDir(), false},
	}
	for _, c := range cases {
		got, err := ParseRoots(c.value)
		if (err == nil) != c.ok {
			t.Fatalf("%s: err = %v", c.name, err)
		}
		if c.ok && !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(r.bundled)) {
			t.Fatalf("%s: got other bytes", c.name)
		}
	}
}

// editRoot returns root.json with edit applied to its JSON (and its
// signatures left as they are).
func editRoot(t *testing.T, root []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(root, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStatusStoreUntouchedWithoutStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget("osqueryd/linux/stable/osqueryd", script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	cfg.Status = nil
	u := e.updater(cfg)
	if res := check(t, u); len(res.Installed) != 1 {
		t.Fatalf("%+v", res)
	}
	if _, err := status.Read(e.layout.State()); !errors.Is(err, status.ErrNoState) {
		t.Fatalf("state written without a store: %v", err)
	}
}

// Run promotes the orbit on trial that it runs in after SelfHealthyAfter
// of monotonic time: a wall clock stepped back a year does not hold it
// back.
func TestRunMarksNewOrbitHealthy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	orbitComp := orbitFor("linux", "stable")
	e.repo.addTarget("orbit/linux/stable/orbit", script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	cfg := e.config(orbitComp)
	cfg.SelfUpdated = func(string) {}
	check(t, e.updater(cfg))
	e.repo.addTarget("orbit/linux/stable/orbit", script("2.0.0", 0, e.marks, 0), "2.0.0")
	e.repo.publish()
	check(t, e.updater(cfg))

	// The known-good orbit starts the candidate, which then runs for
	// SelfHealthyAfter.
	candidate := e.layout.Bin("orbit", "linux", "stable", "orbit") + ".candidate"
	if r := e.boot(StableOrbitPath(e.layout)); r.RunCandidate != candidate {
		t.Fatalf("%+v", r)
	}
	if r := e.boot(candidate); !r.Candidate {
		t.Fatalf("%+v", r)
	}
	cfg.SelfHealthyAfter = 30 * time.Second
	cfg.HealthInterval = time.Hour
	cfg.Interval = 2 * time.Hour
	cfg.Executable = candidate
	u := e.updater(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	e.clock.BlockUntil(t, 3) // splay, health, self-healthy
	e.clock.Jump(e.clock.Now().Add(-year))
	e.clock.Advance(29 * time.Second)
	if st, _ := loadState(e.layout); st.SelfUpdate == nil {
		t.Fatal("marked healthy too early")
	}
	e.clock.Advance(time.Second)
	deadline := time.After(30 * time.Second)
	for {
		st, _ := loadState(e.layout)
		if st.SelfUpdate == nil {
			break
		}
		select {
		case <-deadline:
			t.Fatal("Run did not mark the new orbit healthy")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	<-done
	if out, err := versionOf(StableOrbitPath(e.layout), "version"); err != nil || !strings.Contains(out, "2.0.0") {
		t.Fatalf("stable orbit after Run promoted the candidate: %q %v", out, err)
	}
	if r := e.boot(StableOrbitPath(e.layout)); r != (BootResult{}) {
		t.Fatalf("boot still counted after healthy: %+v", r)
	}
}

func TestBundledOrbitAdoptedWithoutSelfUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	orbitComp := orbitFor("linux", "stable")
	bundled := script("1.0.0", 0, e.marks, 0)
	p := e.layout.Bin("orbit", "linux", "stable", "orbit")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, bundled, 0o755)
	if err := InstallStableOrbit(e.layout, p); err != nil {
		t.Fatal(err)
	}
	e.repo.addTarget("orbit/linux/stable/orbit", bundled, "1.0.0")
	e.repo.publish()
	cfg := e.config(orbitComp)
	var hooked int
	cfg.SelfUpdated = func(string) { hooked++ }
	u := e.updater(cfg)
	res := check(t, u)
	if hooked != 0 || res.SelfUpdated || !slices.Equal(res.Unchanged, []string{"orbit"}) {
		t.Fatalf("bundled orbit: %+v, hook called %d times", res, hooked)
	}
	if out, err := versionOf(StableOrbitPath(e.layout), "version"); err != nil || !strings.Contains(out, "1.0.0") {
		t.Fatalf("stable path: %q %v", out, err)
	}
}
