package fleettest

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCallRecord(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := start(t, Config{Clock: clk})
	key := enrollOrbit(t, s, "u-c")
	clk.Advance(time.Minute)
	do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key}, CapabilitiesHeader, "orbit_endpoints,token_rotation")
	do(t, s, "GET", "/nope", nil)

	calls := s.Calls()
	if len(calls) != 3 {
		t.Fatalf("calls = %d, want 3", len(calls))
	}
	enroll, cfg, nope := calls[0], calls[1], calls[2]
	if enroll.Method != "POST" || enroll.Path != "/api/fleet/orbit/enroll" || enroll.Status != 200 || enroll.Route != "/api/fleet/orbit/enroll" {
		t.Fatalf("enroll call = %+v", enroll)
	}
	if enroll.Body["hardware_uuid"] != "u-c" || enroll.Body["enroll_secret"] != testSecret {
		t.Fatalf("enroll body fields = %v", enroll.Body)
	}
	if !enroll.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || !cfg.Time.Equal(enroll.Time.Add(time.Minute)) {
		t.Fatalf("times %v %v not from Config.Clock", enroll.Time, cfg.Time)
	}
	if cfg.Capabilities != "orbit_endpoints,token_rotation" || cfg.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("config call caps %q header %v", cfg.Capabilities, cfg.Header)
	}
	wantIn := int64(len(`{"orbit_node_key":"` + key + `"}`))
	if cfg.BytesIn != wantIn || cfg.BytesOut == 0 {
		t.Fatalf("bytes in %d (want %d) out %d", cfg.BytesIn, wantIn, cfg.BytesOut)
	}
	if nope.Status != 404 || nope.Route != "" {
		t.Fatalf("unknown path call = %+v", nope)
	}

	// Calls returns a copy.
	calls[0].Body["hardware_uuid"] = "changed"
	calls[0].Header.Set("X-Changed", "1")
	if again := s.Calls(); again[0].Body["hardware_uuid"] != "u-c" || again[0].Header.Get("X-Changed") != "" {
		t.Fatal("Calls() shares memory with the server")
	}

	cases := []struct {
		f    CallFilter
		want int
	}{
		{CallFilter{}, 3},
		{CallFilter{Method: "POST"}, 2},
		{CallFilter{Path: "/api/fleet/orbit/config"}, 1},
		{CallFilter{PathPrefix: "/api/fleet/orbit/"}, 2},
		{CallFilter{Status: 404}, 1},
		{CallFilter{Method: "GET", PathPrefix: "/api/"}, 0},
	}
	for _, tc := range cases {
		if got := len(s.CallsMatching(tc.f)); got != tc.want {
			t.Errorf("CallsMatching(%+v) = %d, want %d", tc.f, got, tc.want)
		}
	}
	s.ResetCalls()
	if len(s.Calls()) != 0 {
		t.Fatal("ResetCalls left calls")
	}
}

func TestWaitForCall(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan Call, 1)
	go func() {
		c, err := s.WaitForCall(ctx, CallFilter{Method: "HEAD", Path: "/api/fleet/orbit/ping"})
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	do(t, s, "HEAD", "/api/fleet/orbit/ping", nil)
	if c := <-got; c.Status != 200 {
		t.Fatalf("waited call = %+v", c)
	}
	// WaitForCalls counts.
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := doErr(context.Background(), s, "HEAD", "/api/fleet/orbit/ping", nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	cs, err := s.WaitForCalls(ctx, CallFilter{Path: "/api/fleet/orbit/ping"}, 6)
	if err != nil || len(cs) != 6 {
		t.Fatalf("WaitForCalls = %d, %v", len(cs), err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := s.WaitForCall(short, CallFilter{Path: "/never"}); err == nil {
		t.Fatal("WaitForCall returned without a matching call")
	}
}

func TestAdminRoundTrip(t *testing.T) {
	t.Parallel()
	s := start(t, Config{TLS: true})
	key := enrollOrbit(t, s, "u-a")
	enrollOsquery(t, s, "/api/osquery", "u-a")
	do(t, s, "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": key, "device_auth_token": "tok"})

	steps := []struct {
		method, path string
		body         any
		status       int
	}{
		{"PUT", "/_admin/startup_flags", map[string]any{"verbose": true}, 200},
		{"PUT", "/_admin/update_channels", map[string]string{"orbit": "edge", "osqueryd": "stable", "desktop": "stable"}, 200},
		{"PUT", "/_admin/extensions", map[string]any{"ext": map[string]any{"platform": "linux", "channel": "stable"}}, 200},
		{"PUT", "/_admin/capabilities", map[string]string{"capabilities": "orbit_endpoints"}, 200},
		{"PUT", "/_admin/script_execution_timeout", map[string]int{"seconds": 60}, 200},
		{"POST", "/_admin/scripts", map[string]string{"execution_id": "e1", "contents": "id"}, 200},
		{"POST", "/_admin/scripts", map[string]string{"contents": "id"}, 400},
		{"PUT", "/_admin/policies", []map[string]any{{"id": 1, "name": "p", "response": "fail"}}, 200},
		{"PUT", "/_admin/desktop", map[string]any{"org_name": "Acme"}, 200},
		{"POST", "/_admin/distributed_queries", map[string]string{"name": "q", "sql": "SELECT 1"}, 200},
		{"PUT", "/_admin/osquery_config", map[string]any{"options": map[string]any{}}, 200},
		{"PUT", "/_admin/faults", map[string]any{"path_prefix": "/api/fleet/orbit/device_mapping", "fault": map[string]any{"status": 503, "for": "1h"}}, 200},
		{"PUT", "/_admin/faults", map[string]any{"path_prefix": "/x", "fault": map[string]any{"delay": "soon"}}, 400},
		{"PUT", "/_admin/faults", map[string]any{"path_prefix": "x", "fault": map[string]any{}}, 400},
		{"PUT", "/_admin/startup_flags", `{"verbose": tru`, 400},
		{"PUT", "/_admin/update_channels", map[string]string{"orbit": "edge", "typo": "x"}, 400},
		{"GET", "/_admin/nope", nil, 404},
	}
	for _, st := range steps {
		if r := do(t, s, st.method, st.path, st.body); r.status != st.status {
			t.Fatalf("%s %s: %d, want %d: %s", st.method, st.path, r.status, st.status, r.body)
		}
	}

	r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
	if r.header.Get(CapabilitiesHeader) != "orbit_endpoints" {
		t.Fatalf("capabilities after admin: %q", r.header.Get(CapabilitiesHeader))
	}
	var cfg map[string]any
	_ = json.Unmarshal(r.body, &cfg)
	if cfg["command_line_startup_flags"].(map[string]any)["verbose"] != true ||
		cfg["update_channels"].(map[string]any)["orbit"] != "edge" ||
		cfg["extensions"].(map[string]any)["ext"] == nil ||
		cfg["script_execution_timeout"] != float64(60) ||
		cfg["notifications"].(map[string]any)["pending_script_execution_ids"].([]any)[0] != "e1" {
		t.Fatalf("config after admin = %s", r.body)
	}
	if r := do(t, s, "PUT", "/api/fleet/orbit/device_mapping", map[string]string{"orbit_node_key": key, "email": "e@x"}); r.status != 503 {
		t.Fatalf("admin fault not applied: %d", r.status)
	}
	r = do(t, s, "GET", "/_admin/faults", nil)
	if f := r.json(t)["/api/fleet/orbit/device_mapping"].(map[string]any); f["status"] != float64(503) || f["for"] != "1h0m0s" {
		t.Fatalf("GET faults = %s", r.body)
	}
	if r := do(t, s, "DELETE", "/_admin/faults", nil); r.status != 200 || len(s.Faults()) != 0 {
		t.Fatalf("DELETE faults: %d %v", r.status, s.Faults())
	}
	r = do(t, s, "GET", "/api/latest/fleet/device/tok/desktop", nil)
	if d := r.json(t); d["failing_policies_count"] != float64(1) || d["config"].(map[string]any)["org_info"].(map[string]any)["org_name"] != "Acme" {
		t.Fatalf("desktop after admin = %s", r.body)
	}
	// Null clears.
	for _, p := range []string{"/_admin/startup_flags", "/_admin/update_channels"} {
		do(t, s, "PUT", p, "null")
	}
	r = do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
	if m := r.json(t); m["command_line_startup_flags"] != nil || m["update_channels"] != nil {
		t.Fatalf("null did not clear: %s", r.body)
	}

	// Reads.
	var orbitHosts []OrbitHost
	if err := json.Unmarshal(do(t, s, "GET", "/_admin/hosts/orbit", nil).body, &orbitHosts); err != nil || len(orbitHosts) != 1 || orbitHosts[0].HardwareUUID != "u-a" || orbitHosts[0].DeviceToken != "tok" {
		t.Fatalf("admin orbit hosts = %+v %v", orbitHosts, err)
	}
	var osqHosts []OsqueryHost
	if err := json.Unmarshal(do(t, s, "GET", "/_admin/hosts/osquery", nil).body, &osqHosts); err != nil || len(osqHosts) != 1 {
		t.Fatalf("admin osquery hosts = %+v %v", osqHosts, err)
	}
	if toks := do(t, s, "GET", "/_admin/device_tokens", nil).json(t); toks["tok"] != "u-a" {
		t.Fatalf("admin tokens = %v", toks)
	}
	r = do(t, s, "GET", "/_admin/calls?method=POST&prefix=/api/fleet/orbit/", nil)
	var calls []Call
	if err := json.Unmarshal(r.body, &calls); err != nil || len(calls) == 0 {
		t.Fatalf("admin calls: %v %s", err, r.body)
	}
	for _, c := range calls {
		if c.Method != "POST" || !strings.HasPrefix(c.Path, "/api/fleet/orbit/") {
			t.Fatalf("filter leaked %s %s", c.Method, c.Path)
		}
	}
	if len(s.CallsMatching(CallFilter{PathPrefix: "/_admin/"})) != 0 {
		t.Fatal("admin calls were recorded")
	}
	// Script result and distributed results through admin.
	do(t, s, "POST", "/api/fleet/orbit/scripts/result", map[string]any{"orbit_node_key": key, "execution_id": "e1", "output": "uid=0", "exit_code": 0})
	var sres []ScriptResult
	if err := json.Unmarshal(do(t, s, "GET", "/_admin/scripts/results", nil).body, &sres); err != nil || len(sres) != 1 || sres[0].Output != "uid=0" {
		t.Fatalf("admin script results = %+v %v", sres, err)
	}
	osqKey := s.OsqueryHosts()[0].NodeKey
	do(t, s, "POST", "/api/osquery/distributed/write", map[string]any{"node_key": osqKey, "queries": map[string]any{"q": []map[string]string{{"1": "1"}}}, "statuses": map[string]int{"q": 0}})
	var dres []DistributedResult
	if err := json.Unmarshal(do(t, s, "GET", "/_admin/distributed_results?name=q", nil).body, &dres); err != nil || len(dres) != 1 || dres[0].Rows[0]["1"] != "1" {
		t.Fatalf("admin distributed results = %+v %v", dres, err)
	}
	if r := do(t, s, "GET", "/_admin/distributed_results?name=none", nil); strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("empty results = %q", r.body)
	}
	if r := do(t, s, "POST", "/_admin/hosts/invalidate_node_keys", nil); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key}); r.status != 401 {
		t.Fatalf("after admin invalidate: %d", r.status)
	}
	if r := do(t, s, "DELETE", "/_admin/calls", nil); r.status != 200 || len(s.Calls()) != 0 {
		t.Fatalf("DELETE calls: %d", r.status)
	}
}

func TestConcurrentEnrolls(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// t.Fatal must not run off the test goroutine: report with t.Error.
			ctx := context.Background()
			r, err := doErr(ctx, s, "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": testSecret, "hardware_uuid": "uuid-" + strings.Repeat("x", i)})
			if err != nil || r.status != 200 {
				t.Errorf("enroll %d: %v %d", i, err, r.status)
				return
			}
			var e struct {
				Key string `json:"orbit_node_key"`
			}
			_ = json.Unmarshal(r.body, &e)
			r, err = doErr(ctx, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": e.Key})
			if err != nil || r.status != 200 {
				t.Errorf("config %d: %v %d", i, err, r.status)
			}
		}(i)
	}
	wg.Wait()
	hosts := s.OrbitHosts()
	seen := map[uint]bool{}
	for _, h := range hosts {
		if seen[h.ID] {
			t.Fatalf("duplicate host id %d", h.ID)
		}
		seen[h.ID] = true
	}
	if len(hosts) != n || len(s.Calls()) != 2*n {
		t.Fatalf("hosts %d calls %d", len(hosts), len(s.Calls()))
	}
}

// TestAdminQueueAndSoftware drives the issue-11 admin endpoints over HTTP,
// as make demo and cmd/fleetserver users do.
func TestAdminQueueAndSoftware(t *testing.T) {
	t.Parallel()
	s := start(t, Config{TLS: true})
	key := enrollOrbit(t, s, "u-adm")
	decodeInto := func(r resp, v any) {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("admin: %d %s", r.status, r.body)
		}
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatal(err)
		}
	}
	var inst struct {
		ID uint `json:"installer_id"`
	}
	decodeInto(do(t, s, "POST", "/_admin/software_installers", map[string]any{
		"filename": "demo.deb", "package": []byte("DEB!"), "install_script": "echo install", "post_install_script": "echo post",
		"uninstall_script": "echo un", "pre_install_query": "SELECT 1", "self_service": false,
	}), &inst)
	var install struct {
		ID string `json:"install_id"`
	}
	decodeInto(do(t, s, "POST", "/_admin/hosts/software_installs", map[string]any{"hardware_uuid": "u-adm", "installer_id": inst.ID}), &install)
	var script struct {
		ID string `json:"execution_id"`
	}
	decodeInto(do(t, s, "POST", "/_admin/hosts/scripts", map[string]any{"hardware_uuid": "u-adm", "contents": "echo after"}), &script)
	var queue []QueueItem
	decodeInto(do(t, s, "GET", "/_admin/hosts/queue?hardware_uuid=u-adm", nil), &queue)
	if want := []QueueItem{{Kind: "software_install", ID: install.ID, Active: true}, {Kind: "script", ID: script.ID}}; !reflect.DeepEqual(queue, want) {
		t.Fatalf("queue %+v, want %+v", queue, want)
	}
	r := do(t, s, "POST", "/api/fleet/orbit/software_install/package?alt=media", map[string]any{"orbit_node_key": key, "installer_id": inst.ID})
	if r.status != 200 || string(r.body) != "DEB!" {
		t.Fatalf("package: %d %q", r.status, r.body)
	}
	postInstallResult(t, s, key, install.ID, map[string]any{"install_script_exit_code": 0, "install_script_output": "ok"})
	var results []SoftwareInstallResult
	decodeInto(do(t, s, "GET", "/_admin/software_installs/results", nil), &results)
	if len(results) != 1 || results[0].Status != "installed" || *results[0].InstallScriptOutput != "ok" {
		t.Fatalf("results %+v", results)
	}
	if r := do(t, s, "PUT", "/_admin/hosts/notifications", map[string]any{"hardware_uuid": "u-adm",
		"notifications": map[string]any{"run_disk_encryption_escrow": true, "extra": map[string]any{"future_flag": 1}}}); r.status != 200 {
		t.Fatalf("notifications: %d %s", r.status, r.body)
	}
	r = do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
	n := r.json(t)["notifications"].(map[string]any)
	if n["run_disk_encryption_escrow"] != true || n["future_flag"] != float64(1) || n["pending_script_execution_ids"].([]any)[0] != script.ID {
		t.Fatalf("config notifications %v", n)
	}
	for _, st := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"PUT", "/_admin/end_user_auth", map[string]any{"enroll_secret": "", "required": true}, 200},
		{"PUT", "/_admin/end_user_auth/bypass", map[string]any{"allow": false}, 200},
		{"POST", "/_admin/end_user_auth/complete", map[string]any{}, 400},
		{"POST", "/_admin/software_installers", map[string]any{"package": []byte("x")}, 400},
		{"POST", "/_admin/hosts/software_installs", map[string]any{"hardware_uuid": "u-adm", "installer_id": 99}, 400},
		{"POST", "/_admin/hosts/scripts", map[string]any{"contents": "x"}, 400},
		{"PUT", "/_admin/hosts/notifications", map[string]any{"hardware_uuid": "u-adm", "notifications": map[string]any{"extra": map[string]any{"run_setup_experience": true}}}, 400},
		{"PUT", "/_admin/hosts/notifications", map[string]any{"hardware_uuid": "u-adm", "notifications": map[string]any{"typo": true}}, 400},
	} {
		if r := do(t, s, st.method, st.path, st.body); r.status != st.status {
			t.Fatalf("%s %s: %d, want %d: %s", st.method, st.path, r.status, st.status, r.body)
		}
	}
	if r := do(t, s, "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": testSecret, "hardware_uuid": "u-eua"}); r.status != 401 {
		t.Fatalf("enroll with end-user auth required: %d", r.status)
	}
	if r := do(t, s, "POST", "/_admin/end_user_auth/complete", map[string]string{"hardware_uuid": "u-eua"}); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := do(t, s, "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": testSecret, "hardware_uuid": "u-eua"}); r.status != 200 {
		t.Fatalf("enroll after sign-in: %d %s", r.status, r.body)
	}
}
