package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/updater/repo"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

func orbitBin(t *testing.T) string {
	return testbin.Build(t, "./cmd/orbit", "orbit", "-X main.version=1.0.0-test")
}

func osquerydBin(t *testing.T) string {
	return testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
}

// testbinOsqueryd builds the stand-in osqueryd reporting version.
func testbinOsqueryd(t *testing.T, version string) string {
	return testbin.Build(t, "./testdata/osqueryd", "osqueryd", "-X main.version="+version)
}

// testbinOrbit builds orbit reporting version.
func testbinOrbit(t *testing.T, version string) string {
	return testbin.Build(t, "./cmd/orbit", "orbit", "-X main.version="+version)
}

func itoa(i int) string { return strconv.Itoa(i) }

type orbitProc struct {
	cmd  *exec.Cmd
	log  *logcapture.Buffer
	root string
	done chan struct{}
	err  error
}

// startOrbit runs the real orbit binary with a stand-in osqueryd and
// updates off, plus any extra args and env.
func startOrbit(t *testing.T, root string, env []string, args ...string) *orbitProc {
	t.Helper()
	return startOrbitArgs(t, env, append([]string{"--root-dir=" + root, "--disable-updates", "--osqueryd-path=" + osquerydBin(t), "--stop-grace=2s"}, args...)...)
}

// startOrbitArgs runs the orbit binary with exactly these arguments.
func startOrbitArgs(t *testing.T, env []string, all ...string) *orbitProc {
	t.Helper()
	return startOrbitExe(t, orbitBin(t), env, all...)
}

// startOrbitExe runs exe (an orbit from elsewhere: an unpacked package, or
// a shell that execs one) with exactly these arguments.
func startOrbitExe(t *testing.T, exe string, env []string, all ...string) *orbitProc {
	t.Helper()
	var root string
	for _, a := range all {
		if v, ok := strings.CutPrefix(a, "--root-dir="); ok {
			root = v
		}
	}
	cmd := exec.Command(exe, all...)
	cmd.Env = append(os.Environ(), env...)
	p := &orbitProc{cmd: cmd, log: &logcapture.Buffer{}, root: root, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("orbit log:\n%s", p.log.String())
		}
	})
	return p
}

func (p *orbitProc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("orbit did not exit within %s", timeout)
		return nil
	}
}

func osquerydState(t *testing.T, root string) status.Component {
	t.Helper()
	snap, err := status.Read(filepath.Join(root, "state.json"))
	if err != nil {
		return status.Component{}
	}
	return snap.Components["osqueryd"]
}

func waitOsquerydRunning(t *testing.T, root string, notPID int) int {
	t.Helper()
	var pid int
	testwait.For(t, "osqueryd running", func() bool {
		c := osquerydState(t, root)
		if c.State == "running" && c.PID != 0 && c.PID != notPID && alive(c.PID) {
			pid = c.PID
			return true
		}
		return false
	})
	return pid
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	// A zombie still answers kill(0); read its state to tell.
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return len(f) > 2 && f[2] != "Z"
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1000
	}
	return 0
}

// tufRepo is a TUF repository made with our release tool and served over
// HTTP on 127.0.0.1, for end-to-end update tests.
type tufRepo struct {
	r    *repo.Repo
	dir  string // the repository directory (orbitctl package --local-repo)
	root []byte
	url  string

	mu    sync.Mutex
	paths []string // requested, in order
}

// requests counts the requests for path so far.
func (tr *tufRepo) requests(path string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, p := range tr.paths {
		if p == path {
			n++
		}
	}
	return n
}

func newTUFRepo(t *testing.T) *tufRepo {
	t.Helper()
	dir := t.TempDir()
	pass := repo.MapPassphrases{"root": "r", "targets": "t", "snapshot": "s", "timestamp": "ts"}
	if err := repo.Init(dir, repo.InitOptions{Passphrases: pass, ScryptLogN: 4}); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(dir, repo.OpenOptions{Passphrases: pass, ScryptLogN: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	root, err := r.RootJSON()
	if err != nil {
		t.Fatal(err)
	}
	tr := &tufRepo{r: r, dir: dir, root: root}
	h := repo.Handler(dir)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tr.mu.Lock()
		tr.paths = append(tr.paths, req.URL.Path)
		tr.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	tr.url = srv.URL
	return tr
}

// add publishes file as <name>/linux/<tag>/... under each tag (default stable).
func (tr *tufRepo) add(t *testing.T, name, file, version string, tags ...string) {
	t.Helper()
	if len(tags) == 0 {
		tags = []string{"stable"}
	}
	if err := tr.r.AddTarget(context.Background(), repo.AddTarget{File: file, Name: name, Platform: "linux", Version: version, Tags: tags}); err != nil {
		t.Fatal(err)
	}
}

// updateArgs are orbit's flags to update from this repository.
func (tr *tufRepo) updateArgs() []string {
	return []string{"--update-url=" + tr.url, "--update-roots=" + string(tr.root), "--update-interval=10s"}
}
