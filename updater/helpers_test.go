//go:build !windows

package updater

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

// testRepo is a hand-made TUF repository on disk, built with go-tuf's
// metadata package so tests can sign with wrong keys, replay old versions
// and craft every attack.
type testRepo struct {
	t          testing.TB
	dir        string
	consistent bool
	keys       map[string]ed25519.PrivateKey
	root       *metadata.Metadata[metadata.RootType]
	targets    *metadata.Metadata[metadata.TargetsType]
	snapshot   *metadata.Metadata[metadata.SnapshotType]
	timestamp  *metadata.Metadata[metadata.TimestampType]
	bundled    []byte // root v1, what a package would ship
	expires    time.Time
	// targetsSigner, when set, signs targets.json instead of the trusted key.
	targetsSigner ed25519.PrivateKey
	published     int
}

var topRoles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func tufKey(t testing.TB, priv ed25519.PrivateKey) *metadata.Key {
	k, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestRepo(t testing.TB, consistent bool) *testRepo {
	t.Helper()
	r := &testRepo{t: t, dir: t.TempDir(), consistent: consistent, keys: map[string]ed25519.PrivateKey{}, expires: time.Now().Add(24 * time.Hour * 365)}
	r.root = metadata.Root(r.expires)
	r.root.Signed.ConsistentSnapshot = consistent
	for _, role := range topRoles {
		r.keys[role] = newKey(t)
		if err := r.root.Signed.AddKey(tufKey(t, r.keys[role]), role); err != nil {
			t.Fatal(err)
		}
	}
	r.targets = metadata.Targets(r.expires)
	r.snapshot = metadata.Snapshot(r.expires)
	r.timestamp = metadata.Timestamp(r.expires)
	r.writeRoot(r.keys[metadata.ROOT])
	r.bundled = r.read("root.json")
	r.publish()
	return r
}

func sign[T metadata.Roles](t testing.TB, m *metadata.Metadata[T], keys ...ed25519.PrivateKey) []byte {
	t.Helper()
	m.ClearSignatures()
	for _, k := range keys {
		s, err := signature.LoadED25519Signer(k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
	b, err := m.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *testRepo) write(rel string, data []byte) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testRepo) read(rel string) []byte {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(rel)))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *testRepo) writeRoot(keys ...ed25519.PrivateKey) {
	b := sign(r.t, r.root, keys...)
	r.write(fmt.Sprintf("%d.root.json", r.root.Signed.Version), b)
	r.write("root.json", b)
}

// addTarget stores a target file and lists it in the next targets.json.
func (r *testRepo) addTarget(name string, data []byte, version string) {
	r.t.Helper()
	r.targets.Signed.Targets[name] = r.targetFile(name, data, version)
}

// targetFile stores a target file in the repository and returns its
// metadata, for the role that will list it.
func (r *testRepo) targetFile(name string, data []byte, version string) *metadata.TargetFiles {
	r.t.Helper()
	tf, err := metadata.TargetFile().FromBytes(name, data, "sha256", "sha512")
	if err != nil {
		r.t.Fatal(err)
	}
	custom := json.RawMessage(fmt.Sprintf(`{"version":%q}`, version))
	tf.Custom = &custom
	if r.consistent {
		dir, file := path.Split(name)
		for _, h := range tf.Hashes {
			r.write("targets/"+dir+fmt.Sprintf("%x", []byte(h))+"."+file, data)
		}
	} else {
		r.write("targets/"+name, data)
	}
	return tf
}

func (r *testRepo) removeTarget(name string) { delete(r.targets.Signed.Targets, name) }

// publish signs new targets, snapshot and timestamp versions.
func (r *testRepo) publish() {
	r.t.Helper()
	if r.published > 0 {
		r.targets.Signed.Version++
		r.snapshot.Signed.Version++
	}
	r.published++
	tk := r.keys[metadata.TARGETS]
	if r.targetsSigner != nil {
		tk = r.targetsSigner
	}
	tb := sign(r.t, r.targets, tk)
	r.write("targets.json", tb)
	if r.consistent {
		r.write(fmt.Sprintf("%d.targets.json", r.targets.Signed.Version), tb)
	}
	r.snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(r.targets.Signed.Version)
	sb := sign(r.t, r.snapshot, r.keys[metadata.SNAPSHOT])
	r.write("snapshot.json", sb)
	if r.consistent {
		r.write(fmt.Sprintf("%d.snapshot.json", r.snapshot.Signed.Version), sb)
	}
	r.writeTimestamp(sb)
}

// writeTimestamp signs the next timestamp for snapshot bytes sb.
func (r *testRepo) writeTimestamp(sb []byte) {
	r.t.Helper()
	mf := metadata.MetaFile(r.snapshot.Signed.Version)
	mf.Length = int64(len(sb))
	r.timestamp.Signed.Meta["snapshot.json"] = mf
	if r.exists("timestamp.json") {
		r.timestamp.Signed.Version++
	}
	r.write("timestamp.json", sign(r.t, r.timestamp, r.keys[metadata.TIMESTAMP]))
}

func (r *testRepo) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(r.dir, rel))
	return err == nil
}

// rotate replaces role's key in a new root version. crossSign signs the new
// root with the old root key as well as the new one, as the spec requires.
func (r *testRepo) rotate(role string, crossSign bool) {
	r.t.Helper()
	old := r.keys[role]
	oldRoot := r.keys[metadata.ROOT]
	nk := newKey(r.t)
	id, err := tufKey(r.t, old).ID()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.root.Signed.AddKey(tufKey(r.t, nk), role); err != nil {
		r.t.Fatal(err)
	}
	if err := r.root.Signed.RevokeKey(id, role); err != nil {
		r.t.Fatal(err)
	}
	r.keys[role] = nk
	r.root.Signed.Version++
	if role == metadata.ROOT && crossSign {
		r.writeRoot(oldRoot, nk)
	} else {
		r.writeRoot(r.keys[metadata.ROOT])
	}
}

// testServer serves a directory and lets tests swap, tamper or slow files.
type testServer struct {
	srv      *httptest.Server
	dir      string
	requests atomic.Int64
	bytes    atomic.Int64
	mu       sync.Mutex
	paths    []string
	override map[string]http.HandlerFunc
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func newTestServer(t testing.TB, dir string) *testServer {
	s := &testServer{dir: dir, override: map[string]http.HandlerFunc{}}
	fs := http.FileServer(http.Dir(dir))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		h := s.override[r.URL.Path]
		s.mu.Unlock()
		cw := countingWriter{w, &s.bytes}
		if h != nil {
			h(cw, r)
			return
		}
		fs.ServeHTTP(cw, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *testServer) set(p string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		delete(s.override, p)
	} else {
		s.override[p] = h
	}
}

func (s *testServer) serveBytes(p string, data []byte) {
	s.set(p, func(w http.ResponseWriter, r *http.Request) { w.Write(data) })
}

func (s *testServer) reset() {
	s.requests.Store(0)
	s.bytes.Store(0)
	s.mu.Lock()
	s.paths = nil
	s.mu.Unlock()
}

func (s *testServer) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

// endless writes bytes until the client goes away.
func endless(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 32<<10)
	for i := range buf {
		buf[i] = 'A'
	}
	for {
		if _, err := w.Write(buf); err != nil {
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
}

func newFakeClock() *clocktest.Fake {
	return clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// script is a tiny executable target: it answers the version command and,
// when started, records the start in marks and exits with code.
func script(version string, code int, marks string, pad int) []byte {
	s := fmt.Sprintf(`#!/bin/sh
case "$1" in --version|version) echo "stand-in version %s"; exit 0;; esac
echo started >> %q
exit %d
`, version, filepath.Join(marks, "started-"+version), code)
	if pad > 0 {
		s += "# " + strings.Repeat("p", pad) + "\n"
	}
	return []byte(s)
}

// evil is a target an attacker would like to run: running it leaves a mark.
func evil(marks string) []byte {
	return []byte(fmt.Sprintf("#!/bin/sh\ntouch %q\n", filepath.Join(marks, "pwned")))
}

// recorder is a Restarter and Health: Restart really starts the component's
// current executable and waits for it, as a supervisor would, and
// CrashLooping reports a non-zero exit of that start.
type recorder struct {
	mu       sync.Mutex
	u        *Updater
	restarts []string
	crashing map[component.Name]bool
}

func (r *recorder) Restart(c component.Name) {
	r.mu.Lock()
	r.restarts = append(r.restarts, string(c))
	u := r.u
	r.mu.Unlock()
	if u == nil {
		return
	}
	p, err := u.ExecPath(c)
	crashed := err != nil
	if err == nil {
		crashed = runFor(p) != nil
	}
	r.mu.Lock()
	if r.crashing == nil {
		r.crashing = map[component.Name]bool{}
	}
	r.crashing[c] = crashed
	r.mu.Unlock()
}

func (r *recorder) CrashLooping(c component.Name) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.crashing[c]
}

func (r *recorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.restarts...)
}

type env struct {
	t      *testing.T
	repo   *testRepo
	srv    *testServer
	layout rootdir.Layout
	marks  string
	rec    *recorder
	clock  *clocktest.Fake
	status *status.Store
}

func newEnv(t *testing.T, consistent bool) *env {
	t.Helper()
	e := &env{t: t, repo: newTestRepo(t, consistent), marks: t.TempDir(), rec: &recorder{}, clock: newFakeClock()}
	e.srv = newTestServer(t, e.repo.dir)
	l, err := rootdir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	e.layout = l
	e.status = status.NewStore(l.State(), "test", e.clock)
	return e
}

func (e *env) config(comps ...Component) Config {
	return Config{
		Layout: e.layout, UpdateURL: e.srv.srv.URL, RootJSON: e.repo.bundled, Platform: "linux",
		Components: comps, Clock: e.clock, Restarter: e.rec, Health: e.rec, Status: e.status,
		MetadataTimeout: 20 * time.Second, DownloadTimeout: 20 * time.Second, ExecTimeout: 10 * time.Second,
		Logger: zerolog.New(io.Discard),
	}
}

func (e *env) updater(cfg Config) *Updater {
	e.t.Helper()
	u, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.rec.mu.Lock()
	e.rec.u = u
	e.rec.mu.Unlock()
	return u
}

func (e *env) pwned() bool {
	_, err := os.Stat(filepath.Join(e.marks, "pwned"))
	return err == nil
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rootdirAt(t testing.TB) rootdir.Layout {
	l, err := rootdir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// withV1 is an env with osqueryd 1.0.0 installed from the repository; the
// updater logs to log when it is set.
func withV1(t *testing.T, log io.Writer) (*env, Config, *Updater, []byte) {
	t.Helper()
	e := newEnv(t, false)
	v1 := script("1.0.0", 0, e.marks, 0)
	e.repo.addTarget(osqTarget, v1, "1.0.0")
	e.repo.publish()
	cfg := e.config(osqComp)
	if log != nil {
		cfg.Logger = zerolog.New(log)
	}
	u := e.updater(cfg)
	check(t, u)
	return e, cfg, u, v1
}
