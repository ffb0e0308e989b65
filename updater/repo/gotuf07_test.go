package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	tufv07 "github.com/theupdateframework/go-tuf/client"
)

// memDest is a go-tuf v0.7 download destination.
type memDest struct{ bytes.Buffer }

func (d *memDest) Delete() error { d.Reset(); return nil }

// TestGoTUFv07ClientReadsRepository checks compatibility with the client
// Fleet's orbit ships (go-tuf v0.7), over HTTP and from a directory, with
// and without consistent snapshots, across a root rotation.
func TestGoTUFv07ClientReadsRepository(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		consistent bool
		http       bool
	}{
		{"http-plain", false, true},
		{"http-consistent", true, true},
		{"file-plain", false, false},
		{"file-consistent", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.consistent)
			r := f.open(t)
			trusted := f.rootJSON(t)
			bin, want := randomFile(t, t.TempDir(), "orbit.exe", 200<<10)
			if err := r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "windows", Version: "1.40.0", Tags: []string{"stable", "1.40"}}); err != nil {
				t.Fatal(err)
			}
			remote := func() tufv07.RemoteStore {
				if tc.http {
					rs, err := tufv07.HTTPRemoteStore(serve(t, f.dir).URL, nil, nil)
					if err != nil {
						t.Fatal(err)
					}
					return rs
				}
				rs, err := tufv07.NewFileRemoteStore(os.DirFS(filepath.Join(f.dir, RepositoryDir)), "targets")
				if err != nil {
					t.Fatal(err)
				}
				return rs
			}()
			local := tufv07.MemoryLocalStore()
			c := tufv07.NewClient(local, remote)
			if err := c.Init(trusted); err != nil {
				t.Fatalf("v0.7 Init: %v", err)
			}
			check := func(stage string) {
				t.Helper()
				if _, err := c.Update(); err != nil {
					t.Fatalf("%s: v0.7 Update: %v", stage, err)
				}
				meta, err := c.Target("orbit/windows/stable/orbit.exe")
				if err != nil {
					t.Fatalf("%s: v0.7 Target: %v", stage, err)
				}
				if len(meta.Hashes["sha512"]) != 64 {
					t.Fatalf("%s: v0.7 sees no sha512: %v", stage, meta.Hashes)
				}
				var custom TargetCustom
				if meta.Custom == nil || json.Unmarshal(*meta.Custom, &custom) != nil || custom.Version != "1.40.0" {
					t.Fatalf("%s: v0.7 custom = %v", stage, meta.Custom)
				}
				var d memDest
				if err := c.Download("orbit/windows/stable/orbit.exe", &d); err != nil {
					t.Fatalf("%s: v0.7 Download: %v", stage, err)
				}
				if !bytes.Equal(d.Bytes(), want) {
					t.Fatalf("%s: v0.7 downloaded bytes differ", stage)
				}
			}
			check("initial")
			if err := r.Rotate(RoleRoot); err != nil {
				t.Fatal(err)
			}
			if err := r.Rotate(RoleTimestamp); err != nil {
				t.Fatal(err)
			}
			check("after root and timestamp rotation")

			// Corrupt every stored copy (same length, one byte off; copies
			// may be hard links, so write fixed bytes rather than toggle):
			// the hash check must refuse it.
			bad := bytes.Clone(want)
			bad[len(bad)/2] ^= 0xff
			filepath.Walk(filepath.Join(f.dir, RepositoryDir, TargetsDir), func(p string, info os.FileInfo, err error) error {
				if err == nil && info.Mode().IsRegular() && info.Size() == int64(len(want)) {
					if err := os.WriteFile(p, bad, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			})
			var d memDest
			if err := c.Download("orbit/windows/stable/orbit.exe", &d); err == nil {
				t.Fatal("v0.7 Download of a corrupted target succeeded")
			}
		})
	}
}
