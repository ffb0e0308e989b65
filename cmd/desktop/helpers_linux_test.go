package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/desktop"
	"github.com/orbitagent/orbit/desktop/desktoptest"
	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
)

const trayVersion = "1.2.3-test"

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

func trayBinary(t *testing.T) string {
	t.Helper()
	return testbin.Build(t, "./cmd/desktop", "fleet-desktop", "-X main.version="+trayVersion)
}

// fleetSrv is a Fleet test server (real HTTPS on 127.0.0.1) with one host
// whose device token is registered, as orbit would have done.
type fleetSrv struct {
	*fleettest.Server
	token string
}

func startFleet(t *testing.T) *fleetSrv {
	t.Helper()
	const secret = "tray-test-secret"
	srv := fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{secret}, TLS: true})
	f := &fleetSrv{Server: srv, token: "2b5c7e1a-8d3f-4a6b-9c0e-1f2a3b4c5d6e"}
	var enrolled struct {
		Key string `json:"orbit_node_key"`
	}
	f.post(t, "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": secret, "hardware_uuid": "tray-test-host", "hostname": "tray-test"}, &enrolled)
	f.post(t, "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": enrolled.Key, "device_auth_token": f.token}, nil)
	return f
}

func (f *fleetSrv) post(t *testing.T, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.Client().Post(f.URL()+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

func policies(responses ...string) []fleettest.Policy {
	var ps []fleettest.Policy
	for i, r := range responses {
		ps = append(ps, fleettest.Policy{ID: uint(i + 1), Name: fmt.Sprintf("policy %d", i+1), Query: "SELECT 1", Response: r})
	}
	return ps
}

// session is a tray running on a private bus with a watcher, against f.
type session struct {
	bus  *desktoptest.Bus
	w    *desktoptest.Watcher
	tray *trayProc
	item desktoptest.Item
}

// startSession starts a bus, a watcher and the tray (its environment
// changed by mod, if not nil), and waits for the item to register.
func startSession(t *testing.T, f *fleetSrv, mod func([]string) []string) *session {
	t.Helper()
	s := &session{bus: desktoptest.StartBus(t, desktoptest.BusConfig{})}
	s.w = desktoptest.StartWatcher(t, s.bus.Address)
	env, opened := trayEnv(t, f, s.bus.Address)
	if mod != nil {
		env = mod(env)
	}
	s.tray = startTray(t, env, opened)
	s.item = s.w.WaitItem(t, 30*time.Second)
	return s
}

// trayProc is the real tray binary running as a child of the test.
type trayProc struct {
	cmd    *exec.Cmd
	out    *logcapture.Buffer
	done   chan struct{}
	opened string // the fake xdg-open's record
}

// trayEnv is the environment orbit gives the tray: the Fleet settings, the
// session bus, and a PATH whose first xdg-open records what it opens.
func trayEnv(t *testing.T, f *fleetSrv, busAddr string) (env []string, opened string) {
	t.Helper()
	dir := t.TempDir()
	ident := filepath.Join(dir, "identifier")
	if err := os.WriteFile(ident, []byte(f.token), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	opened = filepath.Join(dir, "opened")
	script := "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '" + opened + "'\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env = []string{
		"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + dir,
		desktop.EnvFleetURL + "=" + f.URL(),
		desktop.EnvIdentifierPath + "=" + ident,
		desktop.EnvRootCA + "=" + f.CACertFile(),
		desktop.EnvTestPollInterval + "=300ms",
	}
	if busAddr != "" {
		env = append(env, "DBUS_SESSION_BUS_ADDRESS="+busAddr)
	}
	return env, opened
}

func startTray(t *testing.T, env []string, opened string) *trayProc {
	t.Helper()
	p := &trayProc{cmd: exec.Command(trayBinary(t)), out: &logcapture.Buffer{}, done: make(chan struct{}), opened: opened}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() || os.Getenv("TRAY_TEST_VERBOSE") != "" {
			t.Logf("tray output:\n%s", p.out.String())
		}
	})
	return p
}

// waitLog waits until the tray's output holds s.
func (p *trayProc) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("the tray exited (%v) before logging %q", p.cmd.ProcessState, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tray did not log %q within 30s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive fails the test if the tray has exited.
func (p *trayProc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("the tray exited: %v", p.cmd.ProcessState)
	default:
	}
}

// terminate sends SIGTERM and checks the tray exits 0 without a panic.
func (p *trayProc) terminate(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
}

// signal sends sig and checks the tray exits 0 without a panic.
func (p *trayProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.alive(t)
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the tray did not exit within 20s of %v", sig)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code after %v = %d (%v), want 0", sig, code, p.cmd.ProcessState)
	}
	for _, bad := range []string{"panic", "goroutine ", "deadlock", "nil pointer"} {
		if strings.Contains(p.out.String(), bad) {
			t.Fatalf("the tray's output has %q:\n%s", bad, p.out.String())
		}
	}
}

// cpuTicks is the process's user+system time in clock ticks, from
// /proc/<pid>/stat (fields 14 and 15).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state): utime is field 14, stime 15.
	u, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("cannot parse %q", s)
	}
	return u + st
}

// clockTicks is the kernel's USER_HZ.
func clockTicks(t *testing.T) int64 {
	t.Helper()
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return 100
	}
	return n
}

// checkIdle measures the tray's CPU over 10 s: under 0.5 % of a core.
func (p *trayProc) checkIdle(t *testing.T) {
	t.Helper()
	pid := p.cmd.Process.Pid
	before := cpuTicks(t, pid)
	start := time.Now()
	time.Sleep(10 * time.Second)
	used := cpuTicks(t, pid) - before
	p.alive(t)
	elapsed := time.Since(start)
	limit := float64(clockTicks(t)) * elapsed.Seconds() * 0.005
	if float64(used) > limit {
		t.Fatalf("the idle tray used %d ticks of CPU in %s, over 0.5%% of a core (%.1f ticks)", used, elapsed.Round(time.Millisecond), limit)
	}
	t.Logf("idle tray: %d CPU ticks in %s (limit %.1f)", used, elapsed.Round(time.Millisecond), limit)
}

// countLines counts the output lines holding s.
func (p *trayProc) countLines(s string) int {
	n := 0
	for _, l := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// waitMenu reads the item's menu until ok accepts it.
func waitMenu(t *testing.T, c *desktoptest.Client, it desktoptest.Item, what string, ok func([]desktoptest.Entry) bool) []desktoptest.Entry {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last []desktoptest.Entry
	var lastErr error
	for {
		entries, err := c.Layout(it)
		if err == nil && ok(entries) {
			return entries
		}
		last, lastErr = entries, err
		if time.Now().After(deadline) {
			t.Fatalf("the menu did not show %s within 30s; last: %+v, %v", what, last, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasStatus(title string) func([]desktoptest.Entry) bool {
	return func(es []desktoptest.Entry) bool { _, ok := desktoptest.Find(es, title); return ok }
}

// waitOpened waits for n pages in the fake xdg-open's record.
func (p *trayProc) waitOpened(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(p.opened)
		lines := strings.Fields(string(b))
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pages opened within 30s, want %d: %q", len(lines), n, lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func desktopCalls(f *fleetSrv) fleettest.CallFilter {
	return fleettest.CallFilter{Method: "GET", Path: "/api/latest/fleet/device/" + f.token + "/desktop"}
}

func waitCalls(t *testing.T, f *fleetSrv, filter fleettest.CallFilter, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.WaitForCalls(ctx, filter, n); err != nil {
		t.Fatalf("waiting for %d calls to %s: %v", n, filter.Path, err)
	}
}

// ownerPid is the pid of the connection that owns an item.
func ownerPid(t *testing.T, addr string, it desktoptest.Item) uint32 {
	t.Helper()
	c := desktoptest.Dial(t, addr)
	pid, err := c.ConnectionPid(it.Owner)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
