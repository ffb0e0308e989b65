//go:build unix

package desktop

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestTokenFileRefusesFIFO: a FIFO in the token's place is refused, not
// opened (which would block until someone writes to it).
func TestTokenFileRefusesFIFO(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "identifier")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	f := TokenFile{Path: p}
	if _, err := f.Read(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Read of a FIFO = %v", err)
	}
}
