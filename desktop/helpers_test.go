package desktop

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/logcapture"
)

// deviceServer is a device API stand-in whose answers a test sets.
type deviceServer struct {
	*httptest.Server
	mu sync.Mutex
	// tokens the server accepts; others get 401.
	tokens map[string]bool
	// desktopStatus, when not 0 or 200, answers /desktop with it.
	desktopStatus int
	desktopBody   string
	policiesBody  string
	calls         []string // "<endpoint> <token>"
	called        chan string
}

func newDeviceServer(t *testing.T, tokens ...string) *deviceServer {
	t.Helper()
	s := &deviceServer{tokens: map[string]bool{}, called: make(chan string, 1000),
		desktopBody: `{"failing_policies_count": 0, "self_service": true}`}
	for _, tok := range tokens {
		s.tokens[tok] = true
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *deviceServer) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/latest/fleet/device/")
	tok, endpoint, _ := strings.Cut(rest, "/")
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, endpoint+" "+tok)
	known := s.tokens[tok]
	status, body := s.desktopStatus, s.desktopBody
	if endpoint == "policies" {
		status, body = 0, s.policiesBody
	}
	s.mu.Unlock()
	defer func() { s.called <- endpoint + " " + tok }()
	switch {
	case !known:
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Authentication required"}`))
	case endpoint != "desktop" && endpoint != "policies":
		http.NotFound(w, r)
	case status != 0 && status != http.StatusOK:
		w.WriteHeader(status)
		_, _ = w.Write([]byte("404 page not found\n"))
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

func (s *deviceServer) set(f func(s *deviceServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *deviceServer) callList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// waitCall returns the next answered call ("<endpoint> <token>").
func (s *deviceServer) waitCall(t *testing.T) string {
	t.Helper()
	select {
	case c := <-s.called:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the app made no device API call within 10s")
		return ""
	}
}

func policiesJSON(t *testing.T, responses ...string) string {
	t.Helper()
	type pol struct {
		ID       int    `json:"id"`
		Name     string `json:"name"`
		Response string `json:"response"`
	}
	var ps []pol
	for i, r := range responses {
		ps = append(ps, pol{ID: i + 1, Name: "p", Response: r})
	}
	b, err := json.Marshal(map[string]any{"policies": ps})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// menuRecorder is a MenuView that keeps every menu shown.
type menuRecorder struct {
	ch chan Menu
}

func (m *menuRecorder) ShowMenu(menu Menu) { m.ch <- menu }

// next returns the next menu shown.
func (m *menuRecorder) next(t *testing.T) Menu {
	t.Helper()
	select {
	case menu := <-m.ch:
		return menu
	case <-time.After(10 * time.Second):
		t.Fatal("no menu was shown within 10s")
		return Menu{}
	}
}

// waitStatus returns the first menu shown whose status line is title.
func (m *menuRecorder) waitStatus(t *testing.T, title string) Menu {
	t.Helper()
	var seen []string
	for {
		select {
		case menu := <-m.ch:
			if menu.Item(ItemStatus).Title == title {
				return menu
			}
			seen = append(seen, menu.Item(ItemStatus).Title)
		case <-time.After(10 * time.Second):
			t.Fatalf("status %q not shown within 10s; shown: %q", title, seen)
			return Menu{}
		}
	}
}

// noMenu checks that no menu is waiting to be read.
func (m *menuRecorder) noMenu(t *testing.T) {
	t.Helper()
	select {
	case menu := <-m.ch:
		t.Fatalf("unexpected menu with status %q", menu.Item(ItemStatus).Title)
	default:
	}
}

// openRecorder is an Opener that keeps the URLs.
type openRecorder struct {
	mu   sync.Mutex
	urls []string
}

func (o *openRecorder) Open(_ context.Context, u string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.urls = append(o.urls, u)
	return nil
}

func (o *openRecorder) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.urls...)
}

// testApp is an App wired to a device server, a fake clock and recorders.
type testApp struct {
	*App
	clk    *clocktest.Fake
	menu   *menuRecorder
	opener *openRecorder
	token  string // identifier file path
	logs   *logcapture.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startApp runs an App against srv with token in its identifier file
// ("" = no file yet). TokenCheckInterval is an hour unless mod changes it,
// so poll timers and check timers are told apart.
func startApp(t *testing.T, srv *deviceServer, token string, mod func(*Config)) *testApp {
	t.Helper()
	dir := t.TempDir()
	ta := &testApp{
		clk:    clocktest.New(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)),
		menu:   &menuRecorder{ch: make(chan Menu, 1000)},
		opener: &openRecorder{},
		token:  filepath.Join(dir, "identifier"),
		logs:   &logcapture.Buffer{},
		done:   make(chan error, 1),
	}
	if token != "" {
		writeToken(t, ta.token, token)
	}
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Settings:           Settings{FleetURL: base, IdentifierPath: ta.token, PollInterval: 10 * time.Second},
		HTTPClient:         srv.Client(),
		Opener:             ta.opener,
		Menu:               ta.menu,
		Version:            "1.2.3",
		Clock:              ta.clk,
		Logger:             zerolog.New(ta.logs),
		TokenCheckInterval: time.Hour,
		OfflineBackoff:     backoff.Config{Jitter: -1},
	}
	if mod != nil {
		mod(&cfg)
	}
	app, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ta.App = app
	ctx, cancel := context.WithCancel(context.Background())
	ta.cancel = cancel
	go func() { ta.done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ta.done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return ta
}

// timers returns the durations of the next n timers the app creates.
func (ta *testApp) timers(t *testing.T, n int) []time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		ds = append(ds, ta.clk.WaitTimer(t))
	}
	return ds
}

// checks runs n token checks of a 1 s TokenCheckInterval, and returns
// once the app is idle again (the check and a poll timer pending).
func (ta *testApp) checks(t *testing.T, n int) {
	t.Helper()
	for range n {
		ta.clk.Advance(time.Second)
		ta.clk.WaitTimer(t)
	}
	ta.clk.BlockUntil(t, 2)
}

// writeToken replaces the identifier file atomically, as orbit does.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
