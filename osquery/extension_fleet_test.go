package osquery

import (
	"net/url"
	"testing"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
)

// A Fleet server's distributed query SELECT * FROM orbit_info reaches
// orbit's extension through osqueryd and returns the agent's values.
func TestFleetDistributedQueryGetsOrbitInfo(t *testing.T) {
	t.Parallel()
	requireUnix(t)
	const secret = "enroll-secret-for-test"
	srv := fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{secret}, TLS: true})
	if err := srv.SetOsqueryConfig(map[string]any{"options": map[string]any{"distributed_interval": 1}}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	dir := testdir.Short(t)
	// Fleet mode as orbit runs osqueryd; intervals shrunk 100x.
	osq := startStandin(t, dir, []string{"ENROLL_SECRET=" + secret, "OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"},
		"--host_identifier=uuid", "--tls_hostname="+u.Host, "--tls_server_certs="+srv.CACertFile(),
		"--enroll_secret_env=ENROLL_SECRET", "--enroll_tls_endpoint=/api/v1/osquery/enroll",
		"--config_plugin=tls", "--config_tls_endpoint=/api/v1/osquery/config", "--config_refresh=1",
		"--disable_distributed=false", "--distributed_plugin=tls",
		"--distributed_tls_read_endpoint=/api/v1/osquery/distributed/read",
		"--distributed_tls_write_endpoint=/api/v1/osquery/distributed/write")
	osq.waitAnswering(t)

	clk := newFakeClock()
	info := &fakeInfo{info: OrbitInfo{Version: "1.40.1", DeviceAuthToken: "device-token", Enrolled: true,
		OrbitChannel: "stable", OsquerydChannel: "stable", DesktopChannel: "stable", ScriptsEnabled: true,
		StartedAt: clk.Now()}}
	ext, err := NewExtension(ExtensionConfig{Socket: osq.socket, Tables: []Table{OrbitInfoTable(info, clk)}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	runActor(t, ext.Run)
	testwait.For(t, "registration", func() bool { _, ok := ext.UUID(); return ok })

	srv.AddDistributedQuery("fleet_detail_query_orbit_info", "SELECT * FROM orbit_info")
	testwait.For(t, "distributed results", func() bool { return len(srv.DistributedResults("fleet_detail_query_orbit_info")) > 0 })
	res := srv.DistributedResults("fleet_detail_query_orbit_info")
	want := map[string]string{"version": "1.40.1", "device_auth_token": "device-token", "enrolled": "true",
		"last_recorded_error": "", "orbit_channel": "stable", "osqueryd_channel": "stable", "desktop_channel": "stable",
		"desktop_version": "", "uptime": "0", "scripts_enabled": "1", "update_url": ""}
	if len(res) != 1 || res[0].Status != 0 || len(res[0].Rows) != 1 || !equalRow(res[0].Rows[0], want) {
		t.Fatalf("results = %+v; want one row %v; osqueryd: %s", res, want, osq.stderr.String())
	}
}
