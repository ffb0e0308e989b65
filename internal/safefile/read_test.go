package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type readCase struct {
	name    string
	path    string
	wantLen int
	wantErr error
	msg     string
}

func TestReadLimited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("x", n)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	atMax := write("at-max", 4096)
	over := write("over", 4097)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(atMax, link); err != nil {
		t.Fatal(err)
	}
	tests := []readCase{
		{"at the limit", atMax, 4096, nil, ""},
		{"a link to a file", link, 4096, nil, ""},
		{"empty", write("empty", 0), 0, nil, ""},
		{"over the limit", over, 0, ErrTooLarge, "the limit for this file is 4 KiB"},
		{"a directory", dir, 0, ErrNotRegular, "it is a directory"},
		{"missing", filepath.Join(dir, "missing"), 0, fs.ErrNotExist, ""},
	}
	tests = append(tests, specialFiles(t, dir)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := ReadLimited(tt.path, 4096)
			if tt.wantErr == nil {
				if err != nil || len(data) != tt.wantLen {
					t.Fatalf("ReadLimited = %d bytes, %v; want %d bytes", len(data), err, tt.wantLen)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("ReadLimited = %v; want %v naming %s and %q", err, tt.wantErr, tt.path, tt.msg)
			}
		})
	}
}

func TestReadLimitedInfoIsTheReadFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, fi, err := ReadLimitedInfo(p, 10)
	if err != nil || string(data) != "abc" || fi.Size() != 3 || !fi.Mode().IsRegular() {
		t.Fatalf("ReadLimitedInfo = %q, %v, %v", data, fi, err)
	}
}
