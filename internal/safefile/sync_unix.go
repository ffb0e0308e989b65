//go:build !windows

package safefile

import "os"

// SyncDir makes a rename in dir durable; errors are ignored because some
// filesystems do not support fsync on directories.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
