package bench

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/benchrec"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/deb"
	"github.com/orbitagent/orbit/packaging/internal/linuxtest"
	"github.com/orbitagent/orbit/packaging/internal/tooltest"
	"github.com/orbitagent/orbit/packaging/msi"
	"github.com/orbitagent/orbit/packaging/pkg"
	"github.com/orbitagent/orbit/packaging/rpm"
)

func TestMain(m *testing.M) { os.Exit(linuxtest.Main(m)) }

// programs are orbit and the stand-in osqueryd built for one platform.
func programs(tb testing.TB, goos, suffix string) (orbit, osqueryd []byte) {
	tb.Helper()
	read := func(pkg, name string) []byte {
		b, err := os.ReadFile(testbin.BuildFor(tb, pkg, name, goos, "amd64"))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	return read("./cmd/orbit", "orbit"+suffix), read("./testdata/osqueryd", "osqueryd"+suffix)
}

// macPackage is the agent of the Linux fixture laid out for macOS: the
// same root, settings and programs (built for darwin), a launchd job.
func macPackage(tb testing.TB, linux *packaging.Package) *packaging.Package {
	orbit, osqueryd := programs(tb, "darwin", "")
	root := linuxtest.Agent(tb, "amd64").TrustedRoot
	p := *linux
	p.Scripts = packaging.Scripts{AfterInstall: "launchctl bootstrap system /Library/LaunchDaemons/com.example.orbit.plist\n"}
	p.Files = []packaging.File{
		{Path: "/Library/LaunchDaemons/com.example.orbit.plist", Mode: 0o644, Data: []byte(plist), Owner: "root", Group: "wheel"},
		{Path: "/opt/orbit", Mode: fs.ModeDir | 0o755},
		{Path: "/opt/orbit/bin/orbit/macos/stable/orbit", Mode: 0o755, Data: orbit},
		{Path: "/opt/orbit/bin/orbit/orbit", Mode: fs.ModeSymlink | 0o755, LinkTarget: "/opt/orbit/bin/orbit/macos/stable/orbit"},
		{Path: "/opt/orbit/bin/osqueryd/macos/stable/osqueryd", Mode: 0o755, Data: osqueryd},
		{Path: "/opt/orbit/orbit.env", Mode: 0o600, Data: []byte("ORBIT_FLEET_URL=https://fleet.example.com:8443\nORBIT_ENROLL_SECRET=" + linuxtest.Secret + "\n"), Config: true},
		{Path: "/opt/orbit/tuf", Mode: fs.ModeDir | 0o700},
		{Path: "/opt/orbit/tuf/root.json", Mode: 0o600, Data: root},
	}
	return &p
}

const plist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>Label</key><string>com.example.orbit</string>
<key>ProgramArguments</key><array><string>/opt/orbit/bin/orbit/orbit</string></array>
<key>RunAtLoad</key><true/><key>KeepAlive</key><true/>
</dict></plist>
`

// windowsPackage is the same agent for Windows: the programs built for
// windows under the install folder, the stable copy the service runs.
func windowsPackage(tb testing.TB, linux *packaging.Package) *packaging.Package {
	orbit, osqueryd := programs(tb, "windows", ".exe")
	root := linuxtest.Agent(tb, "amd64").TrustedRoot
	p := *linux
	p.Scripts = packaging.Scripts{}
	p.Files = []packaging.File{
		{Path: "bin/orbit/windows/stable/orbit.exe", Mode: 0o755, Data: orbit},
		{Path: "bin/orbit/orbit.exe", Mode: 0o755, Data: orbit},
		{Path: "bin/osqueryd/windows/stable/osqueryd.exe", Mode: 0o755, Data: osqueryd},
		{Path: "tuf", Mode: fs.ModeDir | 0o700},
		{Path: "tuf/root.json", Mode: 0o600, Data: root},
		{Path: "secret.txt", Mode: 0o600, Data: []byte(linuxtest.Secret), Config: true},
	}
	p.Service = packaging.Service{
		Name: "orbit", DisplayName: "Orbit osquery", Description: "Runs osquery and keeps it up to date.",
		Executable: "bin/orbit/orbit.exe",
		Args:       []string{"--fleet-url=https://fleet.example.com:8443", "--orbit-channel=stable"},
	}
	return &p
}

// BenchmarkFourPackages builds the deb, rpm, pkg and msi of one agent
// (orbit and the stand-in osqueryd, built for each platform) and, in the
// same iteration, gives the deb's own tree to dpkg-deb --build (gzip, as
// our debs are). Each build's time, each package's size and the size of
// the programs inside it are recorded for make bench.
func BenchmarkFourPackages(b *testing.B) {
	for _, tool := range []string{"dpkg-deb", "wixl", "msibuild"} {
		testbin.NeedTool(b, tool)
	}
	linux := linuxtest.Package(b, "deb", "amd64", "1.2.3")
	rpmPkg := linuxtest.Package(b, "rpm", "amd64", "1.2.3")
	debF, err := deb.New(deb.Config{})
	if err != nil {
		b.Fatal(err)
	}
	rpmF, err := rpm.New(rpm.Config{})
	if err != nil {
		b.Fatal(err)
	}
	pkgF, err := pkg.New(pkg.Config{})
	if err != nil {
		b.Fatal(err)
	}
	formats := []struct {
		f packaging.Format
		p *packaging.Package
	}{
		{debF, linux}, {rpmF, rpmPkg}, {pkgF, macPackage(b, linux)}, {&msi.Format{}, windowsPackage(b, linux)},
	}

	dir := b.TempDir()
	ours := filepath.Join(dir, "ours.deb")
	if err := os.WriteFile(ours, linuxtest.Build(b, debF, linux), 0o644); err != nil {
		b.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	tooltest.Run(b, "", "dpkg-deb", "--raw-extract", ours, tree)
	dpkgOut := filepath.Join(dir, "dpkg.deb")
	dpkgDeb := func() int64 {
		// The build's ModTime, as nfpm stamps it.
		cmd := exec.Command(tooltest.Need(b, "dpkg-deb"), "--root-owner-group", "-Zgzip", "--build", tree, dpkgOut)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(linux.ModTime.Unix(), 10))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("dpkg-deb --build: %v\n%s", err, out)
		}
		fi, err := os.Stat(dpkgOut)
		if err != nil {
			b.Fatal(err)
		}
		return fi.Size()
	}

	for b.Loop() {
		var all time.Duration
		for _, f := range formats {
			var buf bytes.Buffer
			t0 := time.Now()
			if err := f.f.Build(context.Background(), f.p, &buf); err != nil {
				b.Fatalf("%s: %v", f.f.Name(), err)
			}
			d := time.Since(t0)
			all += d
			benchrec.RecordDuration(b, "build_"+f.f.Name()+"_ms", d)
			benchrec.Record(b, "size_"+f.f.Name()+"_bytes", float64(buf.Len()))
			benchrec.Record(b, "programs_"+f.f.Name()+"_bytes", float64(linuxtest.BinaryBytes(f.p)))
		}
		benchrec.RecordDuration(b, "build_all_ms", all)
		t0 := time.Now()
		size := dpkgDeb()
		benchrec.RecordDuration(b, "build_dpkg-deb_ms", time.Since(t0))
		benchrec.Record(b, "size_dpkg-deb_bytes", float64(size))
	}
}
