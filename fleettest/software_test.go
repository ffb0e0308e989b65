package fleettest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// postInstallResult posts an install result; fields nil sends no step.
func postInstallResult(t *testing.T, s *Server, key, installID string, fields map[string]any) resp {
	t.Helper()
	body := map[string]any{"orbit_node_key": key, "install_uuid": installID}
	for k, v := range fields {
		body[k] = v
	}
	return do(t, s, "POST", "/api/fleet/orbit/software_install/result", body)
}

func TestSoftwareInstallDetailsAndPackage(t *testing.T) {
	t.Parallel()
	s := start(t, Config{TLS: true})
	key := enrollOrbit(t, s, "u-sw")
	pkg := make([]byte, 3<<20+17) // several stream chunks and an odd tail
	if _, err := rand.Read(pkg); err != nil {
		t.Fatal(err)
	}
	inst, err := s.AddSoftwareInstaller(SoftwareInstaller{
		Filename: "tool_1.0_amd64.deb", Package: pkg,
		InstallScript: "install", PostInstallScript: "post", UninstallScript: "uninstall",
		PreInstallQuery: "SELECT 1;", SelfService: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	install, _ := s.QueueSoftwareInstall("u-sw", inst)

	// Details, with Fleet's legacy orbot_node_key spelling.
	r := do(t, s, "POST", "/api/fleet/orbit/software_install/details", map[string]string{"orbot_node_key": key, "install_uuid": install})
	if r.status != 200 || r.header.Get(CapabilitiesHeader) != DefaultCapabilities {
		t.Fatalf("details: %d caps %q %s", r.status, r.header.Get(CapabilitiesHeader), r.body)
	}
	var details map[string]any
	if err := json.Unmarshal(r.body, &details); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"install_id": install, "installer_id": float64(inst), "pre_install_condition": "SELECT 1;",
		"install_script": "install", "post_install_script": "post", "uninstall_script": "uninstall", "self_service": true,
	}
	if !reflect.DeepEqual(details, want) {
		t.Fatalf("details = %v, want %v", details, want)
	}
	if r := do(t, s, "POST", "/api/fleet/orbit/software_install/details", map[string]string{"orbit_node_key": key, "install_id": install}); r.status != 400 {
		t.Fatalf("install_id (the response name) as request field: %d, want 400 unknown field", r.status)
	}

	// Package: the exact bytes, streamed, with Fleet's headers.
	req, _ := http.NewRequest("POST", s.URL()+"/api/fleet/orbit/software_install/package?alt=media",
		strings.NewReader(`{"orbit_node_key":"`+key+`","installer_id":`+strconv.Itoa(int(inst))+`}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || sha256.Sum256(got) != sha256.Sum256(pkg) {
		t.Fatalf("package: status %d, %d bytes (want %d, same hash)", res.StatusCode, len(got), len(pkg))
	}
	for h, v := range map[string]string{
		"Content-Type":        "application/octet-stream",
		"Content-Length":      strconv.Itoa(len(pkg)),
		"Content-Disposition": `attachment;filename="tool_1.0_amd64.deb"`,
		CapabilitiesHeader:    DefaultCapabilities,
	} {
		if res.Header.Get(h) != v {
			t.Errorf("%s = %q, want %q", h, res.Header.Get(h), v)
		}
	}
	for _, tc := range []struct {
		name, query string
		status      int
		reason      string
	}{
		{"no alt", "", 400, "only alt=media is supported"},
		{"alt=json", "?alt=json", 400, "only alt=media is supported"},
	} {
		r := do(t, s, "POST", "/api/fleet/orbit/software_install/package"+tc.query, map[string]any{"orbit_node_key": key, "installer_id": inst})
		if r.status != tc.status || r.json(t)["errors"].([]any)[0].(map[string]any)["reason"] != tc.reason {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	if r := do(t, s, "POST", "/api/fleet/orbit/software_install/package?alt=media", map[string]any{"orbit_node_key": key, "installer_id": "1"}); r.status != 400 {
		t.Fatalf("installer_id as a string: %d, want 400 (Fleet's field is a uint)", r.status)
	}

	// Once the install has its result the package is no longer served.
	postInstallResult(t, s, key, install, map[string]any{"pre_install_condition_output": "[{\"1\":\"1\"}]", "install_script_exit_code": 0, "install_script_output": "done"})
	if r := do(t, s, "POST", "/api/fleet/orbit/software_install/package?alt=media", map[string]any{"orbit_node_key": key, "installer_id": inst}); r.status != 403 {
		t.Fatalf("package after the result: %d", r.status)
	}
	// Details stay readable.
	if r := do(t, s, "POST", "/api/fleet/orbit/software_install/details", map[string]string{"orbit_node_key": key, "install_uuid": install}); r.status != 200 {
		t.Fatalf("details after the result: %d", r.status)
	}
}

func TestSoftwareInstallResultStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		fields   map[string]any
		status   string
		moveNext bool
	}{
		{"installed", map[string]any{"install_script_exit_code": 0, "install_script_output": "ok"}, "installed", true},
		{"install failed", map[string]any{"install_script_exit_code": 2, "install_script_output": "no"}, "failed_install", true},
		{"scripts disabled", map[string]any{"install_script_exit_code": -2, "install_script_output": "Scripts are disabled"}, "failed_install", true},
		{"condition not met", map[string]any{"pre_install_condition_output": ""}, "failed_install", true},
		{"post-install ok", map[string]any{"install_script_exit_code": 0, "post_install_script_exit_code": 0}, "installed", true},
		{"post-install failed, rolled back", map[string]any{"install_script_exit_code": 0, "post_install_script_exit_code": 1,
			"post_install_script_output": "bad\nAttempting rollback by running uninstall script...\nUninstall script exit code: 0\n"}, "failed_install", true},
		{"nothing reported", nil, "pending_install", false},
		{"failed with retries left", map[string]any{"install_script_exit_code": 1, "retries_remaining": 2}, "failed_install", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{})
			key := enrollOrbit(t, s, "u-st")
			inst := addInstaller(t, s, "p")
			install, _ := s.QueueSoftwareInstall("u-st", inst)
			next, _ := s.QueueScript("u-st", "echo next")
			r := postInstallResult(t, s, key, install, tc.fields)
			if r.status != 204 || len(r.body) != 0 || r.header.Get(CapabilitiesHeader) == "" {
				t.Fatalf("result: %d %q caps %q, want 204 empty with caps", r.status, r.body, r.header.Get(CapabilitiesHeader))
			}
			res := s.SoftwareInstallResults()
			if len(res) != 1 || res[0].Status != tc.status || res[0].InstallUUID != install || res[0].HardwareUUID != "u-st" || res[0].InstallerID != inst {
				t.Fatalf("results = %+v, want status %s", res, tc.status)
			}
			if tc.moveNext {
				wantPending(t, s, key, []string{next}, nil)
			} else {
				wantPending(t, s, key, nil, []string{install})
			}
		})
	}
}

func TestSoftwareInstallResultFields(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	key := enrollOrbit(t, s, "u-f")
	inst := addInstaller(t, s, "p")
	install, _ := s.QueueSoftwareInstall("u-f", inst)
	long := strings.Repeat("x", 3*maxScriptOutputRunes) + "TAIL"
	r := postInstallResult(t, s, key, install, map[string]any{
		"host_id": 999, "pre_install_condition_output": "[{\"a\":\"b\"}]", "install_script_exit_code": 0,
		"install_script_output": long, "post_install_script_exit_code": 0, "post_install_script_output": "post",
	})
	if r.status != 204 {
		t.Fatalf("result: %d %s", r.status, r.body)
	}
	res := s.SoftwareInstallResults()[0]
	if res.HostID != s.OrbitHosts()[0].ID || *res.PreInstallConditionOutput != `[{"a":"b"}]` || *res.InstallScriptExitCode != 0 ||
		len(*res.InstallScriptOutput) != maxScriptOutputRunes || !strings.HasSuffix(*res.InstallScriptOutput, "TAIL") ||
		*res.PostInstallScriptExitCode != 0 || *res.PostInstallScriptOutput != "post" {
		t.Fatalf("stored result %+v", res)
	}
	// Strict: a misspelt field is refused (Fleet would silently drop it).
	r = postInstallResult(t, s, key, install, map[string]any{"install_exit_code": 0})
	if r.status != 400 || !strings.Contains(string(r.body), `unknown field \"install_exit_code\"`) {
		t.Fatalf("misspelt field: %d %s", r.status, r.body)
	}
	// A repeated result is accepted again, as Fleet's UPDATE is.
	postInstallResult(t, s, key, install, map[string]any{"install_script_exit_code": 5})
	if got := s.SoftwareInstallResults(); len(got) != 2 || *got[1].InstallScriptExitCode != 5 {
		t.Fatalf("repeat not recorded: %+v", got)
	}
}

func TestAddSoftwareInstallerValidation(t *testing.T) {
	t.Parallel()
	s := New(Config{})
	for _, name := range []string{"", "a\r\nX-Injected: 1", "tab\tname"} {
		if _, err := s.AddSoftwareInstaller(SoftwareInstaller{Filename: name}); err == nil {
			t.Errorf("filename %q accepted", name)
		}
	}
	// Hostile but header-safe names are kept so tests can check the agent.
	if _, err := s.AddSoftwareInstaller(SoftwareInstaller{Filename: "../../etc/cron.d/x"}); err != nil {
		t.Errorf("path-like filename refused: %v", err)
	}
	pkg := []byte("abc")
	id, _ := s.AddSoftwareInstaller(SoftwareInstaller{Filename: "p.deb", Package: pkg})
	pkg[0] = 'X'
	if got := s.st.installers[id].Package; !bytes.Equal(got, []byte("abc")) {
		t.Fatalf("installer shares the caller's slice: %q", got)
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	key := enrollOrbit(t, s, "u-n")
	n := Notifications{
		RenewEnrollmentProfile: true, RotateDiskEncryptionKey: true, NeedsMDMMigration: true,
		NeedsProgrammaticWindowsMDMEnrollment: true, WindowsMDMDiscoveryEndpoint: "https://x/api/mdm/microsoft/discovery",
		NeedsProgrammaticWindowsMDMUnenrollment: true, EnforceBitLockerEncryption: true, EnableBitLockerPINProtectorConfig: true,
		RunSetupExperience: true, RunDiskEncryptionEscrow: true,
		Extra: map[string]json.RawMessage{"debug_logging": json.RawMessage(`{"until":"2030-01-01T00:00:00Z"}`)},
	}
	if err := s.SetNotifications("u-n", n); err != nil {
		t.Fatal(err)
	}
	exec, _ := s.QueueScript("u-n", "echo")
	notifs := func() map[string]any {
		r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
		return r.json(t)["notifications"].(map[string]any)
	}
	got := notifs()
	want := map[string]any{
		"renew_enrollment_profile": true, "rotate_disk_encryption_key": true, "needs_mdm_migration": true,
		"needs_programmatic_windows_mdm_enrollment": true, "windows_mdm_discovery_endpoint": "https://x/api/mdm/microsoft/discovery",
		"needs_programmatic_windows_mdm_unenrollment": true, "enforce_bitlocker_encryption": true,
		"enable_bitlocker_pin_protector_config": true, "run_setup_experience": true, "run_disk_encryption_escrow": true,
		"pending_script_execution_ids": []any{exec},
		"debug_logging":                map[string]any{"until": "2030-01-01T00:00:00Z"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("notifications = %v\nwant %v", got, want)
	}
	// run_disk_encryption_escrow is sent once; the others stay.
	got = notifs()
	if _, ok := got["run_disk_encryption_escrow"]; ok || got["run_setup_experience"] != true {
		t.Fatalf("second config: %v", got)
	}
	// Another host gets none of them.
	k2 := enrollOrbit(t, s, "u-n2")
	r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": k2})
	if string(mustMarshal(t, r.json(t)["notifications"])) != "{}" {
		t.Fatalf("other host notifications: %s", r.body)
	}
	for _, bad := range []map[string]json.RawMessage{
		{"run_setup_experience": json.RawMessage(`true`)},
		{"x": json.RawMessage(`{`)},
	} {
		if err := s.SetNotifications("u-n", Notifications{Extra: bad}); err == nil {
			t.Errorf("extra %v accepted", bad)
		}
	}
	if err := s.SetNotifications("", Notifications{}); err == nil {
		t.Error("SetNotifications without a host accepted")
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEndUserAuthRequired(t *testing.T) {
	t.Parallel()
	const other = "other-team-secret"
	s := start(t, Config{EnrollSecrets: []string{testSecret, other}})
	enrollOrbit(t, s, "u-old") // enrolled before the switch: not blocked later
	s.RequireEndUserAuth(testSecret, true)
	enroll := func(uuid, secret, caps string) resp {
		t.Helper()
		var hdr []string
		if caps != "" {
			hdr = []string{CapabilitiesHeader, caps}
		}
		return do(t, s, "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": secret, "hardware_uuid": uuid}, hdr...)
	}
	const refused = "{\n  \"message\": \"END_USER_AUTH_REQUIRED\",\n  \"errors\": [\n    {\n      \"name\": \"base\",\n      \"reason\": \"END_USER_AUTH_REQUIRED\"\n    }\n  ]\n}\n"
	steps := []struct {
		name   string
		setup  func()
		uuid   string
		secret string
		caps   string
		status int
	}{
		{"new host, no capability", nil, "u-new", testSecret, "", 401},
		{"new host announcing end_user_auth", nil, "u-new", testSecret, "orbit_endpoints,end_user_auth", 401},
		{"other team's secret", nil, "u-other", other, "", 200},
		{"already enrolled host", nil, "u-old", testSecret, "", 200},
		{"bypass lets capability-less agents in", func() { s.AllowEndUserAuthBypass(true) }, "u-new", testSecret, "orbit_endpoints", 200},
		{"bypass does not help agents with the capability", nil, "u-new2", testSecret, "end_user_auth", 401},
		{"after sign-in", func() { s.CompleteEndUserAuth("u-new2") }, "u-new2", testSecret, "end_user_auth", 200},
		{"global switch", func() { s.AllowEndUserAuthBypass(false); s.RequireEndUserAuth("", true) }, "u-other2", other, "", 401},
		{"switched off", func() { s.RequireEndUserAuth("", false); s.RequireEndUserAuth(testSecret, false) }, "u-new3", testSecret, "", 200},
	}
	for _, st := range steps {
		if st.setup != nil {
			st.setup()
		}
		r := enroll(st.uuid, st.secret, st.caps)
		if r.status != st.status {
			t.Fatalf("%s: %d, want %d: %s", st.name, r.status, st.status, r.body)
		}
		if r.header.Get(CapabilitiesHeader) != DefaultCapabilities {
			t.Fatalf("%s: capabilities %q", st.name, r.header.Get(CapabilitiesHeader))
		}
		if st.status == 401 && string(r.body) != refused {
			t.Fatalf("%s: body %q, want %q", st.name, r.body, refused)
		}
	}
	hosts := s.OrbitHosts()
	var names []string
	for _, h := range hosts {
		names = append(names, h.HardwareUUID)
	}
	sort.Strings(names)
	if want := []string{"u-new", "u-new2", "u-new3", "u-old", "u-other"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("enrolled %v, want %v (a refused enroll must not create a host)", names, want)
	}
}
