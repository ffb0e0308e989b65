//go:build !windows

package rootdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckPermissions refuses a root directory, or a binary under bin/, that
// group or others can write: orbit runs them as root, so such a file lets
// any local user run code as root.
func (l Layout) CheckPermissions() error {
	if err := checkNotWritable(l.Root); err != nil {
		return err
	}
	bin := l.join("bin")
	err := filepath.WalkDir(bin, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == bin {
				return nil
			}
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // the link's target is checked on its own path
		}
		return checkNotWritable(path)
	})
	if err != nil {
		return err
	}
	return nil
}

func checkNotWritable(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("check permissions of %s: %w", path, err)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %#o): run `chmod go-w %s` and start orbit again", path, m, path)
	}
	return nil
}
