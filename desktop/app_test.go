package desktop

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	tokA = "6f9a1c3e-0b7d-4c55-9e2a-1d4f8b6c7a01"
	tokB = "0c2e4a68-1b3d-4f57-8a9c-2e4f6a8c0b13"
)

// TestPollInterval: the first poll is at once, then every PollInterval,
// and the menu follows the server's count.
func TestPollInterval(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokA)
	srv.set(func(s *deviceServer) { s.desktopBody = `{"failing_policies_count": 2, "self_service": false}` })
	ta := startApp(t, srv, tokA, nil)

	if m := ta.menu.next(t); m.Item(ItemStatus).Title != TitleConnecting || m.Item(ItemMyDevice).Enabled {
		t.Fatalf("first menu = %+v, want Connecting... with pages disabled", m)
	}
	if got := ta.timers(t, 3); !reflect.DeepEqual(got, []time.Duration{0, time.Hour, 10 * time.Second}) {
		t.Fatalf("timers = %v, want the first poll at once, the token check, then the next poll in 10s", got)
	}
	m := ta.menu.waitStatus(t, "2 failing policies")
	if !m.Item(ItemMyDevice).Enabled || m.Item(ItemSelfService).Visible || !m.Item(ItemTransparency).Enabled {
		t.Fatalf("online menu = %+v: want My device and Transparency enabled, Self-service hidden (self_service false)", m)
	}
	if c := srv.waitCall(t); c != "desktop "+tokA {
		t.Fatalf("call = %q", c)
	}

	ta.clk.Advance(10*time.Second - time.Millisecond)
	ta.clk.BlockUntil(t, 2)
	if n := len(srv.callList()); n != 1 {
		t.Fatalf("%d calls before the interval ended, want 1", n)
	}
	srv.set(func(s *deviceServer) { s.desktopBody = `{"failing_policies_count": 1}` })
	ta.clk.Advance(time.Millisecond)
	if d := ta.clk.WaitTimer(t); d != 10*time.Second {
		t.Fatalf("next poll in %s, want 10s", d)
	}
	m = ta.menu.waitStatus(t, "1 failing policy")
	if !m.Item(ItemSelfService).Visible {
		t.Fatal("Self-service hidden although the server no longer says self_service false")
	}
	ta.clk.Advance(10 * time.Second)
	ta.clk.WaitTimer(t)
	ta.menu.noMenu(t) // same answer: the view is not redrawn
	if n := len(srv.callList()); n != 3 {
		t.Fatalf("%d calls after two intervals, want 3", n)
	}
}

// TestFallbackToPolicies: a Fleet without /desktop (404) is asked for its
// policies, and the failing ones are counted ("" has not run: not failing).
func TestFallbackToPolicies(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokA)
	srv.set(func(s *deviceServer) {
		s.desktopStatus = http.StatusNotFound
		s.policiesBody = policiesJSON(t, "fail", "pass", "", "fail", "fail")
	})
	ta := startApp(t, srv, tokA, nil)
	m := ta.menu.waitStatus(t, "3 failing policies")
	if !m.Item(ItemSelfService).Visible {
		t.Fatal("Self-service hidden for an older Fleet that sends no self_service flag (Fleet Desktop shows it)")
	}
	if got := srv.callList(); !reflect.DeepEqual(got, []string{"desktop " + tokA, "policies " + tokA}) {
		t.Fatalf("calls = %q", got)
	}

	srv.set(func(s *deviceServer) { s.policiesBody = policiesJSON(t, "pass", "") })
	ta.timers(t, 3)
	ta.clk.Advance(10 * time.Second)
	ta.menu.waitStatus(t, TitleOK)
}

// TestUnauthorizedRereadsToken: a 401 reads the identifier file again and
// retries with the new token, as after orbit's rotation.
func TestUnauthorizedRereadsToken(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokB) // the server already knows the rotated token
	ta := startApp(t, srv, tokA, nil)
	if got := ta.timers(t, 3); !reflect.DeepEqual(got, []time.Duration{0, time.Hour, time.Second}) {
		t.Fatalf("timers = %v, want the first retry after 1s", got)
	}
	writeToken(t, ta.token, tokB)
	ta.clk.Advance(time.Second)
	if d := ta.clk.WaitTimer(t); d != 10*time.Second {
		t.Fatalf("next poll in %s, want 10s after a successful retry", d)
	}
	ta.menu.waitStatus(t, TitleOK)
	if got := srv.callList(); !reflect.DeepEqual(got, []string{"desktop " + tokA, "desktop " + tokB}) {
		t.Fatalf("calls = %q, want the old token then the re-read one", got)
	}
	if err := ta.Open(context.Background(), ItemMyDevice); err != nil {
		t.Fatal(err)
	}
	if got := ta.opener.list(); len(got) != 1 || !strings.HasSuffix(got[0], "/device/"+tokB) {
		t.Fatalf("opened %q, want the page of the new token", got)
	}
}

// TestUnauthorizedBoundedRetries: a token Fleet keeps refusing is retried
// three times (after 1, 2, 3 s), then the tray shows offline and backs off.
func TestUnauthorizedBoundedRetries(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t) // knows no token
	ta := startApp(t, srv, tokA, nil)
	ta.timers(t, 2)
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		if d := ta.clk.WaitTimer(t); d != want {
			t.Fatalf("retry wait %s, want %s", d, want)
		}
		ta.clk.Advance(want)
	}
	if d := ta.clk.WaitTimer(t); d != 10*time.Second {
		t.Fatalf("after the retries the next poll is in %s, want the backoff's first 10s", d)
	}
	m := ta.menu.waitStatus(t, TitleOffline)
	if m.Item(ItemMyDevice).Enabled || m.Item(ItemTransparency).Enabled || m.Item(ItemSelfService).Visible {
		t.Fatalf("offline menu = %+v, want the pages disabled", m)
	}
	if n := len(srv.callList()); n != 4 {
		t.Fatalf("%d calls, want 4 (one try and three retries)", n)
	}
	if err := ta.Open(context.Background(), ItemMyDevice); !errors.Is(err, ErrItemDisabled) {
		t.Fatalf("Open while offline = %v, want ErrItemDisabled", err)
	}
	ta.clk.Advance(10 * time.Second)
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		ta.clk.WaitTimer(t)
		ta.clk.Advance(want)
	}
	if d := ta.clk.WaitTimer(t); d != 20*time.Second {
		t.Fatalf("second backoff %s, want 20s", d)
	}
	if n := strings.Count(ta.logs.String(), "showing offline"); n != 1 {
		t.Fatalf("offline logged %d times, want once:\n%s", n, ta.logs.String())
	}
	if strings.Contains(ta.logs.String(), tokA) {
		t.Fatalf("the log holds the device token:\n%s", ta.logs.String())
	}
}

// TestOfflineBackoff: an unreachable Fleet is polled less and less often,
// up to the cap, and once it answers the interval is 10 s again.
func TestOfflineBackoff(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokA)
	srv.set(func(s *deviceServer) { s.desktopStatus = http.StatusBadGateway })
	ta := startApp(t, srv, tokA, nil)
	ta.timers(t, 2)
	waits := []time.Duration{10, 20, 40, 80, 120, 120}
	for i, want := range waits {
		want *= time.Second
		if d := ta.clk.WaitTimer(t); d != want {
			t.Fatalf("offline poll wait %s, want %s", d, want)
		}
		if i == len(waits)-1 {
			srv.set(func(s *deviceServer) { s.desktopStatus = 0 })
		}
		ta.clk.Advance(want)
	}
	ta.menu.waitStatus(t, TitleOffline)
	if d := ta.clk.WaitTimer(t); d != 10*time.Second {
		t.Fatalf("poll wait after Fleet came back %s, want 10s", d)
	}
	ta.menu.waitStatus(t, TitleOK)
	srv.set(func(s *deviceServer) { s.desktopStatus = http.StatusServiceUnavailable })
	ta.clk.Advance(10 * time.Second)
	if d := ta.clk.WaitTimer(t); d != 10*time.Second {
		t.Fatalf("first offline wait after recovery %s, want 10s (the backoff starts over)", d)
	}
	logs := ta.logs.String()
	if strings.Count(logs, "showing offline") != 2 || strings.Count(logs, "connected to fleet") != 1 {
		t.Fatalf("want one line per change of state:\n%s", logs)
	}
}

// TestUnreachableFleetLogsNoToken: a refused connection is offline, and
// its error (which Go words with the URL) does not leak the token.
func TestUnreachableFleetLogsNoToken(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokA)
	srv.Close()
	ta := startApp(t, srv, tokA, nil)
	ta.menu.waitStatus(t, TitleOffline)
	logs := ta.logs.String()
	if !strings.Contains(logs, "connection refused") || strings.Contains(logs, tokA) {
		t.Fatalf("want the cause without the token:\n%s", logs)
	}
}

// TestTokenRotation: a rotated identifier file is noticed by the token
// check (no 401 needed), polled with at once, and the pages use it.
func TestTokenRotation(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokA, tokB)
	ta := startApp(t, srv, tokA, func(c *Config) { c.TokenCheckInterval = time.Second })
	ta.menu.waitStatus(t, TitleOK)
	ta.timers(t, 3) // poll 0, check 1s, poll 10s
	if err := ta.Open(context.Background(), ItemSelfService); err != nil {
		t.Fatal(err)
	}

	ta.clk.Advance(time.Second) // unchanged file: nothing
	ta.clk.WaitTimer(t)
	ta.clk.BlockUntil(t, 2)
	if n := len(srv.callList()); n != 1 {
		t.Fatalf("%d calls after a check of an unchanged file, want 1", n)
	}

	writeToken(t, ta.token, tokB)
	ta.clk.Advance(time.Second)
	if c := srv.waitCall(t); c != "desktop "+tokA {
		t.Fatalf("first call %q", c)
	}
	if c := srv.waitCall(t); c != "desktop "+tokB {
		t.Fatalf("after rotation the app called %q, want the new token at once", c)
	}
	ta.clk.BlockUntil(t, 2)
	if err := ta.Open(context.Background(), ItemMyDevice); err != nil {
		t.Fatal(err)
	}
	got := ta.opener.list()
	want := []string{srv.URL + "/device/" + tokA + "/self-service", srv.URL + "/device/" + tokB}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("opened %q, want %q", got, want)
	}
	if !strings.Contains(ta.logs.String(), "device token rotated") || strings.Contains(ta.logs.String(), tokB) {
		t.Fatalf("want a rotation line without the token:\n%s", ta.logs.String())
	}
}

// TestWaitsForTokenFile: without the identifier file the tray stays at
// "Connecting...", says so once, and polls as soon as orbit writes it.
func TestWaitsForTokenFile(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokA)
	ta := startApp(t, srv, "", func(c *Config) { c.TokenCheckInterval = time.Second })
	ta.timers(t, 3) // poll at once, check, poll again in 10s (no token yet)
	ta.checks(t, 5)
	if n := len(srv.callList()); n != 0 {
		t.Fatalf("%d calls without a token", n)
	}
	if n := strings.Count(ta.logs.String(), "cannot read the device token"); n != 1 {
		t.Fatalf("missing token logged %d times, want once:\n%s", n, ta.logs.String())
	}
	if got := ta.Menu().Item(ItemStatus).Title; got != TitleConnecting {
		t.Fatalf("status %q, want Connecting...", got)
	}
	writeToken(t, ta.token, tokA)
	ta.clk.Advance(time.Second)
	ta.menu.waitStatus(t, TitleOK)
}

// TestBadTokenFile: a file that holds no token is reported once and never
// sent to Fleet.
func TestBadTokenFile(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokA)
	ta := startApp(t, srv, "not a token/..", func(c *Config) { c.TokenCheckInterval = time.Second })
	ta.timers(t, 3)
	ta.checks(t, 3)
	if n := len(srv.callList()); n != 0 {
		t.Fatalf("%d calls with a bad token", n)
	}
	if n := strings.Count(ta.logs.String(), "does not hold a device token"); n != 1 {
		t.Fatalf("bad token logged %d times, want once:\n%s", n, ta.logs.String())
	}
}

// TestOpenItems: each page opens its URL; items without a page and
// disabled ones open nothing.
func TestOpenItems(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, tokA)
	ta := startApp(t, srv, tokA, nil)
	if err := ta.Open(context.Background(), ItemMyDevice); !errors.Is(err, ErrItemDisabled) {
		t.Fatalf("Open while connecting = %v, want ErrItemDisabled", err)
	}
	ta.menu.waitStatus(t, TitleOK)
	for _, id := range []ItemID{ItemMyDevice, ItemSelfService, ItemTransparency} {
		if err := ta.Open(context.Background(), id); err != nil {
			t.Fatalf("Open(%s): %v", id, err)
		}
	}
	for _, id := range []ItemID{ItemVersion, ItemStatus, ItemID(-1), itemCount} {
		if err := ta.Open(context.Background(), id); err == nil {
			t.Fatalf("Open(%s) opened something", id)
		}
	}
	want := []string{
		srv.URL + "/device/" + tokA,
		srv.URL + "/device/" + tokA + "/self-service",
		srv.URL + "/api/latest/fleet/device/" + tokA + "/transparency",
	}
	if got := ta.opener.list(); !reflect.DeepEqual(got, want) {
		t.Fatalf("opened %q, want %q", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t)
	ta := startApp(t, srv, tokA, nil)
	good := ta.cfg
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no http client", func(c *Config) { c.HTTPClient = nil }, "HTTPClient"},
		{"no opener", func(c *Config) { c.Opener = nil }, "Opener"},
		{"no menu", func(c *Config) { c.Menu = nil }, "Menu"},
		{"no fleet url", func(c *Config) { c.Settings.FleetURL = nil }, "FleetURL"},
		{"no identifier", func(c *Config) { c.Settings.IdentifierPath = "" }, "IdentifierPath"},
		{"negative delay", func(c *Config) { c.AuthRetryDelay = -time.Second }, "negative"},
		{"backoff max below initial", func(c *Config) { c.OfflineBackoff.Max = time.Second }, "larger than the maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error about %s", err, tt.want)
			}
		})
	}
}
