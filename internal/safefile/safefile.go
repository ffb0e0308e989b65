// Package safefile is how orbit touches the disk where a crash or another
// process must not see half a change: atomic whole-file writes, the
// directory fsync that makes a rename durable, a fsynced copy, and the
// exclusive lock that keeps a second process off a directory.
package safefile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// WriteAtomic writes data to path through a temporary file in the same
// directory, fsynced and renamed into place, so readers never see a partial
// file and a crash leaves either the old or the new content.
func WriteAtomic(path string, data []byte, mode os.FileMode) error {
	return WriteAtomicFrom(path, bytes.NewReader(data), mode)
}

// WriteAtomicFrom is WriteAtomic for content streamed from r, for files too
// large to hold in memory (an installed binary copied from the descriptor
// it was verified on).
func WriteAtomicFrom(path string, r io.Reader, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("set mode of %s: %w", name, err)
	}
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("rename %s into place: %w", path, err)
	}
	SyncDir(dir)
	return nil
}
