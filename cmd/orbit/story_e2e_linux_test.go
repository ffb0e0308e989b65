package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
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

// The story of `make demo` (scripts/demo.sh), with assertions: what the
// demo shows, checked from the server's records, orbit status and the
// processes themselves.

// statusJSON is `orbit status --json` for root.
func statusJSON(t *testing.T, root string) status.Snapshot {
	t.Helper()
	out, errOut, code := runOrbit(t, nil, "status", "--json", "--root-dir="+root)
	var s status.Snapshot
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil {
		t.Fatalf("orbit status --json (exit %d): %s %s", code, out, errOut)
	}
	return s
}

// exeSays runs the executable of a live process (whatever file it was
// started from, even replaced since) with args, and returns what it prints.
func exeSays(t *testing.T, pid int, args ...string) string {
	t.Helper()
	out, err := exec.Command(fmt.Sprintf("/proc/%d/exe", pid), args...).Output()
	if err != nil {
		t.Fatalf("/proc/%d/exe %s: %v", pid, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func exeOf(pid int) string {
	p, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return p
}

// processesUnder lists the live processes whose executable or command
// line is under dir.
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(exeOf(pid), dir) || strings.Contains(args, dir) {
			out = append(out, fmt.Sprintf("%d %s", pid, args))
		}
	}
	return out
}

// storyHost is orbit run from a deb's unpacked tree, as its unit runs it.
type storyHost struct {
	root  string // <tree>/opt/orbit
	proc  *orbitProc
	fleet *fleettest.Server
}

// state reads the state file (cheap enough to poll; the checks that
// follow a wait read `orbit status --json`).
func (h *storyHost) state() status.Snapshot {
	s, _ := status.Read(filepath.Join(h.root, "state.json"))
	return s
}

// TestStoryEndToEnd: a release of orbit, osqueryd and the tray app in a
// TUF repository; a deb built from it by orbitctl package, unpacked, and
// orbit run from its tree with its /etc/default/orbit against the Fleet
// test server; a live query and orbit_info answered; a new osqueryd picked
// up and a broken one rolled back by itself; a software install; the tray
// app, run by orbit as a logged-in user, showing the failing-policy count
// on the user's bus; a standalone orbit writing its packs' results; and no
// process left under the test's directories.
func TestStoryEndToEnd(t *testing.T) {
	t.Parallel()
	dpkgDeb := testbin.NeedTool(t, "dpkg-deb")
	const secret = "story-enroll-secret-5e2a"
	const trayVersion = "1.0.0-story"
	withTray := os.Geteuid() == 0 || os.Getenv("CI") == "true"
	if !withTray {
		t.Log("not root: the tray part is left out (orbit starts the tray as the logged-in user)")
	}

	// 1. The release: orbit, osqueryd 5.12.1 and the tray app (Fleet's
	// desktop.tar.gz) on stable.
	tray := testbin.Build(t, "./cmd/desktop", "fleet-desktop", "-X main.version="+trayVersion)
	tr := newTUFRepo(t)
	tr.add(t, "orbit", orbitBin(t), "1.0.0-test")
	tr.add(t, "osqueryd", testbinOsqueryd(t, "5.12.1"), "5.12.1")
	tr.add(t, "desktop", testbin.DesktopArchive(t, tray), "1.0.0")

	srv := fleetServer(t, secret)
	if err := srv.SetStartupFlags(map[string]any{"distributed_interval": 1}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetOsqueryConfig(map[string]any{"options": map[string]any{"distributed_interval": 1, "logger_tls_period": 10}}); err != nil {
		t.Fatal(err)
	}

	// 2. The admin's deb, unpacked where a logged-in user can reach the
	// tray app and the device token, as under /opt.
	shared := testdir.Shared(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(t.TempDir(), "orbit.deb")
	ctl := exec.Command(testbin.Build(t, "./cmd/orbitctl", "orbitctl", ""), "package", "--type", "deb", "--arch", runtime.GOARCH,
		"--version", "1.0.0", "--local-repo", tr.dir, "--fleet-url", srv.URL(), "--fleet-certificate", srv.CACertFile(),
		"--enroll-secret-path", secretFile, "--update-url", tr.url, "--update-interval", "10s",
		"--fleet-desktop", "--enable-scripts", "--output", deb)
	ctl.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1715000000")
	if out, err := ctl.CombinedOutput(); err != nil {
		t.Fatalf("orbitctl package: %v\n%s", err, out)
	}
	listing, err := exec.Command(dpkgDeb, "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^-rw------- root/root .* \./etc/default/orbit$`).Match(listing) {
		t.Fatalf("the settings file is not 0600 root/root:\n%s", listing)
	}
	tree := filepath.Join(shared, "deb")
	if out, err := exec.Command(dpkgDeb, "-x", deb, tree).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	settings, err := os.ReadFile(filepath.Join(tree, "etc", "default", "orbit"))
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(shared, "run") // the logged-in users' /run/user
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(tree, "opt", "orbit")
	// The package's settings with /opt/orbit in the tree, and the test's:
	// a fast config poll, a short stop, the sessions of run.
	env := strings.ReplaceAll(string(settings), "/opt/orbit", root) +
		"ORBIT_CONFIG_INTERVAL=1s\nORBIT_STOP_GRACE=2s\nORBIT_DESKTOP_SESSIONS_DIR=" + run + "\n"
	envFile := filepath.Join(t.TempDir(), "orbit.env")
	if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	// As the unit runs it: EnvironmentFile, then the stable path.
	orbitPath := filepath.Join(root, "bin", "orbit", "orbit")
	p := startOrbitExe(t, "/bin/sh", nil, "-c", `set -a; . "$0"; set +a; exec "$1"`, envFile, orbitPath)
	h := &storyHost{root: root, proc: p, fleet: srv}
	orbitPID := p.cmd.Process.Pid

	// 3. orbit and the bundled osqueryd run, enrolled.
	host := enrolledHost(t, srv)
	osq := h.waitOsqueryd(t, "5.12.1", 0)
	if got, want := exeOf(orbitPID), filepath.Join(root, "bin", "orbit", "linux", "stable", "orbit"); got != want {
		t.Errorf("orbit runs %s, want the package's %s", got, want)
	}
	if s := statusJSON(t, root); s.OrbitVersion != "1.0.0-test" || s.OrbitPID != orbitPID || !strings.Contains(exeSays(t, orbitPID, "version"), "1.0.0-test") {
		t.Errorf("orbit status says orbit %s pid %d; the process %d says %q", s.OrbitVersion, s.OrbitPID, orbitPID, exeSays(t, orbitPID, "version"))
	}
	if got, want := exeOf(osq), filepath.Join(root, "bin", "osqueryd", "linux", "stable", "osqueryd"); got != want {
		t.Errorf("osqueryd runs %s, want the bundled %s", got, want)
	}

	// 4. A live query, answered and recorded by the server; orbit_info
	// through osqueryd's socket and through Fleet.
	srv.AddDistributedQuery("story_whoami", "SELECT hostname, uuid FROM system_info")
	res := waitResult(t, "the live query's result", func() []fleettest.DistributedResult { return srv.DistributedResults("story_whoami") },
		func(fleettest.DistributedResult) bool { return true })
	if res.Status != 0 || len(res.Rows) != 1 || !strings.EqualFold(res.Rows[0]["uuid"], host.HardwareUUID) {
		t.Errorf("live query result %+v, want the enrolled host's uuid %s", res, host.HardwareUUID)
	}
	token := strings.TrimSpace(string(mustReadFile(t, filepath.Join(root, "identifier"))))
	orbitInfo := func(rows []map[string]string) bool {
		return len(rows) == 1 && rows[0]["version"] == "1.0.0-test" && rows[0]["enrolled"] == "true" && rows[0]["device_auth_token"] == token
	}
	waitRows(t, root, "SELECT * FROM orbit_info", "orbit_info through osqueryd's socket", orbitInfo)
	srv.AddDistributedQuery("story_orbit_info", "SELECT * FROM orbit_info")
	res = waitResult(t, "orbit_info through Fleet", func() []fleettest.DistributedResult { return srv.DistributedResults("story_orbit_info") },
		func(fleettest.DistributedResult) bool { return true })
	if !orbitInfo(res.Rows) {
		t.Errorf("orbit_info recorded by Fleet: %+v", res)
	}

	// 5. A new osqueryd is picked up; a broken one is rolled back by
	// itself, recorded and shown by orbit status.
	tr.add(t, "osqueryd", testbinOsqueryd(t, "5.13.0"), "5.13.0")
	osq = h.waitOsqueryd(t, "5.13.0", osq)
	bad := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "-X main.version=5.14.0 -X main.crashAtStart=1")
	tr.add(t, "osqueryd", bad, "5.14.0")
	rolledBackIn := func(s status.Snapshot) (status.UpdateEvent, bool) {
		for _, ev := range s.Updates {
			if ev.Component == "osqueryd" && ev.Action == "rolled_back" {
				return ev, true
			}
		}
		return status.UpdateEvent{}, false
	}
	testwait.Within(t, 150*time.Second, "5.14.0 rolled back", func() bool { _, ok := rolledBackIn(h.state()); return ok })
	rolledBack, ok := rolledBackIn(statusJSON(t, root))
	if !ok {
		t.Fatal("orbit status --json lacks the rollback the state file has")
	}
	if rolledBack.Version != "5.14.0" || rolledBack.Hash == "" {
		t.Errorf("rollback event %+v, want 5.14.0 and its hash", rolledBack)
	}
	osq = h.waitOsqueryd(t, "5.13.0", 0)
	if out, _, _ := runOrbit(t, nil, "status", "--root-dir="+root); !strings.Contains(out, "rolled_back 5.14.0") {
		t.Errorf("orbit status does not show the rollback:\n%s", out)
	}
	var ust struct {
		Failures map[string]struct {
			Bad bool `json:"bad"`
		} `json:"failures"`
	}
	if err := json.Unmarshal(mustReadFile(t, filepath.Join(root, "tuf", "updater-state.json")), &ust); err != nil || !ust.Failures[rolledBack.Hash].Bad {
		t.Errorf("5.14.0's hash not marked bad in the updater's state: %+v %v", ust, err)
	}

	// 6. Fleet queues a software install; its result arrives.
	marker := filepath.Join(t.TempDir(), "installed")
	installID := queueInstaller(t, srv, host.HardwareUUID, fleettest.SoftwareInstaller{
		Filename: "demo-tool_1.0_all.deb", Package: []byte("demo-tool 1.0"),
		PreInstallQuery:   "SELECT 1 AS ready WHERE 1 = 1",
		InstallScript:     "#!/bin/sh -e\necho \"installing $(basename \"$INSTALLER_PATH\")\"\ncp \"$INSTALLER_PATH\" " + marker + "\n",
		PostInstallScript: "echo post-install ok",
	})
	r := installResult(t, srv, installID)
	if r.Status != "installed" || code(r.InstallScriptExitCode) != "0" || val(r.InstallScriptOutput) != "installing demo-tool_1.0_all.deb\n" ||
		code(r.PostInstallScriptExitCode) != "0" || val(r.PreInstallConditionOutput) != `[{"ready":"1"}]` {
		t.Errorf("install result: status %s, pre %q, install %s %q, post %s", r.Status, val(r.PreInstallConditionOutput),
			code(r.InstallScriptExitCode), val(r.InstallScriptOutput), code(r.PostInstallScriptExitCode))
	}
	if b, _ := os.ReadFile(marker); string(b) != "demo-tool 1.0" {
		t.Errorf("the install script got %q as the package", b)
	}
	noInstallLeftovers(t, root)

	// 7. The tray app shows the failing-policy count on the user's bus.
	var trayPID int
	logout := func() {}
	if withTray {
		trayPID, logout = h.trayShowsPolicies(t, run, shared, trayVersion)
	}

	// 8. orbit stops on SIGTERM, and everything it ran with it.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Errorf("orbit's exit after SIGTERM: %v", err)
	}
	for _, pid := range []int{osq, trayPID} {
		if pid != 0 && alive(pid) {
			t.Errorf("process %d (%s) outlived orbit", pid, exeOf(pid))
		}
	}
	logout()

	// 9. Standalone mode: local packs, results on disk.
	modRoot, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(shared, "osquery.conf")
	raw := strings.ReplaceAll(string(mustReadFile(t, filepath.Join(modRoot, "testdata", "standalone", "osquery.conf"))),
		`"testdata/standalone/`, `"`+filepath.Join(modRoot, "testdata", "standalone")+"/")
	if err := os.WriteFile(conf, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	sroot := filepath.Join(shared, "standalone")
	sp := startOrbit(t, sroot, []string{"OSQUERYD_STANDIN_INTERVAL_SCALE=0.5"}, "--osquery-config="+conf)
	results := filepath.Join(sroot, "osquery_log", "osqueryd.results.log")
	testwait.Within(t, 60*time.Second, "the inventory pack's results on disk", func() bool {
		b, _ := os.ReadFile(results)
		return strings.Contains(string(b), `"name":"pack_inventory_`)
	})
	testwait.Within(t, 60*time.Second, "the snapshot query's results on disk", func() bool {
		b, _ := os.ReadFile(filepath.Join(sroot, "osquery_log", "osqueryd.snapshots.log"))
		return strings.Contains(string(b), `"name":"system_info"`)
	})
	if err := sp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := sp.wait(t, 60*time.Second); err != nil {
		t.Errorf("standalone orbit's exit after SIGTERM: %v", err)
	}

	// Nothing runs from the test's directories, and no secret was logged.
	if !testwait.Poll(20*time.Second, func() bool { return len(processesUnder(shared)) == 0 }) {
		left := processesUnder(shared)
		t.Errorf("processes left under %s: %q", shared, left)
	}
	for _, s := range []string{secret, token} {
		if strings.Contains(p.log.String(), s) || strings.Contains(sp.log.String(), s) {
			t.Errorf("a secret is in orbit's output (%.6s...)", s)
		}
	}
}

// waitOsqueryd waits until orbit status shows osqueryd version running
// (with a pid other than notPID), and checks that the process is it: its
// executable says that version.
func (h *storyHost) waitOsqueryd(t *testing.T, version string, notPID int) int {
	t.Helper()
	running := func(c status.Component) bool {
		return c.State == status.StateRunning && c.Version == version && c.PID != notPID && alive(c.PID)
	}
	testwait.Within(t, 120*time.Second, "osqueryd "+version+" running", func() bool { return running(h.state().Components["osqueryd"]) })
	c := statusJSON(t, h.root).Components["osqueryd"]
	if !running(c) {
		t.Fatalf("orbit status --json shows osqueryd %+v, want %s running", c, version)
	}
	if got := exeSays(t, c.PID, "--version"); got != "osqueryd version "+version {
		t.Fatalf("osqueryd %d says %q; orbit status says %s", c.PID, got, version)
	}
	return c.PID
}

// trayShowsPolicies logs a user in (their own session bus, a compositor
// socket and Debian's StatusNotifierWatcher, as on a desktop), sets two
// failing policies of three on the server, waits for orbit to start the
// tray app for the user, as the user, and reads its menu over the user's
// bus with democtl (as the user: the bus refuses everyone else). It
// returns the tray's pid and the user's logout.
func (h *storyHost) trayShowsPolicies(t *testing.T, run, shared, trayVersion string) (int, func()) {
	t.Helper()
	watcher := testbin.NeedTool(t, "status-notifier-watcher")
	democtl := filepath.Join(shared, "democtl")
	if err := safefile.CopyFile(testbin.Build(t, "./testdata/demo/democtl", "democtl", ""), democtl, 0o755); err != nil {
		t.Fatal(err)
	}
	h.fleet.SetPolicies([]fleettest.Policy{
		{ID: 1, Name: "disk encryption", Query: "SELECT 1", Response: "fail"},
		{ID: 2, Name: "screen lock", Query: "SELECT 1", Response: "fail"},
		{ID: 3, Name: "firewall", Query: "SELECT 1", Response: "pass"},
	})
	u := testuser.New(t)
	s := testuser.NewSession(t, u, run)
	stopWatcher := s.Watcher(t, watcher)

	name := "desktop/" + u.Name
	running := func(c status.Component) bool { return c.State == status.StateRunning && c.PID > 0 && alive(c.PID) }
	testwait.Within(t, 90*time.Second, "the tray app running for "+u.Name, func() bool { return running(h.state().Components[name]) })
	c := statusJSON(t, h.root).Components[name]
	if !running(c) || c.User != u.Name {
		t.Fatalf("orbit status --json shows %s as %+v", name, c)
	}
	testuser.CheckCreds(t, c.PID, u)
	if ppid := ppidOf(t, c.PID); ppid != h.proc.cmd.Process.Pid {
		t.Errorf("the tray's parent is %d, want orbit %d", ppid, h.proc.cmd.Process.Pid)
	}
	if exe := exeOf(c.PID); !strings.HasPrefix(exe, filepath.Join(h.root, "bin", "desktop", "linux", "stable")+"/") {
		t.Errorf("the tray app runs %s, not the one orbit installed from the package", exe)
	}
	if got := exeSays(t, c.PID, "--version"); got != "fleet-desktop "+trayVersion {
		t.Errorf("the tray app says %q, want version %s", got, trayVersion)
	}

	out, err := s.Command(democtl, "menu", "--bus", s.Bus.Address, "--want", "2 failing policies", "--timeout", "90s").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("the tray's menu never showed 2 failing policies: %v %s\n%s", err, stderr, out)
	}
	menu := string(out)
	if !strings.HasPrefix(menu, "item ") || !strings.Contains(strings.SplitN(menu, "\n", 2)[0], " pid "+strconv.Itoa(c.PID)) {
		t.Errorf("the menu read is not the tray app's (pid %d):\n%s", c.PID, menu)
	}
	for _, want := range []string{"Fleet Desktop v" + trayVersion, "My device"} {
		if !strings.Contains(menu, "  "+want+" ") {
			t.Errorf("the menu lacks %q:\n%s", want, menu)
		}
	}
	return c.PID, func() {
		stopWatcher()
		s.Logout(t)
		if left := liveProcesses(u.UID); len(left) != 0 {
			t.Errorf("processes of %s left after logout: %v", u.Name, left)
		}
	}
}
