package osquery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/osquery/tlsproxy"
	"github.com/orbitagent/orbit/rootdir"
)

// TestStandinEnrollsThroughTheInsecureProxy runs the stand-in osqueryd in
// TLS mode with the command line orbit builds for --insecure: it trusts
// only the proxy's certificate, not Fleet's, and still enrolls and fetches
// its config, with and without a path prefix on the Fleet URL.
func TestStandinEnrollsThroughTheInsecureProxy(t *testing.T) {
	t.Parallel()
	const secret = "proxy-test-enroll-secret"
	for _, prefix := range []string{"", "/tenant/one"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			t.Parallel()
			fleet := fleettest.New(fleettest.Config{EnrollSecrets: []string{secret}, TLS: true})
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
				srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake checked below fails on purpose
				srv.StartTLS()
				t.Cleanup(srv.Close)
				fleetURL = srv.URL + prefix
			}

			root := testdir.Short(t)
			l := rootdir.Layout{Root: root}
			insecure := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil,
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // what --insecure builds
			p, err := tlsproxy.New(tlsproxy.Config{FleetURL: fleetURL, Client: insecure, CertFile: l.InsecureProxyCert()})
			if err != nil {
				t.Fatal(err)
			}
			_ = runActor(t, p.Run)

			// The stand-in could not talk to Fleet directly with what it gets.
			pemBytes, err := os.ReadFile(p.CertFile())
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pemBytes)
			u, _ := url.Parse(fleetURL)
			if conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err == nil {
				conn.Close()
				t.Fatal("Fleet's certificate verifies against the proxy's: the test would prove nothing")
			}

			args, err := Flags(FlagOptions{Layout: l, FleetURL: fleetURL,
				Insecure: &InsecureProxy{Addr: p.Addr(), CertFile: p.CertFile()}})
			if err != nil {
				t.Fatal(err)
			}
			osq := execStandin(t, l.ExtensionsSocket(), l.OsqueryDB(),
				[]string{EnrollSecretEnv + "=" + secret, "OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"}, append(args, "--config_refresh=1"))

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			go func() {
				select {
				case <-osq.done: // a stand-in that refused its flags fails the test at once
					cancel()
				case <-ctx.Done():
				}
			}()
			enroll, err := fleet.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/enroll", Status: 200})
			if err != nil {
				t.Fatalf("no enroll through the proxy: %v; stand-in stderr: %s", err, osq.stderr.String())
			}
			if enroll.Body["enroll_secret"] != secret {
				t.Fatalf("enroll_secret %v", enroll.Body["enroll_secret"])
			}
			if _, err := fleet.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/v1/osquery/config", Status: 200}); err != nil {
				t.Fatalf("no config through the proxy: %v; stand-in stderr: %s", err, osq.stderr.String())
			}
		})
	}
}
