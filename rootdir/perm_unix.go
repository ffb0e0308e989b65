//go:build !windows

package rootdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckPermissions refuses a root directory, or a binary under bin/, that
// group or others can write or that another user owns: orbit runs them as
// root, so such a file lets a local user run code as root. Symlinks are
// followed (a root dir may be a link to a data volume; the stable orbit
// path is a link into bin/), and what they point at is checked.
func (l Layout) CheckPermissions() error {
	if err := checkSafe(l.Root); err != nil {
		return err
	}
	bin := l.join("bin")
	return filepath.WalkDir(bin, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == bin {
				return nil
			}
			return err
		}
		return checkSafe(path)
	})
}

func checkSafe(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check permissions of %s: %w", path, err)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %#o): run `chmod go-w %s` and start orbit again", path, m, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != 0 && uid != os.Geteuid() {
			return fmt.Errorf("%s is owned by uid %d, not by root or orbit's user: run `chown root %s` and start orbit again", path, uid, path)
		}
	}
	return nil
}
