package main

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testdir"
)

const testSecret = "s3cret-enroll-value"

func startFleet(t *testing.T) *fleettest.Server {
	t.Helper()
	srv := fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{testSecret}, TLS: true})
	return srv
}

func fleetHost(t *testing.T, srv *fleettest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tlsEnv is the environment orbit gives osqueryd, with intervals shrunk
// 100x so a 1 s interval takes 10 ms.
var tlsEnv = []string{"ENROLL_SECRET=" + testSecret, "OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"}

func TestTLSModeEnrollsAndAnswersDistributedQueries(t *testing.T) {
	t.Parallel()
	srv := startFleet(t)
	if err := srv.SetOsqueryConfig(map[string]any{
		"options":    map[string]any{"distributed_interval": 1, "logger_tls_period": 1, "pack_delimiter": "/"},
		"decorators": map[string]any{"load": []string{"SELECT uuid AS host_uuid FROM system_info;"}},
		"packs": map[string]any{"Global": map[string]any{"queries": map[string]any{
			"info": map[string]any{"query": "select version from osquery_info", "interval": 1, "snapshot": true},
		}}},
	}); err != nil {
		t.Fatal(err)
	}
	srv.AddDistributedQuery("fleet_detail_query_system_info", "select uuid, hostname from system_info")
	srv.AddDistributedQuery("fleet_bad", "select * from no_such_table")

	root := testdir.Short(t)
	args := append(fleetFlags(t, root, fleetHost(t, srv), srv.CACertFile()), "--config_refresh=1")
	p := startDaemon(t, standin, tlsEnv, args...)
	ctx := ctxT(t)

	enroll, err := srv.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/enroll"})
	if err != nil {
		t.Fatalf("no enroll call: %v; stderr %s", err, p.stderr.String())
	}
	if enroll.Body["enroll_secret"] != testSecret {
		t.Fatalf("enroll_secret = %v", enroll.Body["enroll_secret"])
	}
	details, _ := enroll.Body["host_details"].(map[string]any)
	for _, tbl := range []string{"system_info", "os_version", "osquery_info"} {
		m, ok := details[tbl].(map[string]any)
		if !ok || len(m) == 0 {
			t.Fatalf("host_details.%s missing: %v", tbl, details)
		}
		for k, v := range m {
			if _, isStr := v.(string); !isStr {
				t.Fatalf("host_details.%s.%s is %T; Fleet decodes only strings", tbl, k, v)
			}
		}
	}
	uuid := details["system_info"].(map[string]any)["uuid"]
	if enroll.Body["host_identifier"] != uuid {
		t.Fatalf("host_identifier %v, want the uuid %v (--host_identifier=uuid)", enroll.Body["host_identifier"], uuid)
	}

	if _, err := srv.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/distributed/write", Status: 200}); err != nil {
		t.Fatalf("no distributed write: %v; stderr %s", err, p.stderr.String())
	}
	good := srv.DistributedResults("fleet_detail_query_system_info")
	if len(good) != 1 || good[0].Status != 0 || len(good[0].Rows) != 1 || good[0].Rows[0]["uuid"] != uuid || good[0].Rows[0]["hostname"] == "" {
		t.Fatalf("system_info results = %+v", good)
	}
	bad := srv.DistributedResults("fleet_bad")
	if len(bad) != 1 || bad[0].Status != 1 || !strings.Contains(bad[0].Message, "no such table") {
		t.Fatalf("bad query results = %+v", bad)
	}

	// Scheduled pack query results arrive through the TLS logger.
	waitFor(t, p, "scheduled results over TLS", func() bool {
		for _, raw := range srv.OsqueryLogs("result") {
			var l resultLine
			if json.Unmarshal(raw, &l) == nil && l.Name == "pack/Global/info" && l.Action == "snapshot" &&
				len(l.Snapshot) == 1 && l.Snapshot[0]["version"] == "5.12.1" && l.Decorations["host_uuid"] == uuid {
				return true
			}
		}
		return false
	})
	waitFor(t, p, "status logs over TLS", func() bool { return len(srv.OsqueryLogs("status")) > 0 })

	// An invalidated node key makes it enroll again.
	srv.InvalidateNodeKeys()
	if _, err := srv.WaitForCalls(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/enroll"}, 2); err != nil {
		t.Fatalf("no re-enrollment after node key invalidation: %v", err)
	}
	// Wait until the new key is in use (an authenticated call succeeds).
	srv.ResetCalls()
	if _, err := srv.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", PathPrefix: "/api/v1/osquery/distributed/", Status: 200}); err != nil {
		t.Fatalf("no successful call with the new node key: %v", err)
	}

	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d; stderr %s", code, p.stderr.String())
	}
	if s := p.stderr.String(); strings.Contains(s, testSecret) {
		t.Fatalf("stderr leaks the enroll secret: %s", s)
	}
	for _, h := range srv.OsqueryHosts() {
		if strings.Contains(p.stderr.String(), h.NodeKey) {
			t.Fatalf("stderr leaks the node key")
		}
	}

	// A restart on the same database reuses the node key: no new enrollment.
	srv.ResetCalls()
	p2 := startDaemon(t, standin, tlsEnv, args...)
	if _, err := srv.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/config", Status: 200}); err != nil {
		t.Fatalf("restarted daemon fetched no config: %v", err)
	}
	if n := len(srv.CallsMatching(fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/enroll"})); n != 0 {
		t.Fatalf("restart enrolled again (%d calls)", n)
	}
	p2.stop(t)
}

func TestTLSModeConfigOptionsApply(t *testing.T) {
	t.Parallel()
	srv := startFleet(t)
	if err := srv.SetOsqueryConfig(map[string]any{"options": map[string]any{"distributed_interval": 1, "pack_delimiter": "/"}}); err != nil {
		t.Fatal(err)
	}
	srv.AddDistributedQuery("flags", "select name, value from osquery_flags where name = 'pack_delimiter' or name = 'distributed_interval'")
	root := testdir.Short(t)
	// --distributed_interval=100000 on the command line (1000 s scaled):
	// only the config's option (1 s) lets a second read happen here.
	args := append(fleetFlags(t, root, fleetHost(t, srv), srv.CACertFile()), "--distributed_interval=100000")
	p := startDaemon(t, standin, tlsEnv, args...)
	ctx := ctxT(t)
	if _, err := srv.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/distributed/write"}); err != nil {
		t.Fatalf("no distributed write: %v; stderr %s", err, p.stderr.String())
	}
	res := srv.DistributedResults("flags")
	if len(res) != 1 {
		t.Fatalf("results = %+v", res)
	}
	got := map[string]string{}
	for _, r := range res[0].Rows {
		got[r["name"]] = r["value"]
	}
	if got["pack_delimiter"] != "/" || got["distributed_interval"] != "1" {
		t.Fatalf("flags after config options = %v", got)
	}
	srv.AddDistributedQuery("second", "select 1 as one")
	if _, err := srv.WaitForCalls(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/distributed/write"}, 2); err != nil {
		t.Fatalf("no second distributed write: the config's distributed_interval did not apply: %v", err)
	}
	if r := srv.DistributedResults("second"); len(r) != 1 || r[0].Rows[0]["one"] != "1" {
		t.Fatalf("second results = %+v", r)
	}
}

func TestTLSModeEnrollFailureExits78(t *testing.T) {
	t.Parallel()
	srv := startFleet(t)
	root := testdir.Short(t)
	args := append(fleetFlags(t, root, fleetHost(t, srv), srv.CACertFile()), "--tls_enroll_max_attempts=2")
	p := startDaemon(t, standin, []string{"ENROLL_SECRET=wrong", "OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"}, args...)
	if code := p.wait(t); code != exitCatastrophic {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitCatastrophic, p.stderr.String())
	}
	if n := len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/v1/osquery/enroll"})); n != 2 {
		t.Fatalf("%d enroll attempts, want 2", n)
	}
	if strings.Contains(p.stderr.String(), "wrong") {
		t.Fatalf("stderr shows the enroll secret")
	}
	if fileExists(filepath.Join(root, "osquery.pid")) {
		t.Fatalf("pidfile left after a clean fatal exit")
	}
}

func TestTLSModeHangDoesNotPoll(t *testing.T) {
	t.Parallel()
	srv := startFleet(t)
	root := testdir.Short(t)
	args := fleetFlags(t, root, fleetHost(t, srv), srv.CACertFile())
	p := startDaemon(t, standin, append([]string{"OSQUERYD_STANDIN_HANG=1"}, tlsEnv...), args...)
	waitFor(t, p, "pidfile", func() bool { return fileExists(filepath.Join(root, "osquery.pid")) })
	// A working daemon enrolls at once; give it that chance, then check.
	select {
	case <-p.done:
		t.Fatalf("hung daemon exited")
	case <-time.After(300 * time.Millisecond):
	}
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("hung daemon made %d calls", n)
	}
	p.stop(t)
}
