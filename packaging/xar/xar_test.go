package xar

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1" //nolint:gosec // the format's checksum
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
)

var stamp = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func sample() []File {
	big := bytes.Repeat([]byte("orbit payload "), 5000)
	return []File{
		{Name: "Distribution", Mode: 0o644, Data: []byte("<installer-gui-script/>\n"), Compress: true},
		{Name: "orbit.pkg", Mode: fs.ModeDir | 0o755},
		{Name: "orbit.pkg/Payload", Mode: 0o644, Data: big},
		{Name: "orbit.pkg/Bom", Mode: 0o644, Data: big[:1000], Compress: true},
		{Name: "orbit.pkg/Empty", Mode: 0o644},
		{Name: "deep/er/file & <name>", Mode: 0o600, Data: []byte("x")},
	}
}

func write(t *testing.T, files []File, mtime time.Time) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, files, Options{ModTime: mtime}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// 7-Zip tests the archive (it checks the TOC and data checksums) and
// bsdtar lists and extracts the same files with the same bytes.
func TestReadersAccept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	arc := filepath.Join(dir, "a.xar")
	if err := os.WriteFile(arc, write(t, sample(), stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	out := string(testbin.RunTool(t, dir, "7zz", "t", arc))
	if !strings.Contains(out, "Everything is Ok") {
		t.Fatalf("7zz t did not pass:\n%s", out)
	}

	list := strings.Fields(strings.ReplaceAll(string(testbin.RunTool(t, dir, "bsdtar", "-tf", arc)), " ", "_"))
	sort.Strings(list)
	want := []string{"Distribution", "deep", "deep/er", "deep/er/file_&_<name>", "orbit.pkg", "orbit.pkg/Bom", "orbit.pkg/Empty", "orbit.pkg/Payload"}
	if strings.Join(list, "\n") != strings.Join(want, "\n") {
		t.Fatalf("bsdtar -tf listed\n%s\nwant\n%s", strings.Join(list, "\n"), strings.Join(want, "\n"))
	}

	x := filepath.Join(dir, "x")
	if err := os.Mkdir(x, 0o755); err != nil {
		t.Fatal(err)
	}
	testbin.RunTool(t, x, "bsdtar", "-xpf", arc)
	for _, f := range sample() {
		fi, err := os.Stat(filepath.Join(x, f.Name))
		if err != nil {
			t.Errorf("bsdtar did not extract %s: %v", f.Name, err)
			continue
		}
		if fi.Mode().Perm() != f.Mode.Perm() {
			t.Errorf("%s: mode %v, want %v", f.Name, fi.Mode().Perm(), f.Mode.Perm())
		}
		if !fi.ModTime().Equal(stamp) {
			t.Errorf("%s: mtime %v, want %v", f.Name, fi.ModTime(), stamp)
		}
		if f.Mode.IsDir() {
			continue
		}
		got, _ := os.ReadFile(filepath.Join(x, f.Name))
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s: extracted %d bytes that differ from the %d written", f.Name, len(got), len(f.Data))
		}
	}
}

// A corrupted heap byte must be caught by the checksums 7-Zip verifies, or
// the check above proves nothing about them.
func TestReadersCatchCorruption(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := write(t, sample(), stamp)
	data[len(data)-10] ^= 0xff // inside the last heap item
	arc := filepath.Join(dir, "bad.xar")
	if err := os.WriteFile(arc, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, dir, "7zz", "t", arc)
	if err == nil && strings.Contains(out, "Everything is Ok") {
		t.Fatalf("7zz t accepted a corrupted archive:\n%s", out)
	}
}

// The header, the TOC checksum and each entry's data follow the format,
// read here from the bytes rather than through our writer's types.
func TestLayout(t *testing.T) {
	t.Parallel()
	data := write(t, sample(), stamp)
	be := binary.BigEndian
	if string(data[:4]) != "xar!" || be.Uint16(data[4:]) != 28 || be.Uint16(data[6:]) != 1 || be.Uint32(data[24:]) != 1 {
		t.Fatalf("bad header % x", data[:28])
	}
	clen, ulen := be.Uint64(data[8:]), be.Uint64(data[16:])
	packed := data[28 : 28+clen]
	zr, err := zlib.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(plain)) != ulen {
		t.Fatalf("TOC is %d bytes, header says %d", len(plain), ulen)
	}
	heap := data[28+clen:]
	sum := sha1.Sum(packed) //nolint:gosec
	if !bytes.Equal(heap[:20], sum[:]) {
		t.Fatal("heap does not start with the SHA-1 of the compressed TOC")
	}
	var doc struct {
		TOC struct {
			CreationTime string `xml:"creation-time"`
			Checksum     struct {
				Style  string `xml:"style,attr"`
				Offset int    `xml:"offset"`
				Size   int    `xml:"size"`
			} `xml:"checksum"`
			Files []xfile `xml:"file"`
		} `xml:"toc"`
	}
	if err := xml.Unmarshal(plain, &doc); err != nil {
		t.Fatalf("TOC is not XML: %v\n%s", err, plain)
	}
	if doc.TOC.Checksum.Style != "sha1" || doc.TOC.Checksum.Offset != 0 || doc.TOC.Checksum.Size != 20 {
		t.Fatalf("TOC checksum = %+v", doc.TOC.Checksum)
	}
	if doc.TOC.CreationTime != "2024-05-06T07:08:09Z" {
		t.Errorf("creation-time = %q", doc.TOC.CreationTime)
	}
	byName := map[string]File{}
	for _, f := range sample() {
		byName[f.Name] = f
	}
	seen := 0
	var walk func(prefix string, fs []xfile)
	walk = func(prefix string, files []xfile) {
		for _, f := range files {
			name := prefix + f.Name
			if f.MTime != "2024-05-06T07:08:09Z" {
				t.Errorf("%s: mtime %q", name, f.MTime)
			}
			if f.Type == "directory" {
				walk(name+"/", f.Files)
				continue
			}
			seen++
			want := byName[name]
			stored := heap[f.Data.Offset : f.Data.Offset+f.Data.Length]
			if h := sha1.Sum(stored); hex.EncodeToString(h[:]) != f.Data.Archived { //nolint:gosec
				t.Errorf("%s: archived-checksum does not match the heap bytes", name)
			}
			if h := sha1.Sum(want.Data); hex.EncodeToString(h[:]) != f.Data.Extracted { //nolint:gosec
				t.Errorf("%s: extracted-checksum does not match the content", name)
			}
			if f.Data.Size != len(want.Data) {
				t.Errorf("%s: size %d, want %d", name, f.Data.Size, len(want.Data))
			}
			wantStyle := "application/octet-stream"
			if want.Compress {
				wantStyle = "application/x-gzip"
				if f.Data.Archived == f.Data.Extracted {
					t.Errorf("%s: compressed but archived and extracted checksums agree", name)
				}
			}
			if f.Data.Encoding.Style != wantStyle {
				t.Errorf("%s: encoding %q, want %q", name, f.Data.Encoding.Style, wantStyle)
			}
		}
	}
	walk("", doc.TOC.Files)
	if seen != 5 {
		t.Errorf("TOC has %d files, want 5", seen)
	}
}

type xfile struct {
	Name  string `xml:"name"`
	Type  string `xml:"type"`
	MTime string `xml:"mtime"`
	Data  struct {
		Length   int `xml:"length"`
		Offset   int `xml:"offset"`
		Size     int `xml:"size"`
		Encoding struct {
			Style string `xml:"style,attr"`
		} `xml:"encoding"`
		Archived  string `xml:"archived-checksum"`
		Extracted string `xml:"extracted-checksum"`
	} `xml:"data"`
	Files []xfile `xml:"file"`
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	files := sample()
	// Input order must not matter.
	rev := append([]File(nil), files...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	a, b := write(t, files, stamp), write(t, rev, stamp)
	if !bytes.Equal(a, b) {
		t.Fatal("the same files in another order gave other bytes")
	}
	if c := write(t, files, stamp.Add(time.Second)); bytes.Equal(a, c) {
		t.Fatal("another ModTime gave the same bytes")
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []File
		mtime time.Time
		want  string
	}{
		{"absolute", []File{{Name: "/a", Mode: 0o644}}, stamp, "relative"},
		{"trailing slash", []File{{Name: "a/", Mode: 0o644}}, stamp, "relative"},
		{"dot dot", []File{{Name: "a/../b", Mode: 0o644}}, stamp, "dot path"},
		{"empty component", []File{{Name: "a//b", Mode: 0o644}}, stamp, "empty"},
		{"NUL", []File{{Name: "a\x00b", Mode: 0o644}}, stamp, "control"},
		{"newline", []File{{Name: "a\nb", Mode: 0o644}}, stamp, "control"},
		{"duplicate", []File{{Name: "a", Mode: 0o644}, {Name: "a", Mode: 0o644}}, stamp, "twice"},
		{"under a file", []File{{Name: "a", Mode: 0o644}, {Name: "a/b", Mode: 0o644}}, stamp, "not a directory"},
		{"file over a dir", []File{{Name: "a/b", Mode: 0o644}, {Name: "a", Mode: 0o644}}, stamp, "below it"},
		{"symlink", []File{{Name: "a", Mode: fs.ModeSymlink | 0o777}}, stamp, "only regular"},
		{"dir with data", []File{{Name: "a", Mode: fs.ModeDir | 0o755, Data: []byte("x")}}, stamp, "cannot have data"},
		{"no time", []File{{Name: "a", Mode: 0o644}}, time.Time{}, "before 1970"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			err := Write(&buf, tt.files, Options{ModTime: tt.mtime})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write error = %v, want one about %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Fatalf("a rejected archive wrote %d bytes", buf.Len())
			}
		})
	}
}

func runTool(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testbin.NeedTool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
