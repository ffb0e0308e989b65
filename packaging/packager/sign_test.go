package packager

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging/internal/codesigntest"
	"github.com/orbitagent/orbit/packaging/internal/gpgtest"
)

// With --authenticode-cert/--authenticode-key both copies of orbit.exe in
// the msi and the msi itself carry signatures osslsigncode verifies
// against the CA; with an RSA key two builds are the same bytes.
func TestAuthenticodeSignsOrbitAndMSI(t *testing.T) {
	t.Parallel()
	osslsigncode := testbin.NeedTool(t, "osslsigncode")
	testbin.NeedTool(t, "msiextract")
	dir := t.TempDir()
	ca, chain, key := codesigntest.RSA(t).WriteFiles(t, dir)
	o := fleetOptions(t, "msi", "amd64", dir)
	o.AuthenticodeCert, o.AuthenticodeKey = chain, key
	res, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(file string) {
		t.Helper()
		out, err := exec.Command(osslsigncode, "verify", "-CAfile", ca, "-ignore-crl", "-in", file).CombinedOutput()
		if err != nil {
			t.Errorf("osslsigncode verify %s: %v\n%s", filepath.Base(file), err, out)
		}
	}
	verify(res.Path)
	x := filepath.Join(dir, "x")
	testbin.RunTool(t, "", "msiextract", "-C", x, res.Path)
	var exes []string
	filepath.WalkDir(x, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "orbit.exe" {
			exes = append(exes, p)
		}
		return err
	})
	if len(exes) != 2 {
		t.Fatalf("the msi holds %d orbit.exe, want the bundled one and the stable copy", len(exes))
	}
	for _, p := range exes {
		verify(p)
	}
	a, _ := os.ReadFile(exes[0])
	if b, _ := os.ReadFile(exes[1]); !bytes.Equal(a, b) {
		t.Error("the stable orbit.exe differs from the bundled one")
	}
	rebuildSame(t, o, res.Path)
}

// rebuildSame builds o again beside first and wants the same bytes.
func rebuildSame(t *testing.T, o Options, first string) {
	t.Helper()
	o.Output = first + ".again"
	if _, err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(first)
	if b, _ := os.ReadFile(o.Output); len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("two signed builds of %s differ", filepath.Base(first))
	}
}

// With --sign-key the deb carries a signature over its members that gpg
// verifies with the public key, and signed builds are reproducible.
func TestSignKeySignsDeb(t *testing.T) {
	t.Parallel()
	testbin.NeedTool(t, "ar")
	k := gpgtest.New(t, "")
	dir := t.TempDir()
	o := fleetOptions(t, "deb", "amd64", dir)
	o.SignKey = k.Secret
	res, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(dir, "ar")
	os.Mkdir(x, 0o755)
	testbin.RunTool(t, x, "ar", "x", res.Path)
	var signed []byte
	for _, m := range []string{"debian-binary", "control.tar.gz", "data.tar.gz"} {
		b, err := os.ReadFile(filepath.Join(x, m))
		if err != nil {
			t.Fatal(err)
		}
		signed = append(signed, b...)
	}
	os.WriteFile(filepath.Join(x, "signed"), signed, 0o644)
	cmd := exec.Command(testbin.NeedTool(t, "gpg"), "--homedir", k.Home, "--verify", filepath.Join(x, "_gpgorigin"), filepath.Join(x, "signed"))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Good signature") {
		t.Errorf("gpg --verify: %v\n%s", err, out)
	}
	rebuildSame(t, o, res.Path)
}
