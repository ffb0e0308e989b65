package fleettest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		path      string
		status    int
		checkBody func(map[string]any) bool
	}{
		{"orbit 500", "/api/fleet/orbit/config", 500, func(m map[string]any) bool { return m["message"] == "Internal Server Error" }},
		{"orbit 401", "/api/fleet/orbit/config", 401, func(m map[string]any) bool { return m["message"] == "Authentication required" }},
		{"orbit 402", "/api/fleet/orbit/config", 402, func(m map[string]any) bool { return m["message"] != nil }},
		{"osquery 401", "/api/osquery/config", 401, func(m map[string]any) bool { return m["node_invalid"] == true }},
		{"osquery 503", "/api/osquery/config", 503, func(m map[string]any) bool { return m["error"] != nil && m["node_invalid"] == nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{})
			s.SetFault(tc.path, Fault{Status: tc.status})
			r := do(t, s, "POST", tc.path, "{}")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if !tc.checkBody(r.json(t)) {
				t.Fatalf("body %s", r.body)
			}
			calls := s.CallsMatching(CallFilter{Path: tc.path})
			if len(calls) != 1 || calls[0].Fault == nil || calls[0].Fault.Status != tc.status || calls[0].Status != tc.status {
				t.Fatalf("recorded call = %+v", calls)
			}
		})
	}
}

func TestFault404LooksLikeOldServer(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.SetFault("/api/fleet/orbit/ping", Fault{Status: 404})
	if r := do(t, s, "HEAD", "/api/fleet/orbit/ping", nil); r.status != 404 {
		t.Fatalf("ping with 404 fault: %d", r.status)
	}
}

func TestFaultForHealsWithClock(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := start(t, Config{Clock: clk})
	key := enrollOrbit(t, s, "u")
	s.SetFault("/api/fleet/orbit/", Fault{Status: 401, For: 45 * time.Second})
	for i := 0; i < 3; i++ {
		if r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key}); r.status != 401 {
			t.Fatalf("call %d during fault: %d", i, r.status)
		}
		clk.Advance(10 * time.Second)
	}
	if _, ok := s.Faults()["/api/fleet/orbit/"]; !ok {
		t.Fatal("fault healed too early")
	}
	clk.Advance(15 * time.Second) // now 45s after SetFault
	if r := do(t, s, "POST", "/api/fleet/orbit/config", map[string]string{"orbit_node_key": key}); r.status != 200 {
		t.Fatalf("after heal: %d %s", r.status, r.body)
	}
	if len(s.Faults()) != 0 {
		t.Fatalf("faults left: %v", s.Faults())
	}
}

func TestFaultTimesAndMethodAndPrefix(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.SetFault("/api/fleet/orbit/", Fault{Status: 500, Times: 2})
	s.SetFault("/api/fleet/orbit/ping", Fault{Status: 503, Method: "HEAD"}) // longer prefix wins
	for i, want := range []int{503, 503} {
		if r := do(t, s, "HEAD", "/api/fleet/orbit/ping", nil); r.status != want {
			t.Fatalf("ping %d: %d, want %d", i, r.status, want)
		}
	}
	for i, want := range []int{500, 500, 200} {
		r := do(t, s, "POST", "/api/fleet/orbit/enroll", map[string]string{"enroll_secret": testSecret, "hardware_uuid": "u"})
		if r.status != want {
			t.Fatalf("enroll %d: %d, want %d", i, r.status, want)
		}
	}
	// Method filter: a GET on ping is not faulted by the HEAD-only fault.
	if r := do(t, s, "GET", "/api/fleet/orbit/ping", nil); r.status != 405 {
		t.Fatalf("GET ping: %d", r.status)
	}
	s.ClearFaults()
	if r := do(t, s, "HEAD", "/api/fleet/orbit/ping", nil); r.status != 200 {
		t.Fatalf("after ClearFaults: %d", r.status)
	}
}

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	// A client deadline shorter than the delay times out.
	s.SetFault("/api/fleet/orbit/ping", Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := doErr(ctx, s, "HEAD", "/api/fleet/orbit/ping", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed ping error = %v, want deadline exceeded", err)
	}
	// The server noticed the client leaving (the handler returned).
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if _, err := s.WaitForCall(wctx, CallFilter{Path: "/api/fleet/orbit/ping"}); err != nil {
		t.Fatalf("delayed call never finished after client cancel: %v", err)
	}
	// A short delay alone lets the request through normally.
	s.SetFault("/api/fleet/orbit/ping", Fault{Delay: time.Millisecond})
	if r := do(t, s, "HEAD", "/api/fleet/orbit/ping", nil); r.status != 200 || r.header.Get(CapabilitiesHeader) == "" {
		t.Fatalf("short delay: %d", r.status)
	}
}

func TestFaultOversize(t *testing.T) {
	t.Parallel()
	s := start(t, Config{TLS: true})
	s.SetFault("/api/fleet/orbit/config", Fault{OversizeMiB: 3})
	r := do(t, s, "POST", "/api/fleet/orbit/config", "{}")
	if r.status != 200 || len(r.body) < 3<<20 {
		t.Fatalf("oversize: status %d, %d bytes", r.status, len(r.body))
	}
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("oversize body is not valid JSON: %v", err)
	}
	c := s.CallsMatching(CallFilter{Path: "/api/fleet/orbit/config"})
	if len(c) != 1 || c[0].BytesOut < 3<<20 {
		t.Fatalf("recorded bytes_out = %+v", c)
	}
}

func TestFaultMalformed(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.SetFault("/api/fleet/orbit/enroll", Fault{Malformed: true})
	r := do(t, s, "POST", "/api/fleet/orbit/enroll", "{}")
	var v map[string]any
	if r.status != 200 || json.Unmarshal(r.body, &v) == nil {
		t.Fatalf("malformed: status %d body %q decodes", r.status, r.body)
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	for _, tlsOn := range []bool{false, true} {
		s := start(t, Config{TLS: tlsOn})
		s.SetFault("/api/fleet/orbit/config", Fault{Reset: true, Times: 1})
		_, err := doErr(context.Background(), s, "POST", "/api/fleet/orbit/config", "{}")
		if err == nil {
			t.Fatalf("tls=%v: reset fault: request succeeded", tlsOn)
		}
		msg := err.Error()
		if !strings.Contains(msg, "reset") && !strings.Contains(msg, "EOF") {
			t.Fatalf("tls=%v: reset fault error = %v", tlsOn, err)
		}
		// The server records the call after the handler returned, which can
		// be after the client saw the reset: wait for it.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, werr := s.WaitForCall(ctx, CallFilter{Path: "/api/fleet/orbit/config"})
		cancel()
		c := s.CallsMatching(CallFilter{Path: "/api/fleet/orbit/config"})
		if werr != nil || len(c) != 1 || c[0].Status != 0 || c[0].Fault == nil || !c[0].Fault.Reset {
			t.Fatalf("tls=%v: recorded = %+v (%v)", tlsOn, c, werr)
		}
		// Times: 1 — the next call goes through.
		if r := do(t, s, "POST", "/api/fleet/orbit/config", "{}"); r.status != 401 {
			t.Fatalf("tls=%v: after reset: %d", tlsOn, r.status)
		}
	}
}

func TestAdminNeverFaulted(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	s.SetFault("/", Fault{Status: 500})
	if r := do(t, s, "GET", "/_admin/calls", nil); r.status != 200 {
		t.Fatalf("admin under a / fault: %d", r.status)
	}
	if r := do(t, s, "HEAD", "/api/fleet/orbit/ping", nil); r.status != 500 {
		t.Fatalf("/ fault on ping: %d", r.status)
	}
}
