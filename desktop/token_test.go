package desktop

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    string
		bad     bool
	}{
		{"uuid", tokA, tokA, false},
		{"trailing newline", tokA + "\n", tokA, false},
		{"empty", "", "", true},
		{"spaces", "a b", "", true},
		{"slash", "a/b", "", true},
		{"dot dot", "..", "", true},
		{"two lines", tokA + "\n" + tokB, "", true},
		{"too long", strings.Repeat("a", maxTokenLen+1), "", true},
		{"huge file", strings.Repeat("a", maxTokenFile+10), "", true},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, "id"+string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		f := TokenFile{Path: p}
		got, err := f.Read()
		if tt.bad {
			if !errors.Is(err, ErrBadToken) || strings.Contains(err.Error(), tt.content) && tt.content != "" {
				t.Errorf("%s: Read = %q, %v; want ErrBadToken without the content", tt.name, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: Read = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	f := TokenFile{Path: dir}
	if _, err := f.Read(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Read of a directory = %v", err)
	}
}

func TestTokenFileChanged(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "identifier")
	f := TokenFile{Path: p}
	if _, err := f.Changed(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Changed of a missing file = %v, want not-exist", err)
	}
	writeToken(t, p, tokA)
	if c, err := f.Changed(); err != nil || !c {
		t.Fatalf("Changed before the first read = %v, %v; want true", c, err)
	}
	if _, err := f.Read(); err != nil {
		t.Fatal(err)
	}
	if c, err := f.Changed(); err != nil || c {
		t.Fatalf("Changed right after Read = %v, %v; want false", c, err)
	}
	writeToken(t, p, tokB) // replaced: a new inode, even within the same mtime tick
	if c, _ := f.Changed(); !c {
		t.Fatal("a replaced file is not noticed")
	}
	if tok, _ := f.Read(); tok != tokB {
		t.Fatalf("Read = %q", tok)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Changed(); !c {
		t.Fatal("a new mtime is not noticed")
	}
}
