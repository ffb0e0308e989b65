package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/packaging/internal/chroottest"
	"github.com/orbitagent/orbit/status"
)

func TestMain(m *testing.M) {
	// Releases are static programs: they run in the chroot as on any host.
	os.Setenv("CGO_ENABLED", "0")
	os.Exit(testbin.Main(m))
}

const secret = "e2e-package-secret-0b7d"

// passphrases are the release tool's key passphrases, from the
// environment as a release owner's script gives them.
var passphrases = []string{
	"ORBIT_ROOT_PASSPHRASE=e2e-root", "ORBIT_TARGETS_PASSPHRASE=e2e-targets",
	"ORBIT_SNAPSHOT_PASSPHRASE=e2e-snapshot", "ORBIT_TIMESTAMP_PASSPHRASE=e2e-timestamp",
}

func orbitctl(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("orbitctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), secret) {
		t.Fatalf("orbitctl %s printed the enroll secret", args[0])
	}
	return stdout.String() + stderr.String()
}

// The whole chain an admin runs: `orbitctl updates` publishes a real orbit,
// the stand-in osqueryd and the real tray app; `orbitctl package` builds a
// deb from that repository pointing at an update server where nothing
// listens; the deb installs in a Debian chroot; orbit, started there from
// the installed layout with the settings of /etc/default/orbit (systemd
// is not PID 1 here), enrolls with the Fleet test server on 127.0.0.1 and
// runs the bundled osqueryd, which enrolls over the osquery TLS API, and
// the tray archive is adopted from the bundle: all without the update
// server.
func TestDebFromRepositoryRunsOffline(t *testing.T) {
	c := chroottest.New(t)
	ctl := testbin.Build(t, "./cmd/orbitctl", "orbitctl", "")
	orbit := testbin.Build(t, "./cmd/orbit", "orbit", "-X main.version=1.4.0")
	osqueryd := testbin.BuildFor(t, "./testdata/osqueryd", "osqueryd", "linux", "amd64")
	tray := testbin.DesktopArchive(t, testbin.BuildFor(t, "./cmd/desktop", "fleet-desktop", "linux", "amd64"))

	work := t.TempDir()
	tuf := filepath.Join(work, "tuf")
	orbitctl(t, ctl, passphrases, "updates", "init", "--path", tuf)
	for _, a := range [][]string{
		{"--target", orbit, "--name", "orbit", "--version", "1.4.0"},
		{"--target", osqueryd, "--name", "osqueryd", "--version", "5.12.1"},
		{"--target", tray, "--name", "desktop", "--version", "1.30.0", "--file-name", "desktop.tar.gz"},
	} {
		orbitctl(t, ctl, passphrases, append([]string{"updates", "add", "--path", tuf, "--platform", "linux", "-t", "stable"}, a...)...)
	}

	srv := fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{secret}, TLS: true})
	// The update server's address: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	updateURL := "http://" + ln.Addr().String()
	ln.Close()

	deb := filepath.Join(work, "orbit_1.4.0_amd64.deb")
	secretFile := filepath.Join(work, "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := orbitctl(t, ctl, []string{"SOURCE_DATE_EPOCH=1715000000"}, "package", "--type", "deb", "--local-repo", tuf,
		"--fleet-url", srv.URL(), "--enroll-secret-path", secretFile, "--fleet-certificate", srv.CACertFile(),
		"--update-url", updateURL, "--fleet-desktop", "--output", deb)
	for _, w := range []string{"fetching orbit/linux/stable/orbit 1.4.0", "fetching osqueryd/linux/stable/osqueryd 5.12.1", "fetching desktop/linux/stable/desktop.tar.gz 1.30.0"} {
		if !strings.Contains(out, w) {
			t.Errorf("orbitctl package did not report %q:\n%s", w, out)
		}
	}

	c.Copy(t, deb, "/tmp/orbit.deb")
	c.Run(t, "dpkg", "-i", "/tmp/orbit.deb")
	c.Check(t, "install", []chroottest.Want{
		{Path: "/etc/default/orbit", Mode: 0o600},
		{Path: "/opt/orbit/fleet.pem", Mode: 0o644},
		{Path: "/opt/orbit/bin/bundle.json", Mode: 0o644},
		{Path: "/opt/orbit/bin/desktop/linux/stable/desktop.tar.gz", Mode: 0o644},
	})

	// orbit as the unit runs it: the settings file's variables in its
	// environment, the stable path.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := c.Command(ctx, "sh", "-c", "set -a; . /etc/default/orbit; set +a; exec /opt/orbit/bin/orbit/orbit")
	var log logcapture.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("orbit's log:\n%s", log.String())
		}
	})

	testwait.Within(t, 60*time.Second, "orbit enrolled", func() bool { return len(srv.OrbitHosts()) == 1 })
	state := c.Path("/opt/orbit/state.json")
	testwait.Within(t, 60*time.Second, "the bundled osqueryd running", func() bool {
		snap, err := status.Read(state)
		o := snap.Components["osqueryd"]
		return err == nil && o.State == "running" && o.PID != 0
	})
	testwait.Within(t, 60*time.Second, "osqueryd enrolled over the osquery TLS API", func() bool { return len(srv.OsqueryHosts()) == 1 })

	var st struct {
		Components map[string]struct {
			Path, Hash, Version string
		} `json:"components"`
	}
	testwait.Within(t, 30*time.Second, "the tray archive adopted", func() bool {
		b, err := os.ReadFile(c.Path("/opt/orbit/tuf/updater-state.json"))
		return err == nil && json.Unmarshal(b, &st) == nil && st.Components["desktop"].Path != ""
	})
	if d := st.Components["desktop"]; d.Version != "1.30.0" || !strings.HasPrefix(d.Path, "/opt/orbit/bin/desktop/linux/stable/desktop.") {
		t.Errorf("tray app adopted as %+v", d)
	} else if _, err := os.Stat(c.Path(d.Path)); err != nil {
		t.Errorf("the adopted tray app is not on disk: %v", err)
	}
	snap, _ := status.Read(state)
	if p := snap.Components["osqueryd"].Path; p != "" && p != "/opt/orbit/bin/osqueryd/linux/stable/osqueryd" {
		t.Errorf("osqueryd runs from %s, not the bundled file", p)
	}
	// The first refresh runs beside the adoption of the bundled files, not
	// after it: wait for its failure rather than look once.
	testwait.Within(t, 30*time.Second, "orbit trying the (closed) update server", func() bool {
		return strings.Contains(log.String(), "update metadata refresh failed")
	})
	if strings.Contains(log.String(), secret) {
		t.Error("orbit logged the enroll secret")
	}
}
