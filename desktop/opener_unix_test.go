//go:build unix && !darwin

package desktop

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testwait"
)

// TestBrowserOpenerRunsXdgOpen: the opener runs xdg-open (here a fake one
// first on PATH) with the URL as its only argument.
func TestBrowserOpenerRunsXdgOpen(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "opened")
	script := "#!/bin/sh\nprintf '%s|%s\\n' \"$#\" \"$1\" >> '" + rec + "'\n"
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	const u = "https://fleet.example.com/device/abc?x=1&y=$(id)"
	if err := (BrowserOpener{}).Open(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	var got string
	testwait.For(t, "xdg-open to run", func() bool {
		b, _ := os.ReadFile(rec)
		got = strings.TrimSpace(string(b))
		return got != ""
	})
	if got != "1|"+u {
		t.Fatalf("xdg-open got %q, want one argument %q", got, u)
	}

	t.Setenv("PATH", t.TempDir())
	if err := (BrowserOpener{}).Open(context.Background(), u); err == nil || !strings.Contains(err.Error(), "xdg-open") {
		t.Fatalf("Open without xdg-open = %v, want an error naming it", err)
	}
}

func TestBrowserOpenerRefusesNonWebURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"file:///etc/passwd", "javascript:alert(1)", "/device/x", "https://", "-a"} {
		if err := (BrowserOpener{}).Open(context.Background(), u); err == nil {
			t.Errorf("Open(%q) accepted", u)
		}
	}
}
