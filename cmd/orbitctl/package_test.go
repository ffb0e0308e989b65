package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
)

// hello is a small real program for goos/goarch; orbitctl package checks
// its format, never runs it.
func hello(t testing.TB, goos, arch string) string {
	t.Helper()
	return testbin.BuildFor(t, "./packaging/testdata/winhello", "hello-"+goos+"-"+arch, goos, arch)
}

func appArchive(t *testing.T, dir, exe string) string {
	t.Helper()
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "osqueryd.app.tar.gz")
	if err := os.WriteFile(p, testbin.TarGz(t, map[string][]byte{"osquery.app/Contents/MacOS/osqueryd": data}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	pkgRepoOnce sync.Once
	pkgRepoDir  string
)

// packageRepo is a repository made with orbitctl updates, holding orbit and
// osqueryd for linux, macos and windows on the stable channel. Built once;
// do not change it.
func packageRepo(t *testing.T) string {
	t.Helper()
	pkgRepoOnce.Do(func() {
		e := env("ORBIT_", nil)
		dir := filepath.Join(filepath.Dir(orbitctl(t)), "package-repo")
		mustRun(t, e, "updates", "init", "--path", dir)
		work := t.TempDir()
		for _, a := range []struct{ target, name, platform, version, file string }{
			{hello(t, "linux", "amd64"), "orbit", "linux", "1.4.0", "orbit"},
			{hello(t, "linux", "amd64"), "osqueryd", "linux", "5.12.1", "osqueryd"},
			{hello(t, "darwin", "arm64"), "orbit", "macos", "1.4.0", "orbit"},
			{appArchive(t, work, hello(t, "darwin", "arm64")), "osqueryd", "macos-app", "5.12.1", "osqueryd.app.tar.gz"},
			{hello(t, "windows", "amd64"), "orbit", "windows", "1.4.0", "orbit.exe"},
			{hello(t, "windows", "amd64"), "osqueryd", "windows", "5.12.1", "osqueryd.exe"},
		} {
			mustRun(t, e, "updates", "add", "--path", dir, "--target", a.target, "--name", a.name, "--platform", a.platform,
				"--version", a.version, "-t", "stable", "--file-name", a.file)
		}
		pkgRepoDir = dir
	})
	if pkgRepoDir == "" {
		t.Fatal("the package test repository could not be made")
	}
	return pkgRepoDir
}

const pkgSecret = "cli-enroll-secret-41d0"

// packageArgs are a Fleet package's flags, from the test repository.
func packageArgs(t *testing.T, typ, out string) []string {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(pkgSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	arch := "amd64"
	if typ == "pkg" {
		arch = "arm64"
	}
	return []string{"package", "--type", typ, "--arch", arch, "--local-repo", packageRepo(t),
		"--fleet-url", "https://fleet.example.com", "--enroll-secret-path", secretFile,
		"--update-url", "https://updates.example.com", "--output", out}
}

func withEpoch(e []string, epoch string) []string {
	return append(slices.Clone(e), "SOURCE_DATE_EPOCH="+epoch)
}

// The same inputs and SOURCE_DATE_EPOCH give byte-identical packages of
// every format; another SOURCE_DATE_EPOCH gives other bytes.
func TestCLIPackageReproducible(t *testing.T) {
	t.Parallel()
	e := env("ORBIT_", nil)
	for _, typ := range []string{"deb", "rpm", "pkg", "msi"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var builds [][]byte
			for i, epoch := range []string{"1715000000", "1715000000", "1715003600"} {
				out := filepath.Join(dir, strings.Repeat("x", i+1)+"."+typ)
				r := mustRun(t, withEpoch(e, epoch), packageArgs(t, typ, out)...)
				if strings.TrimSpace(r.stdout) != out {
					t.Errorf("stdout %q, want the package's path", r.stdout)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				builds = append(builds, b)
			}
			if !bytes.Equal(builds[0], builds[1]) {
				t.Errorf("two %s builds with the same SOURCE_DATE_EPOCH differ", typ)
			}
			if bytes.Equal(builds[0], builds[2]) {
				t.Errorf("a %s built at another SOURCE_DATE_EPOCH is the same", typ)
			}
		})
	}
}

// Bad input through the CLI: exit 1, the error on one line (after any
// progress lines), and no file at --output.
func TestCLIPackageBadInput(t *testing.T) {
	t.Parallel()
	e := env("ORBIT_", nil)
	for _, tt := range []struct {
		name string
		typ  string
		edit func(args []string, dir string) []string
		env  []string
		want string
	}{
		{"no type", "deb", func(a []string, _ string) []string { return slices.Delete(a, 1, 3) }, nil, "--type is required"},
		{"unknown type", "deb", func(a []string, _ string) []string { a[2] = "apk"; return a }, nil, `unknown package type "apk"`},
		{"unknown arch", "deb", func(a []string, _ string) []string { a[4] = "386"; return a }, nil, `unknown arch "386"`},
		{"windows binary in a deb", "deb", func(a []string, _ string) []string {
			return append(a, "--orbit-path", hello(t, "windows", "amd64"))
		}, nil, "is a Windows PE, not a Linux ELF executable"},
		{"linux binary in an msi", "msi", func(a []string, _ string) []string {
			return append(a, "--osqueryd-path", hello(t, "linux", "amd64"))
		}, nil, "is a Linux ELF, not a Windows PE executable"},
		{"fleet url without a secret", "rpm", func(a []string, _ string) []string {
			i := slices.Index(a, "--enroll-secret-path")
			return slices.Delete(a, i, i+2)
		}, nil, "--fleet-url needs an enroll secret"},
		{"unreadable certificate", "deb", func(a []string, dir string) []string {
			return append(a, "--fleet-certificate", filepath.Join(dir, "missing.pem"))
		}, nil, "--fleet-certificate: "},
		{"repository without the platform's targets", "deb", func(a []string, _ string) []string { a[4] = "arm64"; return a }, nil,
			"has no target orbit/linux-arm64/stable/orbit"},
		{"output directory missing", "msi", func(a []string, dir string) []string {
			a[len(a)-1] = filepath.Join(dir, "none", "orbit.msi")
			return a
		}, nil, "does not exist: create it first"},
		{"bad SOURCE_DATE_EPOCH", "pkg", func(a []string, _ string) []string { return a }, []string{"SOURCE_DATE_EPOCH=yesterday"}, "SOURCE_DATE_EPOCH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "orbit."+tt.typ)
			args := tt.edit(packageArgs(t, tt.typ, out), dir)
			r := run(t, append(slices.Clone(e), tt.env...), args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "orbitctl: ") || !strings.Contains(last, tt.want) {
				t.Errorf("last stderr line %q, want the error about %q\nstderr: %s", last, tt.want, r.stderr)
			}
			for _, l := range lines[:len(lines)-1] {
				if !strings.HasPrefix(l, "fetching ") {
					t.Errorf("stderr line %q before the error", l)
				}
			}
			if strings.Contains(r.stdout+r.stderr, pkgSecret) {
				t.Error("orbitctl printed the enroll secret")
			}
			// The package, or a temporary file beside it (.orbit.deb.tmp-*).
			if left, _ := filepath.Glob(filepath.Join(dir, "*orbit*")); len(left) > 0 {
				t.Errorf("a refused build left %v", left)
			}
		})
	}
}

// An enroll secret on argv is warned about; from ORBIT_ENROLL_SECRET it is
// not. Either way it is never printed.
func TestCLIPackageSecretOnArgv(t *testing.T) {
	t.Parallel()
	e := env("ORBIT_", nil)
	dir := t.TempDir()
	base := packageArgs(t, "pkg", filepath.Join(dir, "a.pkg"))
	i := slices.Index(base, "--enroll-secret-path")
	base = slices.Delete(base, i, i+2)
	r := mustRun(t, e, append(slices.Clone(base), "--enroll-secret", pkgSecret)...)
	if !strings.Contains(r.stderr, "warning: the enroll secret was given on the command line") {
		t.Errorf("no warning for a secret on argv:\n%s", r.stderr)
	}
	base[len(base)-1] = filepath.Join(dir, "b.pkg")
	r = mustRun(t, append(slices.Clone(e), "ORBIT_ENROLL_SECRET="+pkgSecret), base...)
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("a warning for a secret from the environment:\n%s", r.stderr)
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, pkgSecret) {
			t.Error("orbitctl printed the enroll secret")
		}
	}
	for _, p := range []string{"a.pkg", "b.pkg"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
}
