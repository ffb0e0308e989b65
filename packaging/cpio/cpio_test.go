package cpio

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
)

var stamp = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

type entry struct {
	h    Header
	data string
}

func sample() []entry {
	return []entry{
		{h: Header{Name: ".", Mode: fs.ModeDir | 0o755}},
		{h: Header{Name: "./opt", Mode: fs.ModeDir | 0o755, GID: 80}},
		{h: Header{Name: "./opt/bin", Mode: fs.ModeDir | 0o750, GID: 80}},
		{h: Header{Name: "./opt/bin/tool", Mode: 0o755, GID: 80}, data: "#!/bin/sh\necho hi\n"},
		{h: Header{Name: "./opt/secret.txt", Mode: 0o600, GID: 80}, data: "s3cret"},
		{h: Header{Name: "./opt/empty", Mode: 0o644, GID: 80}},
		{h: Header{Name: "./opt/current", Mode: fs.ModeSymlink | 0o755, GID: 80, Linkname: "bin/tool"}},
	}
}

func build(t *testing.T, entries []entry, mtime time.Time) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range entries {
		h := e.h
		h.ModTime = mtime
		if h.Mode.IsRegular() {
			h.Size = int64(len(e.data))
		}
		if err := w.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader(%s): %v", h.Name, err)
		}
		if e.data != "" {
			if _, err := w.Write([]byte(e.data)); err != nil {
				t.Fatalf("Write(%s): %v", h.Name, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// GNU cpio lists what we wrote with the owners, modes and link targets we
// asked for.
func TestGNUCpioLists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	arc := filepath.Join(dir, "a.cpio")
	if err := os.WriteFile(arc, build(t, sample(), stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	out := string(testbin.RunTool(t, dir, "cpio", "-itv", "-n", "--quiet", "-F", arc))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []struct{ mode, uid, gid, name string }{
		{"drwxr-xr-x", "0", "0", "."},
		{"drwxr-xr-x", "0", "80", "./opt"},
		{"drwxr-x---", "0", "80", "./opt/bin"},
		{"-rwxr-xr-x", "0", "80", "./opt/bin/tool"},
		{"-rw-------", "0", "80", "./opt/secret.txt"},
		{"-rw-r--r--", "0", "80", "./opt/empty"},
		{"lrwxr-xr-x", "0", "80", "./opt/current -> bin/tool"},
	}
	if len(lines) != len(want) {
		t.Fatalf("cpio -itv listed %d entries, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		f := strings.Fields(lines[i])
		if len(f) < 9 {
			t.Fatalf("line %q: too few fields", lines[i])
		}
		name := strings.Join(f[8:], " ")
		if f[0] != w.mode || f[2] != w.uid || f[3] != w.gid || name != w.name {
			t.Errorf("line %d = %q, want mode %s owner %s:%s name %q", i, lines[i], w.mode, w.uid, w.gid, w.name)
		}
	}
}

// GNU cpio extracts the same bytes and modes.
func TestGNUCpioExtracts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	arc := filepath.Join(t.TempDir(), "a.cpio")
	if err := os.WriteFile(arc, build(t, sample(), stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	testbin.RunTool(t, dir, "cpio", "-idm", "--quiet", "--no-absolute-filenames", "-F", arc)
	for _, e := range sample() {
		p := filepath.Join(dir, e.h.Name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s not extracted: %v", e.h.Name, err)
			continue
		}
		if fi.Mode().Type() != e.h.Mode.Type() {
			t.Errorf("%s: type %v, want %v", e.h.Name, fi.Mode().Type(), e.h.Mode.Type())
		}
		switch {
		case e.h.Mode.IsRegular():
			got, _ := os.ReadFile(p)
			if string(got) != e.data {
				t.Errorf("%s: content %q, want %q", e.h.Name, got, e.data)
			}
			if fi.Mode().Perm() != e.h.Mode.Perm() {
				t.Errorf("%s: mode %v, want %v", e.h.Name, fi.Mode().Perm(), e.h.Mode.Perm())
			}
			if !fi.ModTime().Equal(stamp) {
				t.Errorf("%s: mtime %v, want %v", e.h.Name, fi.ModTime(), stamp)
			}
		case e.h.Mode.Type() == fs.ModeSymlink:
			if got, _ := os.Readlink(p); got != e.h.Linkname {
				t.Errorf("%s: target %q, want %q", e.h.Name, got, e.h.Linkname)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a, b := build(t, sample(), stamp), build(t, sample(), stamp)
	if !bytes.Equal(a, b) {
		t.Fatal("two archives of the same entries differ")
	}
	if c := build(t, sample(), stamp.Add(time.Second)); bytes.Equal(a, c) {
		t.Fatal("a different mtime gave the same bytes")
	}
}

func TestHeaderLayout(t *testing.T) {
	t.Parallel()
	got := string(build(t, []entry{{h: Header{Name: "./a", Mode: 0o644, UID: 0, GID: 80}, data: "xy"}}, time.Unix(8, 0)))
	// magic dev ino mode uid gid nlink rdev mtime namesize filesize name data, then the trailer.
	want := "070707" + "000000" + "000001" + "100644" + "000000" + "000120" + "000001" + "000000" +
		"00000000010" + "000004" + "00000000002" + "./a\x00" + "xy" +
		"070707" + "000000" + "000000" + "000000" + "000000" + "000000" + "000001" + "000000" +
		"00000000000" + "000013" + "00000000000" + "TRAILER!!!\x00"
	if got != want {
		t.Fatalf("archive\n got %q\nwant %q", got, want)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    Header
		want string
	}{
		{"empty name", Header{Mode: 0o644}, "non-empty"},
		{"NUL in name", Header{Name: "./a\x00b", Mode: 0o644}, "NUL"},
		{"trailer name", Header{Name: "TRAILER!!!", Mode: 0o644}, "reserved"},
		{"device", Header{Name: "./dev", Mode: fs.ModeDevice | 0o600}, "not supported"},
		{"symlink without target", Header{Name: "./l", Mode: fs.ModeSymlink | 0o777}, "needs a target"},
		{"symlink with NUL target", Header{Name: "./l", Mode: fs.ModeSymlink | 0o777, Linkname: "a\x00"}, "needs a target"},
		{"file with target", Header{Name: "./f", Mode: 0o644, Linkname: "x"}, "cannot have a link target"},
		{"directory with data", Header{Name: "./d", Mode: fs.ModeDir | 0o755, Size: 3}, "cannot have data"},
		{"uid too large", Header{Name: "./f", Mode: 0o644, UID: 1 << 20}, "uid"},
		{"negative gid", Header{Name: "./f", Mode: 0o644, GID: -1}, "gid"},
		{"mtime before 1970", Header{Name: "./f", Mode: 0o644, ModTime: time.Unix(-1, 0)}, "mtime"},
		{"file too large", Header{Name: "./f", Mode: 0o644, Size: 1 << 33}, "file size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w := NewWriter(&buf)
			h := tt.h
			if h.ModTime.IsZero() {
				h.ModTime = stamp
			}
			err := w.WriteHeader(&h)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteHeader error = %v, want one about %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Fatalf("a rejected header wrote %d bytes", buf.Len())
			}
		})
	}
}

func TestSizeMismatch(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteHeader(&Header{Name: "./f", Mode: 0o644, Size: 2, ModTime: stamp}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); !errors.Is(err, ErrWriteTooLong) {
		t.Fatalf("overlong write: err = %v, want ErrWriteTooLong", err)
	}
	w = NewWriter(&buf)
	if err := w.WriteHeader(&Header{Name: "./f", Mode: 0o644, Size: 2, ModTime: stamp}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(&Header{Name: "./g", Mode: 0o644, ModTime: stamp}); err == nil {
		t.Fatal("WriteHeader accepted a new entry before the previous data was complete")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close accepted an incomplete entry")
	}
}
