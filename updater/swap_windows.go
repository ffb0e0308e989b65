package updater

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/orbitagent/orbit/internal/safefile"
)

// replaceFile moves src over dst, keeping the old file as dst+".previous".
// Windows cannot replace a running executable but can rename it, so the old
// file is renamed away first; the short window without dst is repaired by
// recoverFile on the next start. verified is always nil here: Windows
// cannot rename a file that is open, so the copy is made from src.
func replaceFile(src, dst string, _ *os.File) (keptPrevious bool, err error) {
	prev := dst + ".previous"
	if _, err := os.Lstat(dst); err == nil {
		if err := os.Remove(prev); err != nil && !os.IsNotExist(err) {
			// The old previous may still be running: move it aside.
			_ = os.Rename(prev, fmt.Sprintf("%s.old-%d", prev, os.Getpid()))
		}
		if err := os.Rename(dst, prev); err != nil {
			return false, fmt.Errorf("keep previous version of %s: %w", dst, err)
		}
		keptPrevious = true
	}
	if err := os.Rename(src, dst); err != nil {
		if err2 := safefile.CopyFile(src, dst, 0o755); err2 != nil {
			if keptPrevious {
				_ = os.Rename(prev, dst)
			}
			return false, fmt.Errorf("move new version into %s: %w (check disk space and permissions)", dst, err)
		}
		os.Remove(src)
	}
	return keptPrevious, nil
}

// restoreFile puts src (a kept previous version) back at dst.
func restoreFile(src, dst string) error {
	aside := fmt.Sprintf("%s.bad-%d", dst, os.Getpid())
	_ = os.Rename(dst, aside)
	if err := os.Rename(src, dst); err != nil {
		_ = os.Rename(aside, dst)
		return fmt.Errorf("restore %s from %s: %w", dst, src, err)
	}
	_ = os.Remove(aside)
	return nil
}

// pointStable copies target to link (Windows services need a real file).
// The running copy is renamed aside first, since it cannot be overwritten.
func pointStable(link, target string) error {
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(link), err)
	}
	tmp := link + ".tmp-copy"
	if err := safefile.CopyFile(target, tmp, 0o755); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s to %s: %w (check disk space)", target, link, err)
	}
	old := link + ".old"
	_ = os.Remove(old)
	_ = os.Rename(link, old)
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Rename(old, link)
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", link, err)
	}
	return nil
}

const stableOrbitName = "orbit.exe"
