//go:build !windows

package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A symbolic link at the lock's path is refused, and what it points at is
// left alone (it used to be truncated and overwritten with a pid).
func TestTryLockRefusesALinkAndLeavesItsTarget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(dir, "orbit.lock")
	if err := os.Symlink(target, lockPath); err != nil {
		t.Fatal(err)
	}
	l, err := TryLock(lockPath, 0o644)
	if !errors.Is(err, ErrLockFileType) {
		l.Release()
		t.Fatalf("TryLock through a symlink = %v, want ErrLockFileType", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0\n" {
		t.Fatalf("the link's target was changed: %q", b)
	}
}

func TestTryLockRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.lock")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.lock")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, sub} {
		if l, err := TryLock(p, 0o600); err == nil {
			l.Release()
			t.Errorf("TryLock(%s) succeeded", p)
		}
	}
}

// Deleting (or replacing) the lock file does not free the lock: the
// directory itself is held.
func TestLockSurvivesTheRemovalOfItsFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orbit.lock")
	l, err := TryLock(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	second, err := TryLock(path, 0o644)
	if !errors.Is(err, ErrLocked) {
		second.Release()
		t.Fatalf("TryLock after the lock file was removed = %v, want ErrLocked", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	third, err := TryLock(path, 0o644)
	if err != nil {
		t.Fatalf("TryLock after Release: %v", err)
	}
	third.Release()
}
