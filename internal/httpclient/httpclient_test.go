package httpclient

import (
	"bytes"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/logcapture"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"zero", Config{}, ""},
		{"insecure with CA", Config{Insecure: true, CAFile: "/etc/ca.pem"}, "mutually exclusive"},
		{"proxy without host", Config{Proxy: "proxy:3128"}, "is not a proxy URL"},
		{"proxy not a URL", Config{Proxy: "::nope"}, "is not a proxy URL"},
		{"proxy scheme", Config{Proxy: "ftp://proxy:21"}, `scheme "ftp"`},
		{"http proxy", Config{Proxy: "http://proxy:3128"}, ""},
		{"https proxy", Config{Proxy: "https://proxy:3128"}, ""},
		{"socks5 proxy", Config{Proxy: "socks5://proxy:1080"}, ""},
		{"socks5h proxy", Config{Proxy: "socks5h://proxy:1080"}, ""},
		{"proxy credentials", Config{Proxy: "http://u:secret@proxy:3128"}, "must not carry credentials"},
		{"proxy port out of range", Config{Proxy: "http://proxy:65536"}, "port 65536 is out of range"},
		{"proxy port zero", Config{Proxy: "http://proxy:0"}, "port 0 is out of range"},
		{"negative timeout", Config{Timeout: -time.Second}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				if _, err := New(tc.cfg); err != nil {
					t.Fatalf("New = %v for a valid config", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want one mentioning %q", err, tc.want)
			}
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("New accepted what Validate refuses")
			}
		})
	}
}

func TestCheckNoCredentials(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://fleet.example.com", "http://proxy:3128", "", "::nope"} {
		if err := CheckNoCredentials(u); err != nil {
			t.Errorf("CheckNoCredentials(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"https://u:secret@fleet.example.com", "http://user@proxy:3128"} {
		err := CheckNoCredentials(u)
		if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), u) {
			t.Errorf("CheckNoCredentials(%q) = %v, want an error that does not repeat the URL", u, err)
		}
	}
}

func TestNewRejectsBadCABundle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "none.pem")
	// A valid certificate padded past the limit: refused, not read on and on.
	srv, ca := tlsServer(t)
	_ = srv
	certPEM, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.pem")
	if err := os.WriteFile(huge, bytes.Repeat(certPEM, (1<<20)/len(certPEM)+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{missing, missing},
		{notPEM, "no PEM certificate"},
		{huge, "the limit for this file is 1 MiB"},
		{dir, "not a regular file"},
	} {
		if _, err := New(Config{CAFile: tc.file}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(CAFile %s) = %v, want an error mentioning %q", tc.file, err, tc.want)
		}
	}
}

// tlsServer is an HTTPS server on 127.0.0.1 and the PEM file of its certificate.
func tlsServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hop" {
			http.Redirect(w, r, "/", http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

func get(hc *http.Client, url string) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		return errors.New("unexpected body " + string(b))
	}
	return nil
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv, ca := tlsServer(t)
	system, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(system, srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("system roots trusted the test CA: %v", err)
	}
	pinned, err := New(Config{CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(pinned, srv.URL); err != nil {
		t.Errorf("with the CA bundle: %v", err)
	}
	var log logcapture.Buffer
	insecure, err := New(Config{Insecure: true, Logger: zerolog.New(&log)})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(insecure, srv.URL); err != nil {
		t.Errorf("insecure: %v", err)
	}
	if !strings.Contains(log.String(), `"level":"warn"`) || !strings.Contains(log.String(), "--insecure") {
		t.Errorf("--insecure not warned about: %q", log.String())
	}
	if http.DefaultClient.Transport != nil {
		t.Fatal("the global HTTP client was modified")
	}
}

func TestCheckRedirectIsPassedThrough(t *testing.T) {
	t.Parallel()
	srv, ca := tlsServer(t)
	follows, err := New(Config{CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(follows, srv.URL+"/hop"); err != nil {
		t.Fatalf("default policy did not follow a redirect: %v", err)
	}
	refuse := errors.New("no redirects")
	stops, err := New(Config{CAFile: ca, CheckRedirect: func(*http.Request, []*http.Request) error { return refuse }})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(stops, srv.URL+"/hop"); !errors.Is(err, refuse) {
		t.Fatalf("CheckRedirect not used: %v", err)
	}
}

// connectProxy is a minimal HTTPS proxy on 127.0.0.1 recording CONNECT targets.
type connectProxy struct {
	mu      sync.Mutex
	targets []string
	url     string
}

func startConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	p := &connectProxy{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		p.mu.Lock()
		p.targets = append(p.targets, r.Host)
		p.mu.Unlock()
		up, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() { io.Copy(up, conn); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + ln.Addr().String()
	return p
}

func TestExplicitProxy(t *testing.T) {
	t.Parallel()
	srv, ca := tlsServer(t)
	proxy := startConnectProxy(t)
	hc, err := New(Config{CAFile: ca, Proxy: proxy.url})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(hc, srv.URL); err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	host := strings.TrimPrefix(srv.URL, "https://")
	if len(proxy.targets) != 1 || proxy.targets[0] != host {
		t.Errorf("proxy saw %v, want one CONNECT to %s", proxy.targets, host)
	}
}

// Go caches the proxy environment once per process, so the environment
// cases run in a child test process with their own variables.
func TestEnvironmentProxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		env      []string
		explicit string
		want     string
	}{
		{"HTTPS_PROXY", []string{"HTTPS_PROXY=http://envproxy.example:3128", "NO_PROXY="}, "", "http://envproxy.example:3128"},
		{"NO_PROXY", []string{"HTTPS_PROXY=http://envproxy.example:3128", "NO_PROXY=fleet.example.com"}, "", "direct"},
		{"explicit wins", []string{"HTTPS_PROXY=http://envproxy.example:3128", "NO_PROXY="}, "http://flagproxy.example:8080", "http://flagproxy.example:8080"},
		{"explicit socks5", []string{"HTTPS_PROXY=", "https_proxy=", "NO_PROXY="}, "socks5://socks.example:1080", "socks5://socks.example:1080"},
		{"none", []string{"HTTPS_PROXY=", "https_proxy=", "NO_PROXY="}, "", "direct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProxyDecision$", "-test.count=1")
			cmd.Env = append(os.Environ(), "HTTPCLIENT_PROXY_HELPER=1", "HTTPCLIENT_PROXY_EXPLICIT="+tc.explicit)
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "PROXY="+tc.want+"\n") {
				t.Errorf("proxy decision: %s, want %s", out, tc.want)
			}
		})
	}
}

func TestHelperProxyDecision(t *testing.T) {
	if os.Getenv("HTTPCLIENT_PROXY_HELPER") != "1" {
		t.Skip("helper for TestEnvironmentProxy")
	}
	hc, err := New(Config{Proxy: os.Getenv("HTTPCLIENT_PROXY_EXPLICIT")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "https://fleet.example.com/api/fleet/orbit/config", nil)
	u, err := hc.Transport.(*http.Transport).Proxy(req)
	if err != nil {
		t.Fatal(err)
	}
	if u == nil {
		os.Stdout.WriteString("PROXY=direct\n")
		return
	}
	os.Stdout.WriteString("PROXY=" + u.String() + "\n")
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		size   int
		max    int64
		tooBig bool
	}{
		{"empty", 0, 10, false},
		{"small", 5, 10, false},
		{"exactly max", readChunk*2 + 7, readChunk*2 + 7, false},
		{"one over max", readChunk*2 + 8, readChunk*2 + 7, true},
		{"far over max", 10 * readChunk, readChunk, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := bytes.Repeat([]byte("x"), tt.size)
			got, err := ReadBody(bytes.NewReader(body), tt.max)
			if tt.tooBig {
				if !errors.Is(err, ErrBodyTooLarge) {
					t.Fatalf("err = %v, want ErrBodyTooLarge", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes, %v; want %d bytes", len(got), err, tt.size)
			}
		})
	}
}
