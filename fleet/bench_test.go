package fleet

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/benchrec"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/rootdir"
)

// traffic is what one host exchanged with Fleet, counted on the TCP
// connections (TLS records included), so it is what the network carries.
type traffic struct {
	requests  int
	sent, got int64
}

type countingConn struct {
	net.Conn
	sent, got *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Add(int64(n))
	return n, err
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.got.Add(int64(n))
	return n, err
}

// countingHTTPClient trusts srv and counts every byte on its connections.
func countingHTTPClient(tb testing.TB, srv *fleettest.Server, sent, got *atomic.Int64) *http.Client {
	hc, err := httpclient.New(HTTPClientConfig(httpclient.Config{CAFile: srv.CACertFile()}))
	if err != nil {
		tb.Fatal(err)
	}
	tr := hc.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, sent: sent, got: got}, nil
	}
	return hc
}

// idleServer is the Fleet both idle hours talk to: the same flags and
// channels, so their answers are the same size.
func idleServer(tb testing.TB, cfg fleettest.Config) *fleettest.Server {
	tb.Helper()
	cfg.EnrollSecrets, cfg.TLS = []string{testSecret}, true
	srv := fleettest.Start(tb, cfg)
	if err := srv.SetStartupFlags(map[string]any{"distributed_interval": 10}); err != nil {
		tb.Fatal(err)
	}
	srv.SetUpdateChannels("stable", "stable", "stable")
	return srv
}

// idleHourOurs runs the agent with its default intervals (and real jitter)
// for one simulated hour after enrollment and counts its traffic.
func idleHourOurs(tb testing.TB) traffic {
	clk := newFakeClock()
	srv := idleServer(tb, fleettest.Config{Clock: clk})
	var sent, got atomic.Int64
	layout, err := rootdir.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	a, err := New(Config{
		Layout: layout, URL: srv.URL(), EnrollSecret: testSecret,
		HTTPClient: countingHTTPClient(tb, srv, &sent, &got), Version: "1.0.0",
		Clock: clk, Rand: rand.New(rand.NewPCG(1, 2)), HostFacts: testFacts,
		Logger: zerolog.Nop(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	clk.BlockUntil(tb, 3) // enrolled, first config, token registered
	start := clk.Now()
	sent.Store(0)
	got.Store(0)
	end := start.Add(time.Hour)
	for {
		next := clk.NextDeadline()
		if next.After(end) {
			break
		}
		clk.Advance(next.Sub(clk.Now()))
		clk.BlockUntil(tb, 3)
	}
	n := 0
	for _, c := range srv.Calls() {
		if c.Time.After(start) {
			n++
		}
	}
	return traffic{requests: n, sent: sent.Load(), got: got.Load()}
}

// idleHourFleet replays what Fleet's orbit sends in an idle hour at its
// defaults (client/orbit_client.go, orbit/pkg/token): a config poll every
// 30 s, a capabilities ping every 5 min, one device token rotation per
// hour, with the headers its Go client sends (default User-Agent, its
// client capabilities, no Content-Type).
func idleHourFleet(tb testing.TB) traffic {
	srv := idleServer(tb, fleettest.Config{})
	var sent, got atomic.Int64
	hc := countingHTTPClient(tb, srv, &sent, &got)
	send := func(method, path, body string) []byte {
		req, err := http.NewRequest(method, srv.URL()+path, bytes.NewBufferString(body))
		if err != nil {
			tb.Fatal(err)
		}
		req.Header.Set(CapabilitiesHeader, "escrow_buddy,setup_experience,end_user_auth")
		resp, err := hc.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		if resp.StatusCode != 200 {
			tb.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b.String())
		}
		return b.Bytes()
	}
	enroll := send("POST", PathEnroll, `{"enroll_secret":"`+testSecret+`","hardware_uuid":"FLEET-MODEL","hardware_serial":"","hostname":"model","platform":"ubuntu","osquery_identifier":"FLEET-MODEL","computer_name":"model","hardware_model":""}`)
	key := string(bytes.Split(bytes.Split(enroll, []byte(`"orbit_node_key": "`))[1], []byte(`"`))[0])
	send("POST", PathConfig, `{"orbit_node_key":"`+key+`"}`)
	sent.Store(0)
	got.Store(0)
	before := len(srv.Calls())
	for s := 30; s <= 3600; s += 30 {
		send("POST", PathConfig, `{"orbit_node_key":"`+key+`"}`)
		if s%300 == 0 {
			send("HEAD", PathPing, "")
		}
	}
	send("POST", PathDeviceToken, `{"orbit_node_key":"`+key+`","device_auth_token":"0f8fad5b-d9cb-469f-a165-70867728950e"}`)
	return traffic{requests: len(srv.Calls()) - before, sent: sent.Load(), got: got.Load()}
}

// BenchmarkIdleTraffic reports requests and bytes per hour for one idle,
// enrolled host: ours at default intervals next to Fleet's orbit at its
// defaults. Run: go test -run XXX -bench BenchmarkIdleTraffic ./fleet/
func BenchmarkIdleTraffic(b *testing.B) {
	var ours, fleet traffic
	for b.Loop() {
		ours = idleHourOurs(b)
		fleet = idleHourFleet(b)
		for _, m := range []struct {
			name string
			v    int64
		}{
			{"idle_ours_requests", int64(ours.requests)}, {"idle_ours_sent_bytes", ours.sent}, {"idle_ours_recv_bytes", ours.got},
			{"idle_fleet_requests", int64(fleet.requests)}, {"idle_fleet_sent_bytes", fleet.sent}, {"idle_fleet_recv_bytes", fleet.got},
		} {
			benchrec.Record(b, m.name, float64(m.v))
		}
	}
	b.ReportMetric(float64(ours.requests), "ours_req/h")
	b.ReportMetric(float64(ours.sent), "ours_sent_B/h")
	b.ReportMetric(float64(ours.got), "ours_recv_B/h")
	b.ReportMetric(float64(fleet.requests), "fleet_req/h")
	b.ReportMetric(float64(fleet.sent), "fleet_sent_B/h")
	b.ReportMetric(float64(fleet.got), "fleet_recv_B/h")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("idle host, one hour: ours %d requests, %d B sent, %d B received; Fleet's orbit %d requests, %d B sent, %d B received\n",
		ours.requests, ours.sent, ours.got, fleet.requests, fleet.sent, fleet.got)
}

// TestIdleTrafficNotAboveFleet keeps the benchmark's claim checked on every
// test run: an idle host sends no more than Fleet's orbit does.
func TestIdleTrafficNotAboveFleet(t *testing.T) {
	t.Parallel()
	ours := idleHourOurs(t)
	fleet := idleHourFleet(t)
	t.Logf("ours %+v, fleet %+v", ours, fleet)
	if ours.requests > fleet.requests || ours.sent > fleet.sent {
		t.Errorf("ours %d requests/%d B sent per hour, Fleet's orbit %d/%d: must not be more", ours.requests, ours.sent, fleet.requests, fleet.sent)
	}
	if ours.requests < 100 {
		t.Errorf("only %d requests in an hour: the config poll is not running at its interval", ours.requests)
	}
}
