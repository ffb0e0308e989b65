package repo

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestLockStopsASecondEditor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	r := f.open(t)
	if _, err := Open(f.dir, OpenOptions{Passphrases: f.pass}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := Init(f.dir, InitOptions{Passphrases: f.pass, ScryptLogN: testLogN}); err == nil {
		t.Fatal("Init on a locked, initialised repository succeeded")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(f.dir, OpenOptions{Passphrases: f.pass})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	r2.Close()
}

// TestCrashRecovery simulates a crash before and after the commit point of
// an operation's staging.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	for _, committed := range []bool{false, true} {
		t.Run(map[bool]string{false: "before-commit", true: "after-commit"}[committed], func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			before := treeBytes(t, f.dir)
			tx, err := newTxn(f.dir)
			if err != nil {
				t.Fatal(err)
			}
			// Same metadata, compact encoding: valid but different bytes.
			ts, err := new(metadata.Metadata[metadata.TimestampType]).FromFile(filepath.Join(f.dir, RepositoryDir, "timestamp.json"))
			if err != nil {
				t.Fatal(err)
			}
			newTS, _ := ts.ToBytes(false)
			if err := tx.writeFile("repository/targets/orbit/linux/stable/orbit", []byte("new target"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tx.writeFile("repository/timestamp.json", newTS, 0o644); err != nil {
				t.Fatal(err)
			}
			if committed {
				if err := tx.writeManifest(); err != nil {
					t.Fatal(err)
				}
				// Crash after the first move: the target is in place, the
				// timestamp is not yet.
				op := tx.ops[0]
				dst := filepath.Join(f.dir, filepath.FromSlash(op.To))
				os.MkdirAll(filepath.Dir(dst), 0o755)
				if err := os.Rename(filepath.Join(tx.dir, op.Tmp), dst); err != nil {
					t.Fatal(err)
				}
			}
			// "Crash": drop tx without commit/abort; the next Open recovers.
			r := f.open(t)
			r.Close()
			after := treeBytes(t, f.dir)
			if !committed {
				assertTreeUnchanged(t, before, after)
				return
			}
			if !bytes.Equal(after["repository/timestamp.json"], newTS) || string(after["repository/targets/orbit/linux/stable/orbit"]) != "new target" {
				t.Fatal("committed txn was not rolled forward")
			}
			if _, err := os.Stat(txnDir(f.dir)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("staging directory left behind: %v", err)
			}
		})
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, f *fixture)
		at     time.Duration
		want   string
	}{
		{name: "intact"},
		{name: "target byte flipped", want: "hash mismatch", tamper: func(t *testing.T, f *fixture) {
			p := filepath.Join(f.dir, RepositoryDir, TargetsDir, "orbit/linux/stable/orbit")
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			os.Remove(p) // break the hard link to other copies
			os.WriteFile(p, b, 0o644)
		}},
		{name: "target truncated", want: "length", tamper: func(t *testing.T, f *fixture) {
			p := filepath.Join(f.dir, RepositoryDir, TargetsDir, "orbit/linux/stable/orbit")
			b, _ := os.ReadFile(p)
			os.Remove(p)
			os.WriteFile(p, b[:10], 0o644)
		}},
		{name: "target missing", want: "no such file", tamper: func(t *testing.T, f *fixture) {
			os.Remove(filepath.Join(f.dir, RepositoryDir, TargetsDir, "orbit/linux/1/orbit"))
		}},
		{name: "targets.json edited", want: "does not match", tamper: func(t *testing.T, f *fixture) {
			p := filepath.Join(f.dir, RepositoryDir, "targets.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(`"1.0.0"`), []byte(`"9.0.0"`), 1), 0o644)
		}},
		{name: "timestamp signature forged", want: "timestamp: 0 valid signature", tamper: func(t *testing.T, f *fixture) {
			p := filepath.Join(f.dir, RepositoryDir, "timestamp.json")
			m, err := new(metadata.Metadata[metadata.TimestampType]).FromFile(p)
			if err != nil {
				t.Fatal(err)
			}
			m.Signed.Expires = m.Signed.Expires.Add(time.Hour)
			b, _ := m.ToBytes(true)
			os.WriteFile(p, b, 0o644)
		}},
		{name: "timestamp expired", at: 15 * 24 * time.Hour, want: "timestamp expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			trusted := f.rootJSON(t)
			r := f.open(t)
			bin, _ := randomFile(t, t.TempDir(), "orbit", 5000)
			if err := r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.0.0", Tags: []string{"stable", "1"}}); err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(t, f)
			}
			rep, err := Verify(f.dir, trusted, f.clk.Now().Add(tc.at))
			if tc.want == "" {
				if err != nil || !rep.OK || len(rep.Targets) != 2 || len(rep.Roles) != 4 {
					t.Fatalf("Verify intact: %v %+v", err, rep)
				}
				return
			}
			if !errors.Is(err, ErrVerifyFailed) || rep.OK {
				t.Fatalf("Verify: %v, ok=%v; want failure", err, rep.OK)
			}
			if !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Fatalf("problems %q do not mention %q", rep.Problems, tc.want)
			}
		})
	}
}

func TestRootThresholdAndRotation(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tuf")
	if err := Init(dir, InitOptions{Passphrases: testPass(), RootKeys: 3, RootThreshold: 2, ScryptLogN: testLogN}); err != nil {
		t.Fatal(err)
	}
	if err := Init(filepath.Join(t.TempDir(), "x"), InitOptions{Passphrases: testPass(), RootKeys: 1, RootThreshold: 2}); err == nil {
		t.Fatal("threshold above key count accepted")
	}
	readRoot := func() *metadata.Metadata[metadata.RootType] {
		m, err := new(metadata.Metadata[metadata.RootType]).FromFile(filepath.Join(dir, RepositoryDir, "root.json"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	v1 := readRoot()
	if got := v1.Signed.Roles[RoleRoot]; len(got.KeyIDs) != 3 || got.Threshold != 2 || len(v1.Signatures) != 3 {
		t.Fatalf("root role = %+v with %d signatures", got, len(v1.Signatures))
	}
	if v1.Signed.ConsistentSnapshot {
		t.Fatal("consistent snapshots on by default")
	}
	r, err := Open(dir, OpenOptions{Passphrases: testPass(), ScryptLogN: testLogN})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Rotate(RoleRoot); err != nil {
		t.Fatal(err)
	}
	v2 := readRoot()
	if v2.Signed.Version != 2 || len(v2.Signatures) != 6 {
		t.Fatalf("rotated root: version %d, %d signatures", v2.Signed.Version, len(v2.Signatures))
	}
	// Both the old keys (old threshold) and the new keys (new threshold).
	if err := v1.VerifyDelegate(RoleRoot, v2); err != nil {
		t.Fatalf("old root does not accept new root: %v", err)
	}
	if err := v2.VerifyDelegate(RoleRoot, v2); err != nil {
		t.Fatalf("new root does not accept itself: %v", err)
	}
	for _, id := range v1.Signed.Roles[RoleRoot].KeyIDs {
		if slices.Contains(v2.Signed.Roles[RoleRoot].KeyIDs, id) {
			t.Fatal("old root key still trusted")
		}
		if _, err := os.Stat(filepath.Join(dir, RevokedDir, keyFileName(RoleRoot, id))); err != nil {
			t.Fatalf("old root key not moved to revoked: %v", err)
		}
	}
	if _, err := Verify(dir, mustRead(t, filepath.Join(dir, RepositoryDir, "1.root.json")), time.Now()); err != nil {
		t.Fatalf("Verify from root v1: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeysAreEncryptedAndPrivate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	st, err := os.Stat(filepath.Join(f.dir, KeysDir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("keys dir mode %v, want 0700", st.Mode().Perm())
	}
	n := 0
	filepath.WalkDir(filepath.Join(f.dir, KeysDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		info, _ := d.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, info.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		for _, pass := range f.pass {
			if bytes.Contains(b, []byte(pass)) {
				t.Errorf("%s contains a passphrase", p)
			}
		}
		kf, err := readKeyFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decryptKey(kf, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("decrypt with wrong passphrase: %v", err)
		}
		k, err := decryptKey(kf, []byte(f.pass[kf.Role]))
		if err != nil || k.id != kf.KeyID {
			t.Errorf("decrypt %s: %v", p, err)
		}
		return nil
	})
	if n != 4 {
		t.Fatalf("%d key files, want 4", n)
	}
	// Nothing secret under the published folder.
	filepath.WalkDir(filepath.Join(f.dir, RepositoryDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(string(mustRead(t, p)), "ciphertext") {
			t.Errorf("%s looks like a key file", p)
		}
		return err
	})
}

func TestStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	r := f.open(t)
	bin, _ := randomFile(t, t.TempDir(), "hello.ext", 777)
	if err := r.AddTarget(context.Background(), AddTarget{File: bin, Name: "extensions/hello", Platform: "windows-arm64", Version: "0.1.0", Tags: []string{"edge", "stable"}}); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(10 * 24 * time.Hour) // timestamp now 4 days from expiry
	st, err := r.Status()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]bool{RoleRoot: {false, false}, RoleTargets: {false, false}, RoleSnapshot: {false, false}, RoleTimestamp: {false, true}}
	for _, rs := range st.Roles {
		if w := want[rs.Role]; rs.Expired != w[0] || rs.ExpiresSoon != w[1] {
			t.Errorf("%s: expired=%v soon=%v, want %v", rs.Role, rs.Expired, rs.ExpiresSoon, w)
		}
	}
	if len(st.Targets) != 2 {
		t.Fatalf("targets = %+v", st.Targets)
	}
	got := st.Targets[0]
	if got.Component != "extensions/hello" || got.Platform != "windows-arm64" || got.Channel != "edge" || got.File != "hello.ext" || got.Version != "0.1.0" || got.Length != 777 || len(got.SHA512) != 128 {
		t.Fatalf("target status = %+v", got)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	r := f.open(t)
	bin, _ := randomFile(t, t.TempDir(), "orbit", 100)
	if err := r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.0.0", Tags: []string{"stable"}}); err != nil {
		t.Fatal(err)
	}
	st, _ := r.Status()
	srv := serve(t, f.dir)
	tests := []struct {
		path  string
		code  int
		cache string
	}{
		{"/timestamp.json", 200, CacheShort},
		{"/root.json", 200, CacheShort},
		{"/1.root.json", 200, CacheImmutable},
		{"/2.targets.json", 200, CacheImmutable},
		{"/targets/orbit/linux/stable/" + st.Targets[0].SHA512 + ".orbit", 200, CacheImmutable},
		{"/targets/orbit/linux/stable/" + st.Targets[0].SHA256 + ".orbit", 200, CacheImmutable},
		{"/targets/", 404, ""},
		{"/", 404, ""},
		{"/../orbitctl.json", 404, ""},
		{"/../keys/", 404, ""},
		{"/.orbitctl.lock", 404, ""},
	}
	for _, tc := range tests {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Cache-Control"), tc.code, tc.cache)
		}
	}
}

// status and roots read without the editor lock: they work while another
// orbitctl holds it, and an editor is still refused.
func TestReadOnlyOpenWhileLocked(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	editor := f.open(t) // holds the lock
	if _, err := Open(f.dir, OpenOptions{Passphrases: f.pass, ScryptLogN: testLogN}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second editor: %v, want ErrLocked", err)
	}
	ro, err := OpenReadOnly(f.dir, OpenOptions{})
	if err != nil {
		t.Fatalf("read-only open while locked: %v", err)
	}
	defer ro.Close()
	st, err := ro.Status()
	if err != nil || len(st.Roles) != 4 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	root, err := ro.RootJSON()
	want, _ := editor.RootJSON()
	if err != nil || !bytes.Equal(root, want) {
		t.Fatalf("roots differ from the editor's view (%v)", err)
	}
	// An edit being applied (its manifest staged) is not read half-done.
	if err := os.MkdirAll(txnDir(f.dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(txnDir(f.dir), txnManifest), []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(f.dir, OpenOptions{}); err == nil || !strings.Contains(err.Error(), "try again") {
		t.Fatalf("read-only open during an edit: %v", err)
	}
}

// A new repository gets Fleet's lifetimes: root 10 y, targets and snapshot
// 3 y, timestamp 14 d.
func TestInitUsesFleetExpiries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	st, err := f.open(t).Status()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{
		RoleRoot:      f.clk.Now().AddDate(10, 0, 0),
		RoleTargets:   f.clk.Now().AddDate(3, 0, 0),
		RoleSnapshot:  f.clk.Now().AddDate(3, 0, 0),
		RoleTimestamp: f.clk.Now().Add(14 * 24 * time.Hour),
	}
	seen := 0
	defer func() {
		if seen != len(want) {
			t.Errorf("status listed %d of the %d roles", seen, len(want))
		}
	}()
	for _, r := range st.Roles {
		w, ok := want[r.Role]
		if !ok {
			continue
		}
		seen++
		// Years are counted as 365 days by some tools: allow a few days.
		if d := r.Expires.Sub(w); d > 4*24*time.Hour || d < -4*24*time.Hour {
			t.Errorf("%s expires %s, want about %s", r.Role, r.Expires.Format(time.DateOnly), w.Format(time.DateOnly))
		}
	}
}
