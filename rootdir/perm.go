package rootdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// orbit runs what is under its root directory as root, so every directory
// it writes into, and every directory on the way to them, must be one that
// no other local user can change: whoever can rename a directory on the
// way can put one of their own in its place; whoever can write a directory
// can swap a file in it between orbit's check and its use.
//
// The rules, the same at start (CheckPermissions), when the root is
// created (Create) and right before an install (CheckWritableDir):
//   - Every directory looked into on the way to a path, and every symbolic
//     link followed, is owned by root (or the user orbit runs as) and not
//     writable by group or others (on Windows: owned by SYSTEM,
//     Administrators or TrustedInstaller, and no ACE lets anyone else
//     write it).
//   - One exception, above the root only: a directory others may only add
//     entries to (a sticky one such as /tmp, or a Windows folder granting
//     "create folders" only, such as C:\) is accepted where the entry below
//     it already exists; the sticky bit leaves that entry to its owner,
//     who must be root. It is never accepted as the root's own parent, nor
//     where orbit would create a name: anyone could take the name first.
//   - Under the root nothing is writable by others, sticky or not, and
//     links are followed and what they lead to is checked the same way.
//   - A root that resolves to a system directory (/, /usr, /etc, /tmp,
//     C:\Windows, C:\Program Files...) is refused.
// Orbit never changes the mode of something that exists; it only creates
// its own directories tight (Create).

// access is what users other than root may do to a directory or file.
type access int

const (
	accessNone   access = iota // nothing: only root (or orbit's user) writes it
	accessCreate               // add entries, but not rename or remove others'
	accessWrite                // change it
)

// verdict is what inspect found about one path.
type verdict struct {
	ownerOK bool
	owner   string // who owns it, for messages ("uid 4242", a SID)
	others  access
	why     string // the mode or the ACE that gives others access
}

// CheckPermissions refuses a root directory that a local user other than
// root could change: its ancestors, the root itself, bin/ and everything
// under it, staging/, tuf/ and its files, osquery_log/, osquery.db/, and
// the files orbit keeps at the root (node key, secret, identifier,
// osquery.flags, extensions.load, state.json, the lock...). Symbolic
// links are followed and what they point at is checked, with the
// directories on the way (a root dir may be a link to a data volume; the
// stable orbit path is a link into bin/). Errors name the path and the fix.
func (l Layout) CheckPermissions() error {
	c := newChecker(l)
	if err := c.checkRoot(true); err != nil {
		return err
	}
	for _, tree := range []string{l.join("bin"), l.TUF()} {
		if err := c.checkTree(tree); err != nil {
			return err
		}
	}
	for _, p := range []string{
		l.Staging(), l.OsqueryLogDir(), l.OsqueryDB(),
		l.NodeKey(), l.EnrollSecret(), l.Identifier(), l.OsqueryFlags(), l.ExtensionsAutoload(),
		l.State(), l.Lock(), l.FleetConfigCache(), l.OsqueryPID(),
	} {
		if err := c.checkPath(p, true); err != nil {
			return err
		}
	}
	return nil
}

// CheckAncestors checks the directories on the way to the root (not the
// root itself, which may not exist yet) and refuses a root that resolves
// to a system directory. Create calls it first.
func (l Layout) CheckAncestors() error {
	return newChecker(l).checkRoot(false)
}

// CheckWritableDir checks, right before orbit writes into dir (a
// directory under the root: staging/, a bin/<component>/... directory),
// that dir, every directory from the root down to it and the root's
// ancestors are still writable by root alone. It is cheap (one stat or
// so per path element) so the updater can call it before each install. A
// dir that does not exist yet passes when the directory it will be
// created in does.
func (l Layout) CheckWritableDir(dir string) error {
	if err := l.Validate(); err != nil {
		return err
	}
	rel, err := filepath.Rel(l.Root, filepath.Clean(dir))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("%s is not under the root directory %s", dir, l.Root)
	}
	c := newChecker(l)
	if err := c.checkRoot(true); err != nil {
		return err
	}
	return c.checkPath(dir, true)
}

// checker checks paths against the rules, inspecting each directory once.
type checker struct {
	l    Layout
	seen map[string]verdict
	// realRoot is the resolved root, set by checkRoot; "" before.
	realRoot string
}

func newChecker(l Layout) *checker {
	return &checker{l: l, seen: map[string]verdict{}}
}

// checkRoot checks the root's ancestors and refuses a system directory;
// with self, the root itself too.
func (c *checker) checkRoot(self bool) error {
	real, exists, err := c.walk(c.l.Root)
	if err != nil {
		return err
	}
	if isSystemDir(real) {
		how := ""
		if real != c.l.Root {
			how = " (it resolves to " + real + ")"
		}
		return fmt.Errorf("root directory %s%s is a system directory: orbit creates bin/, staging/ and its state in it and runs what is there as root; use a directory of its own, such as %s", c.l.Root, how, DefaultPath())
	}
	c.realRoot = real
	if !exists {
		return nil
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return fmt.Errorf("root directory %s is not a directory: pass a directory as --root-dir", c.l.Root)
	}
	if !self {
		return nil
	}
	return c.checkNode(c.l.Root, real)
}

// checkTree checks root and everything under it (a missing root is fine).
func (c *checker) checkTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return nil
			}
			return fmt.Errorf("check permissions of %s: %w", p, err)
		}
		return c.checkPath(p, false)
	})
}

// checkPath checks the way to p (a path at or under the root) and p
// itself when it exists; with missingOK a missing p is fine.
func (c *checker) checkPath(p string, missingOK bool) error {
	real, exists, err := c.walk(p)
	if err != nil {
		return err
	}
	if !exists {
		if missingOK {
			return nil
		}
		return fmt.Errorf("check permissions of %s: %w", p, fs.ErrNotExist)
	}
	return c.checkNode(p, real)
}

// checkNode checks the object at real (p resolved): owned by root, and
// writable by nobody else.
func (c *checker) checkNode(p, real string) error {
	v, err := c.inspect(real)
	if err != nil {
		return err
	}
	name := p
	if real != p {
		name = fmt.Sprintf("%s (where %s leads)", real, p)
	}
	if !v.ownerOK {
		return fmt.Errorf("%s is owned by %s, not by root or orbit's user: %s and start orbit again", name, v.owner, fixOwner(real))
	}
	if v.others != accessNone {
		return fmt.Errorf("%s is writable by group or others (%s): %s and start orbit again", name, v.why, fixWritable(real))
	}
	return nil
}

func (c *checker) inspect(p string) (verdict, error) {
	if v, ok := c.seen[p]; ok {
		return v, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return verdict{}, fmt.Errorf("check permissions of %s: %w", p, err)
	}
	v, err := inspect(p, fi)
	if err != nil {
		return verdict{}, fmt.Errorf("check permissions of %s: %w", p, err)
	}
	c.seen[p] = v
	return v, nil
}

// under reports whether real is the (resolved) root or inside it.
func (c *checker) under(real string) bool {
	if c.realRoot == "" {
		return false
	}
	rel, err := filepath.Rel(c.realRoot, real)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// walk resolves p as the kernel would, one name at a time, and checks
// every directory a name is looked up in and every link followed. It
// returns the resolved path and whether it exists (a missing path is
// resolved as far as it exists, plus the missing names).
func (c *checker) walk(p string) (string, bool, error) {
	p = filepath.Clean(p)
	vol := filepath.VolumeName(p)
	top := vol + string(filepath.Separator)
	cur := top
	queue := splitPath(p[len(vol):])
	link := "" // the link being resolved, for messages
	for hops := 0; len(queue) > 0; {
		name := queue[0]
		queue = queue[1:]
		if name == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", false, fmt.Errorf("check permissions of %s: %w", next, err)
		}
		if err := c.lookup(cur, next, fi, len(queue) == 0, link, p); err != nil {
			return "", false, err
		}
		if fi == nil {
			return filepath.Join(append([]string{next}, queue...)...), false, nil
		}
		if isLink(fi) {
			if hops++; hops > 40 {
				return "", false, fmt.Errorf("check permissions of %s: too many symbolic links", p)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", false, fmt.Errorf("check permissions of %s: %w", next, err)
			}
			if filepath.IsAbs(target) {
				tv := filepath.VolumeName(target)
				cur = tv + string(filepath.Separator)
				target = target[len(tv):]
			}
			queue = append(splitPath(target), queue...)
			if link == "" {
				link = next
			}
			continue
		}
		if len(queue) > 0 && !fi.IsDir() {
			return "", false, fmt.Errorf("check permissions of %s: %s is not a directory", p, next)
		}
		cur = next
	}
	return cur, true, nil
}

// lookup checks dir, in which the name next is looked up (fi: next's
// Lstat, nil when missing; final: next is the last name of the path).
func (c *checker) lookup(dir, next string, fi os.FileInfo, final bool, link, p string) error {
	v, err := c.inspect(dir)
	if err != nil {
		return err
	}
	// The root's own name is where orbit creates the root: looked up in
	// its parent, it is final whatever path is being walked.
	final = final || next == c.l.Root || next == c.realRoot
	inside := c.under(dir)
	where := fmt.Sprintf("%s, on the way to %s,", dir, p)
	if inside {
		where = dir
	}
	// fix is what to do about dir; hint fixes dir itself ("" for none).
	fix := func(hint string) string {
		other := "use a --root-dir under a directory only root can write (such as " + DefaultPath() + ")"
		switch {
		case link != "" && !inside:
			// Never chmod what the root only links to: it is not orbit's.
			return fmt.Sprintf("%s links there: move its target under a directory only root can write and point %s at it", link, link)
		case inside:
			return hint + " and start orbit again"
		case hint == "":
			return other
		}
		return hint + ", or " + other
	}
	if !v.ownerOK {
		return fmt.Errorf("%s is owned by %s, who could move what is in it: %s", where, v.owner, fix(fixOwner(dir)))
	}
	switch v.others {
	case accessWrite:
		return fmt.Errorf("%s is writable by group or others (%s), who could replace what is in it: %s", where, v.why, fix(fixWritable(dir)))
	case accessCreate:
		switch {
		case inside:
			return fmt.Errorf("%s is writable by group or others (%s): %s", dir, v.why, fix(fixWritable(dir)))
		case final:
			return fmt.Errorf("%s lets others create entries (%s), and the root directory cannot sit directly in it: anyone could take its name before orbit creates it; %s", where, v.why, fix(""))
		case fi == nil:
			return fmt.Errorf("%s lets others create entries (%s), and %s does not exist: orbit does not create names where anyone could take them first; %s", where, v.why, next, fix("create "+next+" as root first"))
		}
	}
	if fi != nil && isLink(fi) {
		lv, err := inspectLink(next, fi)
		if err != nil {
			return err
		}
		if !lv.ownerOK {
			return fmt.Errorf("link %s is owned by %s, who could point it elsewhere: %s", next, lv.owner, fix("replace it with a link owned by root"))
		}
	}
	return nil
}

func isLink(fi os.FileInfo) bool { return fi.Mode()&fs.ModeSymlink != 0 }

// splitPath splits a path (no volume) into its names.
func splitPath(p string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(p, func(r rune) bool { return os.IsPathSeparator(uint8(r)) }) {
		if s != "." {
			out = append(out, s)
		}
	}
	return out
}

// isSystemDir reports whether a resolved root is the file system's root
// or a directory the system or other software owns.
func isSystemDir(real string) bool {
	real = filepath.Clean(real)
	if vol := filepath.VolumeName(real); real == vol+string(filepath.Separator) || real == vol {
		return true
	}
	for _, d := range systemDirs() {
		if sameDir(real, d) {
			return true
		}
	}
	return false
}
