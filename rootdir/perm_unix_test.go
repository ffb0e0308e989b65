//go:build !windows

package rootdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
)

// created is a fresh root, made by Create, with the files orbit keeps in it.
func created(t *testing.T) Layout {
	t.Helper()
	l, err := New(filepath.Join(t.TempDir(), "orbit"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{l.BinDir("osqueryd", "linux", "stable"), l.OsqueryDB()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{
		l.Bin("osqueryd", "linux", "stable", "osqueryd"), filepath.Join(l.TUF(), "root.json"),
		l.NodeKey(), l.EnrollSecret(), l.Identifier(), l.OsqueryFlags(), l.ExtensionsAutoload(),
		l.State(), l.FleetConfigCache(), filepath.Join(l.Staging(), ".osqueryd.download-1"),
	} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// Every directory orbit writes into and every file it trusts is checked,
// not only the root and bin/: a loose one is refused with its path and the
// fix, and so is one another user owns.
func TestCheckPermissionsCoversEveryPathOrbitWrites(t *testing.T) {
	t.Parallel()
	testbin.NeedRoot(t, "chowns files to another user")
	paths := map[string]func(Layout) string{
		"staging":          Layout.Staging,
		"tuf":              Layout.TUF,
		"a TUF file":       func(l Layout) string { return filepath.Join(l.TUF(), "root.json") },
		"osquery_log":      Layout.OsqueryLogDir,
		"osquery.db":       Layout.OsqueryDB,
		"a bin directory":  func(l Layout) string { return l.BinDir("osqueryd", "linux", "stable") },
		"a binary":         func(l Layout) string { return l.Bin("osqueryd", "linux", "stable", "osqueryd") },
		"node key":         Layout.NodeKey,
		"enroll secret":    Layout.EnrollSecret,
		"identifier":       Layout.Identifier,
		"osquery.flags":    Layout.OsqueryFlags,
		"extensions list":  Layout.ExtensionsAutoload,
		"state file":       Layout.State,
		"Fleet config":     Layout.FleetConfigCache,
		"the root":         func(l Layout) string { return l.Root },
		"the bin dir root": func(l Layout) string { return filepath.Join(l.Root, "bin") },
	}
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				how  string
				do   func(p string) error
				want func(p string) string
			}{
				{"group-writable", func(p string) error { return os.Chmod(p, 0o775) }, func(p string) string {
					return p + " is writable by group or others (mode 0775): run `chmod go-w " + p + "`"
				}},
				{"world-writable", func(p string) error { return os.Chmod(p, 0o777) }, func(p string) string { return "run `chmod go-w " + p + "`" }},
				{"sticky world-writable", func(p string) error { return os.Chmod(p, 0o777|os.ModeSticky) }, func(p string) string { return "run `chmod go-w " + p + "`" }},
				{"another user's", func(p string) error { return os.Chown(p, 4242, 4242) }, func(p string) string {
					return p + " is owned by uid 4242, not by root or orbit's user: run `chown root " + p + "`"
				}},
			} {
				l := created(t)
				p := path(l)
				if err := tc.do(p); err != nil {
					t.Fatal(err)
				}
				err := l.CheckPermissions()
				if err == nil || !strings.Contains(err.Error(), tc.want(p)) {
					t.Errorf("%s %s: CheckPermissions = %v, want %q", tc.how, p, err, tc.want(p))
				}
			}
		})
	}
	if err := created(t).CheckPermissions(); err != nil {
		t.Fatalf("a fresh root is refused: %v", err)
	}
}

// mkdirs makes each dir (0755, owned by root) under base and returns the
// last.
func mkdirs(t *testing.T, base string, names ...string) string {
	t.Helper()
	p := base
	for _, n := range names {
		p = filepath.Join(p, n)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// The directories above the root: nobody but root may rename or replace
// anything on the way, and a sticky directory is trusted only above the
// root's parent, for an entry that exists and is root's.
func TestAncestorsOfTheRoot(t *testing.T) {
	t.Parallel()
	testbin.NeedRoot(t, "chowns files to another user")
	tests := []struct {
		name string
		// setup builds the tree under base and returns the root to check.
		setup func(t *testing.T, base string) string
		// want is "" for a root that is accepted, else part of the error.
		want string
		// never must not appear in the error.
		never string
	}{
		{"root-owned parents", func(t *testing.T, base string) string {
			return filepath.Join(mkdirs(t, base, "opt"), "orbit")
		}, "", ""},
		{"world-writable parent", func(t *testing.T, base string) string {
			p := mkdirs(t, base, "shared")
			chmod(t, p, 0o777)
			return filepath.Join(p, "orbit")
		}, "shared, on the way to", ""},
		{"group-writable grandparent", func(t *testing.T, base string) string {
			p := mkdirs(t, base, "data", "agents")
			chmod(t, filepath.Dir(p), 0o775)
			return filepath.Join(p, "orbit")
		}, "is writable by group or others (mode 0775), who could replace what is in it: run `chmod go-w " + filepath.Join("BASE", "data") + "`, or use a --root-dir", ""},
		{"parent owned by another user", func(t *testing.T, base string) string {
			p := mkdirs(t, base, "home-alice")
			chown(t, p, 4242)
			return filepath.Join(p, "orbit")
		}, "is owned by uid 4242, who could move what is in it: run `chown root", ""},
		{"sticky parent, root exists", func(t *testing.T, base string) string {
			p := stickyDir(t, base)
			return mkdirs(t, p, "orbit")
		}, "the root directory cannot sit directly in it", ""},
		{"sticky parent, root missing", func(t *testing.T, base string) string {
			p := stickyDir(t, base)
			return filepath.Join(p, "orbit")
		}, "the root directory cannot sit directly in it", ""},
		{"sticky grandparent, root's parent exists and is root's", func(t *testing.T, base string) string {
			p := stickyDir(t, base)
			return filepath.Join(mkdirs(t, p, "private"), "orbit")
		}, "", ""},
		{"sticky grandparent, root's parent missing", func(t *testing.T, base string) string {
			p := stickyDir(t, base)
			return filepath.Join(p, "missing", "orbit")
		}, "and " + filepath.Join("BASE", "tmp", "missing") + " does not exist: orbit does not create names where anyone could take them first", ""},
		{"sticky grandparent, root's parent another user's", func(t *testing.T, base string) string {
			p := stickyDir(t, base)
			q := mkdirs(t, p, "alice")
			chown(t, q, 4242)
			return filepath.Join(q, "orbit")
		}, "owned by uid 4242", ""},
		{"sticky grandparent owned by another user", func(t *testing.T, base string) string {
			p := stickyDir(t, base)
			chown(t, p, 4242)
			return filepath.Join(mkdirs(t, p, "private"), "orbit")
		}, "owned by uid 4242", ""},
		{"link to a root under a writable directory", func(t *testing.T, base string) string {
			vol := mkdirs(t, base, "volume")
			chmod(t, vol, 0o777)
			mkdirs(t, vol, "orbit")
			link := filepath.Join(mkdirs(t, base, "opt"), "orbit")
			symlink(t, filepath.Join(vol, "orbit"), link)
			return link
		}, "opt/orbit links there: move its target under a directory only root can write", "chmod"},
		{"relative link to a root under a writable directory", func(t *testing.T, base string) string {
			vol := mkdirs(t, base, "volume")
			chmod(t, vol, 0o777)
			mkdirs(t, vol, "orbit")
			link := filepath.Join(mkdirs(t, base, "opt"), "orbit")
			symlink(t, "../volume/orbit", link)
			return link
		}, "move its target", "chmod"},
		{"link to a root in a safe place", func(t *testing.T, base string) string {
			mkdirs(t, base, "data", "orbit")
			link := filepath.Join(mkdirs(t, base, "opt"), "orbit")
			symlink(t, filepath.Join(base, "data", "orbit"), link)
			return link
		}, "", ""},
		{"link in a sticky directory owned by another user", func(t *testing.T, base string) string {
			p := stickyDir(t, base)
			mkdirs(t, base, "data")
			link := filepath.Join(p, "data")
			symlink(t, filepath.Join(base, "data"), link)
			lchown(t, link, 4242)
			return filepath.Join(link, "orbit")
		}, "link " + filepath.Join("BASE", "tmp", "data") + " is owned by uid 4242", ""},
		{"root is a file", func(t *testing.T, base string) string {
			p := filepath.Join(mkdirs(t, base, "opt"), "orbit")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, "is not a directory", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			l, err := New(tt.setup(t, base))
			if err != nil {
				t.Fatal(err)
			}
			existed := exists(l.Root)
			err = l.Create()
			if err == nil {
				err = l.CheckPermissions()
			}
			want := strings.ReplaceAll(tt.want, "BASE", base)
			if want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want it to contain %q", err, want)
			}
			if tt.never != "" && strings.Contains(err.Error(), tt.never) {
				t.Fatalf("error %v suggests %q on something the root only links to", err, tt.never)
			}
			if !existed && exists(l.Root) {
				t.Fatalf("a refused root was created")
			}
		})
	}
}

func TestSystemDirectoriesAreRefused(t *testing.T) {
	t.Parallel()
	link := filepath.Join(t.TempDir(), "usr")
	symlink(t, "/usr", link)
	for _, root := range []string{"/", "/tmp", "/usr", "/etc/", "/var/tmp", "/opt", link} {
		l, err := New(root)
		if err != nil {
			t.Fatal(err)
		}
		// Only the read-only check: a regression must not get a Create
		// into /usr. Create calls it first (TestAncestorsOfTheRoot).
		if err := l.CheckAncestors(); err == nil || !strings.Contains(err.Error(), "is a system directory") {
			t.Errorf("root %s: %v", root, err)
		}
	}
}

// CheckWritableDir is the check the updater repeats before an install.
func TestCheckWritableDir(t *testing.T) {
	t.Parallel()
	l := created(t)
	stable := l.BinDir("osqueryd", "linux", "stable")
	for _, ok := range []string{l.Staging(), stable, l.BinDir("desktop", "linux", "stable"), l.Root} {
		if err := l.CheckWritableDir(ok); err != nil {
			t.Errorf("CheckWritableDir(%s) = %v", ok, err)
		}
	}
	if err := l.CheckWritableDir(filepath.Dir(l.Root)); err == nil || !strings.Contains(err.Error(), "not under the root directory") {
		t.Errorf("a directory outside the root: %v", err)
	}
	// A loose directory between the root and the target is found too.
	chmod(t, filepath.Join(l.Root, "bin", "osqueryd"), 0o777)
	if err := l.CheckWritableDir(stable); err == nil || !strings.Contains(err.Error(), "run `chmod go-w "+filepath.Join(l.Root, "bin", "osqueryd")+"`") {
		t.Errorf("loose bin/osqueryd: %v", err)
	}
	chmod(t, filepath.Join(l.Root, "bin", "osqueryd"), 0o755)
	// A staging directory replaced by a link to a writable one is refused.
	elsewhere := mkdirs(t, t.TempDir(), "stage")
	chmod(t, elsewhere, 0o777)
	if err := os.Remove(filepath.Join(l.Staging(), ".osqueryd.download-1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.Staging()); err != nil {
		t.Fatal(err)
	}
	symlink(t, elsewhere, l.Staging())
	if err := l.CheckWritableDir(l.Staging()); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("staging linked to a world-writable directory: %v", err)
	}
}

// stickyDir is base/tmp, a sticky world-writable directory as /tmp is.
func stickyDir(t *testing.T, base string) string {
	t.Helper()
	p := mkdirs(t, base, "tmp")
	chmod(t, p, 0o777|os.ModeSticky)
	return p
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func lchown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Lchown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
