//go:build !windows

package updater

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

const osqTarget = "osqueryd/linux/stable/osqueryd"

// attackEnv has osqueryd v1 then v2 installed; old metadata is kept for replays.
type attackEnv struct {
	*env
	u        *Updater
	v2       []byte
	old      map[string][]byte // metadata files of the v1 era
	osqPath  string
	execPath string
}

func newAttackEnv(t *testing.T, tweak func(*Config)) *attackEnv {
	e := newEnv(t, false)
	a := &attackEnv{env: e, old: map[string][]byte{}}
	e.repo.addTarget(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	for _, f := range []string{"timestamp.json", "snapshot.json", "targets.json"} {
		a.old[f] = e.repo.read(f)
	}
	cfg := e.config(osqComp)
	if tweak != nil {
		tweak(&cfg)
	}
	a.u = e.updater(cfg)
	check(t, a.u)
	a.v2 = script("2.0.0", 0, e.marks, 0)
	e.repo.addTarget(osqTarget, a.v2, "2.0.0")
	e.repo.publish()
	if res := check(t, a.u); !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("v2 not installed: %+v", res)
	}
	a.osqPath = e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")
	a.execPath, _ = a.u.ExecPath("osqueryd")
	e.rec.mu.Lock()
	e.rec.restarts = nil
	e.rec.mu.Unlock()
	return a
}

// assertUntouched: v2 still installed and runnable, nothing evil ran,
// nothing left in staging, no restart.
func (a *attackEnv) assertUntouched(t *testing.T) {
	t.Helper()
	if !bytes.Equal(mustRead(t, a.osqPath), a.v2) {
		t.Fatal("installed binary changed")
	}
	if out, err := versionOf(a.osqPath); err != nil || !strings.Contains(out, "2.0.0") {
		t.Fatalf("installed binary does not run: %q %v", out, err)
	}
	if p, _ := a.u.ExecPath("osqueryd"); p != a.execPath {
		t.Fatalf("ExecPath moved to %q", p)
	}
	if a.pwned() {
		t.Fatal("attacker's bytes were executed")
	}
	if ents, _ := os.ReadDir(a.layout.Staging()); len(ents) != 0 {
		t.Fatalf("staging not cleaned: %v", ents)
	}
	if c := a.rec.calls(); len(c) != 0 {
		t.Fatalf("restarted %v", c)
	}
}

func slowWriter(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		for _, b := range data {
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

func TestAttacksAreRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// tweak adjusts the client's config; attack changes repo or server.
		tweak  func(*Config)
		attack func(t *testing.T, a *attackEnv)
		// refreshFails: the whole metadata refresh is refused; otherwise the
		// target install fails.
		refreshFails bool
		errHas       string
	}{
		{
			name: "tampered target, same length",
			attack: func(t *testing.T, a *attackEnv) {
				good := script("3.0.0", 0, a.marks, 200)
				a.repo.addTarget(osqTarget, good, "3.0.0")
				a.repo.publish()
				bad := evil(a.marks)
				bad = append(bad, bytes.Repeat([]byte("#"), len(good)-len(bad))...)
				a.srv.serveBytes("/targets/"+osqTarget, bad)
			},
			errHas: "hash does not match",
		},
		{
			name: "tampered target, longer",
			attack: func(t *testing.T, a *attackEnv) {
				good := script("3.0.0", 0, a.marks, 0)
				a.repo.addTarget(osqTarget, good, "3.0.0")
				a.repo.publish()
				a.srv.serveBytes("/targets/"+osqTarget, append(evil(a.marks), bytes.Repeat([]byte("#"), 4096)...))
			},
			errHas: "signed length",
		},
		{
			name: "targets signed by an untrusted key",
			attack: func(t *testing.T, a *attackEnv) {
				a.repo.targetsSigner = newKey(t)
				a.repo.addTarget(osqTarget, evil(a.marks), "6.6.6")
				a.repo.publish()
			},
			refreshFails: true,
			errHas:       "signature",
		},
		{
			name: "timestamp rollback",
			attack: func(t *testing.T, a *attackEnv) {
				a.srv.serveBytes("/timestamp.json", a.old["timestamp.json"])
				a.srv.serveBytes("/snapshot.json", a.old["snapshot.json"])
				a.srv.serveBytes("/targets.json", a.old["targets.json"])
			},
			refreshFails: true,
			errHas:       "version",
		},
		{
			name: "snapshot rollback under a fresh timestamp",
			attack: func(t *testing.T, a *attackEnv) {
				// A compromised timestamp key signs a new timestamp naming the old snapshot.
				a.repo.snapshot.Signed.Version--
				a.repo.writeTimestamp(a.old["snapshot.json"])
				a.srv.serveBytes("/snapshot.json", a.old["snapshot.json"])
				a.srv.serveBytes("/targets.json", a.old["targets.json"])
			},
			refreshFails: true,
			errHas:       "version",
		},
		{
			name: "expired timestamp (freeze)",
			attack: func(t *testing.T, a *attackEnv) {
				a.repo.addTarget(osqTarget, script("3.0.0", 0, a.marks, 0), "3.0.0")
				a.repo.timestamp.Signed.Expires = a.clock.Now().Add(-time.Hour) // expired by the updater's clock
				a.repo.publish()
			},
			refreshFails: true,
			errHas:       "expired",
		},
		{
			name: "mix and match: old targets under a new snapshot",
			attack: func(t *testing.T, a *attackEnv) {
				a.repo.addTarget(osqTarget, script("3.0.0", 0, a.marks, 0), "3.0.0")
				a.repo.publish()
				a.srv.serveBytes("/targets.json", a.old["targets.json"])
			},
			refreshFails: true,
			errHas:       "version",
		},
		{
			name: "endless target",
			attack: func(t *testing.T, a *attackEnv) {
				a.repo.addTarget(osqTarget, script("3.0.0", 0, a.marks, 0), "3.0.0")
				a.repo.publish()
				a.srv.set("/targets/"+osqTarget, endless)
			},
			errHas: "signed length",
		},
		{
			name: "target announced far larger than signed",
			attack: func(t *testing.T, a *attackEnv) {
				a.repo.addTarget(osqTarget, script("3.0.0", 0, a.marks, 0), "3.0.0")
				a.repo.publish()
				a.srv.set("/targets/"+osqTarget, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", strconv.Itoa(1<<30))
					endless(w, r)
				})
			},
			errHas: "server announces",
		},
		{
			name:         "endless timestamp",
			attack:       func(t *testing.T, a *attackEnv) { a.srv.set("/timestamp.json", endless) },
			refreshFails: true,
			errHas:       "longer than",
		},
		{
			name: "endless snapshot",
			attack: func(t *testing.T, a *attackEnv) {
				a.repo.publish()
				a.srv.set("/snapshot.json", endless)
			},
			refreshFails: true,
			errHas:       "longer than",
		},
		{
			name:  "slow target",
			tweak: func(c *Config) { c.DownloadTimeout = 1500 * time.Millisecond },
			attack: func(t *testing.T, a *attackEnv) {
				good := script("3.0.0", 0, a.marks, 0)
				a.repo.addTarget(osqTarget, good, "3.0.0")
				a.repo.publish()
				a.srv.set("/targets/"+osqTarget, slowWriter(good))
			},
			errHas: "deadline",
		},
		{
			name:  "slow timestamp",
			tweak: func(c *Config) { c.MetadataTimeout = 1500 * time.Millisecond },
			attack: func(t *testing.T, a *attackEnv) {
				a.repo.publish()
				a.srv.set("/timestamp.json", slowWriter(a.repo.read("timestamp.json")))
			},
			refreshFails: true,
			errHas:       "deadline",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := newAttackEnv(t, c.tweak)
			c.attack(t, a)
			res, err := a.u.Check(context.Background())
			if c.refreshFails {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("check error = %v, want one about %q (result %+v)", err, c.errHas, res)
				}
			} else {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				ferr := res.Failed["osqueryd"]
				if ferr == nil || !strings.Contains(ferr.Error(), c.errHas) {
					t.Fatalf("install error = %v, want one about %q", ferr, c.errHas)
				}
			}
			a.assertUntouched(t)
		})
	}
}

func TestFastForwardRecoveryAfterTimestampKeyRotation(t *testing.T) {
	t.Parallel()
	a := newAttackEnv(t, nil)
	// The attacker holds the timestamp key and fast-forwards the client.
	realVersion := a.repo.timestamp.Signed.Version
	a.repo.timestamp.Signed.Version = 1000
	a.repo.writeTimestamp(a.repo.read("snapshot.json"))
	check(t, a.u)
	// The owner publishes normally: refused, the client trusts version 1001.
	a.repo.timestamp.Signed.Version = realVersion
	a.repo.addTarget(osqTarget, script("3.0.0", 0, a.marks, 0), "3.0.0")
	a.repo.publish()
	if _, err := a.u.Check(context.Background()); err == nil {
		t.Fatal("a lower timestamp version was accepted without a key rotation")
	}
	a.assertUntouched(t)
	// Rotating the timestamp key lets the client drop the fast-forwarded timestamp.
	a.repo.rotate(metadata.TIMESTAMP, false)
	a.repo.publish()
	res := check(t, a.u)
	if !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("after rotation: %+v", res)
	}
	if out, _ := versionOf(a.osqPath); !strings.Contains(out, "3.0.0") {
		t.Fatalf("version after recovery = %q", out)
	}
}

func TestRootRotationChain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	u := e.updater(cfg)
	check(t, u)
	for i := 0; i < 3; i++ {
		e.repo.rotate(metadata.ROOT, true)
	}
	e.repo.rotate(metadata.TARGETS, false)
	v2 := script("2.0.0", 0, e.marks, 0)
	e.repo.addTarget(osqTarget, v2, "2.0.0")
	e.repo.publish()
	if res := check(t, u); !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("%+v", res)
	}
	// Root keys rotated v1->v2->v3->v4, then v5 rotates the targets key.
	if v, err := rootVersion(mustRead(t, e.layout.TUF()+"/root.json")); err != nil || v != 5 {
		t.Fatalf("trusted root version = %d, %v", v, err)
	}
	// A restarted agent still bundles root v1: the cached v5 is kept.
	u = e.updater(cfg)
	e.repo.addTarget(osqTarget, script("3.0.0", 0, e.marks, 0), "3.0.0")
	e.repo.publish()
	if res := check(t, u); !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("after restart: %+v", res)
	}
	if v, _ := rootVersion(mustRead(t, e.layout.TUF()+"/root.json")); v != 5 {
		t.Fatalf("trusted root version after restart = %d", v)
	}
}

func TestRootNotCrossSignedIsRefused(t *testing.T) {
	t.Parallel()
	a := newAttackEnv(t, nil)
	a.repo.rotate(metadata.ROOT, false) // signed by the new key only
	a.repo.addTarget(osqTarget, evil(a.marks), "6.6.6")
	a.repo.publish()
	if _, err := a.u.Check(context.Background()); err == nil {
		t.Fatal("root not signed by the trusted root key was accepted")
	}
	if v, _ := rootVersion(mustRead(t, a.layout.TUF()+"/root.json")); v != 1 {
		t.Fatalf("trusted root version = %d, want 1", v)
	}
	a.assertUntouched(t)
}

func TestConsistentSnapshotTargetsByHash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	v1 := script("1.0.0", 0, e.marks, 0)
	e.repo.addTarget(osqTarget, v1, "1.0.0")
	e.repo.publish()
	u := e.updater(e.config(osqComp))
	check(t, u)
	var byHash bool
	for _, p := range e.srv.requested() {
		if strings.HasPrefix(p, "/targets/osqueryd/linux/stable/") && strings.HasSuffix(p, ".osqueryd") {
			byHash = true
		}
		if p == "/targets/"+osqTarget {
			t.Fatalf("fetched the unprefixed name %s", p)
		}
	}
	if !byHash {
		t.Fatalf("no hash-prefixed target request: %v", e.srv.requested())
	}
	if !bytes.Equal(mustRead(t, e.layout.Bin("osqueryd", "linux", "stable", "osqueryd")), v1) {
		t.Fatal("not installed")
	}
}
