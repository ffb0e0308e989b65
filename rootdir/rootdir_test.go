package rootdir

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestCreateModesAndKeepsExisting(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("mode bits do not describe Windows ACLs")
	}
	l, err := New(filepath.Join(t.TempDir(), "orbit"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{l.Root: 0o755, l.TUF(): 0o700, l.Staging(): 0o755, l.OsqueryLogDir(): 0o755} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %#o, want %#o", path, got, want)
		}
	}
	if err := l.CheckPermissions(); err != nil {
		t.Fatalf("fresh root refused: %v", err)
	}
	// An admin's loose mode is reported, not silently fixed.
	if err := os.Chmod(l.Root, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	err = l.CheckPermissions()
	if err == nil || !strings.Contains(err.Error(), "chmod go-w "+l.Root) {
		t.Fatalf("CheckPermissions = %v, want a chmod hint", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	for _, content := range []string{"first", "second, longer content"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %#o, want 0600", fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestNewRefusesEmpty(t *testing.T) {
	t.Parallel()
	if _, err := New(""); err == nil {
		t.Fatal("empty root accepted")
	}
}

func TestCheckPermissionsFollowsLinksAndChecksOwner(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("mode bits and uids do not describe Windows ACLs")
	}
	base := t.TempDir()
	real := filepath.Join(base, "data", "orbit")
	l, err := New(real)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	// A root that is a symlink to a data volume is fine: its target is checked.
	link := filepath.Join(base, "orbit")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := (Layout{Root: link}).CheckPermissions(); err != nil {
		t.Fatalf("symlinked root refused: %v", err)
	}
	// A link under bin/ to a writable file elsewhere is refused.
	outside := filepath.Join(base, "evil")
	if err := os.WriteFile(outside, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(outside, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(real, "bin", "osqueryd")); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckPermissions(); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("link to a world-writable file: %v", err)
	}
	os.Remove(filepath.Join(real, "bin", "osqueryd"))
	if os.Geteuid() != 0 {
		return // chown to another user needs root
	}
	if err := os.Chown(real, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckPermissions(); err == nil || !strings.Contains(err.Error(), "owned by uid 4242") {
		t.Fatalf("root owned by another user: %v", err)
	}
}
