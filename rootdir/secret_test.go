package rootdir

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestProtectSecretMakesFileOwnerOnly(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the Windows ACL needs a Windows host to check")
	}
	p := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(p, []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ProtectSecret(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %#o after ProtectSecret, want 0600", fi.Mode().Perm())
	}
	if err := ProtectSecret(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "restrict") {
		t.Errorf("ProtectSecret of a missing file: %v", err)
	}
}
