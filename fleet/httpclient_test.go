package fleet

import (
	"context"
	"io"
	"net"
	"net/http"
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

func TestNewHTTPClientRejectsBadOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  HTTPConfig
		want string
	}{
		{"insecure with certificate", HTTPConfig{Insecure: true, CertificateFile: notPEM}, "mutually exclusive"},
		{"missing certificate", HTTPConfig{CertificateFile: filepath.Join(dir, "none.pem")}, "--fleet-certificate"},
		{"not PEM", HTTPConfig{CertificateFile: notPEM}, "no PEM certificate"},
		{"proxy without host", HTTPConfig{Proxy: "proxy:3128"}, "--fleet-proxy"},
		{"proxy scheme", HTTPConfig{Proxy: "ftp://proxy:21"}, "scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewHTTPClient(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestHTTPClientTLS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, newFakeClock())
	get := func(hc *http.Client) error {
		resp, err := hc.Head(srv.URL() + PathPing)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	system, err := NewHTTPClient(HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(system); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("system roots trusted the test CA: %v", err)
	}
	pinned, err := NewHTTPClient(HTTPConfig{CertificateFile: srv.CACertFile()})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(pinned); err != nil {
		t.Errorf("with --fleet-certificate: %v", err)
	}
	var log logcapture.Buffer
	insecure, err := NewHTTPClient(HTTPConfig{Insecure: true, Logger: zerolog.New(&log)})
	if err != nil {
		t.Fatal(err)
	}
	if err := get(insecure); err != nil {
		t.Errorf("with --insecure: %v", err)
	}
	if !strings.Contains(log.String(), `"level":"warn"`) || !strings.Contains(log.String(), "--insecure") {
		t.Errorf("--insecure not warned about: %q", log.String())
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

func TestHTTPClientExplicitProxy(t *testing.T) {
	t.Parallel()
	srv := newServer(t, newFakeClock())
	proxy := startConnectProxy(t)
	hc, err := NewHTTPClient(HTTPConfig{CertificateFile: srv.CACertFile(), Proxy: proxy.url})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ClientConfig{URL: srv.URL(), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	host := strings.TrimPrefix(srv.URL(), "https://")
	if len(proxy.targets) != 1 || proxy.targets[0] != host {
		t.Errorf("proxy saw %v, want one CONNECT to %s", proxy.targets, host)
	}
}

// Go caches the proxy environment once per process, so the environment
// cases run in a child test process with their own variables.
func TestHTTPClientEnvironmentProxy(t *testing.T) {
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
		{"none", []string{"HTTPS_PROXY=", "https_proxy=", "NO_PROXY="}, "", "direct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProxyDecision$", "-test.count=1")
			cmd.Env = append(os.Environ(), "FLEET_PROXY_HELPER=1", "FLEET_PROXY_EXPLICIT="+tc.explicit)
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
	if os.Getenv("FLEET_PROXY_HELPER") != "1" {
		t.Skip("helper for TestHTTPClientEnvironmentProxy")
	}
	hc, err := NewHTTPClient(HTTPConfig{Proxy: os.Getenv("FLEET_PROXY_EXPLICIT")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "https://fleet.example.com"+PathConfig, nil)
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
