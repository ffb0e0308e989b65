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
