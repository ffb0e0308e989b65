package pgpsign

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/packaging/internal/gpgtest"
)

// A key made and exported by GnuPG signs data so that gpg --verify accepts
// it, the same bytes every time, dated as asked, or at the key's creation
// when asked for an earlier time (a signature older than its key does not
// verify).
func TestSignVerifiesWithGnuPG(t *testing.T) {
	k := gpgtest.New(t, "correct horse")
	t.Setenv("TEST_SIGN_PASS", "correct horse")
	s, err := Load(k.Secret, "TEST_SIGN_PASS")
	if err != nil {
		t.Fatal(err)
	}
	created := keyCreation(t, k)
	data := []byte("debian-binary control.tar.gz data.tar.gz")
	dir := t.TempDir()
	msg := filepath.Join(dir, "msg")
	if err := os.WriteFile(msg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		when     time.Time
		armored  bool
		wantTime int64
	}{
		{"armored, before the key existed", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), true, created},
		{"binary, after the key", time.Unix(created+3600, 0), false, created + 3600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := s.Sign(bytes.NewReader(data), tt.when, tt.armored)
			if err != nil {
				t.Fatal(err)
			}
			again, err := s.Sign(bytes.NewReader(data), tt.when, tt.armored)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sig, again) {
				t.Error("two signatures of the same data at the same time differ")
			}
			if got := bytes.HasPrefix(sig, []byte("-----BEGIN PGP SIGNATURE-----")); got != tt.armored {
				t.Errorf("armored = %v, want %v", got, tt.armored)
			}
			sigFile := filepath.Join(dir, "sig")
			if err := os.WriteFile(sigFile, sig, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("gpg", "--homedir", k.Home, "--batch", "--status-fd", "1", "--verify", sigFile, msg).CombinedOutput()
			if err != nil {
				t.Fatalf("gpg --verify: %v\n%s", err, out)
			}
			// [GNUPG:] VALIDSIG <fpr> <date> <sig timestamp> ...
			var valid []string
			for _, l := range strings.Split(string(out), "\n") {
				if f := strings.Fields(l); len(f) > 4 && f[1] == "VALIDSIG" {
					valid = f
				}
			}
			if valid == nil || valid[2] != k.Fingerprint || valid[4] != strconv.FormatInt(tt.wantTime, 10) {
				t.Fatalf("VALIDSIG %v, want fingerprint %s made at %d\n%s", valid, k.Fingerprint, tt.wantTime, out)
			}
			if err := os.WriteFile(msg+".bad", append(data, '!'), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("gpg", "--homedir", k.Home, "--batch", "--verify", sigFile, msg+".bad").CombinedOutput(); err == nil {
				t.Fatalf("gpg accepted the signature over changed data:\n%s", out)
			}
		})
	}
}

// keyCreation is the key's creation time as GnuPG lists it.
func keyCreation(t *testing.T, k gpgtest.Key) int64 {
	t.Helper()
	out, err := exec.Command("gpg", "--homedir", k.Home, "--batch", "--with-colons", "--list-keys", k.Fingerprint).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Split(l, ":"); len(f) > 5 && f[0] == "pub" {
			n, err := strconv.ParseInt(f[5], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("gpg lists no pub key:\n%s", out)
	return 0
}

func TestLoadRefuses(t *testing.T) {
	k := gpgtest.New(t, "pw")
	plain := gpgtest.New(t, "")
	t.Setenv("TEST_LOAD_WRONG", "nope")
	t.Setenv("TEST_LOAD_EMPTY", "")
	// Two binary secret keys in one file, as gpg --export-secret-keys of
	// a whole keyring gives.
	two := filepath.Join(t.TempDir(), "two.gpg")
	var both []byte
	for _, f := range []string{k.Secret, plain.Secret} {
		b, err := exec.Command("gpg", "--batch", "--dearmor", "--output", "-", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		both = append(both, b...)
	}
	if err := os.WriteFile(two, both, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file, env, want string
	}{
		{"missing file", filepath.Join(t.TempDir(), "none"), "", "no such file"},
		{"public key", k.Public, "", "public key"},
		{"encrypted, no passphrase variable", k.Secret, "TEST_LOAD_UNSET", "TEST_LOAD_UNSET"},
		{"wrong passphrase", k.Secret, "TEST_LOAD_WRONG", "wrong passphrase"},
		{"two keys", two, "TEST_LOAD_WRONG", "holds 2 keys"},
		{"not a key", "/etc/hostname", "", "not an OpenPGP key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.file, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want one about %q", err, tt.want)
			}
		})
	}
	if _, err := Load(plain.Secret, "TEST_LOAD_EMPTY"); err != nil {
		t.Errorf("an unencrypted key needs no passphrase: %v", err)
	}
}
