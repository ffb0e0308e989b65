//go:build !windows

package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/orbitagent/orbit/internal/fuzzcorpus"
)

// fuzzLimits keep one run small; the properties are the same at any size.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxEntries: 64}

// FuzzExtract: whatever the archive bytes, TarGz either fails and leaves
// the directory empty, or leaves only directories, regular files and
// symlinks inside it, within the limits, with no link leading out; nothing
// next to the directory is touched. Inputs that are not gzip are
// compressed first, so the fuzzer works on tar headers, not on CRCs.
func FuzzExtract(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			data = gzipBytes(t, data)
		}
		s := newSandbox(t)
		err := TarGz(context.Background(), writeFile(t, data), s.dir, fuzzLimits)
		s.untouched(t)
		if err != nil {
			if got := contents(t, s.dir); len(got) != 0 {
				t.Fatalf("failed (%v) but left %v", err, got)
			}
			return
		}
		checkTree(t, s.dir, fuzzLimits)
	})
}

// checkTree checks an extracted tree with the OS's own resolution
// (filepath.EvalSymlinks), independently of the package's resolver.
func checkTree(t *testing.T, dir string, lim Limits) {
	t.Helper()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	inside := func(p string) bool {
		rel, err := filepath.Rel(realDir, p)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	var entries int
	var size int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		entries++
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m := fi.Mode()
		if m&fs.ModeSymlink == 0 && m&(0o022|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			t.Errorf("%s has mode %v", p, m)
		}
		switch {
		case m.IsRegular():
			size += fi.Size()
		case m.IsDir():
		case m&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			if filepath.IsAbs(target) {
				t.Errorf("%s -> %s is absolute", p, target)
			}
			res, err := filepath.EvalSymlinks(p)
			switch {
			case err == nil:
				if !inside(res) {
					t.Errorf("%s -> %s leads to %s, outside %s", p, target, res, realDir)
				}
			case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP) || strings.Contains(err.Error(), "too many links"):
				// Dangling: as text it must still stay inside.
				if !inside(filepath.Join(filepath.Dir(p), target)) {
					t.Errorf("dangling %s -> %s leaves %s", p, target, realDir)
				}
			default:
				t.Errorf("resolve %s: %v", p, err)
			}
		default:
			t.Errorf("%s is a special file (%v)", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if entries > lim.MaxEntries {
		t.Errorf("%d entries, limit %d", entries, lim.MaxEntries)
	}
	if size > lim.MaxBytes {
		t.Errorf("%d bytes, limit %d", size, lim.MaxBytes)
	}
}

// fuzzSeeds are the checked-in corpus of FuzzExtract: plain tar streams
// (the fuzz function compresses them) of the attacks and of a valid tree,
// and one gzip bomb as bytes.
func fuzzSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]entry{
		"valid-tree": {dir("app"), reg("app/bin", "#!/bin/sh\n"), sym("app/l", "bin"), hard("app/h", "app/bin"),
			sym("app/F/Current", "A"), dir("app/F/A/R"), sym("app/F/R", "Current/R")},
		"dot-chain":           {sym("a", "."), sym("b", "a/.."), sym("c", "b/../..")},
		"later-link":          {sym("x", "a/b/.."), dir("a"), sym("a/b", ".."), reg("x/evil", "x")},
		"hard-link-escape":    {sym("x", "a/b/.."), dir("a"), sym("a/b", ".."), hard("h", "x/secret")},
		"hard-link-symlink":   {dir("d"), sym("d/l", ".."), hard("h", "d/l")},
		"write-through-link":  {dir("d"), sym("d/up", ".."), reg("d/up/x", "x")},
		"dot-dot":             {reg("../evil", "x"), reg("a/../../evil", "x")},
		"absolute":            {reg("/tmp/evil", "x"), sym("l", "/etc")},
		"duplicate":           {reg("f", "a"), reg("f", "b")},
		"device":              {{name: "dev", typ: tar.TypeChar}},
		"declared-size":       {{name: "big", typ: tar.TypeReg, mode: 0o644, size: 2 << 20}},
		"late-directory-mode": {reg("d/f", "x"), {name: "d/", typ: tar.TypeDir, mode: 0o7777}},
	}
	out := map[string][]byte{}
	for name, es := range seeds {
		out[name] = tarBytes(t, es)
	}
	out["bomb"] = bomb(t, 4)
	return out
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzExtract equal to fuzzSeeds.
func TestFuzzCorpus(t *testing.T) {
	t.Parallel()
	seeds := map[string][]any{}
	for name, data := range fuzzSeeds(t) {
		seeds[name] = []any{data}
	}
	fuzzcorpus.Check(t, "FuzzExtract", seeds)
}
