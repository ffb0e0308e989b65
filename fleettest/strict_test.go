package fleettest

import (
	"strings"
	"testing"
)

func TestStrictness(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	key := enrollOrbit(t, s, "uuid-s")
	osqKey := enrollOsquery(t, s, "/api/osquery", "uuid-s")
	_ = osqKey
	type want struct {
		status  int
		message string // Fleet JsonError.message, "" to skip
		reason  string // errors[0].reason, "" to skip
		body    string // exact body, "" to skip
		osquery bool   // expect {"error":..., "node_invalid": true}
	}
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		want   want
	}{
		{"unknown path", "GET", "/api/fleet/orbit/nope", nil, want{status: 404, body: "404 page not found\n"}},
		{"unknown api root", "POST", "/api/v2/osquery/config", "{}", want{status: 404, body: "404 page not found\n"}},
		{"trailing slash", "POST", "/api/fleet/orbit/config/", "{}", want{status: 404}},
		{"GET ping", "GET", "/api/fleet/orbit/ping", nil, want{status: 405, body: ""}},
		{"GET config", "GET", "/api/fleet/orbit/config", nil, want{status: 405}},
		{"POST device_mapping", "POST", "/api/fleet/orbit/device_mapping", "{}", want{status: 405}},
		{"GET osquery enroll", "GET", "/api/v1/osquery/enroll", nil, want{status: 405}},
		{"HEAD desktop", "HEAD", "/api/latest/fleet/device/x/desktop", nil, want{status: 405}},
		{"bad api version", "GET", "/api/v9/fleet/device/x/desktop", nil, want{status: 404}},
		{"missing node key", "POST", "/api/fleet/orbit/config", "{}", want{status: 401, message: "Authentication required", reason: "Authentication required"}},
		{"empty body", "POST", "/api/fleet/orbit/config", "", want{status: 401, message: "Authentication required"}},
		{"invalid node key", "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": "nope"}, want{status: 401, message: "Authentication required"}},
		{"malformed json", "POST", "/api/fleet/orbit/config", `{"orbit_node_key": `, want{status: 400, message: "Bad request", reason: "json decoder error"}},
		{"wrong type", "POST", "/api/fleet/orbit/scripts/result", map[string]any{"orbit_node_key": key, "execution_id": "x", "runtime": "slow"}, want{status: 400, reason: "json decoder error"}},
		{"unknown field", "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key, "node_key": "x"}, want{status: 400, message: "Bad request", reason: `json: unknown field "node_key"`}},
		{"bad secret", "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": "wrong", "hardware_uuid": "u"}, want{status: 401, message: "Authentication failed", reason: "Authentication failed"}},
		{"missing secret", "POST", "/api/fleet/orbit/enroll", map[string]string{"hardware_uuid": "u"}, want{status: 401, message: "Authentication failed"}},
		{"missing hardware_uuid", "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": testSecret}, want{status: 400, reason: "hardware_uuid is required"}},
		{"empty mapping email", "PUT", "/api/fleet/orbit/device_mapping", map[string]string{"orbit_node_key": key}, want{status: 422, message: "Validation Failed"}},
		{"osquery bad node key", "POST", "/api/osquery/config", map[string]string{"node_key": "nope"}, want{status: 401, osquery: true}},
		{"osquery missing node key", "POST", "/api/v1/osquery/distributed/read", "{}", want{status: 401, osquery: true}},
		{"osquery bad secret", "POST", "/api/v1/osquery/enroll", map[string]string{"enroll_secret": "x", "host_identifier": "h"}, want{status: 401, osquery: true}},
		{"osquery malformed", "POST", "/api/osquery/log", "{", want{status: 400, reason: "json decoder error"}},
		{"osquery unknown fields ok", "POST", "/api/osquery/config", map[string]string{"node_key": osqKey, "extra": "ok"}, want{status: 200}},
		{"device unknown token", "GET", "/api/latest/fleet/device/nope/desktop", nil, want{status: 401, message: "Authentication required"}},
		{"body too large", "POST", "/api/fleet/orbit/config", strings.Repeat(" ", maxBodyBytes+1), want{status: 413}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, tc.method, tc.path, tc.body)
			if r.status != tc.want.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want.status, r.body)
			}
			if tc.want.body != "" || tc.want.status == 405 {
				if string(r.body) != tc.want.body {
					t.Fatalf("body %q, want %q", r.body, tc.want.body)
				}
			}
			if tc.want.message != "" || tc.want.reason != "" {
				m := r.json(t)
				if tc.want.message != "" && m["message"] != tc.want.message {
					t.Fatalf("message %v, want %q (%s)", m["message"], tc.want.message, r.body)
				}
				errs, _ := m["errors"].([]any)
				if len(errs) != 1 {
					t.Fatalf("errors = %v", m["errors"])
				}
				e := errs[0].(map[string]any)
				if tc.want.reason != "" && e["reason"] != tc.want.reason {
					t.Fatalf("reason %v, want %q", e["reason"], tc.want.reason)
				}
				if m["uuid"] == "" || m["uuid"] == nil {
					t.Fatalf("no uuid in error body %s", r.body)
				}
			}
			if tc.want.osquery {
				m := r.json(t)
				if m["node_invalid"] != true || m["error"] == nil || m["error"] == "" {
					t.Fatalf("osquery error body %s", r.body)
				}
			}
		})
	}
}

func TestAllowUnknownFields(t *testing.T) {
	t.Parallel()
	s := start(t, Config{AllowUnknownFields: true})
	r := do(t, s, "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": testSecret, "hardware_uuid": "u", "future_field": "x"})
	if r.status != 200 {
		t.Fatalf("lenient enroll: %d %s", r.status, r.body)
	}
	strict := start(t, Config{})
	r = do(t, strict, "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": testSecret, "hardware_uuid": "u", "future_field": "x"})
	if r.status != 400 {
		t.Fatalf("strict enroll with unknown field: %d %s", r.status, r.body)
	}
	if len(strict.OrbitHosts()) != 0 {
		t.Fatal("rejected enroll created a host")
	}
}

func TestNoSecretsConfiguredRejectsEmptySecret(t *testing.T) {
	t.Parallel()
	s := New(Config{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	r := do(t, s, "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": "", "hardware_uuid": "u"})
	if r.status != 401 {
		t.Fatalf("empty secret with none configured: %d", r.status)
	}
}

// TestCapabilitiesHeader checks the header is on every Orbit answer whose
// endpoint ran (success and service errors, as go-kit's ServerAfter in
// Fleet) and missing when node-key authentication or decoding failed.
func TestCapabilitiesHeader(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	key := enrollOrbit(t, s, "u-caps")
	other := enrollOrbit(t, s, "u-caps-2")
	do(t, s, "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": other, "device_auth_token": "taken"})
	cases := []struct {
		name     string
		method   string
		path     string
		body     any
		status   int
		wantCaps bool
	}{
		{"ping", "HEAD", "/api/fleet/orbit/ping", nil, 200, true},
		{"config ok", "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key}, 200, true},
		{"config 401", "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": "bad"}, 401, false},
		{"enroll bad secret 401", "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": "bad", "hardware_uuid": "u"}, 401, true},
		{"script 404", "POST", "/api/fleet/orbit/scripts/request", map[string]string{"orbit_node_key": key, "execution_id": "none"}, 404, true},
		{"token conflict 409", "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": key, "device_auth_token": "taken"}, 409, true},
		{"package without alt 400", "POST", "/api/fleet/orbit/software_install/package", map[string]any{"orbit_node_key": key, "installer_id": 1}, 400, true},
		{"package 401", "POST", "/api/fleet/orbit/software_install/package?alt=media", map[string]any{"orbit_node_key": "bad", "installer_id": 1}, 401, false},
		{"malformed 400", "POST", "/api/fleet/orbit/config", "{", 400, false},
		{"unknown 404", "POST", "/api/fleet/orbit/nope", "{}", 404, false},
	}
	for _, tc := range cases {
		r := do(t, s, tc.method, tc.path, tc.body)
		if r.status != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.name, r.status, tc.status)
		}
		if got := r.header.Get(CapabilitiesHeader) != ""; got != tc.wantCaps {
			t.Fatalf("%s: capabilities header present=%v, want %v", tc.name, got, tc.wantCaps)
		}
	}
	s.SetCapabilities("")
	if r := do(t, s, "HEAD", "/api/fleet/orbit/ping", nil); len(r.header.Values(CapabilitiesHeader)) != 0 {
		t.Fatalf("empty capabilities still sent a header: %v", r.header.Values(CapabilitiesHeader))
	}
}
