package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testuser"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
)

// liveProcesses are uid's processes that are not zombies, but those in
// except (the user's own bus daemon and watcher).
func liveProcesses(uid uint32, except ...int) []int {
	var out []int
	for _, pid := range testuser.Processes(uid) {
		if alive(pid) && !slices.Contains(except, pid) {
			out = append(out, pid)
		}
	}
	return out
}

func ppidOf(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// trayHost is a Fleet server and u logged in. What orbit hands the tray
// must be readable by the user (the tray, the CA bundle, the root with the
// identifier file), so it all goes under shared.
type trayHost struct {
	fleet   *fleettest.Server
	shared  string
	ca      string
	run     string // the test's /run/user
	session *testuser.Session
}

func newTrayHost(t *testing.T, u testuser.User, secret string) *trayHost {
	t.Helper()
	h := &trayHost{fleet: fleetServer(t, secret), shared: testdir.Shared(t)}
	h.ca = filepath.Join(h.shared, "fleet-ca.pem")
	if err := safefile.CopyFile(h.fleet.CACertFile(), h.ca, 0o644); err != nil {
		t.Fatal(err)
	}
	h.run = filepath.Join(h.shared, "run")
	if err := os.Mkdir(h.run, 0o755); err != nil {
		t.Fatal(err)
	}
	h.session = testuser.NewSession(t, u, h.run)
	return h
}

// TestTrayPerUserEndToEnd: the real orbit, as root, with --fleet-desktop
// and a real user logged in (a runtime directory with their own session
// bus and a compositor socket): the real tray app runs as that user with
// orbit as its parent, reaches Fleet with orbit's settings and registers
// on the user's bus; orbit status shows it; it is restarted after kill -9
// and reaped; it stops when the session ends; and nothing of the user's is
// left after orbit is killed with SIGKILL, or stopped with SIGTERM.
func TestTrayPerUserEndToEnd(t *testing.T) {
	t.Parallel()
	u := testuser.New(t)
	watcherBin := testbin.NeedTool(t, "status-notifier-watcher")
	dbusSend := testbin.NeedTool(t, "dbus-send")
	const secret = "tray-e2e-secret"
	h := newTrayHost(t, u, secret)
	fleetSrv, shared, ca, run := h.fleet, h.shared, h.ca, h.run
	tray := filepath.Join(shared, "fleet-desktop")
	if err := safefile.CopyFile(testbin.Build(t, "./cmd/desktop", "fleet-desktop", "-X main.version=3.2.1-e2e"), tray, 0o755); err != nil {
		t.Fatal(err)
	}
	s := h.session
	stopWatcher := s.Watcher(t, watcherBin)
	root := filepath.Join(shared, "orbit")
	args := []string{"--fleet-url=" + fleetSrv.URL(), "--fleet-certificate=" + ca, "--config-interval=1s",
		"--fleet-desktop", "--desktop-path=" + tray, "--desktop-sessions-dir=" + run}
	env := []string{"ORBIT_ENROLL_SECRET=" + secret}
	p := startOrbit(t, root, env, args...)

	name := "desktop/" + u.Name
	trayState := func() (status.Component, bool) {
		snap, err := status.Read(filepath.Join(root, "state.json"))
		if err != nil {
			return status.Component{}, false
		}
		c, ok := snap.Components[name]
		return c, ok
	}
	waitTray := func(what string, notPID int) status.Component {
		t.Helper()
		var c status.Component
		testwait.Within(t, 60*time.Second, what, func() bool {
			var ok bool
			c, ok = trayState()
			return ok && c.State == status.StateRunning && c.PID > 0 && c.PID != notPID && alive(c.PID)
		})
		return c
	}
	c := waitTray("the tray app running for "+u.Name, 0)
	testuser.CheckCreds(t, c.PID, u)
	if ppid := ppidOf(t, c.PID); ppid != p.cmd.Process.Pid {
		t.Errorf("the tray's parent is %d, want orbit %d (started directly, no sudo or shell)", ppid, p.cmd.Process.Pid)
	}
	if c.User != u.Name || c.Session != "uid-"+strconv.FormatUint(uint64(u.UID), 10) || c.Path != tray {
		t.Errorf("state of %s: %+v", name, c)
	}
	// The tray read the identifier orbit wrote, trusted orbit's CA and
	// reached the server; it is on the user's bus.
	testwait.Within(t, 60*time.Second, "the tray connected to Fleet", func() bool {
		return strings.Contains(p.log.String(), `connected to fleet`)
	})
	testwait.Within(t, 60*time.Second, "the tray registered on the user's bus", func() bool {
		return s.ItemRegisteredBy(dbusSend, c.PID)
	})
	stopWatcher()

	out, _, code := runOrbit(t, nil, "status", "--root-dir="+root)
	if code != 0 || !strings.Contains(out, name) {
		t.Fatalf("orbit status (exit %d) lacks %s:\n%s", code, name, out)
	}
	row := statusRow(out, name)
	if f := strings.Fields(row); len(f) < 5 || f[1] != "running" || f[2] != strconv.Itoa(c.PID) || f[4] != "0" {
		t.Errorf("orbit status row for %s: %q", name, row)
	}
	jout, _, _ := runOrbit(t, nil, "status", "--json", "--root-dir="+root)
	var js struct {
		Components map[string]struct {
			User     string `json:"user"`
			Session  string `json:"session"`
			PID      int    `json:"pid"`
			Restarts int    `json:"restarts"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(jout), &js); err != nil {
		t.Fatalf("orbit status --json: %v\n%s", err, jout)
	}
	if j := js.Components[name]; j.User != u.Name || j.PID != c.PID || j.Session == "" {
		t.Errorf("orbit status --json %s: %+v", name, j)
	}

	// kill -9: restarted, reaped by orbit.
	if err := syscall.Kill(c.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c2 := waitTray("the tray restarted after kill -9", c.PID)
	testuser.CheckCreds(t, c2.PID, u)
	if c2.Restarts < 1 || !strings.Contains(c2.LastError, "killed") {
		t.Errorf("state after kill -9: %+v", c2)
	}
	if z := testuser.Zombies(p.cmd.Process.Pid); len(z) != 0 {
		t.Errorf("orbit has zombie children %v", z)
	}
	out, _, _ = runOrbit(t, nil, "status", "--root-dir="+root)
	if row := statusRow(out, name); !strings.Contains(row, "killed") || !strings.Contains(row, strconv.Itoa(c2.PID)) {
		t.Errorf("orbit status row after kill -9: %q", row)
	}

	// Logout: stopped, reaped, and gone from the state file.
	s.Logout(t)
	testwait.Within(t, 60*time.Second, "the tray gone from the state file after logout", func() bool {
		_, ok := trayState()
		return !ok
	})
	if alive(c2.PID) || len(testuser.Zombies(p.cmd.Process.Pid)) != 0 {
		t.Errorf("after logout: tray %d alive %t, orbit's zombies %v", c2.PID, alive(c2.PID), testuser.Zombies(p.cmd.Process.Pid))
	}

	// Login again; orbit is killed with SIGKILL: the tray goes with it
	// (parent-death signal, and its own parent watch).
	s.Login(t)
	c3 := waitTray("the tray running after a new login", 0)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 30*time.Second)
	testwait.For(t, "the tray gone after orbit was killed", func() bool { return !alive(c3.PID) })
	if left := liveProcesses(u.UID, s.Bus.Pid()); len(left) != 0 {
		t.Errorf("processes of %s left after kill -9 of orbit: %v", u.Name, left)
	}

	// A new orbit runs the tray again; SIGTERM stops both.
	p = startOrbit(t, root, env, args...)
	c4 := waitTray("the tray running under a new orbit", 0)
	testuser.CheckCreds(t, c4.PID, u)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Errorf("orbit exit after SIGTERM: %v", err)
	}
	if alive(c4.PID) {
		t.Errorf("the tray %d outlived orbit's SIGTERM", c4.PID)
	}
	s.Bus.Kill()
	if left := liveProcesses(u.UID); len(left) != 0 {
		t.Errorf("processes of %s left after orbit stopped: %v", u.Name, left)
	}
	if z := testuser.Zombies(os.Getpid()); len(z) != 0 {
		t.Errorf("zombie children of the test: %v", z)
	}
	if c, ok := trayState(); !ok || c.State != status.StateStopped {
		t.Errorf("state of %s after orbit stopped: %+v (present %t)", name, c, ok)
	}
}

// statusRow is the line of orbit status's table for a component.
func statusRow(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return line
		}
	}
	return ""
}

// TestTrayRestartsOnUpdateEndToEnd: the tray app comes from the updater
// (Fleet's desktop.tar.gz), unpacked where the user can run it; a new
// release restarts the user's copy on the new binary.
func TestTrayRestartsOnUpdateEndToEnd(t *testing.T) {
	t.Parallel()
	u := testuser.New(t)
	const secret = "tray-update-secret"
	h := newTrayHost(t, u, secret)
	fleetSrv, shared, ca, run := h.fleet, h.shared, h.ca, h.run
	tray := func(version string) string {
		return testbin.DesktopArchive(t, testbin.Build(t, "./cmd/desktop", "fleet-desktop", "-X main.version="+version))
	}
	tr := newTUFRepo(t)
	tr.add(t, "desktop", tray("1.0.0"), "1.0.0")
	root := filepath.Join(shared, "orbit")
	p := startOrbitArgs(t, []string{"ORBIT_ENROLL_SECRET=" + secret}, append([]string{
		"--root-dir=" + root, "--osqueryd-path=" + osquerydBin(t), "--stop-grace=2s",
		"--fleet-url=" + fleetSrv.URL(), "--fleet-certificate=" + ca,
		"--fleet-desktop", "--desktop-sessions-dir=" + run}, tr.updateArgs()...)...)

	name := "desktop/" + u.Name
	running := func(notPID int) status.Component {
		t.Helper()
		var c status.Component
		testwait.Within(t, 90*time.Second, name+" running", func() bool {
			snap, err := status.Read(filepath.Join(root, "state.json"))
			c = snap.Components[name]
			return err == nil && c.State == status.StateRunning && c.PID > 0 && c.PID != notPID && alive(c.PID)
		})
		return c
	}
	c1 := running(0)
	testuser.CheckCreds(t, c1.PID, u)
	if !strings.Contains(c1.Path, filepath.Join(root, "bin", "desktop", "linux", "stable")) || c1.Version != "1.0.0" {
		t.Errorf("first tray %+v: want the updater's 1.0.0", c1)
	}

	tr.add(t, "desktop", tray("1.1.0"), "1.1.0")
	c2 := running(c1.PID)
	testwait.Within(t, 30*time.Second, "the state file shows 1.1.0", func() bool {
		snap, _ := status.Read(filepath.Join(root, "state.json"))
		c2 = snap.Components[name]
		return c2.Version == "1.1.0"
	})
	testuser.CheckCreds(t, c2.PID, u)
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", c2.PID)); err != nil || exe != c2.Path || exe == c1.Path {
		t.Errorf("the restarted tray runs %q (%v); want the new release %s, not %s", exe, err, c2.Path, c1.Path)
	}
	if strings.Contains(c2.LastError, "killed") {
		t.Errorf("the update restart killed the tray instead of stopping it: %+v", c2)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 30*time.Second)
	if alive(c2.PID) {
		t.Errorf("the tray %d outlived orbit", c2.PID)
	}
}
