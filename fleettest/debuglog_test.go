package fleettest

import (
	"testing"
	"time"
)

// debugField is the debug_logging of the host's next config answer:
// "true", "false" or "absent".
func debugField(t *testing.T, s *Server, key string) string {
	t.Helper()
	r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key})
	if r.status != 200 {
		t.Fatalf("config: status %d: %s", r.status, r.body)
	}
	m := r.json(t)
	if _, ok := m["notifications"].(map[string]any)["debug_logging"]; ok {
		t.Fatalf("debug_logging sent as a notification: %s", r.body)
	}
	v, ok := m["debug_logging"]
	switch {
	case !ok:
		return "absent"
	case v == true:
		return "true"
	case v == false:
		return "false"
	}
	t.Fatalf("debug_logging is %v", v)
	return ""
}

func TestDebugLoggingPerHostWithItsPeriod(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := start(t, Config{Clock: clk})
	key := enrollOrbit(t, s, "u-d")
	other := enrollOrbit(t, s, "u-d2")
	on, off := true, false

	if got := debugField(t, s, key); got != "absent" {
		t.Fatalf("before any setting: %s, want absent", got)
	}
	if err := s.SetDebugLogging("u-d", DebugLogging{Value: &on, Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := debugField(t, s, key); got != "true" {
		t.Fatalf("during the period: %s, want true", got)
	}
	if got := debugField(t, s, other); got != "absent" {
		t.Fatalf("another host: %s, want absent", got)
	}
	clk.Advance(time.Hour - time.Second)
	if got := debugField(t, s, key); got != "true" {
		t.Fatalf("a second before the end: %s, want true", got)
	}
	clk.Advance(time.Second)
	if got := debugField(t, s, key); got != "absent" {
		t.Fatalf("after the period: %s, want absent (Fleet never sends false for it)", got)
	}

	// No end, an explicit false, and cleared.
	for _, step := range []struct {
		d    DebugLogging
		want string
	}{
		{DebugLogging{Value: &on}, "true"},
		{DebugLogging{Value: &off}, "false"},
		{DebugLogging{}, "absent"},
	} {
		if err := s.SetDebugLogging("u-d", step.d); err != nil {
			t.Fatal(err)
		}
		clk.Advance(24 * time.Hour)
		if got := debugField(t, s, key); got != step.want {
			t.Errorf("after SetDebugLogging(%+v): %s, want %s", step.d, got, step.want)
		}
	}

	for _, bad := range []struct {
		hw string
		d  DebugLogging
	}{
		{"", DebugLogging{Value: &on}},
		{"u-d", DebugLogging{Value: &on, Duration: -time.Second}},
		{"u-d", DebugLogging{Value: &off, Duration: time.Hour}},
		{"u-d", DebugLogging{Duration: time.Hour}},
	} {
		if err := s.SetDebugLogging(bad.hw, bad.d); err == nil {
			t.Errorf("SetDebugLogging(%q, %+v) accepted", bad.hw, bad.d)
		}
	}
}

func TestDebugLoggingAdmin(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := start(t, Config{Clock: clk})
	key := enrollOrbit(t, s, "u-a")
	for _, step := range []struct {
		body   string
		status int
		want   string // the field afterwards
	}{
		{`{"hardware_uuid":"u-a","debug_logging":true,"duration":"30m"}`, 200, "true"},
		{`{"hardware_uuid":"u-a","debug_logging":false}`, 200, "false"},
		{`{"hardware_uuid":"u-a","debug_logging":null}`, 200, "absent"},
		{`{"hardware_uuid":"u-a","debug_logging":true}`, 200, "true"},
		{`{"hardware_uuid":"u-a","debug_logging":true,"duration":"soon"}`, 400, "true"},
		{`{"hardware_uuid":"u-a","debug_logging":false,"duration":"1h"}`, 400, "true"},
		{`{"debug_logging":true}`, 400, "true"},
		{`{"hardware_uuid":"u-a","enabled":true}`, 400, "true"},
	} {
		if r := do(t, s, "PUT", "/_admin/hosts/debug_logging", step.body); r.status != step.status {
			t.Errorf("%s: status %d, want %d: %s", step.body, r.status, step.status, r.body)
		}
		if got := debugField(t, s, key); got != step.want {
			t.Errorf("after %s: %s, want %s", step.body, got, step.want)
		}
	}
	// The period given through the endpoint ends on the server's clock.
	do(t, s, "PUT", "/_admin/hosts/debug_logging", `{"hardware_uuid":"u-a","debug_logging":true,"duration":"30m"}`)
	clk.Advance(30 * time.Minute)
	if got := debugField(t, s, key); got != "absent" {
		t.Errorf("after the admin's period: %s, want absent", got)
	}
}
