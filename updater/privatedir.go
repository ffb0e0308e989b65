package updater

import "fmt"

// checkDir refuses to write into a directory of the root that a user other
// than root (or orbit's own user) owns or can write, or that is reached
// through one: such a user could rename a verified download away between
// its check and its install and put their own file in its place, and
// orbit would run it as root. The judgement is rootdir's, the one place
// that decides it for every path orbit writes.
func (u *Updater) checkDir(dir string) error {
	if err := u.cfg.Layout.CheckWritableDir(dir); err != nil {
		return fmt.Errorf("%w: %w", errOpenDir, err)
	}
	return nil
}
