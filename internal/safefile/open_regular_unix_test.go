//go:build unix

package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO without a writer, a device or a directory is refused at once: a
// blocking open of the FIFO would never return.
func TestOpenRegularRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("fifo", link); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{fifo: "FIFO", link: "FIFO", "/dev/null": "device", "/dev/zero": "device", dir: "directory"} {
		f, _, err := OpenRegular(path)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "it is a "+kind) {
			t.Errorf("OpenRegular(%s) = %v, want a %s refused", path, err, kind)
		}
	}
	p := filepath.Join(dir, "file")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, fi, err := OpenRegular(p)
	if err != nil || fi.Size() != 1 {
		t.Fatalf("OpenRegular(regular file) = %v, %v", fi, err)
	}
	f.Close()
}
