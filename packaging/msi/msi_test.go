package msi

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/internal/formattest"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

var modTime = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)

const secret = "s3cr3t-enroll-value\n"

// winExe is a real Windows build of a tiny program, for arch.
func winExe(t testing.TB, arch string) []byte {
	t.Helper()
	b, err := os.ReadFile(testbin.BuildFor(t, "./packaging/testdata/winhello", "winhello-"+arch+".exe", "windows", arch))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture is shaped like the real agent's msi: the orbit binary in its
// channel directory and the stable copy the service runs, osqueryd, the
// trusted root, the enroll secret (0600) and a root-only directory.
func fixture(t testing.TB, arch string) *packaging.Package {
	exe := winExe(t, arch)
	return &packaging.Package{
		Name:        "orbit",
		Identifier:  "com.example.orbit",
		Version:     "1.2.3",
		Arch:        arch,
		Description: "Orbit agent\nkeeps osquery running",
		Maintainer:  "Orbit Team <orbit@example.com>",
		Vendor:      "Orbit",
		Homepage:    "https://example.com/orbit",
		License:     "Apache-2.0",
		ModTime:     modTime,
		Files: []packaging.File{
			{Path: "bin/orbit/windows/stable/orbit.exe", Mode: 0o755, Data: exe},
			{Path: "bin/orbit/orbit.exe", Mode: 0o755, Data: exe},
			{Path: "bin/osqueryd/windows/stable/osqueryd.exe", Mode: 0o755, Data: append(bytes.Clone(exe), "osqueryd"...)},
			{Path: "tuf/root.json", Mode: 0o600, Data: []byte(`{"signed":{"_type":"root"}}`)},
			{Path: "tuf", Mode: fs.ModeDir | 0o700},
			{Path: "secret.txt", Mode: 0o600, Data: []byte(secret), Config: true},
			{Path: "osquery.flags", Mode: 0o644, Data: []byte("--verbose\n")},
		},
		Service: packaging.Service{
			Name:        "orbit",
			DisplayName: "Orbit osquery",
			Description: "Runs osquery and keeps it up to date.",
			Executable:  "bin/orbit/orbit.exe",
			Args: []string{
				"--root-dir=" + InstallDir,
				"--enroll-secret-path=" + InstallDir + "secret.txt",
				"--fleet-url=https://fleet.example.com:8080",
				"--orbit-channel=stable",
			},
		},
	}
}

func build(t testing.TB, p *packaging.Package) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := (&Format{}).Build(context.Background(), p, &out); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return out.Bytes()
}

func needMSITools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"wixl", "msibuild", "msiinfo", "msiextract"} {
		testbin.NeedTool(t, tool)
	}
}

func writeMSI(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "orbit.msi")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testbin.NeedTool(t, name), args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// rows is a table exported by msiinfo: the data lines after the three
// header lines (names, types, table name and keys), split on tabs.
func rows(t *testing.T, msi, table string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(tool(t, "msiinfo", "export", msi, table), "\r\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s: %q", table, lines)
	}
	var out [][]string
	for _, l := range lines[3:] {
		out = append(out, strings.Split(strings.TrimRight(l, "\r"), "\t"))
	}
	return out
}

func findRow(rs [][]string, col int, val string) []string {
	for _, r := range rs {
		if len(r) > col && r[col] == val {
			return r
		}
	}
	return nil
}

func TestMSITables(t *testing.T) {
	t.Parallel()
	needMSITools(t)
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			t.Parallel()
			p := fixture(t, arch)
			msi := writeMSI(t, build(t, p))

			// ServiceInstall: Name DisplayName ServiceType StartType ErrorControl
			// LoadOrderGroup Dependencies StartName Password Arguments Component_ Description
			si := rows(t, msi, "ServiceInstall")
			if len(si) != 1 {
				t.Fatalf("ServiceInstall rows = %q, want one", si)
			}
			svc := si[0]
			want := map[int]string{1: "orbit", 2: "Orbit osquery", 3: "16", 4: "2", 5: "1", 8: "LocalSystem",
				12: "Runs osquery and keeps it up to date."}
			for col, v := range want {
				if svc[col] != v {
					t.Errorf("ServiceInstall column %d = %q, want %q (row %q)", col, svc[col], v, svc)
				}
			}
			wantArgs := `"--root-dir=[INSTALLDIR]." "--enroll-secret-path=[INSTALLDIR]secret.txt" --fleet-url=https://fleet.example.com:8080 --orbit-channel=stable`
			if svc[10] != wantArgs {
				t.Errorf("service arguments = %s\nwant %s", svc[10], wantArgs)
			}
			if strings.Contains(svc[10], strings.TrimSpace(secret)) {
				t.Error("the enroll secret is on the service's command line")
			}

			// The service belongs to the component of the stable orbit.exe.
			files := rows(t, msi, "File")
			exeRow := findRow(files, 0, id("F_", "bin/orbit/orbit.exe"))
			if exeRow == nil {
				t.Fatalf("no File row for bin/orbit/orbit.exe in %q", files)
			}
			if svc[11] != exeRow[1] {
				t.Errorf("ServiceInstall component %q, want the orbit.exe component %q", svc[11], exeRow[1])
			}
			comps := rows(t, msi, "Component")
			if c := findRow(comps, 0, exeRow[1]); c == nil || c[5] != exeRow[0] || c[3] != "256" {
				t.Errorf("component of orbit.exe = %q: want key path %s and the 64-bit attribute (256)", c, exeRow[0])
			}

			// ServiceControl: Name Event Arguments Wait Component_. 163 =
			// start on install (1) + stop on install (2) and uninstall (32)
			// + delete on uninstall (128).
			sc := rows(t, msi, "ServiceControl")
			if len(sc) != 1 || sc[0][1] != "orbit" || sc[0][2] != "163" || sc[0][4] != "1" || sc[0][5] != exeRow[1] {
				t.Errorf("ServiceControl = %q, want orbit, event 163, wait 1, component %s", sc, exeRow[1])
			}

			// Every regular file, with its size and a long name.
			for _, f := range p.Files {
				if !f.Mode.IsRegular() {
					continue
				}
				r := findRow(files, 0, id("F_", f.Path))
				if r == nil {
					t.Errorf("no File row for %s", f.Path)
					continue
				}
				base := filepath.Base(f.Path)
				if r[2] != base && !strings.HasSuffix(r[2], "|"+base) {
					t.Errorf("File %s name = %q, want %q or short|%s", f.Path, r[2], base, base)
				}
				if r[3] != strconv.Itoa(len(f.Data)) {
					t.Errorf("File %s size = %s, want %d", f.Path, r[3], len(f.Data))
				}
			}

			// Directories: the install folder under ProgramFiles64Folder.
			dirs := rows(t, msi, "Directory")
			if d := findRow(dirs, 0, "INSTALLDIR"); d == nil || d[1] != "ProgramFiles64Folder" || d[2] != "Orbit" {
				t.Errorf("INSTALLDIR = %q, want ProgramFiles64Folder\\Orbit", d)
			}

			// Property: the stable UpgradeCode, the version, no empty value.
			props := rows(t, msi, "Property")
			wantProps := map[string]string{
				"UpgradeCode":    UpgradeCode("com.example.orbit"),
				"ProductVersion": "1.2.3",
				"ProductName":    "Orbit osquery",
				"Manufacturer":   "Orbit",
				"ALLUSERS":       "1",
				"ARPNOMODIFY":    "1",
			}
			for k, v := range wantProps {
				if r := findRow(props, 0, k); r == nil || !strings.EqualFold(r[1], v) {
					t.Errorf("Property %s = %q, want %q", k, r, v)
				}
			}
			pc := findRow(props, 0, "ProductCode")
			if pc == nil || len(pc[1]) != 38 {
				t.Errorf("ProductCode = %q", pc)
			}
			if r := findRow(props, 0, "SecureCustomProperties"); r == nil || !strings.Contains(r[1], "WIX_UPGRADE_DETECTED") {
				t.Errorf("SecureCustomProperties = %q, want WIX_UPGRADE_DETECTED in it", r)
			}

			// Upgrade: every version of this UpgradeCode (min 0.0.0
			// inclusive = 256, no max) is found and removed.
			up := rows(t, msi, "Upgrade")
			if len(up) != 1 || !strings.EqualFold(up[0][0], UpgradeCode("com.example.orbit")) ||
				up[0][1] != "0.0.0" || up[0][2] != "" || up[0][4] != "256" || up[0][6] != "WIX_UPGRADE_DETECTED" {
				t.Errorf("Upgrade = %q", up)
			}
			seq := rows(t, msi, "InstallExecuteSequence")
			rep, iv := findRow(seq, 0, "RemoveExistingProducts"), findRow(seq, 0, "InstallValidate")
			if rep == nil || iv == nil || atoi(t, rep[2]) <= atoi(t, iv[2]) || findRow(seq, 0, "FindRelatedProducts") == nil {
				t.Errorf("InstallExecuteSequence: RemoveExistingProducts %q must follow InstallValidate %q", rep, iv)
			}

			// Owner-only ACLs on the secret, the root file and the tuf dir.
			locks := rows(t, msi, "MsiLockPermissionsEx")
			for _, want := range [][]string{
				{id("F_", "secret.txt"), "File", ownerOnlyFile},
				{id("F_", "tuf/root.json"), "File", ownerOnlyFile},
				{id("D_", "tuf"), "CreateFolder", ownerOnlyDir},
			} {
				r := findRow(locks, 1, want[0])
				if r == nil || r[2] != want[1] || r[3] != want[2] {
					t.Errorf("MsiLockPermissionsEx for %s = %q, want %q", want[0], r, want)
				}
			}
			if r := findRow(locks, 1, id("F_", "osquery.flags")); r != nil {
				t.Errorf("osquery.flags (0644) got an ACL: %q", r)
			}

			// Summary information: our package code, ModTime, the platform.
			sum := tool(t, "msiinfo", "suminfo", msi)
			template := map[string]string{"amd64": "x64;1033", "arm64": "Arm64;1033"}[arch]
			for _, want := range []string{
				"Template: " + template,
				"Revision number (UUID): " + guid(upgradeCode(p.Identifier), "PackageCode\x00"+inputDigest(p)),
				"Created: Mon May  6 07:08:10 2024",
				"Last saved: Mon May  6 07:08:10 2024",
				"Version: 500",
			} {
				if !strings.Contains(sum, want) {
					t.Errorf("suminfo lacks %q:\n%s", want, sum)
				}
			}
		})
	}
}

func TestMSIExtractGivesTheSameFiles(t *testing.T) {
	t.Parallel()
	needMSITools(t)
	p := fixture(t, "amd64")
	msi := writeMSI(t, build(t, p))
	out := t.TempDir()
	tool(t, "msiextract", "-C", out, msi)
	for _, f := range p.Files {
		if !f.Mode.IsRegular() {
			continue
		}
		got, err := os.ReadFile(filepath.Join(out, "Orbit", filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("extracted %s: %v", f.Path, err)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("extracted %s differs from the input (%d vs %d bytes)", f.Path, len(got), len(f.Data))
		}
	}
}

func TestMSICabinetIsValid(t *testing.T) {
	t.Parallel()
	needMSITools(t)
	p := fixture(t, "amd64")
	msi := writeMSI(t, build(t, p))
	cab, err := exec.Command(testbin.NeedTool(t, "msiinfo"), "extract", msi, "payload.cab").Output()
	if err != nil {
		t.Fatalf("msiinfo extract payload.cab: %v", err)
	}
	cabPath := filepath.Join(t.TempDir(), "payload.cab")
	if err := os.WriteFile(cabPath, cab, 0o644); err != nil {
		t.Fatal(err)
	}
	out := tool(t, "cabextract", "-t", cabPath)
	regular := 0
	for _, f := range p.Files {
		if f.Mode.IsRegular() {
			regular++
			if !strings.Contains(out, id("F_", f.Path)) {
				t.Errorf("cabextract -t does not list %s (%s):\n%s", f.Path, id("F_", f.Path), out)
			}
		}
	}
	if !strings.Contains(out, "All done, no errors") || strings.Count(out, "  OK") != regular {
		t.Errorf("cabextract -t: want %d files OK:\n%s", regular, out)
	}
	// gcab -t checks the cabinet on its own; -l shows the stamped times.
	tool(t, "gcab", "-t", cabPath)
	if list := tool(t, "gcab", "-lv", cabPath); !strings.Contains(list, "2024-05-06 07:08:10") {
		t.Errorf("cabinet entries are not stamped with ModTime:\n%s", list)
	}
}

func TestMSIReproducible(t *testing.T) {
	t.Parallel()
	needMSITools(t)
	p := fixture(t, "amd64")
	a := build(t, p)
	// Shuffled input order, another run (wixl picks a new random package
	// code and stamps the time on every run): the same bytes.
	q := fixture(t, "amd64")
	for i, j := 0, len(q.Files)-1; i < j; i, j = i+1, j-1 {
		q.Files[i], q.Files[j] = q.Files[j], q.Files[i]
	}
	b := build(t, q)
	if !bytes.Equal(a, b) {
		t.Fatalf("two builds of the same inputs differ (%d vs %d bytes)", len(a), len(b))
	}

	later := fixture(t, "amd64")
	later.ModTime = modTime.Add(time.Hour)
	if bytes.Equal(a, build(t, later)) {
		t.Error("a different ModTime gave the same msi")
	}
	changed := fixture(t, "amd64")
	changed.Files[5].Data = []byte("another-secret\n")
	c := writeMSI(t, build(t, changed))
	if pa, pc := findRow(rows(t, writeMSI(t, a), "Property"), 0, "ProductCode"), findRow(rows(t, c, "Property"), 0, "ProductCode"); pa[1] == pc[1] {
		t.Errorf("changed content kept the ProductCode %s", pa[1])
	}
}

func TestMSIBadInput(t *testing.T) {
	t.Parallel()
	self, err := os.ReadFile("/proc/self/exe") // this test binary: a Linux ELF
	if err != nil {
		t.Skipf("no /proc/self/exe: %v", err)
	}
	tests := []struct {
		name string
		edit func(p *packaging.Package, f *Format)
		want string
	}{
		{"linux binary as orbit.exe", func(p *packaging.Package, _ *Format) { p.Files[1].Data = self }, "bin/orbit/orbit.exe is a Linux ELF"},
		{"arm64 exe in an amd64 msi", func(p *packaging.Package, _ *Format) {
			p.Files[2].Data = winExe(t, "arm64")
		}, "osqueryd.exe is a Windows arm64 executable, not amd64"},
		{"no wixl", func(_ *packaging.Package, f *Format) { f.Wixl = "/nonexistent/wixl" }, "apt-get install wixl msitools"},
		{"unknown arch", func(p *packaging.Package, _ *Format) { p.Arch = "386" }, `architecture "386"`},
		{"bad version", func(p *packaging.Package, _ *Format) { p.Version = "1.300.0" }, "at most 255"},
		{"text version", func(p *packaging.Package, _ *Format) { p.Version = "latest" }, "major.minor.patch"},
		{"absolute path", func(p *packaging.Package, _ *Format) { p.Files[4].Path = "/opt/orbit/osquery.flags" }, "relative to the install folder"},
		{"dot-dot", func(p *packaging.Package, _ *Format) { p.Files[4].Path = "../evil.txt" }, `".."`},
		{"windows name", func(p *packaging.Package, _ *Format) { p.Files[4].Path = "a:b" }, "not a valid Windows file name"},
		{"device name", func(p *packaging.Package, _ *Format) { p.Files[4].Path = "bin/nul.txt" }, "reserved device name"},
		{"symlink", func(p *packaging.Package, _ *Format) {
			p.Files = append(p.Files, packaging.File{Path: "bin/orbit/current", Mode: fs.ModeSymlink | 0o777, LinkTarget: "windows/stable"})
		}, "cannot carry a symlink"},
		{"case-insensitive duplicate", func(p *packaging.Package, _ *Format) {
			p.Files = append(p.Files, packaging.File{Path: "Secret.TXT", Mode: 0o600, Data: []byte("x")})
		}, "case-insensitive"},
		{"dollar in an argument", func(p *packaging.Package, _ *Format) {
			p.Service.Args = append(p.Service.Args, "--debug=$(yes)")
		}, "'$'"},
		{"service executable missing", func(p *packaging.Package, _ *Format) { p.Service.Executable = "orbit.exe" }, "not one of the package's files"},
		{"no service", func(p *packaging.Package, _ *Format) { p.Service = packaging.Service{} }, "registers a service"},
		{"wixl fails", func(_ *packaging.Package, f *Format) {
			script := filepath.Join(t.TempDir(), "wixl")
			if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'error: line one' >&2\necho 'line two' >&2\nexit 3\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			f.Wixl, f.Msibuild = script, script
		}, "msi: wixl: exit status 3: error: line one | line two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, f := fixture(t, "amd64"), &Format{}
			tt.edit(p, f)
			formattest.Refused(t, f, p, tt.want)
		})
	}
}

func TestMSIBuildCanceled(t *testing.T) {
	t.Parallel()
	needMSITools(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := (&Format{}).Build(ctx, fixture(t, "amd64"), &out); err == nil || out.Len() != 0 {
		t.Fatalf("canceled build: err %v, %d bytes written", err, out.Len())
	}
}

func BenchmarkMSIBuild(b *testing.B) {
	needMSITools(b)
	p := fixture(b, "amd64")
	var size int
	for _, f := range p.Files {
		size += len(f.Data)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var out bytes.Buffer
		if err := (&Format{}).Build(context.Background(), p, &out); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(out.Len())/float64(size), "msi/input")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
