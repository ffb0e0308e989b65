//go:build !windows

package extract

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// entry is one tar entry of a test archive.
type entry struct {
	name, link string
	typ        byte
	mode       int64
	body       string
	size       int64 // declared size when body is empty and size > 0
}

func reg(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}
func dir(name string) entry         { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func sym(name, target string) entry { return entry{name: name, link: target, typ: tar.TypeSymlink} }
func hard(name, src string) entry   { return entry{name: name, link: src, typ: tar.TypeLink} }

// tarBytes renders entries as an uncompressed tar stream.
func tarBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if e.size > 0 {
			h.Size = e.size // declared only: the data is missing
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg && e.size == 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil && !errors.Is(err, tar.ErrWriteTooLong) && !strings.Contains(err.Error(), "missed writing") {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	if _, err := gz.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.tar.gz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func archive(t testing.TB, entries ...entry) string {
	t.Helper()
	return writeFile(t, gzipBytes(t, tarBytes(t, entries)))
}

// sandbox is an extraction directory with a sentinel directory next to it,
// to show nothing outside the extraction directory was touched.
type sandbox struct {
	parent, dir, sentinel string
}

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	parent := t.TempDir()
	s := sandbox{parent: parent, dir: filepath.Join(parent, "x"), sentinel: filepath.Join(parent, "sentinel")}
	for _, d := range []string{s.dir, s.sentinel} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(parent, "secret"), filepath.Join(s.sentinel, "secret")} {
		if err := os.WriteFile(f, []byte("sentinel"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// untouched fails the test if anything outside dir changed: the parent
// holds exactly x, sentinel and secret, the sentinels keep their content
// and have no second hard link.
func (s sandbox) untouched(t testing.TB) {
	t.Helper()
	ents, err := os.ReadDir(s.parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "secret,sentinel,x" {
		t.Fatalf("the parent of the extraction directory holds %v", names)
	}
	ents, err = os.ReadDir(s.sentinel)
	if err != nil || len(ents) != 1 {
		t.Fatalf("sentinel directory holds %v (%v)", ents, err)
	}
	for _, f := range []string{filepath.Join(s.parent, "secret"), filepath.Join(s.sentinel, "secret")} {
		b, err := os.ReadFile(f)
		if err != nil || string(b) != "sentinel" {
			t.Fatalf("%s = %q, %v", f, b, err)
		}
		st, err := os.Lstat(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.Sys().(*syscall.Stat_t).Nlink; n != 1 {
			t.Fatalf("%s has %d hard links: one was made from inside the archive", f, n)
		}
		if st.Mode().Perm() != 0o644 {
			t.Fatalf("%s mode changed to %v", f, st.Mode())
		}
	}
}

// refused checks what a refusal leaves: an empty extraction directory and
// nothing changed around it.
func (s sandbox) refused(t testing.TB) {
	t.Helper()
	if got := contents(t, s.dir); len(got) != 0 {
		t.Fatalf("the refusal left %d entries in the extraction directory: %v", len(got), got[:min(len(got), 10)])
	}
	s.untouched(t)
}

// contents lists what is in dir, relative slash paths.
func contents(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
