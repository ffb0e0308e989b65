package fleet

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/httpclient"
)

func newTestClient(t *testing.T, srv *fleettest.Server, timeout time.Duration) *Client {
	t.Helper()
	hc, err := httpclient.New(HTTPClientConfig(httpclient.Config{CAFile: srv.CACertFile()}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ClientConfig{URL: srv.URL(), HTTPClient: hc, Version: "9.9.9", RequestTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientCalls(t *testing.T) {
	t.Parallel()
	srv := newServer(t, newFakeClock())
	c := newTestClient(t, srv, 5*time.Second)
	ctx := context.Background()
	info := HostInfo{HardwareUUID: "AAAAAAAA-1111-2222-3333-444444444444", Hostname: "h1", Platform: "ubuntu", OsqueryIdentifier: "AAAAAAAA-1111-2222-3333-444444444444"}
	key, err := c.Enroll(ctx, testSecret, info)
	if err != nil {
		t.Fatal(err)
	}
	c.SetNodeKey(key)
	if err := srv.SetStartupFlags(map[string]any{"verbose": true}); err != nil {
		t.Fatal(err)
	}
	srv.SetUpdateChannels("stable", "edge", "stable")
	srv.AddScript("e1", "echo hi")
	cfg, err := c.GetConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UpdateChannels == nil || cfg.UpdateChannels.Osqueryd != "edge" || string(cfg.Flags) == "" ||
		len(cfg.Notifications.PendingScriptExecutionIDs) != 1 {
		t.Errorf("config %+v", cfg)
	}
	if !c.HasCapability(CapabilityOrbitEndpoints) || !c.HasCapability(CapabilityTokenRotation) {
		t.Errorf("server capabilities %v", c.ServerCapabilities())
	}
	srv.SetCapabilities("orbit_endpoints")
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if c.HasCapability(CapabilityTokenRotation) {
		t.Errorf("ping did not refresh capabilities: %v", c.ServerCapabilities())
	}
	if err := c.SetDeviceToken(ctx, "0f8fad5b-d9cb-469f-a165-70867728950e"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeviceMapping(ctx, "user@example.com"); err != nil {
		t.Fatal(err)
	}
	s, err := c.GetScript(ctx, "e1")
	if err != nil || s.ScriptContents != "echo hi" || s.ExecutionID != "e1" || s.ExitCode != nil {
		t.Fatalf("script %+v, %v", s, err)
	}
	if err := c.PostScriptResult(ctx, ScriptResult{HostID: s.HostID, ExecutionID: "e1", Output: "hi\n", ExitCode: 0, Timeout: 300}); err != nil {
		t.Fatal(err)
	}

	// The wire: methods, paths, headers, node key in every authenticated body.
	want := []struct{ method, path string }{
		{"POST", PathEnroll}, {"POST", PathConfig}, {"HEAD", PathPing}, {"POST", PathDeviceToken},
		{"PUT", PathDeviceMapping}, {"POST", PathScriptRequest}, {"POST", PathScriptResult},
	}
	calls := srv.Calls()
	if len(calls) != len(want) {
		t.Fatalf("%d calls, want %d", len(calls), len(want))
	}
	for i, w := range want {
		got := calls[i]
		if got.Method != w.method || got.Path != w.path || got.Status != 200 {
			t.Errorf("call %d: %s %s -> %d, want %s %s -> 200", i, got.Method, got.Path, got.Status, w.method, w.path)
		}
		if got.Header.Get("User-Agent") != "orbit/9.9.9" {
			t.Errorf("call %d User-Agent %q", i, got.Header.Get("User-Agent"))
		}
		if _, ok := got.Header[CapabilitiesHeader]; !ok {
			t.Errorf("call %d lacks %s", i, CapabilitiesHeader)
		}
		if i > 0 && w.method != "HEAD" && got.Body["orbit_node_key"] != key {
			t.Errorf("call %d body lacks the node key: %v", i, sortedAnyKeys(got.Body))
		}
		if w.method != "HEAD" && !strings.HasPrefix(got.Header.Get("Content-Type"), "application/json") {
			t.Errorf("call %d Content-Type %q", i, got.Header.Get("Content-Type"))
		}
	}
	if calls[3].Body["device_auth_token"] != "0f8fad5b-d9cb-469f-a165-70867728950e" || calls[4].Body["email"] != "user@example.com" {
		t.Errorf("device token/mapping bodies: %v / %v", sortedAnyKeys(calls[3].Body), sortedAnyKeys(calls[4].Body))
	}
	if r := srv.ScriptResults(); len(r) != 1 || r[0].Output != "hi\n" || r[0].ExecutionID != "e1" {
		t.Errorf("script results %+v", r)
	}
}

func sortedAnyKeys(m map[string]any) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	return k
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		fault   fleettest.Fault
		secret  string
		want    error
		network bool
		status  int
		timeout time.Duration
	}{
		{name: "401", fault: fleettest.Fault{Status: 401}, want: ErrUnauthenticated, status: 401},
		{name: "404", fault: fleettest.Fault{Status: 404}, want: ErrNotFound, status: 404},
		{name: "402", fault: fleettest.Fault{Status: 402}, want: ErrMissingLicense, status: 402},
		{name: "500", fault: fleettest.Fault{Status: 500}, network: true, status: 500},
		{name: "400", fault: fleettest.Fault{Status: 400}, status: 400},
		{name: "oversized", fault: fleettest.Fault{OversizeMiB: 11}, want: ErrBodyTooLarge},
		{name: "malformed", fault: fleettest.Fault{Malformed: true}},
		{name: "reset", fault: fleettest.Fault{Reset: true}, network: true},
		{name: "slow", fault: fleettest.Fault{Delay: 10 * time.Second}, network: true, timeout: 300 * time.Millisecond},
		{name: "bad secret", secret: "nope", want: ErrEnrollSecretRejected, status: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, newFakeClock())
			// Generous by default (a loaded machine is slow, reading 10 MiB
			// too) so that only the slow case ends on the clock.
			timeout := tc.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			c := newTestClient(t, srv, timeout)
			ctx := context.Background()
			var err error
			if tc.secret != "" {
				_, err = c.Enroll(ctx, tc.secret, HostInfo{HardwareUUID: "U1"})
			} else {
				key, eerr := newTestClient(t, srv, time.Minute).Enroll(ctx, testSecret, HostInfo{HardwareUUID: "U1"})
				if eerr != nil {
					t.Fatal(eerr)
				}
				c.SetNodeKey(key)
				srv.SetFault(PathConfig, tc.fault)
				_, err = c.GetConfig(ctx)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if IsNetworkError(err) != tc.network {
				t.Errorf("IsNetworkError(%v) = %v, want %v", err, !tc.network, tc.network)
			}
			var se *StatusError
			if got := errors.As(err, &se); got != (tc.status != 0) || (got && se.StatusCode != tc.status) {
				t.Errorf("status error %v, want status %d", err, tc.status)
			}
		})
	}
}

func TestClientPing404IsReachable(t *testing.T) {
	t.Parallel()
	srv := newServer(t, newFakeClock())
	c := newTestClient(t, srv, time.Second)
	srv.SetFault(PathPing, fleettest.Fault{Status: 404})
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("ping on an old server: %v, want nil", err)
	}
	srv.SetFault(PathPing, fleettest.Fault{Status: 500})
	if err := c.Ping(context.Background()); err == nil {
		t.Errorf("ping 500: no error")
	}
}

// A newer Fleet adds fields; the client must ignore them. fleettest only
// sends known ones, so this one answer comes from a tiny local server.
func TestClientIgnoresUnknownFields(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(CapabilitiesHeader, "orbit_endpoints,brand_new_thing")
		w.Write([]byte(`{"command_line_startup_flags":{"verbose":true},"brand_new":{"x":[1,2]},
			"notifications":{"pending_script_execution_ids":["a"],"future_flag":true},
			"update_channels":{"orbit":"stable","osqueryd":"stable","desktop":"stable","future":"x"}}`))
	}))
	t.Cleanup(ts.Close)
	c, err := NewClient(ClientConfig{URL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.GetConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UpdateChannels.Orbit != "stable" || cfg.Notifications.PendingScriptExecutionIDs[0] != "a" || !c.HasCapability("brand_new_thing") {
		t.Errorf("config %+v caps %v", cfg, c.ServerCapabilities())
	}
}

func TestNewClientRejectsBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "fleet.example.com", "ftp://x", "https://user:pw@fleet.example.com"} {
		if _, err := NewClient(ClientConfig{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}
