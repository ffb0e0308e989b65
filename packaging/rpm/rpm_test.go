package rpm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/internal/gpgtest"
	"github.com/orbitagent/orbit/packaging/internal/linuxtest"
)

// plain is the unsigned rpm format.
func plain(t testing.TB) *Format {
	t.Helper()
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fixtureRPM is the unchanged fixture rpm, built once; do not change it.
func fixtureRPM(t testing.TB, arch, version string) string {
	t.Helper()
	return linuxtest.Fixture(t, plain(t), arch, version)
}

// rpmQuery runs rpm with a fixed database path and UTC times. The host's
// rpm only reads the package here; nothing is installed on the host.
func rpmQuery(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(testbin.NeedTool(t, "rpm"), args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LANG=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rpm %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// rpm -qip, -qlp and --scripts show the header, the files with their
// modes, owners and links, the %config(noreplace) settings file, and the
// scriptlets decoding rpm's instance counts.
func TestRPMQuery(t *testing.T) {
	t.Parallel()
	pkg := fixtureRPM(t, "amd64", "1.2.3")

	info := rpmQuery(t, "-qip", pkg)
	for _, want := range []string{
		"Name        : orbit", "Version     : 1.2.3", "Release     : 1", "Architecture: x86_64",
		"License     : Apache-2.0", "Vendor      : Example Corp", "URL         : https://github.com/orbitagent/orbit",
		"Build Date  : Mon May  6 07:08:09 2024", "Build Host  : localhost",
		"Summary     : Osquery runtime and autoupdater for Fleet", "Packager    : Orbit Maintainers <orbit@example.com>",
	} {
		if !strings.Contains(info, want+"\n") {
			t.Errorf("rpm -qip lacks %q:\n%s", want, info)
		}
	}

	// mode owner group flags path -> target
	list := rpmQuery(t, "-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES} %{FILELINKTOS}\n]", pkg)
	want := map[string]string{
		"/etc/default/orbit":                               "-rw------- root root cn",
		"/usr/lib/systemd/system/orbit.service":            "-rw-r--r-- root root ",
		"/opt/orbit":                                       "drwxr-xr-x root root ",
		"/opt/orbit/tuf":                                   "drwx------ root root ",
		"/opt/orbit/tuf/root.json":                         "-rw-r--r-- root root ",
		"/opt/orbit/bin/orbit/linux/stable/orbit":          "-rwxr-xr-x root root ",
		"/opt/orbit/bin/osqueryd/linux/stable/osqueryd":    "-rwxr-xr-x root root ",
		"/opt/orbit/bin/orbit/orbit -> linux/stable/orbit": "l--------- root root ",
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			t.Fatalf("rpm file line %q", l)
		}
		flags := ""
		rest := f[3:]
		if !strings.HasPrefix(rest[0], "/") {
			flags, rest = rest[0], rest[1:]
		}
		key := rest[0]
		if len(rest) > 1 {
			key += " -> " + rest[1]
		}
		got[key] = strings.Join(f[:3], " ") + " " + flags
	}
	for path, w := range want {
		if got[path] != w {
			t.Errorf("%s: %q, want %q", path, got[path], w)
		}
	}
	if c := strings.TrimSpace(rpmQuery(t, "-qpc", pkg)); c != "/etc/default/orbit" {
		t.Errorf("config files %q, want /etc/default/orbit", c)
	}

	scripts := rpmQuery(t, "-qp", "--scripts", pkg)
	for _, want := range []string{
		"postinstall scriptlet (using /bin/sh):", "preuninstall scriptlet (using /bin/sh):", "postuninstall scriptlet (using /bin/sh):",
		`if [ "$1" -ge 2 ] 2>/dev/null; then` + "\n\tafter_install upgrade",
		`if [ "$1" = 0 ]; then` + "\n\tbefore_remove",
		`if [ "$1" = 0 ]; then` + "\n\tafter_remove\n\tafter_purge",
		"systemctl enable \"$unit\"", "rm -rf /opt/orbit\n",
	} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm --scripts lacks %q:\n%s", want, scripts)
		}
	}
	if strings.Contains(scripts, "preinstall scriptlet") {
		t.Errorf("no BeforeInstall hook, yet there is a %%pre:\n%s", scripts)
	}
	if strings.Contains(scripts, linuxtest.Secret) || strings.Contains(list, linuxtest.Secret) {
		t.Error("the enroll secret shows in the header")
	}
}

// The same Package gives the same bytes, signed or not; another ModTime
// gives other bytes.
func TestReproducible(t *testing.T) {
	t.Parallel()
	linuxtest.CheckReproducible(t, New)
}

func TestArm64(t *testing.T) {
	t.Parallel()
	pkg := fixtureRPM(t, "arm64", "1.2.3")
	if arch := strings.TrimSpace(rpmQuery(t, "-qp", "--qf", "%{ARCH}", pkg)); arch != "aarch64" {
		t.Errorf("arch %q, want aarch64", arch)
	}
	if !strings.Contains(rpmQuery(t, "-qlp", pkg), "/opt/orbit/bin/orbit/linux-arm64/stable/orbit\n") {
		t.Error("no orbit on the linux-arm64 platform")
	}
}

// Bad input gets one line of error and no bytes.
func TestBadInput(t *testing.T) {
	t.Parallel()
	bad := linuxtest.Bad
	linuxtest.CheckBadInput(t, plain(t), append(linuxtest.CommonBadInput(t),
		bad("version with a dash", func(p *packaging.Package) { p.Version = "1.2-3" }, "version"),
		bad("newline in the vendor", func(p *packaging.Package) { p.Vendor = "a\nb" }, "control character"),
		bad("ModTime past 2106", func(p *packaging.Package) { p.ModTime = time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC) }, "ModTime"),
	))
}

// rpm --checksig passes for a signed package once its key is in that
// root's rpmdb, and fails for a changed package and for an unknown key.
func TestCheckSig(t *testing.T) {
	// Not parallel: the passphrase is set in the environment.
	key := gpgtest.New(t, "rpm signing passphrase")
	const env = "ORBIT_TEST_RPM_PASSPHRASE"
	t.Setenv(env, "rpm signing passphrase")
	f, err := New(Config{SignKeyFile: key.Secret, PassphraseEnv: env})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pkg := filepath.Join(dir, "orbit.rpm")
	data := linuxtest.Build(t, f, linuxtest.Package(t, "rpm", "amd64", "1.2.3"))
	if err := os.WriteFile(pkg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	db := []string{"--root", root, "--dbpath", "/var/lib/rpm"}
	rpmQuery(t, append(db, "--initdb")...)

	// Before the key is imported, the signature cannot be checked.
	cmd := exec.Command("rpm", append(db, "--checksig", pkg)...)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("rpm --checksig passed without the key:\n%s", out)
	}
	rpmQuery(t, append(db, "--import", key.Public)...)
	out := rpmQuery(t, append(db, "--checksig", "-v", pkg)...)
	if !strings.Contains(out, "Header V4 RSA/SHA256 Signature, key ID "+strings.ToLower(key.KeyID[8:])+": OK") {
		t.Errorf("rpm --checksig -v shows no good header signature by the key:\n%s", out)
	}
	if !strings.Contains(rpmQuery(t, append(db, "--checksig", pkg)...), "digests signatures OK") {
		t.Errorf("rpm --checksig does not say digests signatures OK")
	}
	if got := rpmQuery(t, "-qp", "--qf", "%{SIGPGP:pgpsig}", pkg); !strings.Contains(got, "RSA/SHA256") {
		t.Errorf("signature header: %q", got)
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)*2/3] ^= 0xff
	if err := os.WriteFile(pkg, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("rpm", append(db, "--checksig", pkg)...).CombinedOutput(); err == nil {
		t.Fatalf("rpm --checksig passed a changed package:\n%s", out)
	}
}

// BenchmarkRPMBuild builds the fixture rpm in memory.
func BenchmarkRPMBuild(b *testing.B) { linuxtest.BenchmarkBuild(b, plain(b)) }
