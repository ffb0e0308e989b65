//go:build !windows

package updater

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/orbitagent/orbit/internal/fuzzcorpus"
	"github.com/orbitagent/orbit/internal/safefile"
)

// FuzzParseRoots: whatever the --update-roots value (inline, or the
// content of a file it names), ParseRoots never panics, is deterministic,
// and accepts only a root.json that go-tuf loads as its trusted root, of at
// most safefile.MaxRoot bytes, returned as given.
func FuzzParseRoots(f *testing.F) {
	f.Fuzz(func(t *testing.T, asFile bool, data []byte) {
		value := string(data)
		if asFile {
			value = filepath.Join(t.TempDir(), "root.json")
			if err := os.WriteFile(value, data, 0o644); err != nil {
				t.Fatal(err)
			}
		} else if !strings.HasPrefix(strings.TrimSpace(value), "{") {
			return // a path: only files the test wrote are read
		}
		got, err := ParseRoots(value)
		again, err2 := ParseRoots(value)
		if !bytes.Equal(got, again) || (err == nil) != (err2 == nil) {
			t.Fatalf("two parses differ: %v / %v", err, err2)
		}
		if err != nil {
			if got != nil {
				t.Fatalf("refused (%v) but returned %d bytes", err, len(got))
			}
			return
		}
		if len(got) > safefile.MaxRoot {
			t.Fatalf("accepted %d bytes, more than %d", len(got), safefile.MaxRoot)
		}
		want := data
		if !asFile {
			want = []byte(strings.TrimSpace(value))
		}
		if !bytes.Equal(got, want) {
			t.Fatal("accepted bytes differ from the input")
		}
		tm, err := trustedmetadata.New(got)
		if err != nil {
			t.Fatalf("accepted a root go-tuf does not load: %v", err)
		}
		if tm.Root.Signed.Type != metadata.ROOT {
			t.Fatalf("accepted metadata of type %q", tm.Root.Signed.Type)
		}
		if _, err := rootVersion(got); err != nil {
			t.Fatalf("accepted a root the updater cannot read: %v", err)
		}
	})
}

// rootSeeds builds the corpus of FuzzParseRoots: valid-* are roots go-tuf
// loads, bad-* are refused.
func rootSeeds(t *testing.T) map[string][]any {
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	root := func(threshold int, rootKeys ...ed25519.PrivateKey) *metadata.Metadata[metadata.RootType] {
		m := metadata.Root(expires)
		for _, role := range topRoles {
			keys := rootKeys
			if role != metadata.ROOT {
				keys = []ed25519.PrivateKey{newKey(t)}
			}
			for _, k := range keys {
				if err := m.Signed.AddKey(tufKey(t, k), role); err != nil {
					t.Fatal(err)
				}
			}
		}
		m.Signed.Roles[metadata.ROOT].Threshold = threshold
		return m
	}
	k1, k2, other := newKey(t), newKey(t), newKey(t)
	one := sign(t, root(1, k1), k1)
	two := root(2, k1, k2)
	tampered := bytes.Replace(one, []byte(`"version": 1`), []byte(`"version": 2`), 1)
	if bytes.Equal(tampered, one) {
		t.Fatal("root has no version field to tamper with")
	}
	targets := metadata.Targets(expires)
	return map[string][]any{
		"valid-inline":      {false, one},
		"valid-file":        {true, one},
		"valid-two-of-two":  {false, sign(t, two, k1, k2)},
		"bad-one-of-two":    {false, sign(t, two, k1)},
		"bad-unsigned":      {false, sign(t, root(1, k1))},
		"bad-foreign-key":   {false, sign(t, root(1, k1), other)},
		"bad-tampered":      {true, tampered},
		"bad-targets":       {false, sign(t, targets, k1)},
		"bad-empty-object":  {false, []byte("{}")},
		"bad-not-json-file": {true, []byte("not json")},
	}
}

// TestFuzzParseRootsCorpus checks the checked-in seeds still mean what
// their names say (ORBIT_WRITE_CORPUS=1 makes new ones, with new keys).
func TestFuzzParseRootsCorpus(t *testing.T) {
	t.Parallel()
	if os.Getenv("ORBIT_WRITE_CORPUS") == "1" {
		fuzzcorpus.Check(t, "FuzzParseRoots", rootSeeds(t))
	}
	seeds := fuzzcorpus.Read(t, "FuzzParseRoots")
	for name, vals := range seeds {
		if len(vals) != 2 {
			t.Fatalf("%s has %d values", name, len(vals))
		}
		value := string(vals[1].([]byte))
		if vals[0].(bool) {
			value = filepath.Join(t.TempDir(), "root.json")
			os.WriteFile(value, vals[1].([]byte), 0o644)
		}
		_, err := ParseRoots(value)
		if strings.HasPrefix(name, "valid-") != (err == nil) {
			t.Errorf("seed %s: ParseRoots error %v", name, err)
		}
	}
}

// TestParseRootsRefusesBySize: a huge inline value, a huge (sparse) file,
// a FIFO and a device are refused without being read.
func TestParseRootsRefusesBySize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.json")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil {
		t.Skipf("no sparse files: %v", err)
	}
	f.Close()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		value string
		is    error
		has   string
	}{
		"inline":  {"{" + strings.Repeat(" ", safefile.MaxRoot) + "}", nil, "larger than"},
		"file":    {huge, safefile.ErrTooLarge, "the limit for this file is 512 KiB"},
		"fifo":    {fifo, safefile.ErrNotRegular, "it is a FIFO"},
		"device":  {"/dev/zero", safefile.ErrNotRegular, "it is a device"},
		"missing": {filepath.Join(dir, "none"), os.ErrNotExist, "update roots file: open"},
	} {
		_, err := ParseRoots(c.value)
		if err == nil || !strings.Contains(err.Error(), c.has) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: %v, want %q", name, err, c.has)
		}
	}
}
