package rpm

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging/internal/chroottest"
	"github.com/orbitagent/orbit/packaging/internal/gpgtest"
	"github.com/orbitagent/orbit/packaging/internal/linuxtest"
)

// inRoot runs the host's rpm on the chroot (--root): it unpacks there and
// runs the scriptlets chrooted into it, with the chroot's /bin/sh and
// systemctl, so nothing lands on the host.
func inRoot(t *testing.T, c *chroottest.Chroot, args ...string) string {
	t.Helper()
	out, err := tryInRoot(t, c, args...)
	if err != nil {
		t.Fatalf("rpm --root %v: %v\n%s", args, err, out)
	}
	return out
}

func tryInRoot(t *testing.T, c *chroottest.Chroot, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testbin.NeedTool(t, "rpm"), append([]string{"--root", c.Dir, "--dbpath", "/var/lib/rpm"}, args...)...)
	cmd.Env = append(os.Environ(), "LANG=C")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const (
	unitPath  = "/usr/lib/systemd/system/orbit.service"
	wantsLink = "/etc/systemd/system/multi-user.target.wants/orbit.service"
)

func installed() []chroottest.Want {
	return []chroottest.Want{
		{Path: "/opt/orbit", Mode: fs.ModeDir | 0o755},
		{Path: "/opt/orbit/tuf", Mode: fs.ModeDir | 0o700},
		{Path: "/opt/orbit/bin/orbit/linux/stable/orbit", Mode: 0o755},
		{Path: "/opt/orbit/bin/orbit/orbit", Mode: fs.ModeSymlink | 0o777, Link: "linux/stable/orbit"},
		{Path: "/opt/orbit/bin/osqueryd/linux/stable/osqueryd", Mode: 0o755},
		{Path: unitPath, Mode: 0o644},
		{Path: "/etc/default/orbit", Mode: 0o600},
		// Enabled offline by %post: systemd is installed but not running.
		{Path: wantsLink, Mode: fs.ModeSymlink | 0o777},
	}
}

// rpm --root: install, verify, upgrade (the old package's %preun/%postun
// run after the new one's %post and must leave the service file), verify,
// reinstall, and erase, which also purges (rpm has no purge): the root,
// the settings and the .rpmsave copy of changed settings are gone.
func TestRootLifecycle(t *testing.T) {
	t.Parallel()
	c := chroottest.New(t)
	v1, v2 := fixtureRPM(t, "amd64", "1.0.0"), fixtureRPM(t, "amd64", "1.1.0")
	inRoot(t, c, "--initdb")
	verify := func(step string) {
		t.Helper()
		if out := inRoot(t, c, "-V", "orbit"); out != "" {
			t.Errorf("rpm -V after %s:\n%s", step, out)
		}
	}
	version := func(step, want string) {
		t.Helper()
		if q := strings.TrimSpace(inRoot(t, c, "-q", "orbit")); q != want {
			t.Errorf("after %s rpm -q says %q, want %q", step, q, want)
		}
	}

	inRoot(t, c, "-i", v1)
	c.Check(t, "install", installed())
	verify("install")
	version("install", "orbit-1.0.0-1.x86_64")

	state := append(installed(), c.PlantRunState(t)...)
	inRoot(t, c, "-U", v2)
	c.Check(t, "upgrade", state)
	c.CheckNodeKey(t, "upgrade")
	verify("upgrade")
	version("upgrade", "orbit-1.1.0-1.x86_64")

	inRoot(t, c, "-U", "--replacepkgs", v2)
	c.Check(t, "reinstall", state)
	verify("reinstall")

	// A changed config file is saved as .rpmsave on erase; it holds the
	// enroll secret, so the purge must take it too.
	if err := os.WriteFile(c.Path("/etc/default/orbit"), []byte("ORBIT_ENROLL_SECRET=\"changed\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := inRoot(t, c, "-e", "orbit"); !strings.Contains(out, "/etc/default/orbit saved as /etc/default/orbit.rpmsave") {
		t.Errorf("rpm -e did not save the changed settings:\n%s", out)
	}
	if q, err := tryInRoot(t, c, "-q", "orbit"); err == nil {
		t.Errorf("after erase rpm -q: %q", q)
	}
	c.Check(t, "erase", []chroottest.Want{
		{Path: "/opt/orbit", Missing: true},
		{Path: "/etc/default/orbit", Missing: true},
		{Path: "/etc/default/orbit.rpmsave", Missing: true},
		{Path: unitPath, Missing: true},
		{Path: wantsLink, Missing: true},
	})
}

// With systemd running, install starts the service, an upgrade restarts
// it once and the old package's scriptlets do not stop or disable it, and
// erase stops and disables it.
func TestRootScriptsWithRunningSystemd(t *testing.T) {
	t.Parallel()
	c := chroottest.New(t)
	calls := c.FakeRunningSystemd(t)
	v1, v2 := fixtureRPM(t, "amd64", "1.0.0"), fixtureRPM(t, "amd64", "1.1.0")
	inRoot(t, c, "--initdb")
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"-i", v1}, "daemon-reload\nenable orbit.service\nstart orbit.service"},
		{[]string{"-U", v2}, "daemon-reload\nenable orbit.service\nrestart orbit.service"},
		{[]string{"-U", "--replacepkgs", v2}, "daemon-reload\nenable orbit.service\nrestart orbit.service"},
		{[]string{"-e", "orbit"}, "stop orbit.service\ndisable orbit.service\ndaemon-reload"},
	} {
		inRoot(t, c, step.args...)
		if got := calls(); got != step.want {
			t.Errorf("rpm %v called systemctl:\n%s\nwant:\n%s", step.args, got, step.want)
		}
	}
}

// rpmlintConfig filters what rpmlint reports about this layout on
// purpose, each with its reason (rpmlint 2 reads TOML).
const rpmlintConfig = `Filters = [
    # The agent's root is /opt/orbit, the layout Fleet's orbit uses: the
    # updater installs and rolls back components there.
    'dir-or-file-in-opt',
    # The bundled binaries are TUF targets: their bytes must match the
    # signed hashes for the updater to adopt them, so the packager cannot
    # strip or relink them; Go builds them static and (by default) not PIE.
    'unstripped-binary-or-object',
    'statically-linked-binary',
    'position-independent-executable-suggested',
    # Trusted TUF metadata: only root may read or change it.
    'non-standard-dir-perm /opt/orbit/tuf 700',
    # The settings hold the enroll secret: readable by root only.
    'non-readable /etc/default/orbit 600',
    # The only thing under /usr/lib is the systemd unit, which must be there.
    'only-non-binary-in-usr-lib',
    # The agent documents itself (orbit --help); the package ships no docs.
    'no-documentation',
    # Apache-2.0 is the SPDX name Fedora and openSUSE use; this rpmlint's
    # list of licenses predates it.
    'invalid-license Apache-2.0',
    # The erase purges /opt/orbit and the settings, only when $1 is 0 (not
    # when the old package leaves an upgrade).
    'dangerous-command-in-%postun rm',
]
`

// rpmlint, run inside the chroot (on the host it would unpack the
// package's absolute paths onto /), reports no error and no warning about
// a signed package (its key imported) once the filters above apply, and
// each filter is used.
func TestRPMLint(t *testing.T) {
	t.Parallel()
	c := chroottest.New(t)
	key := gpgtest.New(t, "")
	f, err := New(Config{SignKeyFile: key.Secret, PassphraseEnv: "ORBIT_TEST_UNSET_PASSPHRASE"})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "orbit-1.2.3-1.x86_64.rpm")
	if err := os.WriteFile(name, linuxtest.Build(t, f, linuxtest.Package(t, "rpm", "amd64", "1.2.3")), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Copy(t, name, "/tmp/orbit-1.2.3-1.x86_64.rpm")
	// rpmlint checks the signature against the rpmdb it runs with.
	c.Copy(t, key.Public, "/tmp/orbit-signing.asc")
	c.Run(t, "rpm", "--import", "/tmp/orbit-signing.asc")
	if err := os.WriteFile(c.Path("/tmp/orbit-rpmlint.toml"), []byte(rpmlintConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := c.Try("rpmlint", "-c", "/tmp/orbit-rpmlint.toml", "/tmp/orbit-1.2.3-1.x86_64.rpm")
	if err != nil {
		t.Fatalf("rpmlint: %v\n%s", err, out)
	}
	if !strings.Contains(out, " 0 errors, 0 warnings") {
		t.Errorf("rpmlint reports errors or warnings:\n%s", out)
	}
	if strings.Contains(out, "unused-rpmlintrc-filter") {
		t.Errorf("a filter is not used:\n%s", out)
	}
}
