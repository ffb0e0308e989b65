//go:build !windows

package updater

import (
	"crypto/ed25519"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// delegate makes role a delegation of parent's delegations, trusted with
// key, for paths.
func delegate(t *testing.T, parent *metadata.Metadata[metadata.TargetsType], role string, key ed25519.PrivateKey, paths ...string) {
	t.Helper()
	k := tufKey(t, key)
	id, err := k.ID()
	if err != nil {
		t.Fatal(err)
	}
	if parent.Signed.Delegations == nil {
		parent.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	d := parent.Signed.Delegations
	d.Keys[id] = k
	d.Roles = append(d.Roles, metadata.DelegatedRole{Name: role, KeyIDs: []string{id}, Threshold: 1, Paths: paths})
}

// writeRole signs a delegated role with keys and lists it in the next
// snapshot.
func (r *testRepo) writeRole(name string, role *metadata.Metadata[metadata.TargetsType], keys ...ed25519.PrivateKey) {
	r.t.Helper()
	r.write(name+".json", sign(r.t, role, keys...))
	r.snapshot.Signed.Meta[name+".json"] = metadata.MetaFile(role.Signed.Version)
}

// Two delegators lead to one role name, each trusting its own key for it:
// "a" delegates "shared" for osqueryd with key A, "b" delegates "shared"
// for orbit with key B. The repository's shared.json is signed with key A
// only, and lists an osqueryd and an orbit. Through a the osqueryd is
// genuine; through b the orbit is not, and must be refused, although the
// same updater has just verified shared.json through a.
func TestDelegatedRoleIsVerifiedAgainstItsDelegator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	keyA, keyB := newKey(t), newKey(t)       // the delegators' keys
	sharedA, sharedB := newKey(t), newKey(t) // the key each trusts for "shared"
	delegate(t, e.repo.targets, "a", keyA, "*/*/*/*")
	delegate(t, e.repo.targets, "b", keyB, "*/*/*/*")
	a, b := metadata.Targets(e.repo.expires), metadata.Targets(e.repo.expires)
	delegate(t, a, "shared", sharedA, "osqueryd/*/*/*")
	delegate(t, b, "shared", sharedB, "orbit/*/*/*")
	shared := metadata.Targets(e.repo.expires)
	osq := script("1.0.0", 0, e.marks, 0)
	shared.Signed.Targets[osqTarget] = e.repo.targetFile(osqTarget, osq, "1.0.0")
	shared.Signed.Targets["orbit/linux/stable/orbit"] = e.repo.targetFile("orbit/linux/stable/orbit", evil(e.marks), "6.6.6")
	e.repo.writeRole("a", a, keyA)
	e.repo.writeRole("b", b, keyB)
	e.repo.writeRole("shared", shared, sharedA) // not sharedB: b never trusted it
	e.repo.publish()

	cfg := e.config(orbitFor("linux", "stable"), osqComp)
	var hooked []string
	cfg.SelfUpdated = func(p string) { hooked = append(hooked, p) }
	u := e.updater(cfg)
	res, err := u.Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("osqueryd through a: %+v, want it installed", res)
	}
	if ferr := res.Failed["orbit"]; ferr == nil || !strings.Contains(ferr.Error(), "shared") {
		t.Fatalf("orbit through b: %+v, want it refused, naming the role", res)
	}
	if e.pwned() || len(hooked) != 0 || exists(StableOrbitPath(e.layout)) || exists(e.layout.Bin("orbit", "linux", "stable", "orbit")) {
		t.Fatal("an orbit signed only with a's key for shared was run or installed through b")
	}

	// The same refusal on the next check, with shared.json now on disk.
	res = check(t, u)
	if res.Failed["orbit"] == nil || e.pwned() {
		t.Fatalf("second check: %+v", res)
	}
}

// The per-lookup trusted sets read what the refresh verified from disk:
// with delegations, a no-change check still costs the root probe and the
// timestamp, nothing else.
func TestNoChangeCheckCostWithDelegations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	keyA := newKey(t)
	delegate(t, e.repo.targets, "a", keyA, "*/*/*/*")
	a := metadata.Targets(e.repo.expires)
	a.Signed.Targets[osqTarget] = e.repo.targetFile(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.writeRole("a", a, keyA)
	e.repo.publish()
	u := e.updater(e.config(osqComp))
	if res := check(t, u); !slices.Equal(res.Installed, []string{"osqueryd"}) {
		t.Fatalf("first check: %+v", res)
	}
	e.srv.reset()
	if res := check(t, u); !slices.Equal(res.Unchanged, []string{"osqueryd"}) {
		t.Fatalf("%+v", res)
	}
	if got, want := e.srv.requested(), []string{"/2.root.json", "/timestamp.json"}; !slices.Equal(got, want) {
		t.Fatalf("requests %v, want %v", got, want)
	}
}

// After a root rotation the trusted root is cached; a restarted orbit, whose
// package still bundles root v1, starts from the cached one: its first
// request probes for the root after the cached one, not for v2.
func TestRestartStartsFromTheCachedRoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	check(t, e.updater(cfg))
	e.repo.rotate(metadata.ROOT, true)
	e.repo.rotate(metadata.TIMESTAMP, false)
	e.repo.publish()
	check(t, e.updater(cfg))
	if v, _ := rootVersion(mustRead(t, e.layout.TUF()+"/root.json")); v != 3 {
		t.Fatalf("cached root version %d, want 3", v)
	}
	// The old roots are gone from the server: only the cached v3 can
	// verify the rotated timestamp key.
	for _, f := range []string{"2.root.json", "3.root.json"} {
		if err := os.Remove(e.repo.dir + "/" + f); err != nil {
			t.Fatal(err)
		}
	}
	e.srv.reset()
	u := e.updater(cfg) // the restart, with the bundled v1
	if res := check(t, u); !slices.Equal(res.Unchanged, []string{"osqueryd"}) {
		t.Fatalf("after restart: %+v", res)
	}
	if got := e.srv.requested(); len(got) == 0 || got[0] != "/4.root.json" {
		t.Fatalf("restarted orbit requested %v first, want /4.root.json (from the cached v3)", got)
	}
}
