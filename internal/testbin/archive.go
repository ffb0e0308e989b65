package testbin

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"testing"
)

// TarGz is a .tar.gz of files (slash paths to contents), laid out as a
// release archive is (the tray app's desktop.tar.gz, a macOS app bundle):
// each parent directory first, then the files, executable, in sorted
// order.
func TarGz(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	dirs := map[string]bool{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		names = append(names, d+"/")
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range names {
		h := &tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}
		if data, ok := files[name]; ok {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// DesktopArchive writes the program at exe into a file laid out as
// Fleet's desktop.tar.gz (fleet-desktop/fleet-desktop) and returns its
// path.
func DesktopArchive(t testing.TB, exe string) string {
	t.Helper()
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "desktop.tar.gz")
	if err := os.WriteFile(p, TarGz(t, map[string][]byte{"fleet-desktop/fleet-desktop": data}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
