package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLockIsExclusiveAndNamesItsHolder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := TryLock(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	_, err = TryLock(path, 0o600)
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock = %v, want a HeldError wrapping ErrLocked", err)
	}
	if held.Holder != strconv.Itoa(os.Getpid()) || held.Path != path {
		t.Fatalf("HeldError %+v, want holder %d at %s", held, os.Getpid(), path)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != "" {
		t.Fatalf("released lock still names a holder: %q", b)
	}
	l2, err := TryLock(path, 0o600)
	if err != nil {
		t.Fatalf("TryLock after Release: %v", err)
	}
	l2.Release()
}

func TestTryLockInMissingDirectory(t *testing.T) {
	t.Parallel()
	_, err := TryLock(filepath.Join(t.TempDir(), "missing", "x.lock"), 0o600)
	if err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock in a missing directory = %v, want an open error", err)
	}
}

func TestCopyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("older and longer content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CopyFile(src, dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "payload" {
		t.Fatalf("dst = %q, %v", b, err)
	}
	if err := CopyFile(filepath.Join(dir, "nope"), dst, 0o755); err == nil {
		t.Fatal("copy of a missing file succeeded")
	}
}
