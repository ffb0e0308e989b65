package fleettest

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// pending returns the two pending-id lists of a host's config.
func pending(t *testing.T, s *Server, key string) (scripts, installs []string) {
	t.Helper()
	r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
	if r.status != 200 {
		t.Fatalf("config: %d %s", r.status, r.body)
	}
	var cfg struct {
		Notifications struct {
			Scripts  []string `json:"pending_script_execution_ids"`
			Installs []string `json:"pending_software_installer_ids"`
		} `json:"notifications"`
	}
	if err := json.Unmarshal(r.body, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Notifications.Scripts, cfg.Notifications.Installs
}

func wantPending(t *testing.T, s *Server, key string, wantScripts, wantInstalls []string) {
	t.Helper()
	sc, in := pending(t, s, key)
	if !reflect.DeepEqual(sc, wantScripts) || !reflect.DeepEqual(in, wantInstalls) {
		t.Fatalf("pending scripts %v installs %v, want %v %v", sc, in, wantScripts, wantInstalls)
	}
}

func postScriptResult(t *testing.T, s *Server, key, execID string, code int) resp {
	t.Helper()
	return do(t, s, "POST", "/api/fleet/orbit/scripts/result", map[string]any{
		"orbit_node_key": key, "execution_id": execID, "output": "out-" + execID, "runtime": 1, "exit_code": code, "timeout": 300,
	})
}

func addInstaller(t *testing.T, s *Server, pkg string) uint {
	t.Helper()
	id, err := s.AddSoftwareInstaller(SoftwareInstaller{
		Filename: "hello.deb", Package: []byte(pkg),
		InstallScript: "dpkg -i \"$INSTALLER_PATH\"", UninstallScript: "dpkg -r hello",
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestQueueActivatesOneItemAtATime(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	key := enrollOrbit(t, s, "u-q")
	inst := addInstaller(t, s, "pkg")
	s1, _ := s.QueueScript("u-q", "echo one")
	i1, err := s.QueueSoftwareInstall("u-q", inst)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := s.QueueScript("u-q", "echo two")

	wantPending(t, s, key, []string{s1}, nil)
	// The second script is served (Fleet unions the queue) but its result is
	// dropped while it waits: Fleet has no row to update yet.
	r := do(t, s, "POST", "/api/fleet/orbit/scripts/request", map[string]string{"orbit_node_key": key, "execution_id": s2})
	if r.status != 200 || r.json(t)["script_contents"] != "echo two" {
		t.Fatalf("queued script request: %d %s", r.status, r.body)
	}
	if r := postScriptResult(t, s, key, s2, 0); r.status != 200 || string(r.body) != "{}\n" {
		t.Fatalf("early result: %d %q", r.status, r.body)
	}
	if len(s.ScriptResults()) != 0 {
		t.Fatalf("a result for a waiting item was recorded: %+v", s.ScriptResults())
	}
	// The install is not activated yet: its result is not found.
	if r := postInstallResult(t, s, key, i1, map[string]any{"install_script_exit_code": 0, "install_script_output": "ok"}); r.status != 404 {
		t.Fatalf("result of a waiting install: %d %s", r.status, r.body)
	}
	wantPending(t, s, key, []string{s1}, nil)

	postScriptResult(t, s, key, s1, 0)
	wantPending(t, s, key, nil, []string{i1})
	// A pending status (no step reported) does not move the queue.
	if r := postInstallResult(t, s, key, i1, nil); r.status != 204 {
		t.Fatalf("pending result: %d %s", r.status, r.body)
	}
	wantPending(t, s, key, nil, []string{i1})
	postInstallResult(t, s, key, i1, map[string]any{"install_script_exit_code": 1, "install_script_output": "boom"})
	wantPending(t, s, key, []string{s2}, nil)
	postScriptResult(t, s, key, s2, 3)
	wantPending(t, s, key, nil, nil)

	want := []QueueItem{
		{Kind: "script", ID: s1, Done: true},
		{Kind: "software_install", ID: i1, Done: true},
		{Kind: "script", ID: s2, Done: true},
	}
	if got := s.Queue("u-q"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Queue = %+v, want %+v", got, want)
	}
	res := s.ScriptResults()
	if len(res) != 2 || res[0].ExecutionID != s1 || res[1].ExecutionID != s2 || res[1].ExitCode != 3 {
		t.Fatalf("ScriptResults = %+v", res)
	}
	// An answered script keeps its result; a second result changes nothing.
	postScriptResult(t, s, key, s1, 9)
	if res := s.ScriptResults(); res[0].ExitCode != 0 {
		t.Fatalf("second result overwrote the first: %+v", res[0])
	}
}

func TestQueueBroadcastScriptsPerHost(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	k1 := enrollOrbit(t, s, "u-b1")
	s.AddScript("b-1", "echo b")
	k2 := enrollOrbit(t, s, "u-b2") // enrolls after AddScript: gets its copy too
	wantPending(t, s, k1, []string{"b-1"}, nil)
	wantPending(t, s, k2, []string{"b-1"}, nil)
	postScriptResult(t, s, k1, "b-1", 0)
	wantPending(t, s, k1, nil, nil)
	wantPending(t, s, k2, []string{"b-1"}, nil)
	postScriptResult(t, s, k2, "b-1", 1)
	res := s.ScriptResults()
	if len(res) != 2 || res[0].HardwareUUID != "u-b1" || res[1].HardwareUUID != "u-b2" || res[1].ExitCode != 1 {
		t.Fatalf("ScriptResults = %+v", res)
	}
	// Adding the id again queues it once more for hosts that answered it.
	s.AddScript("b-1", "echo again")
	wantPending(t, s, k1, []string{"b-1"}, nil)
	r := do(t, s, "POST", "/api/fleet/orbit/scripts/request", map[string]string{"orbit_node_key": k1, "execution_id": "b-1"})
	if m := r.json(t); m["script_contents"] != "echo again" || m["exit_code"] != nil {
		t.Fatalf("re-added script: %s", r.body)
	}
}

func TestQueueOwnership(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	kA := enrollOrbit(t, s, "u-a")
	kB := enrollOrbit(t, s, "u-b")
	exec, _ := s.QueueScript("u-a", "id")
	inst := addInstaller(t, s, "bytes")
	install, _ := s.QueueSoftwareInstall("u-a", inst)

	type want struct {
		status int
		body   string // exact, "" to check message/reason/uuid instead
		reason string
		uuid   bool
	}
	cases := []struct {
		name string
		path string
		body map[string]any
		want want
	}{
		{"other host's script", "/api/fleet/orbit/scripts/request", map[string]any{"orbit_node_key": kB, "execution_id": exec},
			want{status: 404, reason: "not found", uuid: true}},
		{"unknown script", "/api/fleet/orbit/scripts/request", map[string]any{"orbit_node_key": kB, "execution_id": "nope"},
			want{status: 404, reason: "HostScriptResult nope was not found in the datastore", uuid: true}},
		{"other host's script result is dropped", "/api/fleet/orbit/scripts/result", map[string]any{"orbit_node_key": kB, "execution_id": exec, "exit_code": 0},
			want{status: 200, body: "{}\n"}},
		{"other host's install details", "/api/fleet/orbit/software_install/details", map[string]any{"orbit_node_key": kB, "install_uuid": install},
			want{status: 404, reason: "not found", uuid: true}},
		{"unknown install details", "/api/fleet/orbit/software_install/details", map[string]any{"orbit_node_key": kB, "install_uuid": "nope"},
			want{status: 404, reason: "SoftwareInstallerDetails nope was not found in the datastore", uuid: true}},
		{"other host's package", "/api/fleet/orbit/software_install/package?alt=media", map[string]any{"orbit_node_key": kB, "installer_id": inst},
			want{status: 403, body: "{\n  \"message\": \"Forbidden\",\n  \"errors\": [\n    {\n      \"name\": \"base\",\n      \"reason\": \"Host doesn't have access to this installer\"\n    }\n  ]\n}\n"}},
		{"other host's install result", "/api/fleet/orbit/software_install/result", map[string]any{"orbit_node_key": kB, "install_uuid": install, "install_script_exit_code": 0},
			want{status: 404, reason: "HostSoftwareInstall " + install + " was not found in the datastore", uuid: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, "POST", tc.path, tc.body)
			if r.status != tc.want.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want.status, r.body)
			}
			if tc.want.body != "" {
				if string(r.body) != tc.want.body {
					t.Fatalf("body %q, want %q", r.body, tc.want.body)
				}
				return
			}
			m := r.json(t)
			errs, _ := m["errors"].([]any)
			if m["message"] != "Resource Not Found" || len(errs) != 1 || errs[0].(map[string]any)["reason"] != tc.want.reason {
				t.Fatalf("body %s, want reason %q", r.body, tc.want.reason)
			}
			if _, has := m["uuid"]; has != tc.want.uuid {
				t.Fatalf("uuid present=%v, want %v", has, tc.want.uuid)
			}
		})
	}
	// Host A still owns both, untouched.
	wantPending(t, s, kA, []string{exec}, nil)
	if len(s.ScriptResults()) != 0 || len(s.SoftwareInstallResults()) != 0 {
		t.Fatal("another host's calls recorded results")
	}
}

func TestQueueBeforeEnroll(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.AddScript("all-1", "echo all")
	exec, err := s.QueueScript("u-late", "echo mine")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.QueueScript("", "x"); err == nil {
		t.Fatal("QueueScript without a host accepted")
	}
	if _, err := s.QueueSoftwareInstall("u-late", 42); err == nil || !strings.Contains(err.Error(), "AddSoftwareInstaller") {
		t.Fatalf("unknown installer: %v", err)
	}
	key := enrollOrbit(t, s, "u-late")
	// Queue order is the order of queuing: the broadcast script came first.
	wantPending(t, s, key, []string{"all-1"}, nil)
	postScriptResult(t, s, key, "all-1", 0)
	wantPending(t, s, key, []string{exec}, nil)
}

func TestScriptRequestWireFields(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	key := enrollOrbit(t, s, "u-w")
	exec, _ := s.QueueScript("u-w", "echo w")
	r := do(t, s, "POST", "/api/fleet/orbit/scripts/request", map[string]string{"orbit_node_key": key, "execution_id": exec})
	m := r.json(t)
	gk := keys(m)
	sort.Strings(gk)
	want := []string{"execution_id", "exit_code", "host_id", "message", "output", "policy_id", "runtime", "script_contents", "script_id", "team_id", "timeout"}
	if !reflect.DeepEqual(gk, want) {
		t.Fatalf("keys %v, want %v", gk, want)
	}
	if m["timeout"] != nil || m["exit_code"] != nil {
		t.Fatalf("timeout/exit_code before the result: %s", r.body)
	}
	long := strings.Repeat("é", maxScriptOutputRunes+5) + "END"
	do(t, s, "POST", "/api/fleet/orbit/scripts/result", map[string]any{
		"orbit_node_key": key, "host_id": 12345, "execution_id": exec, "output": long, "runtime": 2, "exit_code": -1, "timeout": 60,
	})
	r = do(t, s, "POST", "/api/fleet/orbit/scripts/request", map[string]string{"orbit_node_key": key, "execution_id": exec})
	m = r.json(t)
	out, _ := m["output"].(string)
	if m["timeout"] != float64(60) || m["exit_code"] != float64(-1) || len([]rune(out)) != maxScriptOutputRunes || !strings.HasSuffix(out, "éEND") {
		t.Fatalf("after the result: timeout %v exit %v output %d runes", m["timeout"], m["exit_code"], len([]rune(out)))
	}
	if res := s.ScriptResults(); len(res) != 1 || res[0].HostID == 12345 || res[0].HostID == 0 {
		t.Fatalf("host id not the authenticated host's: %+v", res)
	}
}

func TestDeviceMappingPerHost(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	k1 := enrollOrbit(t, s, "u-m1")
	k2 := enrollOrbit(t, s, "u-m2")
	for _, c := range []struct{ key, email string }{{k1, "one@example.com"}, {k2, "two@example.com"}, {k1, "uno@example.com"}} {
		if r := do(t, s, "PUT", "/api/fleet/orbit/device_mapping", map[string]string{"orbit_node_key": c.key, "email": c.email}); r.status != 200 || string(r.body) != "{}\n" {
			t.Fatalf("device_mapping %s: %d %q", c.email, r.status, r.body)
		}
	}
	want := []DeviceMapping{
		{HostID: s.OrbitHosts()[0].ID, HardwareUUID: "u-m1", Email: "one@example.com"},
		{HostID: s.OrbitHosts()[1].ID, HardwareUUID: "u-m2", Email: "two@example.com"},
		{HostID: s.OrbitHosts()[0].ID, HardwareUUID: "u-m1", Email: "uno@example.com"},
	}
	if got := s.DeviceMappings(); !reflect.DeepEqual(got, want) {
		t.Fatalf("DeviceMappings = %+v, want %+v", got, want)
	}
	if h := s.OrbitHosts(); h[0].Email != "uno@example.com" || h[1].Email != "two@example.com" {
		t.Fatalf("hosts' current emails: %+v", h)
	}
	if r := do(t, s, "PUT", "/api/fleet/orbit/device_mapping", map[string]string{"orbit_node_key": k1, "mail": "x"}); r.status != 400 {
		t.Fatalf("misspelt field: %d", r.status)
	}
}
