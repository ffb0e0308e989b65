package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	osquery "github.com/osquery/osquery-go"
	gen "github.com/osquery/osquery-go/gen/osquery"
	otable "github.com/osquery/osquery-go/plugin/table"

	"github.com/orbitagent/orbit/internal/testdir"
)

// managerDaemon starts a daemon with an extension manager; the watcher
// checks extensions every 200 ms (osquery's floor for --extensions_interval).
func managerDaemon(t *testing.T, env []string, extra ...string) (p *proc, sock, db string) {
	t.Helper()
	dir := testdir.Short(t)
	sock, db = filepath.Join(dir, "o.em"), filepath.Join(dir, "osquery.db")
	args := append([]string{"--pidfile=" + filepath.Join(dir, "osquery.pid"), "--extensions_socket=" + sock,
		"--database_path=" + db, "--extensions_interval=0", "--extensions_timeout=0"}, extra...)
	p = startDaemon(t, standin, env, args...)
	return p, sock, db
}

// managerClient waits until the manager answers a ping, then returns an
// osquery-go client whose calls time out after timeout.
func managerClient(t *testing.T, p *proc, sock string, timeout time.Duration) *osquery.ExtensionManagerClient {
	t.Helper()
	waitFor(t, p, "extension manager answering", func() bool {
		if !fileExists(sock) {
			return false
		}
		c, err := osquery.NewClient(sock, 2*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		st, err := c.Ping()
		return err == nil && st.Code == 0
	})
	c, err := osquery.NewClient(sock, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var orbitInfoColumns = []otable.ColumnDefinition{
	otable.TextColumn("version"), otable.TextColumn("device_auth_token"), otable.BigIntColumn("uptime"),
	otable.IntegerColumn("scripts_enabled"),
}

// startExtension registers an osquery-go extension serving orbit_info and
// returns its server; the test's cleanup shuts it down.
func startExtension(t *testing.T, sock, name, version string) *osquery.ExtensionManagerServer {
	t.Helper()
	srv, err := osquery.NewExtensionManagerServer(name, sock, osquery.ServerTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	srv.RegisterPlugin(otable.NewPlugin("orbit_info", orbitInfoColumns,
		func(context.Context, otable.QueryContext) ([]map[string]string, error) {
			return []map[string]string{{"version": version, "device_auth_token": "tok", "uptime": "42", "scripts_enabled": "1"}}, nil
		}))
	errc := make(chan error, 1)
	go func() { errc <- srv.Start() }()
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		select {
		case <-errc:
		case <-time.After(10 * time.Second):
			t.Error("extension server did not stop")
		}
	})
	return srv
}

func extensionNames(t *testing.T, c *osquery.ExtensionManagerClient) map[string]gen.ExtensionRouteUUID {
	t.Helper()
	list, err := c.Extensions()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]gen.ExtensionRouteUUID{}
	for id, info := range list {
		out[info.Name] = id
	}
	return out
}

func TestExtensionManagerRoutesQueriesToExtensionTables(t *testing.T) {
	t.Parallel()
	p, sock, _ := managerDaemon(t, nil)
	c := managerClient(t, p, sock, 10*time.Second)

	st, err := c.Ping()
	if err != nil || st.Code != 0 || st.Message != "pong" || st.UUID != 0 {
		t.Fatalf("ping = %+v, %v; want code 0, pong, uuid 0", st, err)
	}
	opts, err := c.Options()
	if err != nil || opts["extensions_socket"] == nil || opts["extensions_socket"].Value != sock ||
		opts["extensions_interval"].Type != "string" || opts["thrift_timeout"].DefaultValue != "300" {
		t.Fatalf("options = %v, %v", opts["extensions_socket"], err)
	}
	if rows, err := c.QueryRows("SELECT * FROM orbit_info"); err == nil || !strings.Contains(err.Error(), "no such table: orbit_info") {
		t.Fatalf("orbit_info before registration: %v, %v", rows, err)
	}

	startExtension(t, sock, "com.example.orbit", "1.2.3")
	waitFor(t, p, "registration", func() bool { _, ok := extensionNames(t, c)["com.example.orbit"]; return ok })
	// osquery-go registers before it listens on its own socket.
	waitFor(t, p, "the extension's socket", func() bool { _, err := c.QueryRows("SELECT version FROM orbit_info"); return err == nil })

	cases := []struct {
		q    string
		want []map[string]string
	}{
		{"SELECT version FROM orbit_info", []map[string]string{{"version": "1.2.3"}}},
		{"SELECT * FROM orbit_info", []map[string]string{{"version": "1.2.3", "device_auth_token": "tok", "uptime": "42", "scripts_enabled": "1"}}},
		{"SELECT o.version, e.name FROM orbit_info o, osquery_extensions e WHERE e.type = 'extension'",
			[]map[string]string{{"version": "1.2.3", "name": "com.example.orbit"}}},
		{"select version from ORBIT_INFO where uptime > 41", []map[string]string{{"version": "1.2.3"}}},
	}
	for _, tc := range cases {
		rows, err := c.QueryRows(tc.q)
		if err != nil || !sameRows(rows, tc.want) {
			t.Errorf("%s = %v, %v; want %v", tc.q, rows, err, tc.want)
		}
	}
	cols, err := c.GetQueryColumns("SELECT * FROM orbit_info")
	wantCols := []map[string]string{{"version": "TEXT"}, {"device_auth_token": "TEXT"}, {"uptime": "BIGINT"}, {"scripts_enabled": "INTEGER"}}
	if err != nil || cols.Status.Code != 0 || !sameRows(cols.Response, wantCols) {
		t.Fatalf("getQueryColumns = %+v, %v; want %v", cols, err, wantCols)
	}
	info, err := c.QueryRows("SELECT extensions FROM osquery_info")
	if err != nil || len(info) != 1 || info[0]["extensions"] != "active" {
		t.Fatalf("osquery_info.extensions = %v, %v", info, err)
	}
	// The core registry's call reaches the extension table too.
	resp, err := c.Call("table", "orbit_info", gen.ExtensionPluginRequest{"action": "generate"})
	if err != nil || resp.Status.Code != 0 || len(resp.Response) != 1 || resp.Response[0]["version"] != "1.2.3" {
		t.Fatalf("call(table, orbit_info) = %+v, %v", resp, err)
	}
}

func sameRows(got, want []map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			return false
		}
		for k, v := range want[i] {
			if got[i][k] != v {
				return false
			}
		}
	}
	return true
}

func TestExtensionManagerRegistrationRules(t *testing.T) {
	t.Parallel()
	p, sock, _ := managerDaemon(t, nil)
	c := managerClient(t, p, sock, 10*time.Second)
	cols := gen.ExtensionPluginResponse{{"id": "column", "name": "x", "type": "TEXT", "op": "0"}}
	reg := func(name, sdk, tbl string) *gen.ExtensionStatus {
		t.Helper()
		st, err := c.RegisterExtension(&gen.InternalExtensionInfo{Name: name, SdkVersion: sdk},
			gen.ExtensionRegistry{"table": {tbl: cols}})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := reg("first", "", "first_table")
	if first.Code != 0 || first.Message != "OK" || first.UUID < 1 || first.UUID > 65536 {
		t.Fatalf("register = %+v; want code 0 and a uuid in 1..65536", first)
	}
	cases := []struct {
		name, ext, sdk, table, want string
	}{
		{"duplicate name", "first", "", "other_table", "Duplicate extension registered"},
		{"old sdk", "old", "1.6.0", "old_table", "Incompatible extension SDK version"},
		{"core table name", "clash", "", "system_info", "Duplicate registry item: system_info"},
		{"another extension's table", "clash2", "", "first_table", "Duplicate registry item: first_table"},
	}
	for _, tc := range cases {
		if st := reg(tc.ext, tc.sdk, tc.table); st.Code != 1 || !strings.Contains(st.Message, tc.want) {
			t.Errorf("%s: %+v, want code 1 and %q", tc.name, st, tc.want)
		}
	}
	if st := reg("new_sdk", "5.12.1", "new_table"); st.Code != 0 {
		t.Errorf("sdk 5.12.1 refused: %+v", st)
	}
	st, err := c.DeregisterExtension(first.UUID)
	if err != nil || st.Code != 0 {
		t.Fatalf("deregister = %+v, %v", st, err)
	}
	if st, _ := c.DeregisterExtension(first.UUID); st == nil || st.Code != 1 || st.Message != "No extension UUID found" {
		t.Fatalf("second deregister = %+v", st)
	}
}

// The watcher drops an extension whose socket never appears and one whose
// socket does not answer pings, and keeps one that answers.
func TestExtensionManagerDropsExtensionsThatStopAnswering(t *testing.T) {
	t.Parallel()
	// A loaded machine may take a while between an extension's register
	// call and its socket: give it the time osquery's default gives.
	p, sock, _ := managerDaemon(t, nil, "--extensions_timeout=3", "--thrift_timeout=5")
	c := managerClient(t, p, sock, 10*time.Second)
	cols := gen.ExtensionPluginResponse{{"id": "column", "name": "x", "type": "TEXT"}}
	register := func(name string) gen.ExtensionRouteUUID {
		st, err := c.RegisterExtension(&gen.InternalExtensionInfo{Name: name}, gen.ExtensionRegistry{"table": {name + "_t": cols}})
		if err != nil || st.Code != 0 {
			t.Fatalf("register %s: %+v, %v", name, st, err)
		}
		return st.UUID
	}
	register("no_socket")
	mute := register("mute")
	// Accepts and hangs up: the socket exists but nothing answers.
	ln, err := net.Listen("unix", sock+"."+strconv.Itoa(int(mute)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	startExtension(t, sock, "healthy", "1.0")
	// Start registers in the background: wait for it, or a drop of the
	// silent ones could be seen before the healthy one ever registered.
	waitFor(t, p, "healthy extension registered", func() bool {
		_, ok := extensionNames(t, c)["healthy"]
		return ok
	})

	waitFor(t, p, "silent extensions dropped", func() bool {
		names := extensionNames(t, c)
		_, a := names["no_socket"]
		_, b := names["mute"]
		return !a && !b
	})
	if _, ok := extensionNames(t, c)["healthy"]; !ok {
		t.Fatalf("the answering extension was dropped; stderr %s", p.stderr.String())
	}
	if _, err := c.QueryRows("SELECT * FROM mute_t"); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Fatalf("table of a dropped extension still answers: %v", err)
	}
}

// A daemon killed with SIGKILL forgets its extensions: the next one starts
// with none and removes the stale sockets.
func TestExtensionManagerForgetsExtensionsAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	sock := filepath.Join(dir, "o.em")
	args := []string{"--extensions_socket=" + sock, "--extensions_interval=0", "--pidfile=" + filepath.Join(dir, "p")}
	first := startDaemon(t, standin, nil, args...)
	c := managerClient(t, first, sock, 5*time.Second)
	st, err := c.RegisterExtension(&gen.InternalExtensionInfo{Name: "x"}, gen.ExtensionRegistry{})
	if err != nil || st.Code != 0 {
		t.Fatal(st, err)
	}
	stale := sock + "." + strconv.Itoa(int(st.UUID))
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	_ = first.cmd.Process.Kill()
	first.wait(t)

	second := startDaemon(t, standin, nil, args...)
	c2 := managerClient(t, second, sock, 5*time.Second)
	if names := extensionNames(t, c2); len(names) != 0 {
		t.Fatalf("restarted manager lists %v", names)
	}
	if fileExists(stale) {
		t.Fatalf("stale extension socket %s not removed", stale)
	}
}

func TestExtensionManagerWedge(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		env   []string
		wedge func(t *testing.T, p *proc, db string)
	}{
		{"trigger file", nil, func(t *testing.T, _ *proc, db string) {
			writeFile(t, filepath.Join(db, wedgeFile), "")
		}},
		{"SIGUSR2", nil, func(t *testing.T, p *proc, _ string) {
			if err := p.cmd.Process.Signal(wedgeSignal()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, p, "wedge log line", func() bool { return strings.Contains(p.stderr.String(), "extension manager wedged") })
		}},
		{"wedged from the start", []string{"OSQUERYD_STANDIN_WEDGED=1"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, sock, db := managerDaemon(t, tc.env)
			if tc.wedge != nil {
				managerClient(t, p, sock, 5*time.Second)
				tc.wedge(t, p, db)
			} else {
				waitFor(t, p, "socket", func() bool { return fileExists(sock) })
			}
			c, err := osquery.NewClient(sock, 300*time.Millisecond)
			if err != nil {
				t.Fatalf("a wedged osqueryd still accepts connections: %v", err)
			}
			defer c.Close()
			if st, err := c.Ping(); err == nil {
				t.Fatalf("wedged manager answered a ping: %+v", st)
			}
			c2, err := osquery.NewClient(sock, 300*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			if rows, err := c2.QueryRows("SELECT 1"); err == nil {
				t.Fatalf("wedged manager answered a query: %v", rows)
			}
			if p.exited() {
				t.Fatal("a wedged daemon must stay alive")
			}
			// It still stops cleanly on SIGTERM.
			p.stop(t)
		})
	}
}

func TestExtensionSocketDelay(t *testing.T) {
	t.Parallel()
	t.Run("not yet", func(t *testing.T) {
		t.Parallel()
		dir := testdir.Short(t)
		pid, sock := filepath.Join(dir, "p"), filepath.Join(dir, "o.em")
		p := startDaemon(t, standin, []string{"OSQUERYD_STANDIN_SOCKET_DELAY_MS=600000"}, "--pidfile="+pid, "--extensions_socket="+sock)
		waitFor(t, p, "pidfile", func() bool { return fileExists(pid) })
		if fileExists(sock) {
			t.Fatal("socket created before its delay")
		}
		p.stop(t)
	})
	t.Run("later", func(t *testing.T) {
		t.Parallel()
		p, sock, _ := managerDaemon(t, []string{"OSQUERYD_STANDIN_SOCKET_DELAY_MS=300"})
		managerClient(t, p, sock, 5*time.Second)
	})
	t.Run("bad value", func(t *testing.T) {
		t.Parallel()
		r := runBin(t, standin, []string{"OSQUERYD_STANDIN_SOCKET_DELAY_MS=soon"}, "", "--pidfile="+filepath.Join(t.TempDir(), "p"))
		if r.code != 1 || !strings.Contains(r.stderr, "OSQUERYD_STANDIN_SOCKET_DELAY_MS") {
			t.Fatalf("exit %d stderr %q", r.code, r.stderr)
		}
	})
}

func TestVersionAtLeast(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sdk  string
		want bool
	}{
		{"", true}, {"0.0.0", true}, {"1.7.7", true}, {"1.8", true}, {"5.12.1-dev", true},
		{"1.7.6", false}, {"1.6.9", false}, {"0.9", false}, {"2", true},
	}
	for _, tc := range cases {
		if got := versionAtLeast(minSDKVersion, tc.sdk); got != tc.want {
			t.Errorf("versionAtLeast(%q, %q) = %v, want %v", minSDKVersion, tc.sdk, got, tc.want)
		}
	}
}

// A Fleet server's distributed query reaches extension tables: Fleet asks
// SELECT * FROM orbit_info and gets the extension's row.
func TestDistributedQueryReadsExtensionTables(t *testing.T) {
	t.Parallel()
	srv := startFleet(t)
	if err := srv.SetOsqueryConfig(map[string]any{"options": map[string]any{"distributed_interval": 1}}); err != nil {
		t.Fatal(err)
	}
	root := testdir.Short(t)
	p := startDaemon(t, standin, tlsEnv, fleetFlags(t, root, fleetHost(t, srv), srv.CACertFile())...)
	sock := filepath.Join(root, "orbit-osquery.em")
	c := managerClient(t, p, sock, 10*time.Second)
	startExtension(t, sock, "com.fleetdm.orbit.osquery_extension.v1", "1.40.0")
	waitFor(t, p, "registration", func() bool {
		_, ok := extensionNames(t, c)["com.fleetdm.orbit.osquery_extension.v1"]
		return ok
	})
	srv.AddDistributedQuery("fleet_detail_query_orbit_info", "SELECT * FROM orbit_info")
	waitFor(t, p, "distributed results", func() bool { return len(srv.DistributedResults("fleet_detail_query_orbit_info")) > 0 })
	res := srv.DistributedResults("fleet_detail_query_orbit_info")
	want := []map[string]string{{"version": "1.40.0", "device_auth_token": "tok", "uptime": "42", "scripts_enabled": "1"}}
	if len(res) != 1 || res[0].Status != 0 || !sameRows(res[0].Rows, want) {
		t.Fatalf("results = %+v, want %v", res, want)
	}
}
