package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	wrong := func(role string) MapPassphrases {
		p := testPass()
		p[role] = "not-the-passphrase"
		return p
	}
	missing := testPass()
	delete(missing, RoleTargets)
	tests := []struct {
		name    string
		pass    MapPassphrases
		advance time.Duration
		op      func(r *Repo, bin string) error
		is      error
		want    string
	}{
		{name: "missing file", op: func(r *Repo, _ string) error {
			return r.AddTarget(context.Background(), AddTarget{File: "/nonexistent/orbit", Name: "orbit", Platform: "linux", Version: "1.0.0", Tags: []string{"stable"}})
		}, want: "open target file"},
		{name: "not semver", op: func(r *Repo, bin string) error {
			return r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.2", Tags: []string{"stable"}})
		}, want: "not a semantic version"},
		{name: "unknown platform", op: func(r *Repo, bin string) error {
			return r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "solaris", Version: "1.2.0", Tags: []string{"stable"}})
		}, want: "unknown platform"},
		{name: "no tags", op: func(r *Repo, bin string) error {
			return r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.2.0"})
		}, want: "-t TAG"},
		{name: "path traversal in name", op: func(r *Repo, bin string) error {
			return r.AddTarget(context.Background(), AddTarget{File: bin, Name: "../etc", Platform: "linux", Version: "1.2.0", Tags: []string{"stable"}})
		}, want: "invalid name"},
		{name: "wrong targets passphrase on add", pass: wrong(RoleTargets), op: func(r *Repo, bin string) error {
			return r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.2.0", Tags: []string{"stable"}})
		}, is: ErrWrongPassphrase, want: "ORBIT_TARGETS_PASSPHRASE"},
		{name: "wrong timestamp passphrase on add", pass: wrong(RoleTimestamp), op: func(r *Repo, bin string) error {
			return r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.2.0", Tags: []string{"stable"}})
		}, is: ErrWrongPassphrase},
		{name: "no passphrase", pass: missing, op: func(r *Repo, bin string) error {
			return r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.2.0", Tags: []string{"stable"}})
		}, is: ErrNoPassphrase},
		{name: "wrong passphrase on timestamp", pass: wrong(RoleTimestamp), op: func(r *Repo, _ string) error { return r.Timestamp() }, is: ErrWrongPassphrase},
		{name: "unknown role", op: func(r *Repo, _ string) error { return r.Rotate("admin") }, want: "unknown role"},
		{name: "wrong root passphrase on rotate", pass: wrong(RoleRoot), op: func(r *Repo, _ string) error { return r.Rotate(RoleTargets) }, is: ErrWrongPassphrase},
		// Fails after the new key and root were staged: nothing may leak.
		{name: "wrong downstream passphrase on rotate", pass: wrong(RoleTimestamp), op: func(r *Repo, _ string) error { return r.Rotate(RoleTargets) }, is: ErrWrongPassphrase},
		{name: "root expired on add", advance: 11 * 365 * 24 * time.Hour, op: func(r *Repo, bin string) error {
			return r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.2.0", Tags: []string{"stable"}})
		}, is: ErrExpired, want: "rotate root"},
		{name: "root expired on timestamp", advance: 11 * 365 * 24 * time.Hour, op: func(r *Repo, _ string) error { return r.Timestamp() }, is: ErrExpired},
		{name: "cancelled add", op: func(r *Repo, bin string) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return r.AddTarget(ctx, AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.2.0", Tags: []string{"stable"}})
		}, is: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, true)
			bin, _ := randomFile(t, t.TempDir(), "orbit", 1024)
			r0 := f.open(t)
			if err := r0.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.0.0", Tags: []string{"stable"}}); err != nil {
				t.Fatal(err)
			}
			r0.Close() // the op below gets a fresh Repo with no cached keys
			if tc.pass != nil {
				f.pass = tc.pass
			}
			f.clk.Advance(tc.advance)
			before := treeBytes(t, f.dir)
			err := tc.op(f.open(t), bin)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			for _, p := range f.pass {
				if strings.Contains(err.Error(), p) {
					t.Errorf("error %q contains a passphrase", err)
				}
			}
			assertTreeUnchanged(t, before, treeBytes(t, f.dir))
		})
	}
}

func TestNotOurDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	mk := func(name string, files map[string]string) string {
		d := filepath.Join(base, name)
		for p, c := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(d, p)), 0o755)
			if err := os.WriteFile(filepath.Join(d, p), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.MkdirAll(d, 0o755)
		return d
	}
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"empty", nil},
		{"someone else's files", map[string]string{"README": "hello", "repository/root.json": "{}"}},
		{"foreign marker", map[string]string{MarkerFile: `{"format":"something-else"}`, "keys/x": "", "repository/root.json": "{}"}},
		{"marker without keys", map[string]string{MarkerFile: `{"format":"orbitctl-tuf-repository","version":1}`, "repository/root.json": "{}"}},
		{"marker without repository", map[string]string{MarkerFile: `{"format":"orbitctl-tuf-repository","version":1}`, "keys/x": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mk(strings.ReplaceAll(tc.name, " ", "-"), tc.files)
			before := treeBytes(t, d)
			_, err := Open(d, OpenOptions{Passphrases: testPass()})
			if !errors.Is(err, ErrNotRepository) {
				t.Fatalf("Open: %v, want ErrNotRepository", err)
			}
			if _, err := Verify(d, []byte("{}"), time.Now()); err == nil {
				t.Fatal("Verify accepted a foreign directory")
			}
			if len(tc.files) > 0 {
				if err := Init(d, InitOptions{Passphrases: testPass(), ScryptLogN: testLogN}); err == nil {
					t.Fatal("Init accepted a non-empty directory")
				}
			}
			assertTreeUnchanged(t, before, treeBytes(t, d))
		})
	}
	t.Run("already initialised", func(t *testing.T) {
		f := newFixture(t, false)
		before := treeBytes(t, f.dir)
		if err := Init(f.dir, InitOptions{Passphrases: testPass(), ScryptLogN: testLogN}); err == nil || !strings.Contains(err.Error(), "already") {
			t.Fatalf("second Init: %v", err)
		}
		assertTreeUnchanged(t, before, treeBytes(t, f.dir))
	})
}

func TestAddRenewsExpiredSnapshotAndTimestamp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	trusted := f.rootJSON(t)
	f.clk.Advance(4 * 365 * 24 * time.Hour) // targets, snapshot, timestamp all expired
	if _, err := Verify(f.dir, trusted, f.clk.Now()); err == nil {
		t.Fatal("Verify accepted expired metadata")
	}
	r := f.open(t)
	bin, _ := randomFile(t, t.TempDir(), "desktop.tar.gz", 2048)
	if err := r.AddTarget(context.Background(), AddTarget{File: bin, Name: "desktop", Platform: "linux", Version: "1.0.0", Tags: []string{"stable"}}); err != nil {
		t.Fatalf("AddTarget with expired snapshot/timestamp: %v", err)
	}
	rep, err := Verify(f.dir, trusted, f.clk.Now())
	if err != nil {
		t.Fatalf("Verify after add: %v (%v)", err, rep.Problems)
	}
	st, _ := r.Status()
	for _, rs := range st.Roles {
		if rs.Expired {
			t.Errorf("%s still expired", rs.Role)
		}
	}
}
