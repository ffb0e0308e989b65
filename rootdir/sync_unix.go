//go:build !windows

package rootdir

import "os"

// syncDir makes a rename durable; errors are ignored because some
// filesystems do not support fsync on directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
