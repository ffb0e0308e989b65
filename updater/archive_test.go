//go:build !windows

package updater

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name, link string
	typ        byte
	mode       int64
	body       string
}

func buildTar(t *testing.T, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "a.tar.gz")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func TestExtractRefusesEscapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		entries []entry
		errHas  string
	}{
		{"dot dot", []entry{{name: "../evil", typ: tar.TypeReg, mode: 0o755, body: "x"}}, "escapes"},
		{"inner dot dot", []entry{{name: "a/../../evil", typ: tar.TypeReg, mode: 0o755, body: "x"}}, "escapes"},
		{"absolute", []entry{{name: "/tmp/evil", typ: tar.TypeReg, mode: 0o755, body: "x"}}, "absolute"},
		{"absolute symlink", []entry{{name: "l", link: "/etc", typ: tar.TypeSymlink}}, "absolute"},
		{"escaping symlink", []entry{{name: "a/l", link: "../../y", typ: tar.TypeSymlink}}, "escapes"},
		{"write through planted link", []entry{
			{name: "d", typ: tar.TypeDir, mode: 0o755},
			{name: "d/up", link: "..", typ: tar.TypeSymlink},
			{name: "d/up/x", typ: tar.TypeReg, mode: 0o644, body: "x"},
		}, ""},
		{"escaping hard link", []entry{{name: "h", link: "../x", typ: tar.TypeLink}}, "escapes"},
		{"device", []entry{{name: "dev", typ: tar.TypeChar}}, "unsupported"},
		{"overwrite via duplicate", []entry{
			{name: "f", typ: tar.TypeReg, mode: 0o644, body: "a"},
			{name: "f", typ: tar.TypeReg, mode: 0o644, body: "b"},
		}, "exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			dir := filepath.Join(parent, "x")
			os.Mkdir(dir, 0o755)
			err := extractTarGz(buildTar(t, c.entries), dir)
			if c.name == "write through planted link" {
				// d/up -> .. stays inside dir, so it is allowed; the file lands in dir.
				if err != nil {
					t.Fatalf("inside link refused: %v", err)
				}
				if _, err := os.Stat(filepath.Join(parent, "x", "x")); err != nil {
					t.Fatalf("file not inside: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("err = %v, want %q", err, c.errHas)
			}
			ents, _ := os.ReadDir(parent)
			if len(ents) != 1 {
				t.Fatalf("something was written next to the target dir: %v", ents)
			}
		})
	}
}

func TestExtractLinkChainCannotEscape(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "x")
	os.Mkdir(dir, 0o755)
	// a -> b/.. is inside lexically; b -> .. is refused, so the chain never forms.
	err := extractTarGz(buildTar(t, []entry{
		{name: "b", link: "..", typ: tar.TypeSymlink},
		{name: "b/evil", typ: tar.TypeReg, mode: 0o644, body: "x"},
	}), dir)
	if err == nil {
		t.Fatal("link to the parent accepted")
	}
	if _, err := os.Stat(filepath.Join(parent, "evil")); err == nil {
		t.Fatal("file written outside")
	}
}

func TestExtractStripsWriteBitsAndKeepsExec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := extractTarGz(buildTar(t, []entry{
		{name: "app/", typ: tar.TypeDir, mode: 0o777},
		{name: "app/bin", typ: tar.TypeReg, mode: 0o777, body: "#!/bin/sh\n"},
		{name: "app/data", typ: tar.TypeReg, mode: 0o666, body: "d"},
		{name: "app/link", link: "bin", typ: tar.TypeSymlink},
	}), dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"app/bin": 0o755, "app/data": 0o644, "app": 0o755} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Fatalf("%s mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "app/link")); err != nil || l != "bin" {
		t.Fatalf("link = %q %v", l, err)
	}
}
