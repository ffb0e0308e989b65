package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/orbitagent/orbit/internal/safefile"
)

// txn stages every file an operation writes under DIR/tmp/txn and then moves
// them into place in order. The manifest is written (and fsynced) only once
// all files are staged; recoverTxn replays a committed manifest after a
// crash and throws away an uncommitted one, so DIR always holds either the
// old or the new consistent state once the next command has run.
type txn struct {
	base string // repository root DIR
	dir  string // DIR/tmp/txn
	ops  []txnOp
	done bool
}

// txnOp moves Tmp (a staged file in the txn dir) or From (a path relative to
// DIR) to To (relative to DIR).
type txnOp struct {
	Tmp  string `json:"tmp,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

const txnManifest = "manifest.json"

func txnDir(base string) string { return filepath.Join(base, "tmp", "txn") }

func newTxn(base string) (*txn, error) {
	dir := txnDir(base)
	if err := recoverTxn(base); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	return &txn{base: base, dir: dir}, nil
}

// create returns a new staged file that will be moved to `to`.
func (t *txn) create(to string, perm fs.FileMode) (*os.File, error) {
	name := strconv.Itoa(len(t.ops))
	f, err := os.OpenFile(filepath.Join(t.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return nil, fmt.Errorf("create staged file: %w", err)
	}
	t.ops = append(t.ops, txnOp{Tmp: name, To: filepath.ToSlash(to)})
	return f, nil
}

// writeFile stages data for `to`.
func (t *txn) writeFile(to string, data []byte, perm fs.FileMode) error {
	f, err := t.create(to, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write staged %s: %w", to, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write staged %s: %w", to, err)
	}
	return nil
}

// copyStaged stages another copy of the already staged file of op index i,
// for `to`; a hard link when the file system allows it.
func (t *txn) copyStaged(i int, to string) error {
	src := filepath.Join(t.dir, t.ops[i].Tmp)
	name := strconv.Itoa(len(t.ops))
	dst := filepath.Join(t.dir, name)
	if err := os.Link(src, dst); err != nil {
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("copy staged file: %w", err)
		}
		// Flushed again by syncStaged at commit.
		if err := safefile.CopyFile(src, dst, st.Mode().Perm()); err != nil {
			return fmt.Errorf("copy staged file: %w", err)
		}
	}
	t.ops = append(t.ops, txnOp{Tmp: name, To: filepath.ToSlash(to)})
	return nil
}

// move schedules renaming an existing file inside DIR.
func (t *txn) move(from, to string) {
	t.ops = append(t.ops, txnOp{From: filepath.ToSlash(from), To: filepath.ToSlash(to)})
}

func (t *txn) commit() error {
	if err := t.writeManifest(); err != nil {
		return err
	}
	return applyTxn(t.base, t.dir, t.ops)
}

// writeManifest is the commit point: after it the operation is rolled
// forward even if this process dies.
func (t *txn) writeManifest() error {
	if err := t.syncStaged(); err != nil {
		return err
	}
	b, err := json.Marshal(t.ops)
	if err != nil {
		return fmt.Errorf("encode staging manifest: %w", err)
	}
	// WriteAtomic's rename is the commit point.
	if err := safefile.WriteAtomic(filepath.Join(t.dir, txnManifest), b, 0o600); err != nil {
		return fmt.Errorf("commit staging manifest: %w", err)
	}
	t.done = true
	return nil
}

// syncStaged flushes every staged file. The fsyncs run concurrently so the
// file system can fold them into few journal commits: on slow disks fsync
// latency, not hashing, dominates small operations.
func (t *txn) syncStaged() error {
	var names []string
	for _, op := range t.ops {
		if op.Tmp != "" {
			names = append(names, filepath.Join(t.dir, op.Tmp))
		}
	}
	return parallel(names, func(name string) error {
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("flush staged file: %w", err)
		}
		return closeSynced(f)
	})
}

// parallel runs fn on every item at once and joins the errors.
func parallel(items []string, fn func(string) error) error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(it)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// abort discards staged files unless the txn was committed.
func (t *txn) abort() {
	if !t.done {
		os.RemoveAll(t.dir)
		os.Remove(filepath.Dir(t.dir)) // only if empty
	}
}

func applyTxn(base, dir string, ops []txnOp) error {
	dirs := map[string]bool{}
	for _, op := range ops {
		src := filepath.Join(base, filepath.FromSlash(op.From))
		if op.Tmp != "" {
			src = filepath.Join(dir, op.Tmp)
		}
		dst := filepath.Join(base, filepath.FromSlash(op.To))
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			continue // applied before a crash
		}
		perm := fs.FileMode(0o755)
		if isUnder(op.To, "keys") {
			perm = 0o700
		}
		if err := os.MkdirAll(filepath.Dir(dst), perm); err != nil {
			return fmt.Errorf("create directory for %s: %w", op.To, err)
		}
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("move %s into place: %w (run the command again to finish)", op.To, err)
		}
		dirs[filepath.Dir(dst)] = true
	}
	// One sync per directory, before the manifest goes: until then a crash
	// replays any move that did not reach the disk.
	parallel(sortedKeys(dirs), func(d string) error { safefile.SyncDir(d); return nil })
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove staging directory: %w", err)
	}
	os.Remove(filepath.Dir(dir)) // only if empty
	return nil
}

// recoverTxn finishes a committed txn left by a crash and drops an
// uncommitted one.
func recoverTxn(base string) error {
	dir := txnDir(base)
	b, err := os.ReadFile(filepath.Join(dir, txnManifest))
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove unfinished staging directory %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read staging manifest: %w", err)
	}
	var ops []txnOp
	if err := json.Unmarshal(b, &ops); err != nil {
		return fmt.Errorf("staging manifest %s is corrupt: inspect and remove %s by hand: %w", txnManifest, dir, err)
	}
	return applyTxn(base, dir, ops)
}

func isUnder(rel, top string) bool {
	return rel == top || len(rel) > len(top) && rel[:len(top)+1] == top+"/"
}

func closeSynced(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("flush %s to disk: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return nil
}
