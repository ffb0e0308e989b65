//go:build !windows

package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		entries []entry
		errHas  string
	}{
		{"dot dot", []entry{reg("../evil", "x")}, `contains ".."`},
		{"inner dot dot", []entry{reg("a/../../evil", "x")}, `contains ".."`},
		{"absolute", []entry{reg("/tmp/evil", "x")}, "absolute"},
		{"backslash in name", []entry{reg(`..\evil`, "x")}, "backslash"},
		{"backslash in link", []entry{sym("l", `..\..\etc`)}, "backslash"},
		{"absolute symlink", []entry{sym("l", "/etc")}, "absolute"},
		{"escaping symlink", []entry{sym("a/l", "../../y")}, "leads outside"},
		// Each link is inside as text; on disk a is the directory itself,
		// so a/.. is its parent.
		{"dot chain", []entry{sym("a", "."), sym("b", "a/..")}, `"b" -> "a/..": leads outside`},
		{"dot chain through links", []entry{sym("a", "."), sym("b", "a/a"), sym("c", "b/..")}, `"c" -> "b/..": leads outside`},
		{"link through links", []entry{sym("a", "."), sym("b", "a/a/a/a/..")}, `"b" -> "a/a/a/a/..": leads outside`},
		{"write through links", []entry{sym("a", "."), sym("b", "a/a/a/a/.."), reg("b/evil", "x")}, `"b" -> "a/a/a/a/..": leads outside`},
		{"link through an inside link", []entry{dir("d"), sym("d/up", ".."), sym("d/l", "up/..")}, `"d/l" -> "up/..": leads outside`},
		// x is inside when made (a/b does not exist yet); a/b -> .. then
		// makes x lead to the parent: caught on the finished tree.
		{"link turned outward by a later link", []entry{sym("x", "a/b/.."), dir("a"), sym("a/b", "..")}, `"x" -> "a/b/..": leads outside`},
		{"write through an inside link", []entry{dir("d"), sym("d/up", ".."), reg("d/up/x", "x")}, `goes through the link "d/up"`},
		{"write through an outside link", []entry{sym("x", "a/b/.."), dir("a"), sym("a/b", ".."), reg("x/evil", "x")}, `goes through the link "x"`},
		{"escaping hard link", []entry{hard("h", "../secret")}, `contains ".."`},
		{"hard link through a link to the parent", []entry{sym("x", "a/b/.."), dir("a"), sym("a/b", ".."), hard("h", "x/secret")}, `hard link "h" -> "x/secret": leads outside`},
		{"hard link through an inside link", []entry{dir("d"), reg("d/f", "x"), sym("l", "d"), hard("h", "l/f")}, `goes through the link "l"`},
		// A hard link to d/l -> .. would be a link ".." at the top.
		{"hard link to a symlink", []entry{dir("d"), sym("d/l", ".."), hard("h", "d/l")}, "not a regular file"},
		{"hard link to a directory", []entry{dir("d"), hard("h", "d")}, "not a regular file"},
		{"hard link to nothing", []entry{hard("h", "nope")}, "names no file extracted earlier"},
		{"link loop", []entry{sym("a", "b"), sym("b", "a"), sym("c", "a/x")}, "a loop"},
		{"device", []entry{{name: "dev", typ: tar.TypeChar}}, "unsupported type"},
		{"fifo", []entry{{name: "p", typ: tar.TypeFifo}}, "unsupported type"},
		{"duplicate file", []entry{reg("f", "a"), reg("f", "b")}, "exists already"},
		{"file over a link", []entry{sym("f", "g"), reg("f", "b")}, "exists already"},
		{"link over a file", []entry{reg("f", "a"), sym("f", "g")}, "duplicate name"},
		{"directory over a link", []entry{sym("d", "."), dir("d")}, "exists already as a file or link"},
		{"file under a file", []entry{reg("f", "a"), reg("f/g", "b")}, "not a directory"},
		{"link named dot", []entry{sym("./", "..")}, "extraction directory itself"},
		{"long name", []entry{reg(strings.Repeat("a/", 2100)+"f", "x")}, "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t)
			err := TarGz(context.Background(), archive(t, c.entries...), s.dir, Limits{})
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.errHas)
			}
			s.refused(t)
		})
	}
}

// TestRefusalEmptiesDirectory: files written before a bad entry are
// removed, so the caller's staging directory holds nothing.
func TestRefusalEmptiesDirectory(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	err := TarGz(context.Background(), archive(t,
		dir("app"), reg("app/bin", "#!/bin/sh\n"), dir("app/lib"), reg("app/lib/a", "a"), sym("app/l", "lib/a"),
		sym("app/lib/up", "../../.."),
	), s.dir, Limits{})
	if err == nil {
		t.Fatal("escaping link accepted")
	}
	s.refused(t)
}

func TestExtractsTree(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	err := TarGz(context.Background(), archive(t,
		dir("./"),
		entry{name: "app/", typ: tar.TypeDir, mode: 0o777},
		entry{name: "app/bin", typ: tar.TypeReg, mode: 0o4777, body: "#!/bin/sh\n"},
		entry{name: "app/data", typ: tar.TypeReg, mode: 0o666, body: "d"},
		sym("app/link", "bin"),
		// A library link written before its file (dangling for a moment).
		sym("app/lib/libx.so", "libx.so.1"),
		reg("app/lib/libx.so.1", "elf"),
		hard("app/lib/libx.copy", "app/lib/libx.so.1"),
		// A macOS framework: links to links that stay inside.
		dir("app/F.framework/Versions/A/Resources"),
		reg("app/F.framework/Versions/A/Resources/Info.plist", "plist"),
		sym("app/F.framework/Versions/Current", "A"),
		sym("app/F.framework/Resources", "Versions/Current/Resources"),
		sym("app/self", "."),
		sym("app/top", "self/.."),
		// A directory listed after its files, with its own mode.
		reg("late/f", "f"),
		entry{name: "late/", typ: tar.TypeDir, mode: 0o500},
	), s.dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	s.untouched(t)
	modes := map[string]os.FileMode{"app/bin": 0o755, "app/data": 0o644, "app": 0o755, "late": 0o700, "app/lib": 0o755}
	for name, want := range modes {
		st, err := os.Lstat(filepath.Join(s.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != want {
			t.Errorf("%s mode %v, want %v", name, st.Mode(), want)
		}
	}
	for name, want := range map[string]string{
		"app/link": "#!/bin/sh\n", "app/lib/libx.so": "elf", "app/lib/libx.copy": "elf",
		"app/F.framework/Resources/Info.plist": "plist", "app/top/app/data": "d",
	} {
		if b, err := os.ReadFile(filepath.Join(s.dir, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	a, _ := os.Stat(filepath.Join(s.dir, "app/lib/libx.so.1"))
	b, _ := os.Stat(filepath.Join(s.dir, "app/lib/libx.copy"))
	if !os.SameFile(a, b) {
		t.Error("hard link is a copy")
	}
}

// bomb is a .tar.gz of n entries of 1 MiB of zeros each: every entry is a
// gzip member of its header and the same member of 1 MiB of zeros (about
// 1 KiB), so n = 1024 expands to 1 GiB from about 1 MiB.
func bomb(t testing.TB, n int) []byte {
	t.Helper()
	zeros := gzipBytes(t, make([]byte, 1<<20))
	var out bytes.Buffer
	for i := range n {
		var hb bytes.Buffer
		tw := tar.NewWriter(&hb)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("z/%05d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 20}); err != nil {
			t.Fatal(err)
		}
		out.Write(gzipBytes(t, hb.Bytes()))
		out.Write(zeros)
	}
	out.Write(gzipBytes(t, make([]byte, 1024))) // end of archive
	return out.Bytes()
}

func TestGzipBomb(t *testing.T) {
	t.Parallel()
	data := bomb(t, 1024)
	if len(data) > 2<<20 {
		t.Fatalf("bomb is %d bytes, want about 1 MiB", len(data))
	}
	s := newSandbox(t)
	err := TarGz(context.Background(), writeFile(t, data), s.dir, Limits{})
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != LimitRatio || !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "ratio limit") {
		t.Fatalf("err = %v, want the ratio limit", err)
	}
	s.refused(t)
}

func TestLimits(t *testing.T) {
	t.Parallel()
	random6 := make([]byte, 6<<20)
	rand.Read(random6)
	random := random6[:2<<20]
	many := make([]entry, 11)
	for i := range many {
		many[i] = dir(fmt.Sprintf("d%d", i))
	}
	cases := []struct {
		name  string
		data  []byte
		lim   Limits
		limit string
	}{
		// Declared in the header: refused before any data is read.
		// 6 MiB of random data first, so the ratio allows more than 1 GiB.
		{"one entry over 1 GiB", gzipBytes(t, tarBytes(t, []entry{reg("r", string(random6)), {name: "big", typ: tar.TypeReg, mode: 0o644, size: DefaultMaxBytes + 1}})), Limits{}, LimitSize},
		{"size", gzipBytes(t, tarBytes(t, []entry{reg("a", string(random[:1<<20])), reg("b", string(random[1<<20:]))})), Limits{MaxBytes: 1 << 20}, LimitSize},
		{"entries", gzipBytes(t, tarBytes(t, many)), Limits{MaxEntries: 10}, LimitEntries},
		{"ratio", bomb(t, 40), Limits{MaxRatio: 20}, LimitRatio},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t)
			err := TarGz(context.Background(), writeFile(t, c.data), s.dir, c.lim)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != c.limit || !strings.Contains(err.Error(), c.limit+" limit") {
				t.Fatalf("err = %v, want the %s limit", err, c.limit)
			}
			s.refused(t)
		})
	}
	// Just under every limit passes.
	s := newSandbox(t)
	if err := TarGz(context.Background(), writeFile(t, gzipBytes(t, tarBytes(t, many[:10]))), s.dir, Limits{MaxEntries: 10}); err != nil {
		t.Fatalf("10 entries with a limit of 10: %v", err)
	}
	if err := (Limits{MaxBytes: -1}).Validate(); err == nil {
		t.Fatal("negative limit accepted")
	}
}

// TestTooManyEntries uses the default limit of 100,000 entries.
func TestTooManyEntries(t *testing.T) {
	t.Parallel()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for i := range DefaultMaxEntries + 1 {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d/%06d/", i), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	s := newSandbox(t)
	err := TarGz(context.Background(), writeFile(t, gzipBytes(t, raw.Bytes())), s.dir, Limits{})
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != LimitEntries || le.Max != DefaultMaxEntries {
		t.Fatalf("err = %v, want the entries limit", err)
	}
	s.refused(t)
}

func TestNeedsEmptyDirectoryAndRegularArchive(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	os.WriteFile(filepath.Join(s.dir, "old"), nil, 0o644)
	if err := TarGz(context.Background(), archive(t, reg("f", "x")), s.dir, Limits{}); err == nil || !strings.Contains(err.Error(), "empty directory") {
		t.Fatalf("non-empty directory: %v", err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// No writer: a blocking open would never return.
	if err := TarGz(context.Background(), fifo, t.TempDir(), Limits{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("fifo archive: %v", err)
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newSandbox(t)
	err := TarGz(ctx, archive(t, reg("f", "x")), s.dir, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// The tar reader already refuses a NUL in a name (ustar cuts there, PAX
// rejects it), so the check behind it is tested on its own.
func TestCleanName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"a": "a", "./a/": "a", "a//b/./c": "a/b/c", "./": ".", ".": "."} {
		if got, err := cleanName(name); err != nil || got != want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for name, want := range map[string]string{"a\x00b": "NUL", `a\b`: "backslash", "": "empty", "/a": "absolute", "a/../b": `".."`} {
		if _, err := cleanName(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("cleanName(%q) = %v, want %q", name, err, want)
		}
	}
	if err := checkTarget("l", "a\x00"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("link target with NUL: %v", err)
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"a/b": "/d/a/b", "./a//b/": "/d/a/b"} {
		if got, err := Join("/d", name); err != nil || got != want {
			t.Errorf("Join(%q) = %q, %v", name, got, err)
		}
	}
	for _, bad := range []string{"", ".", "../a", "a/../../b", "/a", `a\b`, "a\x00"} {
		if got, err := Join("/d", bad); err == nil {
			t.Errorf("Join(%q) = %q, want an error", bad, got)
		}
	}
}
