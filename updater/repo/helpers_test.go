package repo

import (
	"bytes"
	"crypto/rand"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/orbitagent/orbit/clock/clocktest"
)

// testLogN keeps scrypt cheap in tests; production uses DefaultScryptLogN.
const testLogN = 4

func testPass() MapPassphrases {
	return MapPassphrases{"root": "root-secret-1", "targets": "targets-secret-2", "snapshot": "snapshot-secret-3", "timestamp": "timestamp-secret-4"}
}

type fixture struct {
	dir  string
	pass MapPassphrases
	clk  *clocktest.Fake // signing time
}

func newFixture(t *testing.T, consistent bool) *fixture {
	t.Helper()
	f := &fixture{dir: filepath.Join(t.TempDir(), "tuf"), pass: testPass(), clk: clocktest.New(time.Now().UTC())}
	if err := Init(f.dir, InitOptions{Passphrases: f.pass, ConsistentSnapshot: consistent, ScryptLogN: testLogN, Clock: f.clk}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return f
}

func (f *fixture) open(t *testing.T) *Repo {
	t.Helper()
	r, err := Open(f.dir, OpenOptions{Passphrases: f.pass, ScryptLogN: testLogN, Clock: f.clk})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func (f *fixture) rootJSON(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, RepositoryDir, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomFile(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// treeBytes reads every file under dir except the lock file, so a test can
// assert that a failed command changed nothing.
func treeBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() == lockName {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func assertTreeUnchanged(t *testing.T, before, after map[string][]byte) {
	t.Helper()
	for k, v := range before {
		w, ok := after[k]
		if !ok {
			t.Errorf("file %s disappeared", k)
		} else if !bytes.Equal(v, w) {
			t.Errorf("file %s changed", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("new file %s appeared", k)
		}
	}
}

// v2Client is a go-tuf v2 updater with a persistent cache directory, the
// way the agent uses it: every check starts from the cached root.json.
type v2Client struct {
	url      string
	cacheDir string
	initial  []byte
}

func newV2Client(t *testing.T, url string, rootJSON []byte) *v2Client {
	return &v2Client{url: url, cacheDir: t.TempDir(), initial: rootJSON}
}

// refresh runs one update check at time at (zero: now) and returns the
// updater.
func (c *v2Client) refresh(t *testing.T, at time.Time) (*updater.Updater, error) {
	t.Helper()
	root := c.initial
	if b, err := os.ReadFile(filepath.Join(c.cacheDir, "metadata", "root.json")); err == nil {
		root = b
	}
	cfg, err := config.New(c.url, root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = filepath.Join(c.cacheDir, "metadata")
	cfg.LocalTargetsDir = filepath.Join(c.cacheDir, "targets")
	up, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	if !at.IsZero() {
		up.UnsafeSetRefTime(at)
	}
	return up, up.Refresh()
}

// download fetches and verifies a target with a fresh updater.
func (c *v2Client) download(t *testing.T, name string) ([]byte, *metadata.TargetFiles) {
	t.Helper()
	up, err := c.refresh(t, time.Time{})
	if err != nil {
		t.Fatalf("client refresh: %v", err)
	}
	info, err := up.GetTargetInfo(name)
	if err != nil {
		t.Fatalf("GetTargetInfo(%s): %v", name, err)
	}
	dst := filepath.Join(c.cacheDir, "dl-"+strings.ReplaceAll(name, "/", "_"))
	_, data, err := up.DownloadTarget(info, dst, "")
	if err != nil {
		t.Fatalf("DownloadTarget(%s): %v", name, err)
	}
	return data, info
}

func serve(t *testing.T, dir string) *httptest.Server {
	srv := httptest.NewServer(Handler(dir))
	t.Cleanup(srv.Close)
	return srv
}
