package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/orbitagent/orbit/updater/repo"
	"github.com/orbitagent/orbit/updater/repo/s3store"
	"github.com/orbitagent/orbit/updater/repo/s3store/miniotest"
)

// failingStore lets n Puts through, then fails: an interrupted publish.
type failingStore struct {
	repo.ObjectStore
	n int
}

func (f *failingStore) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, ct, cc string) error {
	if f.n <= 0 {
		return errors.New("injected: connection lost")
	}
	f.n--
	return f.ObjectStore.Put(ctx, key, body, size, ct, cc)
}

func TestPublishToMinIO(t *testing.T) {
	endpoint := miniotest.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", miniotest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", miniotest.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ctx := context.Background()

	for _, consistent := range []bool{true, false} {
		t.Run(fmt.Sprintf("consistent=%v", consistent), func(t *testing.T) {
			bucket := fmt.Sprintf("updates-%v", consistent)
			store, err := s3store.New(ctx, s3store.Config{Bucket: bucket, Prefix: "tuf/v1", Endpoint: endpoint})
			if err != nil {
				t.Fatal(err)
			}
			miniotest.PublicBucket(t, ctx, store.Client(), bucket)

			dir := filepath.Join(t.TempDir(), "tuf")
			pass := repo.MapPassphrases{"root": "a", "targets": "b", "snapshot": "c", "timestamp": "d"}
			if err := repo.Init(dir, repo.InitOptions{Passphrases: pass, ConsistentSnapshot: consistent, ScryptLogN: 4}); err != nil {
				t.Fatal(err)
			}
			r, err := repo.Open(dir, repo.OpenOptions{Passphrases: pass, ScryptLogN: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			v1 := writeFile(t, "orbit", bytes.Repeat([]byte("version one "), 10000))
			if err := r.AddTarget(ctx, repo.AddTarget{File: v1, Name: "orbit", Platform: "linux", Version: "1.0.0", Tags: []string{"stable"}}); err != nil {
				t.Fatal(err)
			}
			res, err := r.Publish(ctx, store, repo.PublishOptions{SkipUnchanged: true})
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			if res.Uploaded == 0 || res.Skipped != 0 {
				t.Fatalf("first publish: %+v", res)
			}
			rootJSON, _ := r.RootJSON()
			base := endpoint + "/" + bucket + "/tuf/v1"
			client := &tufClient{url: base, cache: t.TempDir(), root: rootJSON}

			got := client.download(t, "orbit/linux/stable/orbit")
			if !bytes.Equal(got, mustRead(t, v1)) {
				t.Fatal("v1 bytes from MinIO differ")
			}
			for path, want := range map[string]string{"timestamp.json": repo.CacheShort, "1.root.json": repo.CacheImmutable} {
				resp, err := http.Head(base + "/" + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != want {
					t.Errorf("HEAD %s: %d, Cache-Control %q, want %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"), want)
				}
			}
			res, err = r.Publish(ctx, store, repo.PublishOptions{SkipUnchanged: true})
			if err != nil || res.Uploaded != 0 {
				t.Fatalf("unchanged republish uploaded %+v, %v", res, err)
			}

			// Version 2, published with interruptions after 0, 1, 2, ...
			// objects: until timestamp.json lands, clients see version 1.
			v2 := writeFile(t, "orbit", bytes.Repeat([]byte("version two "), 12000))
			if err := r.AddTarget(ctx, repo.AddTarget{File: v2, Name: "orbit", Platform: "linux", Version: "2.0.0", Tags: []string{"stable"}}); err != nil {
				t.Fatal(err)
			}
			plan, err := repo.PublishPlan(dir)
			if err != nil {
				t.Fatal(err)
			}
			firstMeta := 0
			for firstMeta < len(plan) && strings.HasPrefix(plan[firstMeta].Key, "targets/") {
				firstMeta++
			}
			// Without consistent snapshots, mutable snapshot.json and target
			// names are rewritten in place, so only an interruption before
			// the unversioned metadata keeps the old state readable.
			limit := len(plan) - 1
			if !consistent {
				limit = firstMeta
			}
			for n := 0; n < limit; n++ {
				if _, err := r.Publish(ctx, &failingStore{ObjectStore: store, n: n}, repo.PublishOptions{}); err == nil {
					t.Fatalf("publish interrupted after %d objects succeeded", n)
				}
				up := client.refresh(t)
				info, err := up.GetTargetInfo("orbit/linux/stable/orbit")
				if err != nil {
					t.Fatalf("after interruption at %d (%s): %v", n, plan[n].Key, err)
				}
				if info.Length != int64(len(mustRead(t, v1))) {
					t.Fatalf("after interruption at %d (%s): client sees the new target early", n, plan[n].Key)
				}
				if consistent {
					if got := client.download(t, "orbit/linux/stable/orbit"); !bytes.Equal(got, mustRead(t, v1)) {
						t.Fatalf("after interruption at %d: old target not downloadable", n)
					}
				}
			}
			if _, err := r.Publish(ctx, store, repo.PublishOptions{SkipUnchanged: true}); err != nil {
				t.Fatal(err)
			}
			if got := client.download(t, "orbit/linux/stable/orbit"); !bytes.Equal(got, mustRead(t, v2)) {
				t.Fatal("after the full publish the client does not get version 2")
			}
		})
	}
}

func writeFile(t *testing.T, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type tufClient struct {
	url, cache string
	root       []byte
}

func (c *tufClient) refresh(t *testing.T) *updater.Updater {
	t.Helper()
	root := c.root
	if b, err := os.ReadFile(filepath.Join(c.cache, "metadata", "root.json")); err == nil {
		root = b
	}
	cfg, err := config.New(c.url, root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = filepath.Join(c.cache, "metadata")
	cfg.LocalTargetsDir = filepath.Join(c.cache, "targets")
	up, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Refresh(); err != nil {
		t.Fatalf("client refresh from MinIO: %v", err)
	}
	return up
}

func (c *tufClient) download(t *testing.T, name string) []byte {
	t.Helper()
	up := c.refresh(t)
	info, err := up.GetTargetInfo(name)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := up.DownloadTarget(info, filepath.Join(c.cache, "dl"), "")
	if err != nil {
		t.Fatalf("download %s from MinIO: %v", name, err)
	}
	return b
}
