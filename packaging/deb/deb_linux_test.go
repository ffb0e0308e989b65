package deb

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/packaging/internal/chroottest"
)

const wantsLink = "/etc/systemd/system/multi-user.target.wants/orbit.service"

// installed is the tree a configured package leaves, systemd not running:
// the unit enabled offline (the wants link), so it starts at boot.
func installed() []chroottest.Want {
	return []chroottest.Want{
		{Path: "/opt/orbit", Mode: fs.ModeDir | 0o755},
		{Path: "/opt/orbit/tuf", Mode: fs.ModeDir | 0o700},
		{Path: "/opt/orbit/tuf/root.json", Mode: 0o644},
		{Path: "/opt/orbit/bin/orbit/linux/stable/orbit", Mode: 0o755},
		{Path: "/opt/orbit/bin/orbit/orbit", Mode: fs.ModeSymlink | 0o777, Link: "linux/stable/orbit"},
		{Path: "/opt/orbit/bin/osqueryd/linux/stable/osqueryd", Mode: 0o755},
		{Path: "/lib/systemd/system/orbit.service", Mode: 0o644},
		{Path: "/etc/default/orbit", Mode: 0o600},
		{Path: wantsLink, Mode: fs.ModeSymlink | 0o777, Link: "/lib/systemd/system/orbit.service"},
	}
}

func dpkgStatus(c *chroottest.Chroot) string {
	out, _ := c.Try("dpkg-query", "-W", "-f=${Status} ${Version}", "orbit")
	return strings.TrimSpace(out)
}

// In a Debian bookworm chroot (systemd installed, not running): install,
// upgrade to a newer version, reinstall it, remove, reinstall over the
// kept settings, and purge, checking the tree after each step.
func TestChrootLifecycle(t *testing.T) {
	t.Parallel()
	c := chroottest.New(t)
	c.Copy(t, fixtureDeb(t, "amd64", "1.0.0"), "/tmp/orbit_1.0.0.deb")
	c.Copy(t, fixtureDeb(t, "amd64", "1.1.0"), "/tmp/orbit_1.1.0.deb")
	status := func(step, want string) {
		t.Helper()
		if s := dpkgStatus(c); s != want {
			t.Fatalf("after %s dpkg says %q, want %q", step, s, want)
		}
	}

	c.Run(t, "dpkg", "-i", "/tmp/orbit_1.0.0.deb")
	status("install", "install ok installed 1.0.0")
	c.Check(t, "install", installed())
	if out := c.Run(t, "/opt/orbit/bin/orbit/orbit", "version"); !strings.HasPrefix(out, "orbit ") {
		t.Errorf("the installed orbit says %q", out)
	}
	// systemd's own checker accepts the unit where it is installed
	// (ExecStart must exist for it, and does).
	c.Run(t, "systemd-analyze", "verify", "/lib/systemd/system/orbit.service")

	// The node key and what the updater added must survive upgrades.
	state := append(installed(), c.PlantRunState(t)...)
	c.Run(t, "dpkg", "-i", "/tmp/orbit_1.1.0.deb")
	status("upgrade", "install ok installed 1.1.0")
	c.Check(t, "upgrade", state)
	c.CheckNodeKey(t, "upgrade")

	c.Run(t, "dpkg", "-i", "/tmp/orbit_1.1.0.deb")
	status("reinstall", "install ok installed 1.1.0")
	c.Check(t, "reinstall", state)
	c.CheckNodeKey(t, "reinstall")

	// Removal: the service is disabled, the package's files and what the
	// updater added under bin/ are gone; the settings (a conffile) and the
	// node key stay for a reinstall.
	c.Run(t, "dpkg", "--remove", "orbit")
	status("remove", "deinstall ok config-files 1.1.0")
	c.Check(t, "remove", []chroottest.Want{
		{Path: wantsLink, Missing: true},
		{Path: "/lib/systemd/system/orbit.service", Missing: true},
		{Path: "/opt/orbit/bin", Missing: true},
		{Path: "/etc/default/orbit", Mode: 0o600},
		{Path: "/opt/orbit/secret-orbit-node-key.txt", Mode: 0o600},
	})

	// Installing over the kept settings is dpkg's "configure <old>" path:
	// it must enable the service again.
	c.Run(t, "dpkg", "-i", "/tmp/orbit_1.1.0.deb")
	c.Check(t, "install after remove", installed())
	c.CheckNodeKey(t, "install after remove")

	c.Run(t, "dpkg", "--purge", "orbit")
	if s := dpkgStatus(c); strings.Contains(s, "installed") || strings.Contains(s, "config-files") {
		t.Fatalf("after purge dpkg says %q", s)
	}
	c.Check(t, "purge", []chroottest.Want{
		{Path: "/opt/orbit", Missing: true},
		{Path: "/etc/default/orbit", Missing: true},
		{Path: wantsLink, Missing: true},
		{Path: "/lib/systemd/system/orbit.service", Missing: true},
	})
}

// With systemd running, install starts the service, an upgrade and a
// reinstall restart it, purge stops and disables it.
func TestChrootScriptsWithRunningSystemd(t *testing.T) {
	t.Parallel()
	c := chroottest.New(t)
	calls := c.FakeRunningSystemd(t)
	c.Copy(t, fixtureDeb(t, "amd64", "1.0.0"), "/tmp/v1.deb")
	c.Copy(t, fixtureDeb(t, "amd64", "1.1.0"), "/tmp/v2.deb")
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"dpkg", "-i", "/tmp/v1.deb"}, "daemon-reload\nenable orbit.service\nstart orbit.service"},
		{[]string{"dpkg", "-i", "/tmp/v2.deb"}, "daemon-reload\nenable orbit.service\nrestart orbit.service"},
		{[]string{"dpkg", "-i", "/tmp/v2.deb"}, "daemon-reload\nenable orbit.service\nrestart orbit.service"},
		{[]string{"dpkg", "--purge", "orbit"}, "stop orbit.service\ndisable orbit.service\ndaemon-reload"},
	} {
		c.Run(t, step.args[0], step.args[1:]...)
		if got := calls(); got != step.want {
			t.Errorf("%v called systemctl:\n%s\nwant:\n%s", step.args, got, step.want)
		}
	}
}
