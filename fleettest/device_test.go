package fleettest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDeviceAPI(t *testing.T) {
	t.Parallel()
	s := start(t, Config{TLS: true})
	key := enrollOrbit(t, s, "u-d")
	if r := do(t, s, "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": key, "device_auth_token": "good-token"}); r.status != 200 {
		t.Fatalf("device_token: %d", r.status)
	}
	s.SetPolicies([]Policy{
		{ID: 1, Name: "disk", Query: "SELECT 1", Response: "fail"},
		{ID: 2, Name: "fw", Query: "SELECT 1", Response: "pass"},
		{ID: 3, Name: "av", Query: "SELECT 1", Response: "fail"},
	})
	s.SetDesktopInfo(DesktopInfo{OrgName: "Acme", OrgLogoURL: "https://logo", ContactURL: "https://help", SelfService: true, NeedsMDMMigration: true, TransparencyURL: "https://example.com/t"})
	s.SetDeviceCapabilities("error_reporting")

	for _, version := range []string{"v1", "2022-04", "latest"} {
		base := "/api/" + version + "/fleet/device/"
		cases := []struct {
			name   string
			method string
			path   string
			body   any
			good   func(t *testing.T, r resp)
		}{
			{"desktop", "GET", "/desktop", nil, func(t *testing.T, r resp) {
				m := r.json(t)
				org := m["config"].(map[string]any)["org_info"].(map[string]any)
				if m["failing_policies_count"] != float64(2) || m["self_service"] != true ||
					m["notifications"].(map[string]any)["needs_mdm_migration"] != true ||
					org["org_name"] != "Acme" || org["org_logo_url"] != "https://logo" || org["contact_url"] != "https://help" {
					t.Fatalf("desktop = %s", r.body)
				}
			}},
			{"policies", "GET", "/policies", nil, func(t *testing.T, r resp) {
				var p struct {
					Policies []Policy `json:"policies"`
				}
				if err := json.Unmarshal(r.body, &p); err != nil || len(p.Policies) != 3 || p.Policies[0].Response != "fail" || p.Policies[0].Name != "disk" {
					t.Fatalf("policies = %s", r.body)
				}
			}},
			{"ping", "HEAD", "/ping", nil, func(t *testing.T, r resp) {
				if r.header.Get(CapabilitiesHeader) != "error_reporting" {
					t.Fatalf("device ping capabilities %q", r.header.Get(CapabilitiesHeader))
				}
			}},
			{"transparency", "GET", "/transparency", nil, func(t *testing.T, r resp) {
				if r.status != 307 || r.header.Get("Location") != "https://example.com/t" {
					t.Fatalf("transparency: %d %q", r.status, r.header.Get("Location"))
				}
			}},
			{"debug errors", "POST", "/debug/errors", map[string]any{"error_source": "fleet-desktop", "error_message": "boom", "vital": false}, nil},
		}
		for _, tc := range cases {
			t.Run(version+"/"+tc.name, func(t *testing.T) {
				r := do(t, s, tc.method, base+"good-token"+tc.path, tc.body)
				wantStatus := 200
				if tc.name == "transparency" {
					wantStatus = 307
				}
				if r.status != wantStatus {
					t.Fatalf("registered token: %d %s", r.status, r.body)
				}
				if tc.good != nil {
					tc.good(t, r)
				}
				bad := do(t, s, tc.method, base+"unknown-token"+tc.path, tc.body)
				if bad.status != 401 {
					t.Fatalf("unknown token: %d %s", bad.status, bad.body)
				}
				if tc.method != "HEAD" && bad.json(t)["message"] != "Authentication required" {
					t.Fatalf("unknown token body: %s", bad.body)
				}
			})
		}
	}
	if errs := s.FleetdErrors(); len(errs) != 3 || !strings.Contains(string(errs[0]), "boom") {
		t.Fatalf("FleetdErrors = %d", len(errs))
	}
	if r := do(t, s, "HEAD", "/api/fleet/device/ping", nil); r.status != 200 || r.header.Get(CapabilitiesHeader) != "error_reporting" {
		t.Fatalf("anonymous device ping: %d", r.status)
	}

	// Browser pages.
	for _, p := range []string{"/device/good-token", "/device/good-token/self-service"} {
		r := do(t, s, "GET", p, nil)
		if r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "host-u-d") {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
		bad := do(t, s, "GET", strings.Replace(p, "good-token", "bad", 1), nil)
		if bad.status != 401 || !strings.Contains(string(bad.body), "<html>") {
			t.Fatalf("%s with unknown token: %d", p, bad.status)
		}
	}

	// Rotation: the old token stops working, the new one works.
	do(t, s, "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": key, "device_auth_token": "new-token"})
	if r := do(t, s, "GET", "/api/latest/fleet/device/good-token/desktop", nil); r.status != 401 {
		t.Fatalf("old token after rotation: %d", r.status)
	}
	if r := do(t, s, "GET", "/api/latest/fleet/device/new-token/desktop", nil); r.status != 200 {
		t.Fatalf("new token after rotation: %d", r.status)
	}
}

func TestDeviceTokenTTL(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := start(t, Config{Clock: clk})
	key := enrollOrbit(t, s, "u-ttl")
	setTok := func(tok string) {
		t.Helper()
		if r := do(t, s, "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": key, "device_auth_token": tok}); r.status != 200 {
			t.Fatalf("device_token %s: %d", tok, r.status)
		}
	}
	desktop := func(tok string) int {
		t.Helper()
		return do(t, s, "GET", "/api/latest/fleet/device/"+tok+"/desktop", nil).status
	}
	setTok("t1")
	clk.Advance(59 * time.Minute)
	if st := desktop("t1"); st != 200 {
		t.Fatalf("t1 at 59m: %d", st)
	}
	setTok("t1") // same token: Fleet keeps its age
	clk.Advance(time.Minute)
	if st := desktop("t1"); st != 401 {
		t.Fatalf("t1 at 60m: %d, want 401 (expired)", st)
	}
	if st := do(t, s, "GET", "/device/t1", nil).status; st != 401 {
		t.Fatalf("page with expired token: %d", st)
	}
	setTok("t2")
	if st := desktop("t2"); st != 200 {
		t.Fatalf("fresh t2: %d", st)
	}

	forever := start(t, Config{Clock: clk, DeviceTokenTTL: -1})
	k := enrollOrbit(t, forever, "u-f")
	do(t, forever, "POST", "/api/fleet/orbit/device_token", map[string]string{"orbit_node_key": k, "device_auth_token": "tf"})
	clk.Advance(100 * time.Hour)
	if st := do(t, forever, "GET", "/api/latest/fleet/device/tf/desktop", nil).status; st != 200 {
		t.Fatalf("TTL<0 token after 100h: %d", st)
	}
}
