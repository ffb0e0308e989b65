package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
)

// TestFleetEndToEnd runs the real orbit binary, the stand-in osqueryd and
// the Fleet test server over HTTPS on 127.0.0.1, and walks the whole chain:
// orbit enrolls; osqueryd, started with orbit's flags, enrolls through the
// osquery TLS API and answers a distributed query; a flag change on the
// server restarts osqueryd alone; the device token rotates.
func TestFleetEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "e2e-enroll-secret-3f9a"
	srv := fleetServer(t, secret)
	if err := srv.SetStartupFlags(map[string]any{"distributed_interval": 1, "config_refresh": 1}); err != nil {
		t.Fatal(err)
	}

	root := filepath.Join(t.TempDir(), "orbit")
	env := []string{"ORBIT_ENROLL_SECRET=" + secret}
	args := []string{"--fleet-url=" + srv.URL(), "--fleet-certificate=" + srv.CACertFile(),
		"--config-interval=1s", "--device-token-check-interval=200ms", "--debug"}
	p := startOrbit(t, root, env, args...)

	// 1. orbit enrolls.
	var host fleettest.OrbitHost
	testwait.For(t, "orbit enrolled", func() bool {
		hs := srv.OrbitHosts()
		if len(hs) == 1 {
			host = hs[0]
			return true
		}
		return false
	})
	if host.HardwareUUID == "" || host.Hostname == "" || host.Platform == "" {
		t.Fatalf("enroll facts incomplete: %+v", host)
	}
	// The server records the enroll before orbit has its answer: wait for
	// orbit to write the key it got.
	var nodeKey []byte
	testwait.For(t, "node key file written", func() bool {
		var err error
		nodeKey, err = os.ReadFile(filepath.Join(root, "secret-orbit-node-key.txt"))
		return err == nil
	})
	if strings.TrimSpace(string(nodeKey)) != host.OrbitNodeKey {
		t.Fatalf("node key file %q does not match the server's %q", nodeKey, host.OrbitNodeKey)
	}

	// 2. osqueryd enrolls over the osquery TLS API and answers a query.
	testwait.For(t, "osqueryd enrolled", func() bool { return len(srv.OsqueryHosts()) == 1 })
	srv.AddDistributedQuery("fleet_e2e_uuid", "select uuid from system_info")
	var res []fleettest.DistributedResult
	testwait.For(t, "distributed query answered", func() bool {
		res = srv.DistributedResults("fleet_e2e_uuid")
		return len(res) > 0
	})
	if res[0].Status != 0 || len(res[0].Rows) != 1 || !strings.EqualFold(res[0].Rows[0]["uuid"], host.HardwareUUID) {
		t.Fatalf("distributed result %+v, want the host's uuid %s", res[0], host.HardwareUUID)
	}

	// 3. A flag change on the server restarts osqueryd alone, with the new
	// flagfile.
	testwait.For(t, "startup flags applied", func() bool {
		b, _ := os.ReadFile(filepath.Join(root, "osquery.flags"))
		return strings.Contains(string(b), "--distributed_interval=1")
	})
	before := waitOsquerydRunning(t, root, 0)
	// osqueryd waited for Fleet's first config: it started with the
	// server's flags instead of restarting for them.
	if n := osquerydState(t, root).Restarts; n != 0 {
		t.Fatalf("osqueryd restarted %d times before any flag change, want 0", n)
	}
	if err := srv.SetStartupFlags(map[string]any{"distributed_interval": 2, "config_refresh": 1, "verbose": true}); err != nil {
		t.Fatal(err)
	}
	after := waitOsquerydRunning(t, root, before)
	flags, _ := os.ReadFile(filepath.Join(root, "osquery.flags"))
	if got, want := string(flags), "--config_refresh=1\n--distributed_interval=2\n--verbose=true\n"; got != want {
		t.Fatalf("osquery.flags = %q, want %q", got, want)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", after))
	if !bytes.Contains(cmdline, []byte("--flagfile="+filepath.Join(root, "osquery.flags"))) {
		t.Fatalf("new osqueryd not started with the flagfile: %q", cmdline)
	}
	select {
	case <-p.done:
		t.Fatalf("orbit exited on a flag change:\n%s", p.log.String())
	default:
	}
	if n := len(srv.OrbitHosts()); n != 1 {
		t.Fatalf("%d orbit hosts after the flag change, want 1", n)
	}

	// 4. The device token rotates once it is an hour old: the new token is
	// registered with the server, then written to the identifier file.
	// Within a run its age is orbit's own clock; across runs, the file's
	// mtime: a restart after two hours rotates it at once.
	idFile := filepath.Join(root, "identifier")
	var oldToken string
	testwait.For(t, "device token registered", func() bool {
		b, err := os.ReadFile(idFile)
		oldToken = strings.TrimSpace(string(b))
		return err == nil && oldToken != "" && srv.DeviceTokens()[oldToken] != ""
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	firstLog := p.log.String()
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(idFile, old, old); err != nil {
		t.Fatal(err)
	}
	p = startOrbit(t, root, env, args...)
	var newToken string
	testwait.For(t, "device token rotated", func() bool {
		b, _ := os.ReadFile(idFile)
		newToken = strings.TrimSpace(string(b))
		return newToken != "" && newToken != oldToken
	})
	if srv.DeviceTokens()[newToken] == "" {
		t.Fatalf("rotated token was written before the server knew it")
	}
	testwait.For(t, "status shows the new My device URL", func() bool {
		snap, err := status.Read(filepath.Join(root, "state.json"))
		return err == nil && snap.Fleet != nil && snap.Fleet.MyDeviceURL == srv.URL()+"/device/"+newToken
	})

	out, _, _ := runOrbit(t, nil, "status", "--root-dir="+root)
	if !strings.Contains(out, "my device: "+srv.URL()+"/device/"+newToken) {
		t.Fatalf("orbit status does not show the My device URL:\n%s", out)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	log := firstLog + p.log.String()
	osqueryKey := srv.OsqueryHosts()[0].NodeKey
	for _, s := range []string{secret, host.OrbitNodeKey, osqueryKey, oldToken, newToken} {
		if strings.Contains(log, s) {
			t.Fatalf("a secret appears in orbit's log (%.6s...)", s)
		}
	}
}
