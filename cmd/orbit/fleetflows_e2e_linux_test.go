package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
)

// The end-to-end tests of Fleet's host-side workflows: the real orbit, the
// stand-in osqueryd (pre-install queries go through its extension socket)
// and the Fleet test server with its per-host queue.

// shortRoot is a root directory whose extension socket path stays well
// under the 104-byte limit of Unix socket names.
func shortRoot(t *testing.T) string {
	t.Helper()
	return filepath.Join(testdir.Short(t), "orbit")
}

// startFleetOrbit runs orbit against srv, polling every second.
func startFleetOrbit(t *testing.T, srv *fleettest.Server, root, secret string, args ...string) *orbitProc {
	t.Helper()
	return startOrbit(t, root, []string{"ORBIT_ENROLL_SECRET=" + secret},
		append([]string{"--fleet-url=" + srv.URL(), "--fleet-certificate=" + srv.CACertFile(), "--config-interval=1s"}, args...)...)
}

func enrolledHost(t *testing.T, srv *fleettest.Server) fleettest.OrbitHost {
	t.Helper()
	var h fleettest.OrbitHost
	testwait.For(t, "orbit enrolled", func() bool {
		hs := srv.OrbitHosts()
		if len(hs) == 1 {
			h = hs[0]
		}
		return len(hs) == 1
	})
	return h
}

func queueInstaller(t *testing.T, srv *fleettest.Server, hw string, in fleettest.SoftwareInstaller) string {
	t.Helper()
	id, err := srv.AddSoftwareInstaller(in)
	if err != nil {
		t.Fatal(err)
	}
	installID, err := srv.QueueSoftwareInstall(hw, id)
	if err != nil {
		t.Fatal(err)
	}
	return installID
}

// waitResult waits for the first of the server's results that matches.
func waitResult[T any](t *testing.T, what string, results func() []T, match func(T) bool) T {
	t.Helper()
	var r T
	testwait.Within(t, 60*time.Second, what, func() bool {
		for _, x := range results() {
			if match(x) {
				r = x
				return true
			}
		}
		return false
	})
	return r
}

func installResult(t *testing.T, srv *fleettest.Server, installID string) fleettest.SoftwareInstallResult {
	t.Helper()
	return waitResult(t, "install result for "+installID, srv.SoftwareInstallResults,
		func(r fleettest.SoftwareInstallResult) bool { return r.InstallUUID == installID })
}

func scriptResult(t *testing.T, srv *fleettest.Server, execID string) fleettest.ScriptResult {
	t.Helper()
	return waitResult(t, "script result for "+execID, srv.ScriptResults,
		func(r fleettest.ScriptResult) bool { return r.ExecutionID == execID })
}

func val(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func code(p *int) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.Itoa(*p)
}

// noInstallLeftovers checks the root holds no install directory and an
// empty journal once every result was delivered.
func noInstallLeftovers(t *testing.T, root string) {
	t.Helper()
	testwait.For(t, "install directories removed and journal emptied", func() bool {
		entries, _ := os.ReadDir(filepath.Join(root, "software-installs"))
		j, _ := os.ReadFile(filepath.Join(root, "software-installs.json"))
		return len(entries) == 0 && (len(j) == 0 || strings.Contains(string(j), `"installs": []`))
	})
}

func TestFleetSoftwareInstallsEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "flows-enroll-secret-77c1"
	srv := fleetServer(t, secret)
	root := shortRoot(t)
	marks := t.TempDir()
	p := startFleetOrbit(t, srv, root, secret, "--enable-scripts", "--end-user-email=jane.doe@example.com")
	hw := enrolledHost(t, srv).HardwareUUID

	// 1. An install whose condition holds (asked to osqueryd over its
	// extension socket), 2. the script queued after it, 3. an install
	// whose condition does not hold, 4. one whose post-install fails.
	ok := queueInstaller(t, srv, hw, fleettest.SoftwareInstaller{
		Filename: "tool_2.1_amd64.deb", Package: []byte("the package bytes"),
		PreInstallQuery:   "SELECT 1 AS ready WHERE 1 = 1",
		InstallScript:     "#!/bin/sh -e\necho \"installing $(basename \"$INSTALLER_PATH\")\"\ncat \"$INSTALLER_PATH\" > " + marks + "/installed\n",
		PostInstallScript: "echo post-install ok",
	})
	script, err := srv.QueueScript(hw, "echo script after install; touch "+marks+"/script")
	if err != nil {
		t.Fatal(err)
	}
	notMet := queueInstaller(t, srv, hw, fleettest.SoftwareInstaller{
		Filename: "other.deb", Package: []byte("x"),
		PreInstallQuery: "SELECT 1 AS ready WHERE 1 = 0", InstallScript: "touch " + marks + "/not-met-ran",
	})
	rollback := queueInstaller(t, srv, hw, fleettest.SoftwareInstaller{
		Filename: "broken.rpm", Package: []byte("y"),
		InstallScript: "echo installed", PostInstallScript: "echo service did not start; exit 4",
		UninstallScript: "echo removed; touch " + marks + "/uninstalled",
	})

	r := installResult(t, srv, ok)
	if r.Status != "installed" || val(r.PreInstallConditionOutput) != `[{"ready":"1"}]` ||
		code(r.InstallScriptExitCode) != "0" || val(r.InstallScriptOutput) != "installing tool_2.1_amd64.deb\n" ||
		code(r.PostInstallScriptExitCode) != "0" || val(r.PostInstallScriptOutput) != "post-install ok\n" {
		t.Fatalf("install result: status %s, pre %q, install %s %q, post %s %q", r.Status, val(r.PreInstallConditionOutput),
			code(r.InstallScriptExitCode), val(r.InstallScriptOutput), code(r.PostInstallScriptExitCode), val(r.PostInstallScriptOutput))
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "installed")); string(b) != "the package bytes" {
		t.Fatalf("the install script saw %q as the package", b)
	}
	s := scriptResult(t, srv, script)
	if s.ExitCode != 0 || s.Output != "script after install\n" || s.ReceivedAt.Before(r.ReceivedAt) {
		t.Fatalf("script queued after the install: %+v", s)
	}

	r = installResult(t, srv, notMet)
	if r.Status != "failed_install" || val(r.PreInstallConditionOutput) != "" || r.InstallScriptExitCode != nil {
		t.Fatalf("condition not met: status %s, pre %q, install %s", r.Status, val(r.PreInstallConditionOutput), code(r.InstallScriptExitCode))
	}
	if _, err := os.Stat(filepath.Join(marks, "not-met-ran")); err == nil {
		t.Fatal("the install ran although its condition was not met")
	}

	r = installResult(t, srv, rollback)
	want := "service did not start\n\nAttempting rollback by running uninstall script...\nUninstall script exit code: 0\nremoved\n"
	if r.Status != "failed_install" || code(r.InstallScriptExitCode) != "0" || code(r.PostInstallScriptExitCode) != "4" || val(r.PostInstallScriptOutput) != want {
		t.Fatalf("rollback: status %s, post %s %q, want 4 %q", r.Status, code(r.PostInstallScriptExitCode), val(r.PostInstallScriptOutput), want)
	}
	if _, err := os.Stat(filepath.Join(marks, "uninstalled")); err != nil {
		t.Fatal("the uninstall script did not run")
	}

	noInstallLeftovers(t, root)
	if n := len(srv.SoftwareInstallResults()); n != 3 {
		t.Fatalf("%d install results, want 3", n)
	}
	// The end-user email reached Fleet's device mapping, once.
	if m := srv.DeviceMappings(); len(m) != 1 || m[0].Email != "jane.doe@example.com" || m[0].HardwareUUID != hw {
		t.Fatalf("device mappings %+v", m)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	if strings.Contains(p.log.String(), secret) {
		t.Fatal("enroll secret in orbit's log")
	}
}

func TestFleetInstallWithScriptsDisabledEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "flows-disabled-secret-1a2b"
	srv := fleetServer(t, secret)
	root := shortRoot(t)
	marks := t.TempDir()
	startFleetOrbit(t, srv, root, secret)
	hw := enrolledHost(t, srv).HardwareUUID
	install := queueInstaller(t, srv, hw, fleettest.SoftwareInstaller{Filename: "x.deb", Package: []byte("x"), InstallScript: "touch " + marks + "/ran"})
	script, err := srv.QueueScript(hw, "touch "+marks+"/script-ran")
	if err != nil {
		t.Fatal(err)
	}
	r := installResult(t, srv, install)
	if r.Status != "failed_install" || code(r.InstallScriptExitCode) != "-2" || val(r.InstallScriptOutput) != "Scripts are disabled" {
		t.Fatalf("install with scripts disabled: status %s, %s %q", r.Status, code(r.InstallScriptExitCode), val(r.InstallScriptOutput))
	}
	// The queue moves on to the script behind it.
	if s := scriptResult(t, srv, script); s.ExitCode != -2 || s.Output != "Scripts are disabled" {
		t.Fatalf("script after it: %+v", s)
	}
	for _, f := range []string{"ran", "script-ran"} {
		if _, err := os.Stat(filepath.Join(marks, f)); err == nil {
			t.Fatalf("%s: something ran with scripts disabled", f)
		}
	}
	if n := len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/software_install/package"})); n != 0 {
		t.Fatalf("%d package downloads with scripts disabled", n)
	}
}

func TestFleetInstallKilledOrbitEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "flows-kill-secret-9d3e"
	srv := fleetServer(t, secret)
	root := shortRoot(t)
	marks := t.TempDir()
	p := startFleetOrbit(t, srv, root, secret, "--enable-scripts")
	hw := enrolledHost(t, srv).HardwareUUID
	install := queueInstaller(t, srv, hw, fleettest.SoftwareInstaller{
		Filename: "slow.deb", Package: []byte("z"),
		InstallScript:     "echo run >> " + marks + "/runs\necho $$ > " + marks + "/pid\nsleep 600\n",
		PostInstallScript: "touch " + marks + "/post-ran",
	})
	var scriptPID int
	testwait.Within(t, 60*time.Second, "install script running", func() bool {
		b, err := os.ReadFile(filepath.Join(marks, "pid"))
		scriptPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && scriptPID > 0
	})
	// The orphaned script is killed at the end (its group: sh and sleep).
	t.Cleanup(func() { syscall.Kill(-scriptPID, syscall.SIGKILL) })
	j, err := os.ReadFile(filepath.Join(root, "software-installs.json"))
	if err != nil || !strings.Contains(string(j), `"state": "running"`) {
		t.Fatalf("journal before the kill: %q (%v)", j, err)
	}

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 30*time.Second)
	srv.ResetCalls()
	script, err := srv.QueueScript(hw, "echo after")
	if err != nil {
		t.Fatal(err)
	}

	p2 := startFleetOrbit(t, srv, root, secret, "--enable-scripts")
	r := installResult(t, srv, install)
	if r.Status != "failed_install" || code(r.InstallScriptExitCode) != "-1" || !strings.Contains(val(r.InstallScriptOutput), "does not run an install twice") || r.PostInstallScriptExitCode != nil {
		t.Fatalf("result after the kill: status %s, install %s %q, post %s", r.Status, code(r.InstallScriptExitCode), val(r.InstallScriptOutput), code(r.PostInstallScriptExitCode))
	}
	// The queue moves on, and the install is neither reported again nor
	// run again.
	scriptResult(t, srv, script)
	if n := len(srv.SoftwareInstallResults()); n != 1 {
		t.Fatalf("%d install results, want exactly 1", n)
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "runs")); string(b) != "run\n" {
		t.Fatalf("install script ran %d times", strings.Count(string(b), "run"))
	}
	if n := len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/software_install/package"})); n != 0 {
		t.Fatalf("the install was downloaded again after the restart (%d)", n)
	}
	if _, err := os.Stat(filepath.Join(marks, "post-ran")); err == nil {
		t.Fatal("the post-install script ran after the restart")
	}
	noInstallLeftovers(t, root)
	if !strings.Contains(p2.log.String(), "reporting it as failed instead of running it again") {
		t.Fatalf("the restarted orbit did not say what it did:\n%s", p2.log.String())
	}
}

func TestFleetEndUserAuthRequiredEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "flows-eua-secret-5e6f"
	srv := fleetServer(t, secret)
	srv.RequireEndUserAuth(secret, true)
	root := shortRoot(t)
	p := startFleetOrbit(t, srv, root, secret, "--debug")
	testwait.For(t, "END_USER_AUTH_REQUIRED reported", func() bool { return strings.Contains(p.log.String(), "END_USER_AUTH_REQUIRED") })
	// osqueryd is not held back by an enrollment only a person can unblock.
	waitOsquerydRunning(t, root, 0)
	testwait.For(t, "state.json shows the refusal", func() bool {
		snap, err := status.Read(filepath.Join(root, "state.json"))
		return err == nil && snap.Fleet != nil && snap.Fleet.EnrollRefused == status.EnrollRefusedEndUserAuth
	})
	out, _, _ := runOrbit(t, nil, "status", "--root-dir="+root)
	if !strings.Contains(out, "enroll_refused="+status.EnrollRefusedEndUserAuth) {
		t.Fatalf("orbit status does not show the refusal:\n%s", out)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	log := p.log.String()
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "END_USER_AUTH_REQUIRED") && strings.Contains(l, `"component":"fleet"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "does not implement end-user sign-in") || strings.Contains(lines[0], "--enroll-secret") {
		t.Fatalf("want one line saying end-user authentication is required, got %q", lines)
	}
	if strings.Contains(log, secret) {
		t.Fatal("enroll secret in orbit's log")
	}
	if n := len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/enroll"})); n != 1 {
		t.Fatalf("%d enroll attempts in a few seconds, want 1 (retries wait the backoff's cap)", n)
	}
}

func TestFleetEnrollNotFoundEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "flows-404-secret-0c0d"
	srv := fleetServer(t, secret)
	srv.SetFault("/api/fleet/orbit/enroll", fleettest.Fault{Status: 404})
	root := shortRoot(t)
	p := startFleetOrbit(t, srv, root, secret)
	osq := waitOsquerydRunning(t, root, 0)
	testwait.For(t, "404 reported", func() bool { return strings.Contains(p.log.String(), "no Orbit enroll endpoint") })
	if c := osquerydState(t, root); c.PID != osq || !alive(osq) {
		t.Fatalf("osqueryd not kept running: %+v", c)
	}
	select {
	case <-p.done:
		t.Fatalf("orbit exited:\n%s", p.log.String())
	default:
	}
	if n := strings.Count(p.log.String(), "no Orbit enroll endpoint"); n != 1 {
		t.Fatalf("404 logged %d times", n)
	}
}

func TestFleetNotificationsEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "flows-notif-secret-4b4b"
	srv := fleetServer(t, secret)
	root := shortRoot(t)
	p := startFleetOrbit(t, srv, root, secret)
	hw := enrolledHost(t, srv).HardwareUUID
	osq := waitOsquerydRunning(t, root, 0)
	n := fleettest.Notifications{
		RenewEnrollmentProfile: true, NeedsProgrammaticWindowsMDMEnrollment: true,
		WindowsMDMDiscoveryEndpoint: "https://fleet.example/mdm", EnforceBitLockerEncryption: true,
		RunSetupExperience: true, RunDiskEncryptionEscrow: true,
		Extra: map[string]json.RawMessage{"not_yet_invented": json.RawMessage(`{"x":1}`)},
	}
	if err := srv.SetNotifications(hw, n); err != nil {
		t.Fatal(err)
	}
	configs := func() int { return len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/config"})) }
	start := configs()
	testwait.Within(t, 30*time.Second, "five config polls", func() bool { return configs() >= start+5 })
	log := p.log.String()
	for _, f := range []string{"renew_enrollment_profile", "needs_programmatic_windows_mdm_enrollment", "windows_mdm_discovery_endpoint",
		"enforce_bitlocker_encryption", "run_setup_experience", "run_disk_encryption_escrow", "not_yet_invented"} {
		if c := strings.Count(log, `"notification":"`+f+`"`); c != 1 {
			t.Errorf("%s logged %d times over five polls, want once", f, c)
		}
	}
	// The escrow request is one-shot: queued again, logged again.
	n.RunDiskEncryptionEscrow = true
	if err := srv.SetNotifications(hw, n); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "second escrow request logged", func() bool {
		return strings.Count(p.log.String(), `"notification":"run_disk_encryption_escrow"`) == 2
	})
	if c := osquerydState(t, root); c.PID != osq || c.Restarts != 0 {
		t.Fatalf("osqueryd disturbed: %+v", c)
	}
	select {
	case <-p.done:
		t.Fatalf("orbit exited:\n%s", p.log.String())
	default:
	}
}
