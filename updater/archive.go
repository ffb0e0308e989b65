package updater

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// isArchive reports whether a target file is extracted on install.
func isArchive(fileName string) bool { return strings.HasSuffix(fileName, ".tar.gz") }

// safeJoin resolves a slash-separated archive name inside dir, refusing
// absolute names and any that climb out with "..".
func safeJoin(dir, name string) (string, error) {
	if name == "" || path.IsAbs(name) || strings.HasPrefix(name, `\`) || filepath.VolumeName(name) != "" {
		return "", fmt.Errorf("archive entry %q has an absolute path", name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("archive entry %q escapes the target directory", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("archive entry %q contains ..", name)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(clean)), nil
}

// extractTarGz unpacks a verified .tar.gz into dir (which must exist and be
// empty). Entries with absolute paths or "..", links pointing outside dir,
// and special files are refused; group/other write bits are stripped.
func extractTarGz(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("read gzip archive: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar archive: %w", err)
		}
		dst, err := safeJoin(dir, hdr.Name)
		if err != nil {
			return err
		}
		if dst == filepath.Clean(dir) {
			continue // "./"
		}
		if err := parentInside(dir, dst); err != nil {
			return err
		}
		mode := os.FileMode(hdr.Mode).Perm() &^ 0o022
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, mode|0o700); err != nil {
				return fmt.Errorf("create %s: %w", dst, err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
			}
			if err := writeEntry(dst, tr, hdr.Size, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := checkLink(dir, dst, hdr.Linkname); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
			}
			if err := os.Symlink(hdr.Linkname, dst); err != nil {
				return fmt.Errorf("create link %s: %w", dst, err)
			}
		case tar.TypeLink:
			src, err := safeJoin(dir, hdr.Linkname)
			if err != nil {
				return fmt.Errorf("hard link %q: %w", hdr.Name, err)
			}
			if err := os.Link(src, dst); err != nil {
				return fmt.Errorf("create hard link %s: %w", dst, err)
			}
		default:
			return fmt.Errorf("archive entry %q has unsupported type %c: only files, directories and links are installed", hdr.Name, hdr.Typeflag)
		}
	}
}

// checkLink refuses a symlink whose target, resolved from the link's
// directory, is absolute or lands outside root. Links to links are covered
// because each link is checked against the same root.
func checkLink(root, link, target string) error {
	if target == "" || filepath.IsAbs(target) || path.IsAbs(target) || filepath.VolumeName(target) != "" {
		return fmt.Errorf("archive link %s -> %q is absolute", link, target)
	}
	resolved := filepath.Join(filepath.Dir(link), filepath.FromSlash(target))
	rel, err := filepath.Rel(filepath.Clean(root), resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("archive link %s -> %q escapes the target directory", link, target)
	}
	return nil
}

// parentInside refuses an entry whose existing parent directories, with
// links resolved, lead outside root (a link planted by an earlier entry).
func parentInside(root, dst string) error {
	parent := filepath.Dir(dst)
	for {
		if _, err := os.Lstat(parent); err == nil {
			break
		}
		parent = filepath.Dir(parent)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", root, err)
	}
	realParent, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", parent, err)
	}
	rel, err := filepath.Rel(realRoot, realParent)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("archive entry %s is reached through a link outside the target directory", dst)
	}
	return nil
}

func writeEntry(dst string, r io.Reader, size int64, mode os.FileMode) error {
	// O_EXCL: never write through a file or link an earlier entry created.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w (check disk space and permissions)", dst, err)
	}
	n, err := io.Copy(out, io.LimitReader(r, size))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w (check disk space)", dst, err)
	}
	if !isWindows {
		// umask may have cleared bits the archive asks for (e.g. exec).
		if err := os.Chmod(dst, mode); err != nil {
			return fmt.Errorf("set mode of %s: %w", dst, err)
		}
	}
	return nil
}
