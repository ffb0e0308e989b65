package httpclient

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/httpclient/httpclienttest"
)

// A client from New follows a redirect within its origin, and none to
// another port or from https to http: the request (and its body, which a
// 307 would re-send) never reaches the other address.
func TestNewFollowsRedirectsOnlyWithinTheOrigin(t *testing.T) {
	t.Parallel()
	const secret = "enroll-secret-in-the-body"
	trap := httpclienttest.NewTrap(t)
	plain := httptest.NewServer(httpclienttest.Redirect(trap.URL, http.StatusTemporaryRedirect))
	t.Cleanup(plain.Close)
	tlsSrv, ca := tlsServer(t)
	tlsToHTTP := httptest.NewTLSServer(httpclienttest.Redirect(trap.URL, http.StatusPermanentRedirect))
	t.Cleanup(tlsToHTTP.Close)

	tests := []struct {
		name, url string
		tls       bool
		ok        bool
	}{
		{"within the origin", tlsSrv.URL + "/hop", true, true},
		{"307 to another port", plain.URL + "/api/fleet/orbit/enroll", false, false},
		{"308 from https to http", tlsToHTTP.URL + "/api/fleet/orbit/enroll", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{}
			if tt.tls {
				cfg.CAFile = ca // httptest's TLS servers share one certificate
			}
			hc, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Post(tt.url, "application/json", strings.NewReader(`{"enroll_secret":"`+secret+`"}`))
			if tt.ok {
				if err != nil {
					t.Fatalf("same-origin redirect not followed: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ok" {
					t.Fatalf("body %q", b)
				}
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("redirect to %s followed: %s", trap.URL, resp.Status)
			}
			if !errors.Is(err, ErrRedirectRefused) || !strings.Contains(err.Error(), strings.TrimPrefix(trap.URL, "http://")) {
				t.Fatalf("error %v, want ErrRedirectRefused naming the other origin", err)
			}
		})
	}
	if conns, data := trap.Received(); conns != 0 || strings.Contains(string(data), secret) {
		t.Fatalf("the other address received %d connections: %q", conns, data)
	}
}

func TestSameOriginRule(t *testing.T) {
	t.Parallel()
	req := func(u string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := req("https://Fleet.example.com/api")
	for _, tc := range []struct {
		to string
		ok bool
	}{
		{"https://fleet.example.com/other", true},
		{"https://fleet.example.com:443/other", true},
		{"http://fleet.example.com/api", false},
		{"https://fleet.example.com:8443/api", false},
		{"https://evil.example.com/api", false},
		{"https://fleet.example.com.evil.example/api", false},
	} {
		err := SameOrigin(req(tc.to), []*http.Request{first})
		if tc.ok != (err == nil) {
			t.Errorf("redirect to %s: %v", tc.to, err)
		}
		if err != nil && strings.Contains(err.Error(), "/api") {
			t.Errorf("error names a path: %v", err)
		}
	}
	via := make([]*http.Request, maxRedirects)
	for i := range via {
		via[i] = first
	}
	if err := SameOrigin(req("https://fleet.example.com/loop"), via); !errors.Is(err, ErrRedirectRefused) {
		t.Errorf("redirect loop followed: %v", err)
	}
	// A caller's client keeps its settings, with the policy on top.
	hc := &http.Client{Timeout: 42}
	if c := WithSameOrigin(hc); c.Timeout != 42 || c.CheckRedirect == nil || hc.CheckRedirect != nil {
		t.Errorf("WithSameOrigin = %+v; original %+v", c, hc)
	}
}
