package extract

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// extractor is the writing pass of TarGz. Every path it passes to root is
// a clean relative slash path whose parents are real directories.
type extractor struct {
	root   *os.Root
	budget *budget
	dirs   map[string]bool // directories known to be real (never replaced: nothing is overwritten)
	links  []link          // symlinks created, checked again at the end
}

type link struct{ name, target string }

func (x *extractor) entry(h *tar.Header, r io.Reader) error {
	name, err := x.budget.admit(h)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // "./": the extraction directory itself
	}
	if err := x.parents(name); err != nil {
		return err
	}
	mode := os.FileMode(h.Mode).Perm() &^ 0o022
	switch h.Typeflag {
	case tar.TypeDir:
		return x.dir(name, mode|0o700)
	case tar.TypeReg:
		return x.file(name, r, h.Size, mode)
	case tar.TypeSymlink:
		if err := x.checkSymlink(name, h.Linkname); err != nil {
			return err
		}
		if err := x.root.Symlink(h.Linkname, name); err != nil {
			return fmt.Errorf("create link %q: %w (a duplicate name in the archive?)", name, err)
		}
		x.links = append(x.links, link{name, h.Linkname})
		return nil
	default: // tar.TypeLink; admit refused every other type
		src, _ := cleanName(h.Linkname)
		if err := x.checkHardLink(name, src); err != nil {
			return err
		}
		if err := x.root.Link(src, name); err != nil {
			return fmt.Errorf("create hard link %q: %w (a duplicate name in the archive?)", name, err)
		}
		return nil
	}
}

// parents makes sure every parent of name is a real directory, creating the
// missing ones: an entry is never written through a link, even one that
// stays inside.
func (x *extractor) parents(name string) error {
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		if x.dirs[p] {
			continue
		}
		fi, err := x.root.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := x.dir(p, 0o755); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("archive entry %q: %w", name, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("archive entry %q goes through the link %q: an archive must not write through links", name, p)
		case !fi.IsDir():
			return fmt.Errorf("archive entry %q is under %q, which is not a directory", name, p)
		}
		x.dirs[p] = true
	}
	return nil
}

func (x *extractor) dir(name string, mode os.FileMode) error {
	fi, err := x.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := x.root.Mkdir(name, mode); err != nil {
			return fmt.Errorf("create directory %q: %w (check disk space)", name, err)
		}
	case err != nil:
		return fmt.Errorf("archive entry %q: %w", name, err)
	case fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir():
		return fmt.Errorf("archive directory %q exists already as a file or link: duplicate names are refused", name)
	}
	if !isWindows {
		// umask may have cleared bits the tray's user needs (read, search).
		if err := x.root.Chmod(name, mode); err != nil {
			return fmt.Errorf("set mode of %q: %w", name, err)
		}
	}
	x.dirs[name] = true
	return nil
}

func (x *extractor) file(name string, r io.Reader, size int64, mode os.FileMode) error {
	// O_EXCL: never through a file or link an earlier entry created.
	out, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("archive entry %q exists already: duplicate names are refused", name)
		}
		return fmt.Errorf("create %q: %w (check disk space and permissions)", name, err)
	}
	// The tar reader yields exactly the declared size, which the budget
	// has admitted: nothing is written past a limit.
	n, err := io.Copy(out, io.LimitReader(r, size))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = out.Sync()
	}
	if err == nil && !isWindows {
		// On the descriptor, so the mode lands on the file written.
		err = out.Chmod(mode)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q: %w (check disk space)", name, err)
	}
	return nil
}

// checkSymlink refuses a symlink name -> target that leads outside the
// directory once resolved through the links now on disk.
func (x *extractor) checkSymlink(name, target string) error {
	start := strings.Split(path.Dir(name), "/")
	if start[0] == "." {
		start = nil
	}
	if _, _, err := x.resolve(start, target); err != nil {
		return fmt.Errorf("archive link %q -> %q: %w", name, target, err)
	}
	return nil
}

// checkHardLink refuses a hard link whose source leads outside, is reached
// through a link, or is not a regular file extracted earlier (a hard link
// to a symlink would be a copy of the link that resolves from elsewhere).
func (x *extractor) checkHardLink(name, src string) error {
	_, via, err := x.resolve(nil, src)
	if err != nil {
		return fmt.Errorf("hard link %q -> %q: %w", name, src, err)
	}
	if via != "" && via != src {
		return fmt.Errorf("hard link %q -> %q goes through the link %q: a hard link must name a file extracted earlier", name, src, via)
	}
	fi, err := x.root.Lstat(src)
	if err != nil {
		return fmt.Errorf("hard link %q -> %q names no file extracted earlier: %w", name, src, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("hard link %q -> %q: the source is not a regular file", name, src)
	}
	return nil
}

var errEscape = errors.New("leads outside the target directory (resolved through the links on disk)")

// resolve follows target from the directory start (components relative to
// the root, all real directories) through the links on disk, and returns
// where it leads and the first link followed. A missing component is taken
// as a plain directory, so a link that dangles now is judged as if the
// missing part were created later without links; one created as a link is
// caught when the finished tree is checked.
func (x *extractor) resolve(start []string, target string) (resolved []string, via string, err error) {
	stack := slices.Clone(start)
	todo := strings.Split(target, "/")
	hops := 0
	missing := -1 // depth of the first missing component, -1 if none
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return nil, via, errEscape
			}
			stack = stack[:len(stack)-1]
			if len(stack) <= missing {
				missing = -1
			}
			continue
		}
		stack = append(stack, c)
		if missing >= 0 {
			continue
		}
		p := strings.Join(stack, "/")
		fi, err := x.root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			missing = len(stack) - 1
			continue
		}
		if err != nil {
			return nil, via, fmt.Errorf("resolve %q: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if hops++; hops > maxLinkHops {
			return nil, via, fmt.Errorf("more than %d links to follow (a loop?)", maxLinkHops)
		}
		l, err := x.root.Readlink(p)
		if err != nil {
			return nil, via, fmt.Errorf("read link %q: %w", p, err)
		}
		if checkTarget(p, l) != nil {
			return nil, via, errEscape
		}
		if via == "" {
			via = p
		}
		stack = stack[:len(stack)-1]
		todo = append(strings.Split(l, "/"), todo...)
	}
	return stack, via, nil
}
