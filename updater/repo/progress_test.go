package repo

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestAddReportsProgressAsLines(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	var out bytes.Buffer
	r, err := Open(f.dir, OpenOptions{Passphrases: f.pass, Clock: f.clk, Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bin, _ := randomFile(t, t.TempDir(), "big", 8<<20)
	if err := r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.0.0", Tags: []string{"stable"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"hashing big: 0% (", "hashing big: 25% (", "hashing big: 50% (", "hashing big: 75% (", "hashing big: 100% (8.0 MiB of 8.0 MiB)"}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("progress lines:\n%s", out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) || strings.Contains(lines[i], "\r") {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	// Small files stay quiet.
	out.Reset()
	small, _ := randomFile(t, t.TempDir(), "small", 1000)
	if err := r.AddTarget(context.Background(), AddTarget{File: small, Name: "orbit", Platform: "linux", Version: "1.0.1", Tags: []string{"edge"}}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("progress for a small file: %q", out.String())
	}
}
