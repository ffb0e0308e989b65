//go:build unix

package regularfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink("fifo", link)
	for path, kind := range map[string]string{fifo: "a FIFO", link: "a FIFO", "/dev/null": "a device", "/dev/zero": "a device", dir: "a directory"} {
		// A FIFO without a writer: a blocking open would never return.
		f, _, err := Open(path)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), kind) {
			t.Errorf("Open(%s) = %v, want %s refused", path, err, kind)
		}
		if _, err := ReadFile(path, 1<<20); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadFile(%s) = %v", path, err)
		}
	}
}

// TestOpenRefusesSwap replaces the file with a FIFO between the check of
// the path and the open: the check of the descriptor catches it, and the
// open does not block on the FIFO.
func TestOpenRefusesSwap(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "target")
	os.WriteFile(p, []byte("x"), 0o644)
	testHookBeforeOpen = func(path string) {
		os.Remove(path)
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookBeforeOpen = nil }()
	f, _, err := Open(p)
	if err == nil {
		f.Close()
	}
	if !errors.Is(err, ErrNotRegular) {
		t.Fatalf("swapped for a FIFO: %v", err)
	}
	// Swapped for another regular file: refused as a different file.
	os.Remove(p)
	os.WriteFile(p, []byte("x"), 0o644)
	testHookBeforeOpen = func(path string) {
		// Made before the old one goes, so it cannot reuse its inode.
		os.WriteFile(path+".new", []byte("y"), 0o644)
		os.Rename(path+".new", path)
	}
	f, _, err = Open(p)
	if err == nil {
		f.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("swapped for another file: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("root"), 0o644)
	if b, err := ReadFile(small, 4); err != nil || string(b) != "root" {
		t.Fatalf("ReadFile at the cap = %q, %v", b, err)
	}
	if _, err := ReadFile(small, 3); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the cap: %v", err)
	}
	// A sparse 1 TiB file is refused by its size.
	huge := filepath.Join(dir, "huge")
	f, _ := os.Create(huge)
	if err := f.Truncate(1 << 40); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()
	if _, err := ReadFile(huge, 1<<20); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1099511627776 bytes") {
		t.Fatalf("huge file: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}
