//go:build unix

package osquery

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO put where the list goes is not read (a read would wait for a
// writer forever): the list replaces it.
func TestWriteAutoloadReplacesAFIFO(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "extensions.load")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	ext := "/opt/orbit/bin/extensions/hello/linux/stable/hello.ext"
	changed, err := WriteAutoload(path, []string{ext})
	if err != nil || !changed {
		t.Fatalf("WriteAutoload over a FIFO: changed %v, %v", changed, err)
	}
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("the list is %v (%v), want a regular file", st.Mode(), err)
	}
	if b, _ := os.ReadFile(path); string(b) != ext+"\n" {
		t.Fatalf("the list holds %q", b)
	}
}
