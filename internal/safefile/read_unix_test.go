//go:build !windows

package safefile

import (
	"path/filepath"
	"syscall"
	"testing"
)

// specialFiles are what a plain read would never finish: an endless
// device, and a FIFO without a writer, whose plain open blocks forever.
func specialFiles(t *testing.T, dir string) []readCase {
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return []readCase{
		{"an endless device", "/dev/zero", 0, ErrNotRegular, "it is a device"},
		{"a FIFO without a writer", fifo, 0, ErrNotRegular, "it is a FIFO"},
	}
}
