package deb

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/packaging/internal/chroottest"
)

// want is what a path must be in the chroot after a step: missing, or a
// file, directory or link with a mode (links: a target).
type want struct {
	path    string
	missing bool
	mode    fs.FileMode
	link    string
}

func check(t *testing.T, c *chroottest.Chroot, step string, wants []want) {
	t.Helper()
	for _, w := range wants {
		fi, err := os.Lstat(c.Path(w.path))
		switch {
		case w.missing:
			if err == nil {
				t.Errorf("after %s: %s is still there", step, w.path)
			}
			continue
		case err != nil:
			t.Errorf("after %s: %v", step, err)
			continue
		}
		if fi.Mode() != w.mode {
			t.Errorf("after %s: %s has mode %v, want %v", step, w.path, fi.Mode(), w.mode)
		}
		if w.link != "" {
			if got, _ := os.Readlink(c.Path(w.path)); got != w.link {
				t.Errorf("after %s: %s -> %q, want %q", step, w.path, got, w.link)
			}
		}
		if st, ok := fi.Sys().(interface{ Uid() uint32 }); ok && st.Uid() != 0 {
			t.Errorf("after %s: %s is not owned by root", step, w.path)
		}
	}
}

const wantsLink = "/etc/systemd/system/multi-user.target.wants/orbit.service"

// installed is the tree a configured package leaves, systemd not running:
// the unit enabled offline (the wants link), so it starts at boot.
func installed() []want {
	return []want{
		{path: "/opt/orbit", mode: fs.ModeDir | 0o755},
		{path: "/opt/orbit/tuf", mode: fs.ModeDir | 0o700},
		{path: "/opt/orbit/tuf/root.json", mode: 0o644},
		{path: "/opt/orbit/bin/orbit/linux/stable/orbit", mode: 0o755},
		{path: "/opt/orbit/bin/orbit/orbit", mode: fs.ModeSymlink | 0o777, link: "linux/stable/orbit"},
		{path: "/opt/orbit/bin/osqueryd/linux/stable/osqueryd", mode: 0o755},
		{path: "/lib/systemd/system/orbit.service", mode: 0o644},
		{path: "/etc/default/orbit", mode: 0o600},
		{path: wantsLink, mode: fs.ModeSymlink | 0o777, link: "/lib/systemd/system/orbit.service"},
	}
}

func dpkgStatus(t *testing.T, c *chroottest.Chroot) string {
	t.Helper()
	out, _ := c.Try("dpkg-query", "-W", "-f=${Status} ${Version}", "orbit")
	return strings.TrimSpace(out)
}

// In a Debian bookworm chroot (systemd installed, not running): install,
// upgrade to a newer version, reinstall it, remove, reinstall over the
// kept settings, and purge, checking the tree after each step.
func TestChrootLifecycle(t *testing.T) {
	t.Parallel()
	c := chroottest.New(t)
	v1 := fixtureDeb(t, "amd64", "1.0.0")
	v2 := fixtureDeb(t, "amd64", "1.1.0")
	c.Copy(t, v1, "/tmp/orbit_1.0.0.deb")
	c.Copy(t, v2, "/tmp/orbit_1.1.0.deb")

	c.Run(t, "dpkg", "-i", "/tmp/orbit_1.0.0.deb")
	if s := dpkgStatus(t, c); s != "install ok installed 1.0.0" {
		t.Fatalf("after install: %q", s)
	}
	check(t, c, "install", installed())
	if out := c.Run(t, "/opt/orbit/bin/orbit/orbit", "version"); !strings.HasPrefix(out, "orbit ") {
		t.Errorf("the installed orbit says %q", out)
	}
	// systemd's own checker accepts the unit where it is installed
	// (ExecStart must exist for it, and does).
	c.Run(t, "systemd-analyze", "verify", "/lib/systemd/system/orbit.service")

	// What the agent writes at run time, and what the updater installs
	// next to the bundled components, must survive upgrades.
	nodeKey := c.Path("/opt/orbit/secret-orbit-node-key.txt")
	if err := os.WriteFile(nodeKey, []byte("node-key-from-enrollment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	edge := c.Path("/opt/orbit/bin/osqueryd/linux/edge/osqueryd")
	if err := os.MkdirAll(filepath.Dir(edge), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(edge, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	state := append(installed(),
		want{path: "/opt/orbit/secret-orbit-node-key.txt", mode: 0o600},
		want{path: "/opt/orbit/bin/osqueryd/linux/edge/osqueryd", mode: 0o755})

	c.Run(t, "dpkg", "-i", "/tmp/orbit_1.1.0.deb")
	if s := dpkgStatus(t, c); s != "install ok installed 1.1.0" {
		t.Fatalf("after upgrade: %q", s)
	}
	check(t, c, "upgrade", state)
	if b, _ := os.ReadFile(nodeKey); string(b) != "node-key-from-enrollment\n" {
		t.Errorf("after upgrade the node key holds %q", b)
	}

	c.Run(t, "dpkg", "-i", "/tmp/orbit_1.1.0.deb")
	if s := dpkgStatus(t, c); s != "install ok installed 1.1.0" {
		t.Fatalf("after reinstall: %q", s)
	}
	check(t, c, "reinstall", state)

	// Removal: the service is disabled, the package's files and what the
	// updater added under bin/ are gone; the settings (a conffile) and the
	// node key stay for a reinstall.
	c.Run(t, "dpkg", "--remove", "orbit")
	if s := dpkgStatus(t, c); s != "deinstall ok config-files 1.1.0" {
		t.Fatalf("after remove: %q", s)
	}
	check(t, c, "remove", []want{
		{path: wantsLink, missing: true},
		{path: "/lib/systemd/system/orbit.service", missing: true},
		{path: "/opt/orbit/bin", missing: true},
		{path: "/etc/default/orbit", mode: 0o600},
		{path: "/opt/orbit/secret-orbit-node-key.txt", mode: 0o600},
	})

	// Installing over the kept settings is dpkg's "configure <old>" path:
	// it must enable the service again.
	c.Run(t, "dpkg", "-i", "/tmp/orbit_1.1.0.deb")
	check(t, c, "install after remove", state[:len(state)-1])

	c.Run(t, "dpkg", "--purge", "orbit")
	if s := dpkgStatus(t, c); strings.Contains(s, "installed") || strings.Contains(s, "config-files") {
		t.Fatalf("after purge: %q", s)
	}
	check(t, c, "purge", []want{
		{path: "/opt/orbit", missing: true},
		{path: "/etc/default/orbit", missing: true},
		{path: wantsLink, missing: true},
		{path: "/lib/systemd/system/orbit.service", missing: true},
	})
}

// With systemd running (the test stands it in: /run/systemd/system exists
// and systemctl records its calls), install starts the service, an
// upgrade restarts it, removal stops and disables it.
func TestChrootScriptsWithRunningSystemd(t *testing.T) {
	t.Parallel()
	c := chroottest.New(t)
	if err := os.MkdirAll(c.Path("/run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	record := "#!/bin/sh\necho \"$*\" >>/tmp/systemctl.log\n"
	if err := os.WriteFile(c.Path("/usr/bin/systemctl"), []byte(record), 0o755); err != nil {
		t.Fatal(err)
	}
	c.Copy(t, fixtureDeb(t, "amd64", "1.0.0"), "/tmp/v1.deb")
	c.Copy(t, fixtureDeb(t, "amd64", "1.1.0"), "/tmp/v2.deb")
	calls := func() string {
		b, _ := os.ReadFile(c.Path("/tmp/systemctl.log"))
		os.Remove(c.Path("/tmp/systemctl.log"))
		return strings.TrimSpace(string(b))
	}
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
