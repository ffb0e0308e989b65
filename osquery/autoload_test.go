package osquery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderAutoload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos  string
		paths []string
		want  string // "" with err
		err   string
	}{
		{"linux", nil, "", ""},
		{"linux", []string{"/opt/orbit/bin/extensions/b/linux/stable/b.ext", "/opt/orbit/bin/extensions/a/linux/stable/a.ext"},
			"/opt/orbit/bin/extensions/a/linux/stable/a.ext\n/opt/orbit/bin/extensions/b/linux/stable/b.ext\n", ""},
		{"windows", []string{`C:\Program Files\Orbit\bin\extensions\a\windows\stable\a.ext.exe`},
			`C:\Program Files\Orbit\bin\extensions\a\windows\stable\a.ext.exe` + "\n", ""},
		{"linux", []string{"relative/a.ext"}, "", "not absolute"},
		{"linux", []string{"/x/a.ext\n/tmp/evil.ext"}, "", "line break"},
		{"linux", []string{"/usr/bin/sh"}, "", "does not end in .ext"},
		{"windows", []string{`C:\x\a.ext`}, "", "does not end in .exe"},
	} {
		got, err := renderAutoload(tc.goos, tc.paths)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %q: %v, want %q", tc.goos, tc.paths, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %q: %q %v, want %q", tc.goos, tc.paths, got, err, tc.want)
		}
	}
}

func TestWriteAutoloadOnlyWhenItChanges(t *testing.T) {
	t.Parallel()
	if filepath.Separator != '/' {
		t.Skip("Unix paths")
	}
	path := filepath.Join(t.TempDir(), "extensions.load")
	ext := "/opt/orbit/bin/extensions/hello/linux/stable/hello.ext"
	for i, tc := range []struct {
		paths   []string
		changed bool
		content string
	}{
		{nil, false, ""}, // missing and empty are the same to osqueryd
		{nil, false, ""},
		{[]string{ext}, true, ext + "\n"},
		{[]string{ext}, false, ext + "\n"},
		{nil, true, ""},
	} {
		before, _ := os.Stat(path)
		changed, err := WriteAutoload(path, tc.paths)
		if err != nil || changed != tc.changed {
			t.Fatalf("step %d: changed %v, %v; want %v", i, changed, err, tc.changed)
		}
		b, _ := os.ReadFile(path)
		if string(b) != tc.content {
			t.Fatalf("step %d: %q, want %q", i, b, tc.content)
		}
		if after, _ := os.Stat(path); !tc.changed && before != nil && !os.SameFile(before, after) {
			t.Fatalf("step %d: an unchanged list was rewritten", i)
		}
	}
	if _, err := WriteAutoload(path, []string{"/tmp/x"}); err == nil {
		t.Fatal("a path osqueryd would refuse was written")
	}
}
