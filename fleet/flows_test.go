package fleet

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/status"

	"github.com/rs/zerolog"
)

func TestNotificationChanges(t *testing.T) {
	t.Parallel()
	var n notificationLog
	raw := func(kv ...string) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = json.RawMessage(kv[i+1])
		}
		return m
	}
	for i, step := range []struct {
		fields       map[string]json.RawMessage
		set, cleared string
	}{
		{raw("a", "true", "b", "false", "c", `""`, "d", "[]"), "a", ""},
		{raw("a", "true", "b", "false"), "", ""},                                                       // unchanged: nothing
		{raw("a", "true", "e", `{"x": 1}`), "e", ""},                                                   // a new field
		{raw("a", "true", "e", `{"x":1}`), "", ""},                                                     // same JSON, other spacing
		{raw("a", "true", "e", `{"x":2}`), "e", ""},                                                    // changed value
		{raw("e", `{"x":2}`, "run_disk_encryption_escrow", "true"), "run_disk_encryption_escrow", "a"}, // cleared
		{raw("e", `{"x":2}`, "run_disk_encryption_escrow", "true"), "run_disk_encryption_escrow", ""},  // one-shot: every arrival
		{raw("e", "null"), "", "e,run_disk_encryption_escrow"},
	} {
		set, cleared := n.changes(step.fields)
		if strings.Join(set, ",") != step.set || strings.Join(cleared, ",") != step.cleared {
			t.Errorf("step %d: set %v cleared %v, want %q %q", i, set, cleared, step.set, step.cleared)
		}
	}
}

func TestAgentNotificationsLoggedOncePerChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	hw := hostUUID()
	base := fleettest.Notifications{
		RenewEnrollmentProfile: true, RotateDiskEncryptionKey: true, NeedsMDMMigration: true,
		NeedsProgrammaticWindowsMDMEnrollment: true, WindowsMDMDiscoveryEndpoint: "https://fleet.example/discovery",
		NeedsProgrammaticWindowsMDMUnenrollment: true, EnforceBitLockerEncryption: true,
		EnableBitLockerPINProtectorConfig: true, RunSetupExperience: true,
		Extra: map[string]json.RawMessage{"debug_logging": json.RawMessage(`true`), "brand_new_request": json.RawMessage(`{"v":1}`)},
	}
	if err := e.srv.SetNotifications(hw, base); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.idle()
	for i := 0; i < 3; i++ {
		e.step(30 * time.Second)
	}
	count := func(field string) int { return strings.Count(e.log.String(), `"notification":"`+field+`"`) }
	for _, f := range []string{"renew_enrollment_profile", "rotate_disk_encryption_key", "needs_mdm_migration",
		"needs_programmatic_windows_mdm_enrollment", "windows_mdm_discovery_endpoint",
		"needs_programmatic_windows_mdm_unenrollment", "enforce_bitlocker_encryption",
		"enable_bitlocker_pin_protector_config", "run_setup_experience", "debug_logging", "brand_new_request"} {
		if n := count(f); n != 1 {
			t.Errorf("%s logged %d times over 4 polls, want once", f, n)
		}
	}
	if n := strings.Count(e.log.String(), "fleet sent a notification orbit does not know"); n != 2 {
		t.Errorf("%d unknown-notification lines, want 2 (debug_logging, brand_new_request)", n)
	}
	if strings.Contains(e.log.String(), "fleet.example/discovery") {
		t.Errorf("a notification's value was logged")
	}

	// A changed value and a cleared flag: one line each.
	base.Extra["brand_new_request"] = json.RawMessage(`{"v":2}`)
	base.RenewEnrollmentProfile = false
	if err := e.srv.SetNotifications(hw, base); err != nil {
		t.Fatal(err)
	}
	e.step(30 * time.Second)
	e.step(30 * time.Second)
	if n := count("brand_new_request"); n != 2 {
		t.Errorf("changed unknown notification logged %d times in all, want 2", n)
	}
	if n := count("renew_enrollment_profile"); n != 2 || !strings.Contains(e.log.String(), "fleet no longer sends this notification") {
		t.Errorf("cleared notification: %d lines", n)
	}

	// The one-shot escrow request: Fleet clears it after one answer, so
	// each time it is queued it is logged once, never lost.
	for round := 1; round <= 2; round++ {
		base.RunDiskEncryptionEscrow = true
		if err := e.srv.SetNotifications(hw, base); err != nil {
			t.Fatal(err)
		}
		e.step(30 * time.Second)
		e.step(30 * time.Second)
		if n := count("run_disk_encryption_escrow"); n != round {
			t.Errorf("escrow request %d logged %d times in all, want %d", round, n, round)
		}
	}
	if !strings.Contains(e.log.String(), "Linux disk encryption key escrow (LUKS)") {
		t.Errorf("escrow request not named")
	}
}

func TestNudgeConfigLogged(t *testing.T) {
	t.Parallel()
	log := &logcapture.Buffer{}
	a := &Agent{log: zerolog.New(log)}
	for _, nudge := range []string{`{"osVersionRequirements":[]}`, `{"osVersionRequirements":[]}`, `{"osVersionRequirements":[1]}`} {
		a.noteNotifications(&OrbitConfig{NudgeConfig: json.RawMessage(nudge)})
	}
	if n := strings.Count(log.String(), "Nudge settings"); n != 2 {
		t.Errorf("nudge_config logged %d times for 2 distinct values:\n%s", n, log.String())
	}
}

func TestAgentEndUserAuthRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.srv.RequireEndUserAuth("", true)
	e.start()
	var gaps []time.Duration
	for i := 0; i < 4; i++ {
		e.clk.BlockUntil(t, 1)
		d := e.clk.NextDeadline().Sub(e.clk.Now())
		gaps = append(gaps, d)
		e.clk.Advance(d)
	}
	e.clk.BlockUntil(t, 1) // the last attempt was answered
	for i, g := range gaps {
		if g < enrollMaxDelay {
			t.Errorf("retry %d after %s, want the enroll backoff's cap (%s)", i+1, g, enrollMaxDelay)
		}
	}
	select {
	case <-e.agent.Ready():
	default:
		t.Fatal("Ready not closed: osqueryd would wait for an enrollment that needs a person")
	}
	log := e.log.String()
	if n := strings.Count(log, "END_USER_AUTH_REQUIRED"); n != 1 {
		t.Errorf("END_USER_AUTH_REQUIRED logged %d times over 4 attempts, want once (rate-limited)", n)
	}
	if strings.Contains(log, "check --enroll-secret") {
		t.Errorf("end-user authentication blamed on the enroll secret")
	}
	if st := e.status.get(); st.EnrollRefused != status.EnrollRefusedEndUserAuth || st.Enrolled {
		t.Errorf("status %+v, want enroll_refused %q", st, status.EnrollRefusedEndUserAuth)
	}
	for _, c := range e.calls("POST", PathEnroll) {
		if c.Capabilities != "" {
			t.Errorf("orbit announced %q: it implements no client capability", c.Capabilities)
		}
	}
	assertNoSecrets(t, log, testSecret)

	// The user signs in (through Fleet): the next attempt enrolls.
	e.srv.CompleteEndUserAuth(hostUUID())
	e.clk.Advance(e.clk.NextDeadline().Sub(e.clk.Now()))
	e.idle()
	if st := e.status.get(); !st.Enrolled || st.EnrollRefused != "" {
		t.Errorf("status after sign-in %+v", st)
	}
}

func TestAgentEnrollEndpointMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.srv.SetFault(PathEnroll, fleettest.Fault{Status: 404})
	e.start()
	select {
	case <-e.agent.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("Ready not closed after an enroll 404: osqueryd would not start")
	}
	for i := 0; i < 5; i++ {
		e.clk.Advance(time.Hour)
	}
	if n := len(e.calls("POST", PathEnroll)); n != 1 {
		t.Errorf("%d enroll attempts after a 404, want 1 (no retry)", n)
	}
	if n := strings.Count(e.log.String(), "no Orbit enroll endpoint"); n != 1 {
		t.Errorf("404 explained %d times, want once", n)
	}
	if st := e.status.get(); st.EnrollRefused != status.EnrollRefusedNoEndpoint {
		t.Errorf("status %+v", st)
	}
	select {
	case err := <-e.done:
		t.Fatalf("agent returned %v: the run group would restart it into the same 404", err)
	default:
	}
}

func TestAgentEndUserEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.EndUserEmail = "jane@example.com"; c.ConfigInterval = 5 * time.Second })
	e.start()
	e.idle()
	for i := 0; i < 3; i++ {
		e.step(5 * time.Second)
	}
	m := e.srv.DeviceMappings()
	if len(m) != 1 || m[0].Email != "jane@example.com" || len(e.calls("PUT", PathDeviceMapping)) != 1 {
		t.Fatalf("device mappings %+v, want one for the flag's email", m)
	}
	// After a re-enroll the new host record gets it again, once.
	e.srv.InvalidateNodeKeys()
	for i := 0; i < 14; i++ {
		e.step(5 * time.Second)
	}
	if h := e.srv.OrbitHosts(); len(h) != 1 || h[0].Enrollments != 2 {
		t.Fatalf("no re-enroll: %+v", h)
	}
	if n := len(e.calls("PUT", PathDeviceMapping)); n != 2 {
		t.Errorf("%d device mapping calls after a re-enroll, want 2", n)
	}

	// A server without end_user_email gets nothing, and it is said once.
	e2 := newEnv(t, func(c *Config) { c.EndUserEmail = "jane@example.com" })
	e2.srv.SetCapabilities("orbit_endpoints,token_rotation")
	e2.start()
	e2.idle()
	e2.step(30 * time.Second)
	e2.step(30 * time.Second)
	if n := len(e2.calls("PUT", PathDeviceMapping)); n != 0 {
		t.Errorf("%d device mapping calls to a server without end_user_email", n)
	}
	if n := strings.Count(e2.log.String(), "does not advertise end_user_email"); n != 1 {
		t.Errorf("missing capability logged %d times, want once", n)
	}
}

func TestValidateEndUserEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		email string
		ok    bool
	}{
		{"", true}, {"jane@example.com", true}, {"j.doe+it@sub.example.org", true},
		{"jane", false}, {"@example.com", false}, {"jane@", false}, {"jane doe@example.com", false},
		{"jane@example.com\n--x", false}, {strings.Repeat("a", 250) + "@example.com", false},
	} {
		if err := ValidateEndUserEmail(tc.email); (err == nil) != tc.ok {
			t.Errorf("ValidateEndUserEmail(%q) = %v, want ok %v", tc.email, err, tc.ok)
		}
	}
}

func TestAgentRotatesTokenTheServerForgot(t *testing.T) {
	t.Parallel()
	// The server forgets tokens after 2 minutes (a restored database, a
	// shorter TTL): the 5-minute check finds out and rotates at once.
	e := newEnvServer(t, func(c *fleettest.Config) { c.DeviceTokenTTL = 2 * time.Minute }, nil)
	e.start()
	e.idle()
	tok1, _, err := readToken(e.layout.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	var rotatedAt time.Duration
	for elapsed := 30 * time.Second; elapsed <= 10*time.Minute; elapsed += 30 * time.Second {
		e.step(30 * time.Second)
		if tok, _, _ := readToken(e.layout.Identifier()); tok != tok1 {
			rotatedAt = elapsed
			break
		}
	}
	if rotatedAt == 0 || rotatedAt > DefaultTokenRemoteCheck+30*time.Second {
		t.Fatalf("token rotated after %s, want at the first 5-minute check", rotatedAt)
	}
	tok2, _, _ := readToken(e.layout.Identifier())
	if e.srv.DeviceTokens()[tok2] == "" || !strings.Contains(e.agent.MyDeviceURL(), tok2) {
		t.Errorf("the new token is not registered or not published")
	}
	pings := e.srv.CallsMatching(fleettest.CallFilter{Method: "HEAD", PathPrefix: "/api/latest/fleet/device/"})
	if len(pings) != 1 || pings[0].Status != 401 || !strings.HasSuffix(pings[0].Path, "/ping") {
		t.Errorf("device pings %+v, want one answered 401", pings)
	}
	if strings.Contains(e.log.String(), tok1) {
		t.Errorf("the dead token was logged")
	}
	if h := e.srv.OrbitHosts(); h[0].Enrollments != 1 {
		t.Errorf("a device API 401 made orbit re-enroll")
	}
}

func TestAgentNextQueuedItemRightAfterAResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ScriptsEnabled = false })
	var ids []string
	for i := 0; i < 3; i++ {
		id, err := e.srv.QueueScript(hostUUID(), "echo hi")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	e.start()
	// No clock advance: each result brings the next item at once.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	calls, err := e.srv.WaitForCalls(ctx, fleettest.CallFilter{Method: "POST", Path: PathScriptResult}, 3)
	if err != nil {
		t.Fatalf("queue not drained without waiting for poll intervals: %v", err)
	}
	for i, c := range calls {
		if c.Body["execution_id"] != ids[i] {
			t.Errorf("result %d for %v, want %s (queue order)", i, c.Body["execution_id"], ids[i])
		}
	}
}
