package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/updater"
)

// TestRollbackEndToEnd runs the real orbit, the real process runner and a
// TUF repository: an osqueryd release that crashes at start is rolled back
// to the previous one within the watch window and never tried again, and
// the next good release installs (the crash history of the bad one is not
// held against it).
func TestRollbackEndToEnd(t *testing.T) {
	t.Parallel()
	tr := newTUFRepo(t)
	add := func(file, version string) { tr.add(t, "osqueryd", file, version) }
	add(testbinOsqueryd(t, "5.12.1"), "5.12.1")

	root := filepath.Join(t.TempDir(), "orbit")
	p := startOrbitArgs(t, nil, append([]string{"--root-dir=" + root, "--stop-grace=2s"}, tr.updateArgs()...)...)
	state := func() status.Snapshot {
		s, _ := status.Read(filepath.Join(root, "state.json"))
		return s
	}
	running := func(version string) func() bool {
		return func() bool {
			c := state().Components["osqueryd"]
			return c.State == "running" && c.Version == version
		}
	}
	testwait.Within(t, 60*time.Second, "5.12.1 running", running("5.12.1"))

	// A release that passes its exec check but crashes at start.
	bad := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "-X main.version=5.13.0 -X main.crashAtStart=1")
	add(bad, "5.13.0")
	var rolledBack status.UpdateEvent
	testwait.Within(t, 120*time.Second, "5.13.0 rolled back", func() bool {
		for _, ev := range state().Updates {
			if ev.Action == "rolled_back" && ev.Component == "osqueryd" {
				rolledBack = ev
				return true
			}
		}
		return false
	})
	if rolledBack.Version != "5.13.0" {
		t.Fatalf("rollback event %+v, want it to name 5.13.0", rolledBack)
	}
	testwait.Within(t, 60*time.Second, "5.12.1 running again", running("5.12.1"))

	// The next good release installs and stays.
	add(testbinOsqueryd(t, "5.14.0"), "5.14.0")
	testwait.Within(t, 60*time.Second, "5.14.0 running", running("5.14.0"))
	// It stays through a health check of the watch window (every 10 s):
	// the bad release's crash loop is not blamed on it.
	for end := time.Now().Add(12 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if c := state().Components["osqueryd"]; c.Version != "5.14.0" {
			t.Fatalf("5.14.0 replaced by %s during its watch window", c.Version)
		}
	}
	installs := 0
	for _, ev := range state().Updates {
		if ev.Action == "installed" && ev.Version == "5.13.0" {
			installs++
		}
	}
	if installs != 1 {
		t.Fatalf("bad 5.13.0 installed %d times, want once (never retried)", installs)
	}
	out, _, _ := runOrbit(t, nil, "status", "--root-dir="+root)
	if !strings.Contains(out, "rolled_back 5.13.0") {
		t.Fatalf("orbit status does not show the rollback:\n%s", out)
	}
	p.cmd.Process.Signal(os.Interrupt)
	p.wait(t, 30*time.Second)
}

// serviceManager runs a command and starts it again one second after it
// exits, as systemd's Restart=always (RestartSec=1), launchd's KeepAlive or
// the SCM's recovery actions do, until the test ends.
type serviceManager struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	starts int
	log    *logcapture.Buffer
	stop   chan struct{}
	done   chan struct{}
}

func startServiceManager(t *testing.T, env []string, path string, args ...string) *serviceManager {
	t.Helper()
	m := &serviceManager{log: &logcapture.Buffer{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			cmd := exec.Command(path, args...)
			cmd.Env = append(os.Environ(), env...)
			cmd.Stdout, cmd.Stderr = m.log, m.log
			err := cmd.Start()
			m.mu.Lock()
			m.cmd, m.starts = cmd, m.starts+1
			m.mu.Unlock()
			if err == nil {
				err = cmd.Wait()
			}
			fmt.Fprintf(m.log, "service manager: %s exited: %v\n", path, err)
			select {
			case <-m.stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	t.Cleanup(func() {
		m.shutdown(t)
		if t.Failed() {
			t.Logf("service log:\n%s", m.log.String())
		}
	})
	return m
}

// shutdown stops restarting and ends the running process with SIGTERM.
func (m *serviceManager) shutdown(t *testing.T) {
	select {
	case <-m.stop:
		return
	default:
		close(m.stop)
	}
	m.mu.Lock()
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Signal(syscall.SIGTERM)
	}
	m.mu.Unlock()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		m.mu.Lock()
		m.cmd.Process.Kill()
		m.mu.Unlock()
		<-m.done
	}
}

// TestDeadOnArrivalOrbitRollsBack installs, through the real updater, an
// orbit release that passes its exec check (`orbit version`) but exits 2
// at every start, before any code of its own runs. The known-good orbit the
// service runs starts it on trial, the service manager restarts the
// service each time it dies, and after three boots the known-good orbit
// runs on, with the bad hash recorded, shown in `orbit status`, and never
// downloaded again. A later good release then goes through its trial and
// becomes what the service runs.
func TestDeadOnArrivalOrbitRollsBack(t *testing.T) {
	t.Parallel()
	tr := newTUFRepo(t)
	v1 := orbitBin(t) // 1.0.0-test
	tr.add(t, "osqueryd", testbinOsqueryd(t, "5.12.1"), "5.12.1")
	tr.add(t, "orbit", v1, "1.0.0-test")

	// As a package installs it: orbit in its channel directory, the
	// service's stable path pointing at it.
	root := filepath.Join(t.TempDir(), "orbit")
	layout, err := rootdir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := layout.Create(); err != nil {
		t.Fatal(err)
	}
	known := layout.Bin("orbit", "linux", "stable", "orbit")
	if err := os.MkdirAll(filepath.Dir(known), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(known, mustReadFile(t, v1), 0o755); err != nil {
		t.Fatal(err)
	}
	stable := updater.StableOrbitPath(layout)
	if err := updater.InstallStableOrbit(layout, known); err != nil {
		t.Fatal(err)
	}
	starts := filepath.Join(t.TempDir(), "doa-starts")
	sm := startServiceManager(t, []string{"ORBIT_DOA_STARTS=" + starts}, stable,
		append([]string{"--root-dir=" + root, "--stop-grace=2s"}, tr.updateArgs()...)...)

	state := func() status.Snapshot {
		s, _ := status.Read(layout.State())
		return s
	}
	orbitRunning := func(version string) func() bool {
		return func() bool {
			s := state()
			return s.OrbitVersion == version && alive(s.OrbitPID) && s.Components["osqueryd"].State == "running"
		}
	}
	testwait.Within(t, 60*time.Second, "orbit 1.0.0-test and osqueryd running", orbitRunning("1.0.0-test"))

	doa := testbin.Build(t, "./testdata/orbit-doa", "orbit", "-X main.version=2.0.0-doa")
	tr.add(t, "orbit", doa, "2.0.0-doa")
	var rolledBack status.UpdateEvent
	testwait.Within(t, 120*time.Second, "the dead-on-arrival orbit rolled back", func() bool {
		for _, ev := range state().Updates {
			if ev.Action == "rolled_back" && ev.Component == "orbit" {
				rolledBack = ev
				return true
			}
		}
		return false
	})
	if rolledBack.Version != "2.0.0-doa" || rolledBack.Hash == "" {
		t.Fatalf("rollback event %+v, want it to name 2.0.0-doa and its hash", rolledBack)
	}
	testwait.Within(t, 60*time.Second, "orbit 1.0.0-test running again", orbitRunning("1.0.0-test"))
	if n := strings.Count(string(mustReadFile(t, starts)), "\n"); n != 3 {
		t.Fatalf("the dead-on-arrival orbit was started %d times, want 3", n)
	}
	if link, err := os.Readlink(stable); err != nil || link != "linux/stable/orbit" || !bytes.Equal(mustReadFile(t, known), mustReadFile(t, v1)) {
		t.Fatalf("stable path -> %q (%v), want the known-good orbit", link, err)
	}
	if _, err := os.Stat(known + ".candidate"); !os.IsNotExist(err) {
		t.Fatalf("rolled-back candidate still on disk: %v", err)
	}
	var ust struct {
		Failures map[string]struct {
			Bad bool `json:"bad"`
		} `json:"failures"`
	}
	if err := json.Unmarshal(mustReadFile(t, filepath.Join(layout.TUF(), "updater-state.json")), &ust); err != nil || !ust.Failures[rolledBack.Hash].Bad {
		t.Fatalf("bad hash not recorded in the updater state: %+v %v", ust, err)
	}

	// Two more checks later it has not been downloaded again.
	const doaTarget = "/targets/orbit/linux/stable/orbit"
	checks := tr.requests("/timestamp.json")
	testwait.Within(t, 60*time.Second, "two more update checks", func() bool { return tr.requests("/timestamp.json") >= checks+2 })
	if n := tr.requests(doaTarget); n != 1 {
		t.Fatalf("the dead-on-arrival orbit was downloaded %d times, want once", n)
	}
	out, _, _ := runOrbit(t, nil, "status", "--root-dir="+root)
	if !strings.Contains(out, "orbit rolled_back 2.0.0-doa") {
		t.Fatalf("orbit status does not show the rollback:\n%s", out)
	}

	// A good release goes through its trial and becomes the service's.
	v3 := testbinOrbit(t, "3.0.0-test")
	tr.add(t, "orbit", v3, "3.0.0-test")
	testwait.Within(t, 90*time.Second, "orbit 3.0.0-test running on trial", orbitRunning("3.0.0-test"))
	testwait.Within(t, 150*time.Second, "orbit 3.0.0-test promoted after a healthy minute", func() bool {
		b, err := os.ReadFile(stable)
		return err == nil && bytes.Equal(b, mustReadFile(t, v3))
	})
	if sm.starts != 4 {
		t.Fatalf("the service was started %d times, want 4 (three dead candidates, then the known-good one)", sm.starts)
	}
	sm.shutdown(t)
	if n := strings.Count(string(mustReadFile(t, starts)), "\n"); n != 3 {
		t.Fatalf("the dead-on-arrival orbit was started %d times in all, want 3", n)
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
