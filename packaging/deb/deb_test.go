package deb

import (
	"io/fs"
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

// plain is the unsigned deb format.
func plain(t testing.TB) *Format {
	t.Helper()
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fixtureDeb is the unchanged fixture deb, built once; do not change it.
func fixtureDeb(t testing.TB, arch, version string) string {
	t.Helper()
	return linuxtest.Fixture(t, plain(t), arch, version)
}

// dpkg-deb reads the control fields, the conffiles and the maintainer
// scripts asked for, and lists every file with its mode, owner and link.
func TestDpkgDebShowsPackage(t *testing.T) {
	t.Parallel()
	deb := fixtureDeb(t, "amd64", "1.2.3")

	fields := map[string]string{
		"Package": "orbit", "Version": "1.2.3", "Architecture": "amd64", "Section": "admin",
		"Priority": "optional", "Maintainer": "Orbit Maintainers <orbit@example.com>",
		"Homepage": "https://github.com/orbitagent/orbit",
	}
	for k, want := range fields {
		if got := strings.TrimSpace(string(testbin.RunTool(t, "", "dpkg-deb", "--field", deb, k))); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	info := string(testbin.RunTool(t, "", "dpkg-deb", "--info", deb))
	for _, script := range []string{"postinst", "prerm", "postrm", "conffiles"} {
		if !strings.Contains(info, " "+script+" ") {
			t.Errorf("dpkg-deb --info lists no %s:\n%s", script, info)
		}
	}
	if strings.Contains(info, " preinst ") {
		t.Errorf("no BeforeInstall hook, yet there is a preinst:\n%s", info)
	}
	ctl := t.TempDir()
	testbin.RunTool(t, "", "dpkg-deb", "--control", deb, ctl)
	conffiles, err := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if err != nil || string(conffiles) != "/etc/default/orbit\n" {
		t.Errorf("conffiles = %q (%v), want /etc/default/orbit", conffiles, err)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		fi, err := os.Stat(filepath.Join(ctl, s))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, mode %v; want 0755", s, err, fi.Mode())
		}
		testbin.RunTool(t, "", "sh", "-n", filepath.Join(ctl, s))
	}

	type entry struct{ mode, owner, link string }
	want := map[string]entry{
		"./etc/default/orbit":                            {"-rw-------", "root/root", ""},
		"./lib/systemd/system/orbit.service":             {"-rw-r--r--", "root/root", ""},
		"./opt/orbit/":                                   {"drwxr-xr-x", "root/root", ""},
		"./opt/orbit/tuf/":                               {"drwx------", "root/root", ""},
		"./opt/orbit/tuf/root.json":                      {"-rw-r--r--", "root/root", ""},
		"./opt/orbit/bin/orbit/linux/stable/orbit":       {"-rwxr-xr-x", "root/root", ""},
		"./opt/orbit/bin/orbit/orbit":                    {"lrwxrwxrwx", "root/root", "linux/stable/orbit"},
		"./opt/orbit/bin/osqueryd/linux/stable/osqueryd": {"-rwxr-xr-x", "root/root", ""},
		"./usr/share/doc/orbit/copyright":                {"-rw-r--r--", "root/root", ""},
		"./usr/share/doc/orbit/changelog.gz":             {"-rw-r--r--", "root/root", ""},
		"./usr/share/lintian/overrides/orbit":            {"-rw-r--r--", "root/root", ""},
	}
	got := map[string]entry{}
	list := exec.Command(testbin.NeedTool(t, "dpkg-deb"), "--contents", deb)
	list.Env = append(os.Environ(), "TZ=UTC")
	contents, err := list.Output()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(contents)), "\n") {
		// drwxr-xr-x root/root 0 2024-05-06 07:08 ./opt/ [-> target]
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents line %q", l)
		}
		e := entry{mode: f[0], owner: f[1]}
		if len(f) == 8 && f[6] == "->" {
			e.link = f[7]
		}
		if f[3] != "2024-05-06" || f[4] != "07:08" {
			t.Errorf("%s is dated %s %s, want the ModTime 2024-05-06 07:08", f[5], f[3], f[4])
		}
		got[f[5]] = e
	}
	for p, w := range want {
		if g, ok := got[p]; !ok || g != w {
			t.Errorf("%s: %+v (listed %v), want %+v", p, g, ok, w)
		}
	}
}

// The unit the package ships is the one `orbit service install` writes,
// running the stable path and reading the root-only settings file, which
// holds the enroll secret; the unit itself never does.
func TestUnitAndSettings(t *testing.T) {
	t.Parallel()
	p := linuxtest.Package(t, "deb", "amd64", "1.2.3")
	files := map[string]packaging.File{}
	for _, f := range p.Files {
		files[f.Path] = f
	}
	unit := string(files["/lib/systemd/system/orbit.service"].Data)
	for _, want := range []string{"ExecStart=/opt/orbit/bin/orbit/orbit\n", "EnvironmentFile=-/etc/default/orbit\n", "TimeoutStopSec=30\n", "Restart=always\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, linuxtest.Secret) {
		t.Fatalf("the enroll secret is in the world-readable unit")
	}
	env := files["/etc/default/orbit"]
	if env.Mode != 0o600 || !env.Config {
		t.Errorf("settings file mode %v config %v, want 0600 and a conffile", env.Mode, env.Config)
	}
	// sh reads the settings file as systemd does.
	envFile := filepath.Join(t.TempDir(), "orbit")
	if err := os.WriteFile(envFile, env.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := string(testbin.RunTool(t, "", "sh", "-c", `. "$0" && printf '%s|%s|%s' "$ORBIT_ENROLL_SECRET" "$ORBIT_STOP_GRACE" "$ORBIT_ROOT_DIR"`, envFile))
	if out != linuxtest.Secret+"|10s|/opt/orbit" {
		t.Errorf("sh read the settings as %q", out)
	}
}

// lintian accepts the package: no error and no warning, the overrides the
// package ships are each used (an unused one would hide nothing and rot),
// and each carries its reason.
func TestLintian(t *testing.T) {
	t.Parallel()
	deb := fixtureDeb(t, "amd64", "1.2.3")
	// (Without the overrides, dir-or-file-in-opt alone is an error.)
	cmd := exec.Command(testbin.NeedTool(t, "lintian"), "--fail-on", "error,warning", "--display-info", deb)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lintian: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") || strings.Contains(l, "unused-override") || strings.Contains(l, "mismatched-override") {
			t.Errorf("lintian: %s", l)
		}
	}
	var overrides string
	for _, f := range linuxtest.Package(t, "deb", "amd64", "1.2.3").Files {
		if f.Path == "/usr/share/lintian/overrides/orbit" {
			overrides = string(f.Data)
		}
	}
	// Each override follows a comment (one comment may cover a group).
	commented := false
	for _, l := range strings.Split(strings.TrimSpace(overrides), "\n") {
		switch {
		case strings.HasPrefix(l, "#"):
			commented = true
		case strings.HasPrefix(l, "orbit: ") && commented:
		default:
			t.Errorf("override line %q has no comment giving its reason", l)
		}
	}
}

// The same Package gives the same bytes, signed or not; another ModTime
// gives other bytes.
func TestReproducible(t *testing.T) {
	t.Parallel()
	linuxtest.CheckReproducible(t, New)
}

// arm64 maps to Debian's arm64, and its binaries must be arm64 ELF.
func TestArm64(t *testing.T) {
	t.Parallel()
	deb := fixtureDeb(t, "arm64", "1.2.3")
	if got := strings.TrimSpace(string(testbin.RunTool(t, "", "dpkg-deb", "--field", deb, "Architecture"))); got != "arm64" {
		t.Errorf("Architecture %q, want arm64", got)
	}
	contents := string(testbin.RunTool(t, "", "dpkg-deb", "--contents", deb))
	if !strings.Contains(contents, "./opt/orbit/bin/orbit/linux-arm64/stable/orbit") {
		t.Errorf("no orbit on the linux-arm64 platform:\n%s", contents)
	}
}

// Bad input gets one line of error and no bytes.
func TestBadInput(t *testing.T) {
	t.Parallel()
	root, bad, set := "/opt/orbit/tuf/root.json", linuxtest.Bad, linuxtest.SetFile
	linuxtest.CheckBadInput(t, plain(t), append(linuxtest.CommonBadInput(t),
		bad("conffile outside /etc", set(root, func(f *packaging.File) { f.Config = true }), "outside /etc"),
		bad("relative path", set(root, func(f *packaging.File) { f.Path = "opt/orbit/x" }), "relative"),
		bad("glob in a path", set(root, func(f *packaging.File) { f.Path = "/opt/orbit/*" }), "glob"),
		bad("unclean path", set(root, func(f *packaging.File) { f.Path = "/opt/orbit/../etc/x" }), "not clean"),
		bad("duplicate", func(p *packaging.Package) { p.Files = append(p.Files, p.Files[0]) }, "listed twice"),
		bad("file under a file", func(p *packaging.Package) {
			p.Files = append(p.Files, packaging.File{Path: "/etc/default/orbit/x", Mode: 0o644})
		}, "not a directory"),
		bad("device", set(root, func(f *packaging.File) { f.Mode = fs.ModeDevice | 0o600 }), "only regular files"),
		bad("no permissions", set(root, func(f *packaging.File) { f.Mode = 0 }), "no permission bits"),
		bad("bad owner", set(root, func(f *packaging.File) { f.Owner = "root; rm -rf /" }), "owner or group"),
		bad("version with a dash", func(p *packaging.Package) { p.Version = "1.2.3-1" }, "version"),
		bad("version not starting with a digit", func(p *packaging.Package) { p.Version = "v1.2.3" }, "version"),
		bad("bad name", func(p *packaging.Package) { p.Name = "Orbit" }, "package name"),
		bad("no maintainer", func(p *packaging.Package) { p.Maintainer = "" }, "maintainer"),
		bad("no description", func(p *packaging.Package) { p.Description = " " }, "description"),
		bad("no ModTime", func(p *packaging.Package) { p.ModTime = time.Time{} }, "ModTime"),
		bad("complete script as a hook", func(p *packaging.Package) { p.Scripts.AfterInstall = "#!/bin/sh\ntrue\n" }, "no #! line"),
	))
}

// A signed deb carries _gpgorigin, which debsig-verify accepts under a
// policy naming the key, and refuses once the package is changed.
func TestSignatureVerifies(t *testing.T) {
	// Not parallel: the passphrase is set in the environment.
	verify := testbin.NeedTool(t, "debsig-verify")
	key := gpgtest.New(t, "deb signing passphrase")
	const env = "ORBIT_TEST_DEB_PASSPHRASE"
	if _, err := New(Config{SignKeyFile: key.Secret, PassphraseEnv: env}); err == nil || !strings.Contains(err.Error(), env) {
		t.Fatalf("New with the passphrase unset: %v, want an error naming %s", err, env)
	}
	t.Setenv(env, "deb signing passphrase")
	f, err := New(Config{SignKeyFile: key.Secret, PassphraseEnv: env})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	deb := filepath.Join(dir, "orbit.deb")
	data := linuxtest.Build(t, f, linuxtest.Package(t, "deb", "amd64", "1.2.3"))
	if err := os.WriteFile(deb, data, 0o644); err != nil {
		t.Fatal(err)
	}
	members := strings.Fields(string(testbin.RunTool(t, dir, "ar", "t", deb)))
	if strings.Join(members, " ") != "debian-binary control.tar.gz data.tar.gz _gpgorigin" {
		t.Fatalf("ar members %v", members)
	}

	policies, keyrings := filepath.Join(dir, "policies", key.KeyID), filepath.Join(dir, "keyrings", key.KeyID)
	for _, d := range []string{policies, keyrings} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := os.ReadFile(key.PublicBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keyrings, "pubring.gpg"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	policy := `<?xml version="1.0"?>
<!DOCTYPE Policy SYSTEM "https://www.debian.org/debsig/1.0/policy.dtd">
<Policy xmlns="https://www.debian.org/debsig/1.0/">
  <Origin Name="orbit" id="` + key.KeyID + `" Description="orbit packages"/>
  <Selection><Required Type="origin" File="pubring.gpg" id="` + key.KeyID + `"/></Selection>
  <Verification MinOptional="0"><Required Type="origin" File="pubring.gpg" id="` + key.KeyID + `"/></Verification>
</Policy>
`
	if err := os.WriteFile(filepath.Join(policies, "orbit.pol"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--policies-dir", filepath.Join(dir, "policies"), "--keyrings-dir", filepath.Join(dir, "keyrings"), deb}
	if out, err := exec.Command(verify, args...).CombinedOutput(); err != nil {
		t.Fatalf("debsig-verify: %v\n%s", err, out)
	}
	// Flip one byte inside data.tar.gz (the last third of the file is data).
	bad := append([]byte(nil), data...)
	bad[len(bad)*2/3] ^= 0xff
	if err := os.WriteFile(deb, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(verify, args...).CombinedOutput(); err == nil {
		t.Fatalf("debsig-verify accepted a changed package:\n%s", out)
	}
}

// BenchmarkDebBuild builds the fixture deb in memory; BenchmarkDpkgDebBuild
// gives the same tree to dpkg-deb --build, in the same run, for the ratio.
func BenchmarkDebBuild(b *testing.B) { linuxtest.BenchmarkBuild(b, plain(b)) }

func BenchmarkDpkgDebBuild(b *testing.B) {
	deb := fixtureDeb(b, "amd64", "1.2.3")
	tree := filepath.Join(b.TempDir(), "tree")
	testbin.RunTool(b, "", "dpkg-deb", "--raw-extract", deb, tree)
	out := filepath.Join(b.TempDir(), "out.deb")
	var size int64
	for b.Loop() {
		// gzip, as our debs are, and the build's ModTime as nfpm stamps it.
		cmd := exec.Command(testbin.NeedTool(b, "dpkg-deb"), "--root-owner-group", "-Zgzip", "--build", tree, out)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1714979289")
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("dpkg-deb --build: %v\n%s", err, o)
		}
		fi, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		size = fi.Size()
	}
	b.ReportMetric(float64(size), "bytes/pkg")
}
