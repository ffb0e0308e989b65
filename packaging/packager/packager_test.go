package packager

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/updater"
	"github.com/orbitagent/orbit/updater/repo"
)

// signedHashes are the repository's signed hashes of each target.
func signedHashes(t *testing.T) map[string]map[string]string {
	t.Helper()
	var md struct {
		Signed struct {
			Targets map[string]struct {
				Hashes map[string]string `json:"hashes"`
			} `json:"targets"`
		} `json:"signed"`
	}
	b, err := os.ReadFile(filepath.Join(repo.RepositoryPath(testRepo(t)), "targets.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for name, tf := range md.Signed.Targets {
		out[name] = tf.Hashes
	}
	return out
}

func byPath(files []packaging.File) map[string]packaging.File {
	m := map[string]packaging.File{}
	for _, f := range files {
		m[f.Path] = f
	}
	return m
}

// Every OS gets the same agent: the updater's layout under the root with
// the repository's targets (and a manifest of their signed hashes), the
// trusted root, the settings, and the secret only where no local user can
// read it: never in a world-readable file, a service definition or a
// command line.
func TestLayoutPerOS(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		typ, arch string
		files     map[string]fs.FileMode
		manifest  string
		targets   []string
	}{
		{"deb", "amd64", map[string]fs.FileMode{
			"/opt/orbit/bin/orbit/linux/stable/orbit":            0o755,
			"/opt/orbit/bin/orbit/orbit":                         fs.ModeSymlink | 0o777,
			"/opt/orbit/bin/osqueryd/linux/stable/osqueryd":      0o755,
			"/opt/orbit/bin/desktop/linux/stable/desktop.tar.gz": 0o644,
			"/opt/orbit/tuf/root.json":                           0o644,
			"/opt/orbit/fleet.pem":                               0o644,
			"/etc/default/orbit":                                 0o600,
			"/lib/systemd/system/orbit.service":                  0o644,
		}, "/opt/orbit/bin/bundle.json", []string{"orbit/linux/stable/orbit", "osqueryd/linux/stable/osqueryd", "desktop/linux/stable/desktop.tar.gz"}},
		{"rpm", "amd64", map[string]fs.FileMode{
			"/usr/lib/systemd/system/orbit.service": 0o644, "/etc/default/orbit": 0o600,
		}, "/opt/orbit/bin/bundle.json", []string{"orbit/linux/stable/orbit", "osqueryd/linux/stable/osqueryd", "desktop/linux/stable/desktop.tar.gz"}},
		{"pkg", "arm64", map[string]fs.FileMode{
			"/opt/orbit/bin/orbit/macos/stable/orbit":                      0o755,
			"/opt/orbit/bin/orbit/orbit":                                   fs.ModeSymlink | 0o777,
			"/opt/orbit/bin/osqueryd/macos-app/stable/osqueryd.app.tar.gz": 0o644,
			"/opt/orbit/secret.txt":                                        0o600,
			"/opt/orbit/fleet.pem":                                         0o644,
			"/Library/LaunchDaemons/com.example.orbit.plist":               0o644,
		}, "/opt/orbit/bin/bundle.json", []string{"orbit/macos/stable/orbit", "osqueryd/macos-app/stable/osqueryd.app.tar.gz"}},
		{"msi", "amd64", map[string]fs.FileMode{
			"bin/orbit/windows/stable/orbit.exe":       0o755,
			"bin/orbit/orbit.exe":                      0o755,
			"bin/osqueryd/windows/stable/osqueryd.exe": 0o755,
			"secret.txt": 0o600,
			"tuf":        fs.ModeDir | 0o700,
		}, "bin/bundle.json", []string{"orbit/windows/stable/orbit.exe", "osqueryd/windows/stable/osqueryd.exe"}},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			o := fleetOptions(t, tt.typ, tt.arch, dir)
			cert := filepath.Join(dir, "fleet.pem")
			if err := os.WriteFile(cert, testCertPEM(t), 0o644); err != nil {
				t.Fatal(err)
			}
			o.FleetCertificate = cert
			o.FleetDesktop = tt.typ == "deb" || tt.typ == "rpm"
			_, p, err := prepare(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != "1.2.3" || p.Identifier != "com.example.orbit" || !p.ModTime.Equal(stamp) {
				t.Errorf("package %s %s %v, want the bundled orbit's version, the identifier, SOURCE_DATE_EPOCH", p.Version, p.Identifier, p.ModTime)
			}
			got := byPath(p.Files)
			for path, mode := range tt.files {
				if f, ok := got[path]; !ok || f.Mode != mode {
					t.Errorf("%s: mode %v (present %v), want %v", path, f.Mode, ok, mode)
				}
			}
			for _, f := range p.Files {
				if f.Mode.Perm()&0o044 != 0 && bytes.Contains(f.Data, []byte(secret)) {
					t.Errorf("%s (%v) is readable by others and holds the secret", f.Path, f.Mode)
				}
			}
			for _, a := range p.Service.Args {
				if strings.Contains(a, secret) {
					t.Errorf("the secret is on the service's command line: %q", a)
				}
			}
			var m updater.Bundle
			if err := json.Unmarshal(got[tt.manifest].Data, &m); err != nil {
				t.Fatalf("bundle manifest: %v", err)
			}
			signed := signedHashes(t)
			var names []string
			for _, bt := range m.Targets {
				names = append(names, bt.Name)
				if !mapsEqual(bt.Hashes, signed[bt.Name]) {
					t.Errorf("manifest hashes of %s %v, the repository signed %v", bt.Name, bt.Hashes, signed[bt.Name])
				}
			}
			slices.Sort(names)
			want := slices.Clone(tt.targets)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("manifest lists %v, want %v", names, want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Each package is accepted by its platform's own tools (the formats' own
// tests check them in depth).
func TestFormatsAccepted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		typ, arch string
		check     func(t *testing.T, file string)
	}{
		{"deb", "amd64", func(t *testing.T, file string) {
			out := string(testbin.RunTool(t, "", "dpkg-deb", "--contents", file))
			for _, w := range []string{"./opt/orbit/bin/bundle.json", "-rw------- root/root", "./etc/default/orbit"} {
				if !strings.Contains(out, w) {
					t.Errorf("dpkg-deb --contents lacks %q:\n%s", w, out)
				}
			}
			// The product, not only the format's fixture, passes lintian.
			lint, err := exec.Command(testbin.NeedTool(t, "lintian"), "--fail-on", "error,warning", file).CombinedOutput()
			if err != nil {
				t.Errorf("lintian: %v\n%s", err, lint)
			}
		}},
		{"rpm", "amd64", func(t *testing.T, file string) {
			out := string(testbin.RunTool(t, "", "rpm", "-qlp", file))
			if !strings.Contains(out, "/opt/orbit/bin/osqueryd/linux/stable/osqueryd\n") {
				t.Errorf("rpm -qlp:\n%s", out)
			}
		}},
		{"pkg", "arm64", func(t *testing.T, file string) {
			out := string(testbin.RunTool(t, "", "bsdtar", "-tf", file))
			if !strings.Contains(out, "orbit.pkg/Payload") {
				t.Errorf("bsdtar -tf:\n%s", out)
			}
		}},
		{"msi", "amd64", func(t *testing.T, file string) {
			out := string(testbin.RunTool(t, "", "msiinfo", "export", file, "ServiceInstall"))
			if !strings.Contains(out, `"--enroll-secret-path=[INSTALLDIR]secret.txt"`) || strings.Contains(out, secret) {
				t.Errorf("ServiceInstall:\n%s", out)
			}
		}},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			o := fleetOptions(t, tt.typ, tt.arch, dir)
			res, err := Build(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != o.Output || res.Version != "1.2.3" {
				t.Errorf("result %+v", res)
			}
			tt.check(t, res.Path)
			if got := entries(t, dir); !slices.Equal(got, []string{"orbit." + tt.typ, "secret.txt"}) {
				t.Errorf("output directory holds %v", got)
			}
		})
	}
}

// countRequests serves the test repository and counts target downloads.
func countRequests(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	h := repo.Handler(testRepo(t))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/targets/") {
			n.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// An agent started on a deb's tree runs what it bundles with the update
// server unreachable (the tray archive adopted from the bundle), and once
// the server is back it downloads nothing: the bundled files are the
// repository's targets.
func TestBundledTreeIsAdopted(t *testing.T) {
	t.Parallel()
	testbin.NeedTool(t, "dpkg-deb")
	dir := t.TempDir()
	o := fleetOptions(t, "deb", "amd64", dir)
	o.FleetDesktop = true
	res, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	testbin.RunTool(t, "", "dpkg-deb", "-x", res.Path, tree)
	layout := rootdir.Layout{Root: filepath.Join(tree, "opt", "orbit")}
	root, err := os.ReadFile(filepath.Join(layout.TUF(), "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	comps := []updater.Component{
		updater.OrbitComponentFor("linux", "stable"), updater.OsquerydComponentFor("linux", "stable"), updater.DesktopComponentFor("linux", "stable"),
	}
	cfg := updater.Config{Layout: layout, UpdateURL: closedURL(t), RootJSON: root, Platform: "linux", Components: comps, Logger: zerolog.Nop()}
	u, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Check(context.Background()); err == nil {
		t.Fatal("a check with the update server unreachable succeeded")
	}
	for name, want := range map[component.Name]string{
		component.Osqueryd: filepath.Join(layout.Root, "bin/osqueryd/linux/stable/osqueryd"),
		component.Desktop:  filepath.Join(layout.Root, "bin/desktop/linux/stable/desktop."),
	} {
		p, err := u.ExecPath(name)
		if err != nil || !strings.HasPrefix(p, want) {
			t.Errorf("offline, %s runs %q (%v), want the bundled %s...", name, p, err, want)
		}
	}

	url, downloads := countRequests(t)
	cfg.UpdateURL = url
	u, err = updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := u.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(r.Unchanged)
	if !slices.Equal(r.Unchanged, []string{"desktop", "orbit", "osqueryd"}) || len(r.Installed) != 0 {
		t.Errorf("first online check %+v, want every component unchanged", r)
	}
	if n := downloads.Load(); n != 0 {
		t.Errorf("the first online check downloaded %d targets", n)
	}
}

func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

// From --update-url the components come over HTTP, verified against
// --update-roots, with a progress line per download.
func TestBuildFromUpdateURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := fleetOptions(t, "rpm", "amd64", dir)
	o.LocalRepo, o.UpdateURL = "", serve(t)
	o.UpdateRoots = filepath.Join(repo.RepositoryPath(testRepo(t)), "root.json")
	var progress bytes.Buffer
	o.Progress = &progress
	res, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"fetching orbit/linux/stable/orbit 1.2.3, ", "fetching osqueryd/linux/stable/osqueryd 5.12.1, "} {
		if !strings.Contains(progress.String(), w) {
			t.Errorf("progress lacks %q:\n%s", w, progress.String())
		}
	}
	if len(res.Components) != 2 || res.Components[0].Source != "repository" {
		t.Errorf("components %+v", res.Components)
	}
}

// The --*-path flags bundle files instead of the repository's targets:
// nothing is fetched, and the manifest holds the files' own hashes.
func TestBuildFromPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	orbit, osqd := filepath.Join(dir, "orbit.exe"), filepath.Join(dir, "osqueryd.exe")
	os.WriteFile(orbit, prog(t, "windows", "arm64"), 0o755)
	os.WriteFile(osqd, prog(t, "windows", "arm64"), 0o755)
	o := Options{Type: "msi", Arch: "arm64", OrbitPath: orbit, OsquerydPath: osqd, Version: "2.0.0",
		UpdateURL: closedURL(t), UpdateRoots: filepath.Join(repo.RepositoryPath(testRepo(t)), "root.json"),
		DisableUpdates: true, ModTime: stamp, Output: filepath.Join(dir, "out.msi")}
	j, p, err := prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "2.0.0" || j.platform != "windows-arm64" {
		t.Errorf("version %s platform %s", p.Version, j.platform)
	}
	got := byPath(p.Files)
	want := updater.BundledFile("orbit/windows-arm64/stable/orbit.exe", "", prog(t, "windows", "arm64"))
	if !bytes.Contains(got["bin/bundle.json"].Data, []byte(want.Hashes["sha512"])) {
		t.Errorf("manifest lacks the file's hash:\n%s", got["bin/bundle.json"].Data)
	}
	if !slices.Contains(p.Service.Args, "--disable-updates=true") {
		t.Errorf("service args %q", p.Service.Args)
	}
}
