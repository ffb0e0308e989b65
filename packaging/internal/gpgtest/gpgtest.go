// Package gpgtest makes OpenPGP signing keys with GnuPG itself, the way a
// release owner would, for the tests that sign packages and check the
// signatures with the distributions' tools.
package gpgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
)

// Key is a key pair in files.
type Key struct {
	Home        string // GNUPGHOME holding the key
	Secret      string // gpg --export-secret-keys (armored)
	Public      string // gpg --export (armored)
	PublicBin   string // gpg --export (binary keyring, for debsig-verify)
	Fingerprint string
	KeyID       string // long key ID: the fingerprint's last 16 hex digits
}

// New makes an RSA-3072 signing-only key protected by passphrase (none if
// empty) in a fresh GNUPGHOME, and exports it.
func New(t testing.TB, passphrase string) Key {
	t.Helper()
	gpg := testbin.NeedTool(t, "gpg")
	// A short path: gpg-agent's socket path must fit in sun_path.
	home := testdir.Short(t)
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("gpg %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	run("--quick-gen-key", "Orbit Test Signing <sign@example.com>", "rsa3072", "sign", "0")
	var fpr string
	for _, l := range strings.Split(string(run("--with-colons", "--list-secret-keys")), "\n") {
		if f := strings.Split(l, ":"); len(f) > 9 && f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if len(fpr) != 40 {
		t.Fatalf("gpg made no key with a fingerprint (%q)", fpr)
	}
	k := Key{
		Home: home, Fingerprint: fpr, KeyID: fpr[24:],
		Secret: filepath.Join(home, "secret.asc"), Public: filepath.Join(home, "public.asc"),
		PublicBin: filepath.Join(home, "public.gpg"),
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(k.Secret, run("--armor", "--export-secret-keys", fpr))
	write(k.Public, run("--armor", "--export", fpr))
	write(k.PublicBin, run("--export", fpr))
	return k
}
