package fleet

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestNewDeviceToken(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok, err := NewDeviceToken()
		if err != nil || !re.MatchString(tok) || !validToken(tok) || seen[tok] {
			t.Fatalf("token %q (%v): want a fresh v4 UUID", tok, err)
		}
		seen[tok] = true
	}
}

func TestTokenFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "identifier")
	when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := writeToken(path, "0f8fad5b-d9cb-469f-a165-70867728950e", when); err != nil {
		t.Fatal(err)
	}
	tok, mtime, err := readToken(path)
	if err != nil || tok != "0f8fad5b-d9cb-469f-a165-70867728950e" || !mtime.Equal(when) {
		t.Errorf("read %q %v %v", tok, mtime, err)
	}
	for _, bad := range []string{"", "short", "has space in it", "slash/slash/slash"} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readToken(path); err == nil {
			t.Errorf("token %q accepted", bad)
		}
	}
}
