//go:build !windows

package updater

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/orbitagent/orbit/internal/safefile"
)

// replaceFile moves the verified file src over dst atomically, keeping the
// file dst held as dst+".previous" (a hard link to the old inode, so dst is
// never missing). When src is on another filesystem than dst it is copied
// next to dst first, from verified (the descriptor it was verified on)
// when given, else from src.
func replaceFile(src, dst string, verified *os.File) (keptPrevious bool, err error) {
	dir := filepath.Dir(dst)
	if _, err := os.Lstat(dst); err == nil {
		prev := dst + ".previous"
		tmp := dst + ".previous.tmp"
		_ = os.Remove(tmp)
		if err := os.Link(dst, tmp); err != nil {
			if err := safefile.CopyFile(dst, tmp, 0o755); err != nil {
				return false, fmt.Errorf("keep previous version of %s: %w (check disk space)", dst, err)
			}
		}
		if err := os.Rename(tmp, prev); err != nil {
			return false, fmt.Errorf("keep previous version of %s: %w", dst, err)
		}
		keptPrevious = true
	}
	if err := os.Rename(src, dst); err != nil {
		if !errors.Is(err, syscall.EXDEV) {
			return keptPrevious, fmt.Errorf("move new version into %s: %w", dst, err)
		}
		var from io.Reader
		if verified != nil {
			fi, err := verified.Stat()
			if err != nil {
				return keptPrevious, fmt.Errorf("stat verified %s: %w", src, err)
			}
			from = io.NewSectionReader(verified, 0, fi.Size())
		} else {
			f, err := os.Open(src)
			if err != nil {
				return keptPrevious, fmt.Errorf("open new version %s: %w", src, err)
			}
			defer f.Close()
			from = f
		}
		if err := safefile.WriteAtomicFrom(dst, from, 0o755); err != nil {
			return keptPrevious, fmt.Errorf("copy new version into %s: %w (check disk space)", dst, err)
		}
		os.Remove(src)
	}
	safefile.SyncDir(dir)
	return keptPrevious, nil
}

// restoreFile puts src (a kept previous version) back at dst atomically.
func restoreFile(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("restore %s from %s: %w", dst, src, err)
	}
	safefile.SyncDir(filepath.Dir(dst))
	return nil
}

// pointStable makes link a relative symlink to target, swapped atomically.
func pointStable(link, target string) error {
	rel, err := filepath.Rel(filepath.Dir(link), target)
	if err != nil {
		rel = target
	}
	if cur, err := os.Readlink(link); err == nil && cur == rel {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(link), err)
	}
	tmp := link + ".tmp-link"
	_ = os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("create link %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("point %s at %s: %w", link, target, err)
	}
	safefile.SyncDir(filepath.Dir(link))
	return nil
}

// stableOrbitName is the file name of the service's stable orbit path.
const stableOrbitName = "orbit"
