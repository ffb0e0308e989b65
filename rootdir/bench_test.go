package rootdir

import (
	"os"
	"path/filepath"
	"testing"
)

// The updater repeats CheckWritableDir before every install: it must stay
// a handful of stats.
func BenchmarkCheckWritableDir(b *testing.B) {
	l, err := New(filepath.Join(b.TempDir(), "orbit"))
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Create(); err != nil {
		b.Fatal(err)
	}
	dir := l.BinDir("osqueryd", "linux", "stable")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := l.CheckWritableDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}
