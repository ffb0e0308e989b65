//go:build !windows

package updater

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/updater/extract"
)

// bombTarGz is a .tar.gz holding exe at d/d, then 1 GiB of zeros in 1 MiB
// files: each is a gzip member of its header and one shared member of 1 MiB
// of zeros (about 1 KiB), so the archive is about 1 MiB.
func bombTarGz(t *testing.T, exe []byte) []byte {
	t.Helper()
	member := func(b []byte) []byte {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		gz.Write(b)
		gz.Close()
		return buf.Bytes()
	}
	header := func(h *tar.Header) []byte {
		var buf bytes.Buffer
		if err := tar.NewWriter(&buf).WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	var out bytes.Buffer
	first := header(&tar.Header{Name: "d/d", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(exe))})
	first = append(first, exe...)
	first = append(first, make([]byte, (512-len(exe)%512)%512)...)
	out.Write(member(first))
	zeros := member(make([]byte, 1<<20))
	for i := range 1024 {
		out.Write(member(header(&tar.Header{Name: fmt.Sprintf("z/%04d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 20})))
		out.Write(zeros)
	}
	out.Write(member(make([]byte, 1024)))
	return out.Bytes()
}

// TestArchiveBombIsNotInstalled: a signed release that expands to 1 GiB
// from about 1 MiB fails on the ratio limit, leaves no extraction directory
// and no staged file, and the installed release keeps running.
func TestArchiveBombIsNotInstalled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	desk := Component{Name: "desktop", Channel: "stable", FileName: "desktop.tar.gz", ExecInArchive: "d/d"}
	e.repo.addTarget("desktop/linux/stable/desktop.tar.gz", testbin.TarGz(t, map[string][]byte{"d/d": script("d1", 0, e.marks, 0)}), "d1")
	e.repo.publish()
	u := e.updater(e.config(desk))
	if res := check(t, u); len(res.Installed) != 1 {
		t.Fatalf("first install: %+v", res)
	}
	good, err := u.ExecPath("desktop")
	if err != nil {
		t.Fatal(err)
	}

	bomb := bombTarGz(t, script("d2", 0, e.marks, 0))
	if len(bomb) > 2<<20 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	e.repo.addTarget("desktop/linux/stable/desktop.tar.gz", bomb, "d2")
	e.repo.publish()
	res := check(t, u)
	ferr := res.Failed["desktop"]
	if !errors.Is(ferr, extract.ErrLimit) || !strings.Contains(ferr.Error(), "ratio limit") {
		t.Fatalf("bomb install: %+v (error %v), want the ratio limit", res, ferr)
	}
	binDir := e.layout.BinDir("desktop", "linux", "stable")
	ents, err := os.ReadDir(binDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || !strings.HasPrefix(good, binDir+"/"+ents[0].Name()+"/") {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("bin dir holds %v, want only the installed release of %s", names, good)
	}
	if ents, _ := os.ReadDir(e.layout.Staging()); len(ents) != 0 {
		t.Fatalf("staging holds %d files after the refusal", len(ents))
	}
	if p, _ := u.ExecPath("desktop"); p != good {
		t.Fatalf("ExecPath = %q, want the old %q", p, good)
	}
	if out, err := versionOf(good); err != nil || !strings.Contains(out, "d1") {
		t.Fatalf("installed desktop = %q, %v", out, err)
	}
}
