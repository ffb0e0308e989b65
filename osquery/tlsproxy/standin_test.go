package tlsproxy

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/rootdir"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

const enrollSecret = "proxy-test-enroll-secret"

// TestStandinEnrollsThroughTheProxy runs the stand-in osqueryd in TLS mode
// with the command line orbit builds for --insecure: it trusts only the
// proxy's certificate, not Fleet's, and still enrolls and fetches its
// config, with and without a path prefix on the Fleet URL.
func TestStandinEnrollsThroughTheProxy(t *testing.T) {
	t.Parallel()
	bin := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
	for _, prefix := range []string{"", "/tenant/one"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			t.Parallel()
			fleet := fleettest.New(fleettest.Config{EnrollSecrets: []string{enrollSecret}, TLS: true})
			var fleetURL string
			if prefix == "" {
				if err := fleet.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(fleet.Close)
				fleetURL = fleet.URL()
			} else {
				// Fleet behind a path prefix: only /tenant/one/... reaches it.
				mux := http.NewServeMux()
				mux.Handle(prefix+"/", http.StripPrefix(prefix, fleet.Handler()))
				srv := httptest.NewUnstartedServer(mux)
				srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the check below fails on purpose
				srv.StartTLS()
				t.Cleanup(srv.Close)
				fleetURL = srv.URL + prefix
			}

			root, err := os.MkdirTemp("", "oqp") // short: the extension socket lives here
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(root) })
			l := rootdir.Layout{Root: root}
			p, _ := startProxy(t, Config{FleetURL: fleetURL, Client: insecureClient(), CertFile: filepath.Join(root, "insecure-proxy.pem")})

			// The stand-in could not talk to Fleet directly with what it gets.
			u, _ := url.Parse(fleetURL)
			if conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: poolOf(t, mustRead(t, p.CertFile())), MinVersion: tls.VersionTLS12}); err == nil {
				conn.Close()
				t.Fatal("Fleet's certificate verifies against the proxy's: the test would prove nothing")
			}

			args, err := osquery.Flags(osquery.FlagOptions{Layout: l, FleetURL: fleetURL,
				Insecure: &osquery.InsecureProxy{Addr: p.Addr(), CertFile: p.CertFile()}})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append(args, "--config_refresh=1")...)
			cmd.Env = append(os.Environ(), osquery.EnrollSecretEnv+"="+enrollSecret, "OSQUERYD_STANDIN_INTERVAL_SCALE=0.01")
			stderr := &logcapture.Buffer{}
			cmd.Stderr = stderr
			cmd.WaitDelay = 5 * time.Second
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			go func() {
				select {
				case <-exited: // a stand-in that refused its flags fails the test at once
					cancel()
				case <-ctx.Done():
				}
			}()
			enroll, err := fleet.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/enroll", Status: 200})
			if err != nil {
				t.Fatalf("no enroll through the proxy: %v; stand-in stderr: %s", err, stderr.String())
			}
			if enroll.Body["enroll_secret"] != enrollSecret {
				t.Fatalf("enroll_secret %v", enroll.Body["enroll_secret"])
			}
			if _, err := fleet.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/config", Status: 200}); err != nil {
				t.Fatalf("no config through the proxy: %v; stand-in stderr: %s", err, stderr.String())
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
