//go:build !windows

package repo

import "os"

// syncDir makes renames in dir durable; best effort, as some file systems
// refuse to fsync directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
