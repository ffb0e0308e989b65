package tlsproxy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/rs/zerolog"
)

// insecureClient is what orbit builds with --insecure.
func insecureClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the point of --insecure
	}}
}

// seen is one request as the upstream Fleet got it.
type seen struct {
	method, path, rawPath, query, host string
	header                             http.Header
	body                               []byte
}

// upstream is a TLS Fleet stand-in with a certificate nobody trusts.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []seen
	// answer writes the response; default 200 {"ok":true} with extra headers.
	answer func(w http.ResponseWriter, r *http.Request)
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.Header.Clone(), b})
		answer := u.answer
		u.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "per-connection")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Fleet-Capabilities", "orbit_endpoints")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

func startProxy(t *testing.T, cfg Config) (*Proxy, func()) {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = insecureClient()
	}
	if cfg.CertFile == "" {
		cfg.CertFile = filepath.Join(t.TempDir(), "proxy.pem")
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

// trustingClient trusts only the PEM file osqueryd would get.
func trustingClient(t *testing.T, pemFile string, now func() time.Time) *http.Client {
	t.Helper()
	b, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", pemFile)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: pool, Time: now, MinVersion: tls.VersionTLS12},
	}}
}

func TestProxyForwardsToFleetWithPrefix(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	p, _ := startProxy(t, Config{FleetURL: up.srv.URL + "/tenant/a%2Fb/"})
	c := trustingClient(t, p.CertFile(), nil)

	body := `{"node_key":"k","data":[1,2,3]}`
	req, _ := http.NewRequest(http.MethodPost, "https://"+p.Addr()+"/api/v1/osquery/log?x=1&y=%20", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "osquery/5.12.1")
	req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0")
	req.Header.Set("Connection", "X-Drop-Me")
	req.Header.Set("X-Drop-Me", "1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("request through the proxy: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if resp.StatusCode != http.StatusCreated || string(got) != `{"ok":true}` {
		t.Fatalf("answer %d %q", resp.StatusCode, got)
	}
	if resp.Header.Get("X-Fleet-Capabilities") != "orbit_endpoints" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("end-to-end headers lost: %v", resp.Header)
	}
	if resp.Header.Get("X-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop headers forwarded back: %v", resp.Header)
	}
	reqs := up.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream got %d requests", len(reqs))
	}
	r := reqs[0]
	upHost := strings.TrimPrefix(up.srv.URL, "https://")
	if r.method != "POST" || r.rawPath != "/tenant/a%2Fb/api/v1/osquery/log" || r.query != "x=1&y=%20" || r.host != upHost {
		t.Errorf("upstream saw %s %s (raw %s) ?%s host %s", r.method, r.path, r.rawPath, r.query, r.host)
	}
	if string(r.body) != body {
		t.Errorf("upstream body %q", r.body)
	}
	if r.header.Get("User-Agent") != "osquery/5.12.1" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("end-to-end request headers lost: %v", r.header)
	}
	for _, h := range []string{"Proxy-Authorization", "X-Drop-Me", "X-Forwarded-For"} {
		if r.header.Get(h) != "" {
			t.Errorf("upstream got %s: %v", h, r.header)
		}
	}
}

func TestProxyPassesRedirectsBackWithoutFollowing(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	up.answer = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://evil.example.com/steal", http.StatusTemporaryRedirect)
	}
	p, _ := startProxy(t, Config{FleetURL: up.srv.URL})
	c := trustingClient(t, p.CertFile(), nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Post("https://"+p.Addr()+"/api/v1/osquery/enroll", "application/json", strings.NewReader(`{"enroll_secret":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || len(up.requests()) != 1 {
		t.Fatalf("status %d after %d upstream requests: the proxy followed the redirect", resp.StatusCode, len(up.requests()))
	}
}

func TestProxyBoundsBodies(t *testing.T) {
	t.Parallel()
	const limit = 1024
	up := newUpstream(t)
	up.answer = func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big-known":
			w.Header().Set("Content-Length", "4096")
			_, _ = w.Write(bytes.Repeat([]byte("x"), 4096))
		case "/big-chunked":
			for i := 0; i < 8; i++ {
				_, _ = w.Write(bytes.Repeat([]byte("y"), 512))
				w.(http.Flusher).Flush()
			}
		default:
			_, _ = w.Write([]byte("small"))
		}
	}
	p, _ := startProxy(t, Config{FleetURL: up.srv.URL, MaxBodyBytes: limit})
	c := trustingClient(t, p.CertFile(), nil)
	base := "https://" + p.Addr()

	// A request body over the limit, known or streamed, never reaches Fleet.
	resp, err := c.Post(base+"/known", "text/plain", bytes.NewReader(bytes.Repeat([]byte("a"), limit+1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("known-length request over the limit: %d", resp.StatusCode)
	}
	resp, err = c.Post(base+"/streamed", "text/plain", io.MultiReader(strings.NewReader(strings.Repeat("b", limit)), strings.NewReader("b")))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("streamed request over the limit: %d", resp.StatusCode)
		}
	}
	for _, r := range up.requests() {
		if len(r.body) > limit {
			t.Errorf("upstream got %d bytes on %s", len(r.body), r.path)
		}
	}

	// An answer with a length over the limit is refused before any byte.
	resp, err = c.Get(base + "/big-known")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("answer over the limit: %d", resp.StatusCode)
	}
	// A streamed answer over the limit is cut off: the client sees a broken
	// answer, never a complete short one.
	resp, err = c.Get(base + "/big-chunked")
	if err == nil {
		n, rerr := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Errorf("streamed answer over the limit read completely (%d bytes)", n)
		}
		if n > limit {
			t.Errorf("client got %d bytes, over the %d limit", n, limit)
		}
	}
	// And the proxy still works.
	resp, err = c.Get(base + "/small")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "small" {
		t.Fatalf("small answer %q", b)
	}
}

func TestProxyAnswers502WhenFleetIsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	logger, logs := testLogger()
	p, _ := startProxy(t, Config{FleetURL: "https://" + dead + "/prefix", Logger: logger})
	resp, err := trustingClient(t, p.CertFile(), nil).Get("https://" + p.Addr() + "/api/v1/osquery/config?node_key=secret-in-query")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "tls proxy cannot reach fleet") || strings.Contains(logs.String(), "secret-in-query") {
		t.Fatalf("log %s: want one static line without the URL", logs.String())
	}
}

func TestProxyListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	p, _ := startProxy(t, Config{FleetURL: up.srv.URL})
	host, port, err := net.SplitHostPort(p.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q, want 127.0.0.1:<port>", p.Addr())
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		tried++
		target := net.JoinHostPort(ipn.IP.String(), port)
		if conn, err := net.DialTimeout("tcp", target, 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("the proxy answers on %s", target)
		}
	}
	if tried == 0 {
		t.Log("no non-loopback address on this host: only the listen address was checked")
	}
}

func TestProxyCertificate(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	start := time.Now()
	p1, _ := startProxy(t, Config{FleetURL: up.srv.URL, CertLifetime: 48 * time.Hour})
	p2, _ := startProxy(t, Config{FleetURL: up.srv.URL, CertLifetime: 48 * time.Hour})
	raw1, err := os.ReadFile(p1.CertFile())
	if err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(p2.CertFile())
	if bytes.Equal(raw1, raw2) {
		t.Fatal("two starts wrote the same certificate: it must be made at each start")
	}
	if bytes.Contains(raw1, []byte("PRIVATE KEY")) {
		t.Fatal("the PEM file holds a private key")
	}
	block, rest := pem.Decode(raw1)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("PEM file is not exactly one certificate: %q", raw1)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("key is %T, want ECDSA", cert.PublicKey)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("not valid for 127.0.0.1: %v", err)
	}
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Errorf("not valid for localhost: %v", err)
	}
	if err := cert.VerifyHostname("fleet.example.com"); err == nil {
		t.Error("valid for another host name")
	}
	if life := cert.NotAfter.Sub(start); life > 48*time.Hour+time.Minute || cert.NotBefore.After(start) {
		t.Errorf("valid %v .. %v, want at most 48h from now", cert.NotBefore, cert.NotAfter)
	}
	if fi, err := os.Stat(p1.CertFile()); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("PEM file mode %v, %v", fi.Mode(), err)
	}
	// What osqueryd is shown is what the file says.
	conn, err := tls.Dial("tcp", p1.Addr(), &tls.Config{RootCAs: poolOf(t, raw1), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("a client trusting the PEM file cannot connect: %v", err)
	}
	conn.Close()
	if _, err := tls.Dial("tcp", p1.Addr(), &tls.Config{RootCAs: poolOf(t, raw2), MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("a client trusting another start's certificate connected")
	}
}

func poolOf(t *testing.T, pemBytes []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in PEM")
	}
	return pool
}

func TestProxyRenewsItsCertificate(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	clk := clocktest.New(time.Now())
	renewed := make(chan struct{}, 4)
	const life = 30 * time.Hour
	p, _ := startProxy(t, Config{FleetURL: up.srv.URL, CertLifetime: life, Clock: clk,
		OnRenew: func() { renewed <- struct{}{} }})
	if d := clk.WaitTimer(t); d < life*2/3-time.Minute || d > life*2/3 {
		t.Fatalf("renewal timer %v, want two thirds of %v", d, life)
	}
	before, _ := os.ReadFile(p.CertFile())
	clk.Advance(life/3 - time.Minute)
	select {
	case <-renewed:
		t.Fatal("renewed a third of the way in")
	default:
	}
	clk.Advance(life/3 + time.Minute)
	select {
	case <-renewed:
	case <-time.After(20 * time.Second):
		t.Fatal("certificate not renewed at two thirds of its life")
	}
	after, _ := os.ReadFile(p.CertFile())
	if bytes.Equal(before, after) {
		t.Fatal("renewal kept the PEM file")
	}
	// The new certificate is the one served, valid at the (fake) time.
	now := clk.Now
	if _, err := trustingClient(t, p.CertFile(), now).Get("https://" + p.Addr() + "/x"); err != nil {
		t.Fatalf("client trusting the renewed file: %v", err)
	}
	old := filepath.Join(t.TempDir(), "old.pem")
	_ = os.WriteFile(old, before, 0o644)
	if _, err := trustingClient(t, old, now).Get("https://" + p.Addr() + "/x"); err == nil {
		t.Fatal("the old certificate is still served")
	}
	if d := clk.WaitTimer(t); d < life*2/3-time.Minute || d > life*2/3 {
		t.Fatalf("next renewal in %v", d)
	}
}

func TestProxyRunsAgainOnTheSameAddress(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	p, stop := startProxy(t, Config{FleetURL: up.srv.URL})
	c := trustingClient(t, p.CertFile(), nil)
	if _, err := c.Get("https://" + p.Addr() + "/one"); err != nil {
		t.Fatal(err)
	}
	stop()
	if conn, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second); err == nil {
		conn.Close()
		t.Fatal("still listening after Run returned")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var err error
	if !testwait.Poll(testwait.Limit, func() bool { _, err = c.Get("https://" + p.Addr() + "/two"); return err == nil }) {
		t.Fatalf("second Run does not serve on %s: %v", p.Addr(), err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{FleetURL: "https://fleet.example.com/x", Client: http.DefaultClient, CertFile: "/tmp/x.pem"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"http", func(c *Config) { c.FleetURL = "http://fleet.example.com" }},
		{"no host", func(c *Config) { c.FleetURL = "https://" }},
		{"credentials", func(c *Config) { c.FleetURL = "https://u:p@fleet.example.com" }},
		{"query", func(c *Config) { c.FleetURL = "https://fleet.example.com/?a=b" }},
		{"no client", func(c *Config) { c.Client = nil }},
		{"no cert file", func(c *Config) { c.CertFile = "" }},
		{"negative limit", func(c *Config) { c.MaxBodyBytes = -1 }},
		{"lifetime too short", func(c *Config) { c.CertLifetime = time.Minute }},
	} {
		c := ok
		tc.mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted", tc.name)
		}
	}
	// A certificate that cannot be written fails New, with the path's reason.
	c := ok
	c.CertFile = filepath.Join(t.TempDir(), "missing-dir", "x.pem")
	if _, err := New(c); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unwritable cert file: %v", err)
	}
}

func testLogger() (zerolog.Logger, *logcapture.Buffer) {
	buf := &logcapture.Buffer{}
	return zerolog.New(buf).Level(zerolog.DebugLevel), buf
}
