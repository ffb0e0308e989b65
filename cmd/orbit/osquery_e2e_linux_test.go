package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/updater/repo"
)

// queryRows runs `orbit status --query sql --json` and returns its rows,
// or nil and the output when the query failed.
func queryRows(t *testing.T, root, sql string) ([]map[string]string, string) {
	t.Helper()
	out, errOut, code := runOrbit(t, nil, "status", "--root-dir="+root, "--json", "--query", sql)
	if code != 0 {
		return nil, out + errOut
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("orbit status --query --json printed %q: %v", out, err)
	}
	return rows, ""
}

// waitRows polls the query until cond holds on its rows.
func waitRows(t *testing.T, root, sql, what string, cond func([]map[string]string) bool) []map[string]string {
	t.Helper()
	var rows []map[string]string
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		rows, last = queryRows(t, root, sql)
		if rows != nil && cond(rows) {
			return rows
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last answer %v %s", what, rows, last)
	return nil
}

// fleetServer is a Fleet test server (HTTPS) with one enroll secret.
func fleetServer(t *testing.T, secret string) *fleettest.Server {
	t.Helper()
	return fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{secret}, TLS: true})
}

// TestOrbitInfoThroughOsqueryd: orbit registers as an extension of the
// osqueryd it runs; SELECT * FROM orbit_info, through osqueryd's socket
// (orbit status --query) and as a Fleet distributed query, gives orbit's
// version, channels and current device token; after kill -9 of osqueryd
// orbit registers again with the new one.
func TestOrbitInfoThroughOsqueryd(t *testing.T) {
	t.Parallel()
	const secret = "orbit-info-secret-7c1d"
	srv := fleetServer(t, secret)
	if err := srv.SetStartupFlags(map[string]any{"distributed_interval": 1}); err != nil {
		t.Fatal(err)
	}
	root := shortRoot(t)
	p := startOrbit(t, root, []string{"ORBIT_ENROLL_SECRET=" + secret, "OSQUERYD_STANDIN_INTERVAL_SCALE=0.2"},
		"--fleet-url="+srv.URL(), "--fleet-certificate="+srv.CACertFile(), "--config-interval=1s",
		"--device-token-check-interval=200ms", "--osqueryd-channel=edge")
	first := waitOsquerydRunning(t, root, 0)

	var token string
	testwait.For(t, "device token registered", func() bool {
		b, err := os.ReadFile(filepath.Join(root, "identifier"))
		token = strings.TrimSpace(string(b))
		return err == nil && token != "" && srv.DeviceTokens()[token] != ""
	})
	check := func(rows []map[string]string) bool {
		r := rows[0]
		return len(rows) == 1 && r["version"] == "1.0.0-test" && r["device_auth_token"] == token && r["enrolled"] == "true" &&
			r["orbit_channel"] == "stable" && r["osqueryd_channel"] == "edge" && r["desktop_channel"] == "stable" && r["scripts_enabled"] == "0"
	}
	waitRows(t, root, "SELECT * FROM orbit_info", "orbit_info through the socket", check)

	// The same through Fleet: osqueryd reads the distributed query, asks
	// orbit's extension, and the server records the row.
	srv.AddDistributedQuery("fleet_detail_query_orbit_info", "SELECT * FROM orbit_info")
	var res []fleettest.DistributedResult
	testwait.Within(t, 60*time.Second, "distributed orbit_info result", func() bool {
		res = srv.DistributedResults("fleet_detail_query_orbit_info")
		return len(res) > 0
	})
	if res[0].Status != 0 || len(res[0].Rows) != 1 || !check(res[0].Rows) {
		t.Fatalf("Fleet recorded %+v, want orbit's row with token and channels", res[0])
	}
	// fleetd_logs carries orbit's own log lines.
	logs, out := queryRows(t, root, "SELECT message FROM fleetd_logs")
	found := false
	for _, r := range logs {
		found = found || r["message"] == "orbit starting"
	}
	if !found {
		t.Fatalf("fleetd_logs lacks orbit's start line: %v %s", logs, out)
	}

	// kill -9: a new osqueryd knows no extensions; orbit registers again.
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitOsquerydRunning(t, root, first)
	waitRows(t, root, "SELECT * FROM orbit_info", "orbit_info after osqueryd's restart", check)
	if n := strings.Count(p.log.String(), `"message":"osquery extension registered"`); n < 2 {
		t.Fatalf("registered %d times, want again after the restart:\n%s", n, p.log.String())
	}
	// The table output names the columns.
	txt, _, code := runOrbit(t, nil, "status", "--root-dir="+root, "--query", "SELECT version FROM orbit_info")
	if code != 0 || !strings.Contains(txt, "version") || !strings.Contains(txt, "1.0.0-test") || !strings.Contains(txt, "(1 rows)") {
		t.Fatalf("orbit status --query printed %q (exit %d)", txt, code)
	}
	for _, s := range []string{secret, token} {
		if strings.Contains(p.log.String(), s) {
			t.Fatalf("a secret is in orbit's log (%.6s...)", s)
		}
	}
}

// The UUID orbit enrolls with is the one osqueryd enrolls with, also on a
// host without a hardware UUID (osquery then invents one and keeps it in
// its database), and with --host-identifier=instance the instance id
// osqueryd uses.
func TestEnrollIdentityMatchesOsqueryd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		env    []string
		hostID string
	}{
		{"hardware uuid", nil, "uuid"},
		{"no hardware uuid", []string{"OSQUERYD_STANDIN_NO_HARDWARE_UUID=1"}, "uuid"},
		{"instance", []string{"OSQUERYD_STANDIN_NO_HARDWARE_UUID=1"}, "instance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const secret = "identity-secret-31ab"
			srv := fleetServer(t, secret)
			root := shortRoot(t)
			startOrbit(t, root, append([]string{"ORBIT_ENROLL_SECRET=" + secret}, tc.env...),
				"--fleet-url="+srv.URL(), "--fleet-certificate="+srv.CACertFile(), "--host-identifier="+tc.hostID)
			testwait.Within(t, 60*time.Second, "both enrollments", func() bool {
				return len(srv.OrbitHosts()) == 1 && len(srv.OsqueryHosts()) == 1
			})
			orbitHost, osq := srv.OrbitHosts()[0], srv.OsqueryHosts()[0]
			want := orbitHost.HardwareUUID
			if tc.hostID == "instance" {
				want = orbitHost.OsqueryIdentifier
				if want == orbitHost.HardwareUUID {
					t.Fatalf("instance mode sent the hardware uuid as osquery_identifier: %+v", orbitHost)
				}
			}
			if !strings.EqualFold(osq.HostIdentifier, want) {
				t.Fatalf("osqueryd enrolled as %q, orbit as %+v: Fleet cannot match them", osq.HostIdentifier, orbitHost)
			}
		})
	}
}

// A server startup flag osqueryd does not define is left out with one log
// line; the rest applies and osqueryd keeps running with it.
func TestUnknownServerFlagIsLeftOut(t *testing.T) {
	t.Parallel()
	const secret = "flags-secret-90fe"
	srv := fleetServer(t, secret)
	if err := srv.SetStartupFlags(map[string]any{"no_such_flag": 1, "distributed_interval": 7}); err != nil {
		t.Fatal(err)
	}
	// The osquery config's options would override the flag once loaded:
	// leave distributed_interval to the startup flags.
	if err := srv.SetOsqueryConfig(map[string]any{"options": map[string]any{"logger_tls_period": 10}}); err != nil {
		t.Fatal(err)
	}
	root := shortRoot(t)
	p := startOrbit(t, root, []string{"ORBIT_ENROLL_SECRET=" + secret},
		"--fleet-url="+srv.URL(), "--fleet-certificate="+srv.CACertFile(), "--config-interval=1s")
	waitOsquerydRunning(t, root, 0)
	waitRows(t, root, "SELECT value FROM osquery_flags WHERE name = 'distributed_interval'", "osqueryd's distributed_interval",
		func(r []map[string]string) bool { return len(r) == 1 && r[0]["value"] == "7" })
	flags, err := os.ReadFile(filepath.Join(root, "osquery.flags"))
	if err != nil || string(flags) != "--distributed_interval=7\n" {
		t.Fatalf("osquery.flags = %q (%v)", flags, err)
	}
	// Several polls later, still one line about the refused flag.
	polls := len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/config"}))
	testwait.For(t, "three more config polls", func() bool {
		return len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/config"})) >= polls+3
	})
	if n := strings.Count(p.log.String(), `"flag":"no_such_flag"`); n != 1 {
		t.Fatalf("%d log lines name no_such_flag, want 1:\n%s", n, p.log.String())
	}
	if c := osquerydState(t, root); c.State != "running" || c.Restarts != 0 {
		t.Fatalf("osqueryd %+v, want running without restarts", c)
	}
}

// In standalone mode the result log rotates at its limit (here lowered
// after `--`, where the administrator may set anything).
func TestStandaloneResultsRotate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "osquery.conf")
	if err := os.WriteFile(conf, []byte(`{"schedule":{"info":{"query":"SELECT * FROM osquery_info","interval":1,"snapshot":true}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	root := shortRoot(t)
	startOrbit(t, root, []string{"OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"}, "--osquery-config="+conf,
		"--", "--logger_rotate_size=4096", "--logger_rotate_max_files=2")
	log := filepath.Join(root, "osquery_log", "osqueryd.snapshots.log")
	// Past the limit: the oldest kept file no longer starts with the first
	// snapshot.
	testwait.For(t, "rotations beyond the files kept", func() bool {
		b, err := os.ReadFile(log + ".2")
		if err != nil {
			return false
		}
		var first struct{ Counter int }
		line, _, _ := strings.Cut(string(b), "\n")
		return json.Unmarshal([]byte(line), &first) == nil && first.Counter > 0
	})
	if _, err := os.Stat(log + ".3"); !os.IsNotExist(err) {
		t.Fatalf("a third rotated file exists: %v", err)
	}
	for _, f := range []string{log + ".1", log + ".2"} {
		if st, err := os.Stat(f); err != nil || st.Size() < 4096 || st.Size() > 8192 {
			t.Fatalf("%s: %v %v, want a file rotated at 4096 bytes", f, st, err)
		}
	}
}

// --insecure reaches osqueryd: against a Fleet whose CA neither orbit nor
// osqueryd is given, osqueryd enrolls through orbit's loopback proxy.
func TestInsecureReachesOsqueryd(t *testing.T) {
	t.Parallel()
	const secret = "insecure-secret-55aa"
	srv := fleetServer(t, secret)
	root := shortRoot(t)
	record := filepath.Join(t.TempDir(), "starts.jsonl")
	startOrbit(t, root, []string{"ORBIT_ENROLL_SECRET=" + secret, "OSQUERYD_STANDIN_RECORD=" + record},
		"--fleet-url="+srv.URL(), "--insecure")
	testwait.Within(t, 60*time.Second, "osqueryd enrolled through the proxy", func() bool { return len(srv.OsqueryHosts()) == 1 })
	if n := len(srv.OrbitHosts()); n != 1 {
		t.Fatalf("%d orbit hosts", n)
	}
	argv := daemonStarts(t, record)[0].Argv
	var host, certs string
	for _, a := range argv {
		if v, ok := strings.CutPrefix(a, "--tls_hostname="); ok {
			host = v
		}
		if v, ok := strings.CutPrefix(a, "--tls_server_certs="); ok {
			certs = v
		}
	}
	if !strings.HasPrefix(host, "127.0.0.1:") || certs != filepath.Join(root, "insecure-proxy.pem") {
		t.Fatalf("osqueryd talks to %q trusting %q, want orbit's loopback proxy", host, certs)
	}
}

// An extension published with orbitctl and named in Fleet's config is
// installed, autoloaded by osqueryd, and removed again when the config
// drops it (file gone, list empty, osqueryd restarted once).
func TestFleetExtensionInstalledAndRemoved(t *testing.T) {
	t.Parallel()
	hello := testbin.Build(t, "./testdata/helloext", "hello.ext", "")
	repoDir := t.TempDir()
	orbitctl := testbin.Build(t, "./cmd/orbitctl", "orbitctl", "")
	env := append(os.Environ(), "ORBIT_ROOT_PASSPHRASE=r", "ORBIT_TARGETS_PASSPHRASE=t",
		"ORBIT_SNAPSHOT_PASSPHRASE=s", "ORBIT_TIMESTAMP_PASSPHRASE=ts")
	ctl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(orbitctl, append([]string{"updates"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("orbitctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	ctl("init", "--path", repoDir)
	ctl("add", "--path", repoDir, "--target", hello, "--name", "extensions/hello", "--platform", "linux", "--version", "1.0.0", "-t", "stable")
	roots := ctl("roots", "--path", repoDir)
	repoSrv := newRepoServer(t, filepath.Join(repoDir, "repository"))

	const secret = "extension-secret-d00d"
	srv := fleetServer(t, secret)
	srv.SetExtensions(map[string]fleettest.Extension{"hello": {Platform: "linux", Channel: "stable"}})
	root := shortRoot(t)
	startOrbitArgs(t, []string{"ORBIT_ENROLL_SECRET=" + secret},
		"--root-dir="+root, "--osqueryd-path="+osquerydBin(t), "--stop-grace=2s",
		"--fleet-url="+srv.URL(), "--fleet-certificate="+srv.CACertFile(), "--config-interval=1s",
		"--update-url="+repoSrv, "--update-roots="+roots, "--update-interval=10s")

	ext := filepath.Join(root, "bin", "extensions", "hello", "linux", "stable", "hello.ext")
	load := filepath.Join(root, "extensions.load")
	waitRows(t, root, "SELECT greeting FROM hello", "the extension's table through osqueryd",
		func(r []map[string]string) bool { return len(r) == 1 && r[0]["greeting"] == "hello from an extension" })
	if st, err := os.Stat(ext); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("installed extension %s: %v %v", ext, st, err)
	}
	if b, _ := os.ReadFile(load); string(b) != ext+"\n" {
		t.Fatalf("extensions.load = %q, want %s", b, ext)
	}
	before := osquerydState(t, root)

	srv.SetExtensions(nil)
	testwait.Within(t, 60*time.Second, "extension removed", func() bool {
		b, err := os.ReadFile(load)
		_, gone := os.Stat(filepath.Dir(filepath.Dir(filepath.Dir(ext))))
		return err == nil && len(b) == 0 && os.IsNotExist(gone)
	})
	after := waitOsquerydRunning(t, root, before.PID)
	// A few more config polls: no further restart.
	polls := len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/config"}))
	testwait.For(t, "three more config polls", func() bool {
		return len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/config"})) >= polls+3
	})
	if c := osquerydState(t, root); c.Restarts != before.Restarts+1 || c.PID != after {
		t.Fatalf("osqueryd restarts %d -> %d (pid %d -> %d), want exactly one restart", before.Restarts, c.Restarts, before.PID, c.PID)
	}
	if rows, _ := queryRows(t, root, "SELECT greeting FROM hello"); rows != nil {
		t.Fatalf("the removed extension still answers: %v", rows)
	}
}

// newRepoServer serves a TUF repository directory over HTTP on 127.0.0.1.
func newRepoServer(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(repo.Handler(dir))
	t.Cleanup(srv.Close)
	return srv.URL
}

// orbit status --query says what is wrong: no osqueryd, a query osqueryd
// refuses, or a user who is not root (the socket is root's: 0600).
func TestStatusQueryErrors(t *testing.T) {
	t.Parallel()
	root := shortRoot(t)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runOrbit(t, nil, "status", "--root-dir="+root, "--query", "SELECT 1")
	if code != 1 || !strings.Contains(errOut, "osqueryd is not running under orbit") {
		t.Fatalf("without osqueryd: exit %d, %q", code, errOut)
	}

	osq := exec.Command(osquerydBin(t), "--extensions_socket="+filepath.Join(root, "orbit-osquery.em"),
		"--database_path="+filepath.Join(root, "osquery.db"), "--pidfile="+filepath.Join(root, "osquery.pid"))
	if err := osq.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { osq.Process.Kill(); osq.Wait() })
	waitRows(t, root, "SELECT version FROM osquery_info", "the stand-in answering", func(r []map[string]string) bool { return len(r) == 1 })
	_, errOut, code = runOrbit(t, nil, "status", "--root-dir="+root, "--query", "SELECT * FROM no_such_table")
	if code != 1 || !strings.Contains(errOut, "query refused by osqueryd") || !strings.Contains(errOut, "no_such_table") {
		t.Fatalf("bad query: exit %d, %q", code, errOut)
	}

	testbin.NeedRoot(t, "the permission check starts orbit as another user")
	// A copy of orbit that user nobody may run.
	dir := testdir.Shared(t)
	bin := filepath.Join(dir, "orbit")
	data, err := os.ReadFile(orbitBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "status", "--root-dir="+root, "--query", "SELECT 1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "permission denied; only root may use it") {
		t.Fatalf("as nobody: %v, %q", err, out)
	}
}
