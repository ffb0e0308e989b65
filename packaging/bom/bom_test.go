package bom

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging/bom/bomtest"
)

var stamp = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// Checksum agrees with coreutils' cksum, the POSIX algorithm Apple's
// mkbom records.
func TestChecksumMatchesCksum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 255, 256, 65536, 70001} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		p := filepath.Join(dir, strconv.Itoa(n))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := strings.Fields(string(testbin.RunTool(t, dir, "cksum", p)))
		want, err := strconv.ParseUint(out[0], 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := Checksum(data); uint64(got) != want {
			t.Errorf("Checksum of %d bytes = %d, cksum says %d", n, got, want)
		}
	}
}

func sample() []Entry {
	return []Entry{
		{Path: ".", Mode: fs.ModeDir | 0o755, ModTime: stamp},
		{Path: "./opt", Mode: fs.ModeDir | 0o755, ModTime: stamp},
		{Path: "./Library", Mode: fs.ModeDir | 0o755, ModTime: stamp},
		{Path: "./Library/LaunchDaemons", Mode: fs.ModeDir | 0o755, ModTime: stamp},
		{Path: "./Library/LaunchDaemons/com.example.orbit.plist", Mode: 0o644, GID: 80, ModTime: stamp, Data: []byte("<plist/>\n")},
		{Path: "./opt/orbit", Mode: fs.ModeDir | 0o755, GID: 80, ModTime: stamp},
		{Path: "./opt/orbit/bin", Mode: fs.ModeDir | 0o755, GID: 80, ModTime: stamp},
		{Path: "./opt/orbit/bin/orbit", Mode: 0o755, GID: 80, ModTime: stamp, Data: []byte("\xcf\xfa\xed\xfe binary")},
		{Path: "./opt/orbit/orbit.env", Mode: 0o600, GID: 80, ModTime: stamp, Data: []byte("ORBIT_ENROLL_SECRET=x\n")},
		{Path: "./opt/orbit/current", Mode: fs.ModeSymlink | 0o755, GID: 80, ModTime: stamp, LinkTarget: "bin/orbit"},
	}
}

func write(t *testing.T, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, entries); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	got, err := bomtest.Read(write(t, sample()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Vars, ",") != "BomInfo,Paths,HLIndex,VIndex,Size64" {
		t.Errorf("variables %v", got.Vars)
	}
	if got.Leaves != 1 || got.Levels != 1 {
		t.Errorf("tree has %d leaves on %d levels, want 1 on 1", got.Leaves, got.Levels)
	}
	// Breadth first, children by name: ids follow this order.
	wantOrder := []string{".", "./Library", "./opt", "./Library/LaunchDaemons", "./opt/orbit",
		"./Library/LaunchDaemons/com.example.orbit.plist", "./opt/orbit/bin", "./opt/orbit/current",
		"./opt/orbit/orbit.env", "./opt/orbit/bin/orbit"}
	if len(got.Entries) != len(wantOrder) {
		t.Fatalf("read %d entries, want %d", len(got.Entries), len(wantOrder))
	}
	byPath := map[string]Entry{}
	for _, e := range sample() {
		byPath[e.Path] = e
	}
	for i, e := range got.Entries {
		if e.Path != wantOrder[i] || e.ID != uint32(i+1) {
			t.Errorf("entry %d = %s (id %d), want %s (id %d)", i, e.Path, e.ID, wantOrder[i], i+1)
		}
		want := byPath[e.Path]
		typeBits := map[fs.FileMode]uint16{0: 0o100000, fs.ModeDir: 0o040000, fs.ModeSymlink: 0o120000}[want.Mode.Type()]
		if e.Mode != typeBits|uint16(want.Mode.Perm()) {
			t.Errorf("%s: mode %o, want %o", e.Path, e.Mode, typeBits|uint16(want.Mode.Perm()))
		}
		if e.UID != want.UID || e.GID != want.GID || e.MTime != uint32(stamp.Unix()) || e.Flags != 0x000f {
			t.Errorf("%s: uid/gid %d/%d mtime %d flags %#x", e.Path, e.UID, e.GID, e.MTime, e.Flags)
		}
		switch want.Mode.Type() {
		case 0:
			if e.Size != uint32(len(want.Data)) || e.Checksum != Checksum(want.Data) {
				t.Errorf("%s: size %d checksum %d", e.Path, e.Size, e.Checksum)
			}
		case fs.ModeSymlink:
			if e.LinkTarget != want.LinkTarget || e.Size != uint32(len(want.LinkTarget)) || e.Checksum != Checksum([]byte(want.LinkTarget)) {
				t.Errorf("%s: target %q size %d checksum %d", e.Path, e.LinkTarget, e.Size, e.Checksum)
			}
		}
	}
	if got.NumPaths != uint32(len(wantOrder))+1 {
		t.Errorf("BomInfo counts %d paths, want %d (mkbom counts one more)", got.NumPaths, len(wantOrder)+1)
	}
}

func manyFiles(n int) []Entry {
	entries := []Entry{{Path: ".", Mode: fs.ModeDir | 0o755, ModTime: stamp}}
	dirs := 0
	for i := 0; i < n; i++ {
		if i%100 == 0 {
			entries = append(entries, Entry{Path: fmt.Sprintf("./d%02d", dirs), Mode: fs.ModeDir | 0o755, ModTime: stamp})
			dirs++
		}
		entries = append(entries, Entry{Path: fmt.Sprintf("./d%02d/f%04d", dirs-1, i), Mode: 0o644, ModTime: stamp, Data: []byte(strconv.Itoa(i))})
	}
	return entries
}

// The Paths tree splits into leaves of 256 under an index node, and every
// path is found by walking the chained leaves.
func TestManyPathsSplitLeaves(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ files, leaves, levels int }{
		{200, 1, 1},  // 200 files + 2 dirs + "." = 203 paths
		{252, 1, 1},  // 256 paths: exactly one full leaf
		{253, 2, 2},  // 257 paths
		{1500, 6, 2}, // 1516 paths
	} {
		entries := manyFiles(tt.files)
		got, err := bomtest.Read(write(t, entries))
		if err != nil {
			t.Fatalf("%d paths: %v", len(entries), err)
		}
		if got.Leaves != tt.leaves || got.Levels != tt.levels {
			t.Errorf("%d paths: %d leaves on %d levels, want %d on %d", len(entries), got.Leaves, got.Levels, tt.leaves, tt.levels)
		}
		found := got.ByPath()
		for _, e := range entries {
			g, ok := found[e.Path]
			if !ok {
				t.Errorf("%d paths: %s not in the tree", len(entries), e.Path)
				continue
			}
			if e.Mode.IsRegular() && (g.Size != uint32(len(e.Data)) || g.Mode != 0o100644) {
				t.Errorf("%s: size %d mode %o", e.Path, g.Size, g.Mode)
			}
		}
		if len(found) != len(entries) {
			t.Errorf("%d paths written, %d read", len(entries), len(found))
		}
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a := write(t, sample())
	rev := sample()
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if !bytes.Equal(a, write(t, rev)) {
		t.Fatal("the same entries in another order gave other bytes")
	}
	later := sample()
	for i := range later {
		later[i].ModTime = stamp.Add(time.Second)
	}
	if bytes.Equal(a, write(t, later)) {
		t.Fatal("another mtime gave the same bytes")
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	root := Entry{Path: ".", Mode: fs.ModeDir | 0o755, ModTime: stamp}
	file := func(p string) Entry { return Entry{Path: p, Mode: 0o644, ModTime: stamp} }
	tests := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"no root", []Entry{file("./a")}, "root"},
		{"root is a file", []Entry{{Path: ".", Mode: 0o644, ModTime: stamp}}, "root"},
		{"missing parent", []Entry{root, file("./a/b")}, "not listed"},
		{"parent is a file", []Entry{root, file("./a"), file("./a/b")}, "not a directory"},
		{"duplicate", []Entry{root, file("./a"), file("./a")}, "twice"},
		{"absolute", []Entry{root, file("/a")}, "must be"},
		{"dot dot", []Entry{root, file("./../a")}, "component"},
		{"empty component", []Entry{root, file(".//a")}, "component"},
		{"NUL", []Entry{root, file("./a\x00")}, "NUL"},
		{"before 1970", []Entry{root, {Path: "./a", Mode: 0o644, ModTime: time.Unix(-5, 0)}}, "mtime"},
		{"symlink without target", []Entry{root, {Path: "./l", Mode: fs.ModeSymlink | 0o777, ModTime: stamp}}, "needs a target"},
		{"file with target", []Entry{root, {Path: "./f", Mode: 0o644, ModTime: stamp, LinkTarget: "x"}}, "link target"},
		{"directory with data", []Entry{root, {Path: "./d", Mode: fs.ModeDir | 0o755, ModTime: stamp, Data: []byte("x")}}, "cannot have data"},
		{"device", []Entry{root, {Path: "./c", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, ModTime: stamp}}, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			err := Write(&buf, tt.entries)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write error = %v, want one about %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Fatalf("a rejected BOM wrote %d bytes", buf.Len())
			}
		})
	}
}
