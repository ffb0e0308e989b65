//go:build !windows

package updater

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkPrivateDir refuses a directory that a user other than root (or
// orbit's own user) owns or can write: such a user could rename a verified
// download away between its check and its install and put their own file
// in its place, and orbit would run it as root.
//
// SEAM (issue 14): this is the one place that judges a directory the
// updater writes into; replace its body with the host-side check
// (rootdir.Layout.CheckWritableDir, branch hostharden) once that lands.
func checkPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	real := dir
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		real = r
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %#o): %w; run `chmod go-w %s`", dir, m, errOpenDir, real)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != 0 && uid != os.Geteuid() {
			return fmt.Errorf("%s is owned by uid %d: %w; run `chown root %s`", dir, uid, errOpenDir, real)
		}
	}
	return nil
}
