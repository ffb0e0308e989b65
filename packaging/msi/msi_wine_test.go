package msi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging"
)

// wine is a fresh Wine prefix: an msiexec that no one here wrote, to run
// the install tables (files, service registration, upgrade, uninstall).
type wine struct {
	t      *testing.T
	bin    string
	prefix string
	env    []string
}

func newWine(t *testing.T) *wine {
	t.Helper()
	name := "wine64"
	if _, err := exec.LookPath(name); err != nil {
		name = "/usr/lib/wine/wine64" // Debian's wine64 without the wine wrapper
	}
	bin := testbin.NeedTool(t, name)
	prefix := filepath.Join(t.TempDir(), "prefix")
	w := &wine{t: t, bin: bin, prefix: prefix,
		env: append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all", "DISPLAY=")}
	w.run("wineboot", "-i")
	t.Cleanup(func() {
		// Stop this prefix's wineserver (started by the commands above).
		cmd := exec.Command(filepath.Join(filepath.Dir(bin), "wineserver"), "-k")
		cmd.Env = w.env
		_ = cmd.Run()
	})
	return w
}

func (w *wine) run(args ...string) string {
	w.t.Helper()
	out, err := w.output(args...)
	if err != nil {
		w.t.Fatalf("wine %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// regQuery returns reg's output for key, or "" when the key is missing.
func (w *wine) regQuery(key string) string {
	out, err := w.output("reg", "query", key)
	if err != nil {
		return ""
	}
	return out
}

// output runs wine with its output in a file, not a pipe: the wineserver
// the first command starts inherits the descriptors and outlives the
// command, and a pipe would make every Wait last until the server exits.
func (w *wine) output(args ...string) (string, error) {
	f, err := os.CreateTemp(w.t.TempDir(), "wine-out-")
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = f, f
	runErr := cmd.Run()
	out, err := os.ReadFile(f.Name())
	if err != nil {
		w.t.Fatal(err)
	}
	return strings.ReplaceAll(string(out), "\r", ""), runErr
}

// msiexec installs (/i) or removes (/x) a package quietly; msi is a host path.
func (w *wine) msiexec(op, msi string) {
	w.t.Helper()
	w.run("msiexec", op, "Z:"+strings.ReplaceAll(msi, "/", `\`), "/qn")
}

func (w *wine) installDir() string {
	return filepath.Join(w.prefix, "drive_c", "Program Files", "Orbit")
}

// forWine writes b to a file with the service's start-on-install bit
// cleared: Go programs do not start under Debian's Wine 8
// (bcryptprimitives.dll is missing), and a service that does not start
// fails the install as it should on Windows. Everything else is as built.
func forWine(t *testing.T, b []byte) (path, productCode string) {
	t.Helper()
	path = writeMSI(t, b)
	productCode = findRow(rows(t, path, "Property"), 0, "ProductCode")[1]
	tool(t, "msibuild", path, "-q", "UPDATE `ServiceControl` SET `Event` = 162")
	return path, productCode
}

func TestMSIInstallUpgradeRemoveUnderWine(t *testing.T) {
	t.Parallel()
	needMSITools(t)
	w := newWine(t)
	uninstall := `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\`
	service := `HKLM\System\CurrentControlSet\Services\orbit`

	v1 := fixture(t, "amd64")
	v1msi, v1code := forWine(t, build(t, v1))
	v2 := fixture(t, "amd64")
	v2.Version = "1.3.0"
	v2.Files[5].Data = []byte("rotated-secret\n")
	v2msi, v2code := forWine(t, build(t, v2))
	v2b := fixture(t, "amd64") // another build of the same version
	v2b.Version = "1.3.0"
	v2b.Files[6].Data = []byte("--verbose=false\n")
	v2bmsi, v2bcode := forWine(t, build(t, v2b))

	checkFiles := func(step string, want map[string][]byte) {
		t.Helper()
		for p, data := range want {
			got, err := os.ReadFile(filepath.Join(w.installDir(), filepath.FromSlash(p)))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s: %s = %q, %v; want %d bytes as packaged", step, p, truncate(got), err, len(data))
			}
		}
	}
	contents := func(p *packaging.Package) map[string][]byte {
		m := map[string][]byte{}
		for _, f := range p.Files {
			if f.Mode.IsRegular() {
				m[f.Path] = f.Data
			}
		}
		return m
	}
	installed := func(step string, want string, gone ...string) {
		t.Helper()
		if w.regQuery(uninstall+want) == "" {
			t.Errorf("%s: product %s is not registered", step, want)
		}
		for _, g := range gone {
			if w.regQuery(uninstall+g) != "" {
				t.Errorf("%s: product %s is still registered next to %s", step, g, want)
			}
		}
	}

	// Install: the files, and the service as the ServiceInstall row says.
	w.msiexec("/i", v1msi)
	checkFiles("install", contents(v1))
	installed("install", v1code)
	svc := w.regQuery(service)
	for _, want := range []string{
		`C:\Program Files\Orbit\bin\orbit\orbit.exe "--root-dir=C:\Program Files\Orbit\." "--enroll-secret-path=C:\Program Files\Orbit\secret.txt" --fleet-url=https://fleet.example.com:8080 --orbit-channel=stable`,
		"ObjectName    REG_SZ    LocalSystem", "Start    REG_DWORD    0x2", "ErrorControl    REG_DWORD    0x1",
		"DisplayName    REG_SZ    Orbit osquery",
	} {
		if !strings.Contains(svc, want) {
			t.Errorf("service key lacks %q:\n%s", want, svc)
		}
	}

	// orbit's own state, which no package owns, survives every step.
	nodeKey := filepath.Join(w.installDir(), "secret-orbit-node-key.txt")
	if err := os.WriteFile(nodeKey, []byte("node-key"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Upgrade: the old product is removed, the new files are in place.
	w.msiexec("/i", v2msi)
	checkFiles("upgrade", contents(v2))
	installed("upgrade", v2code, v1code)

	// Another build of the same version replaces it (no side-by-side).
	w.msiexec("/i", v2bmsi)
	checkFiles("same-version rebuild", contents(v2b))
	installed("same-version rebuild", v2bcode, v2code)

	// Downgrade is allowed: orbit updates itself, so an older msi is how an
	// admin redeploys settings or rolls back.
	w.msiexec("/i", v1msi)
	checkFiles("downgrade", contents(v1))
	installed("downgrade", v1code, v2bcode)

	if got, err := os.ReadFile(nodeKey); err != nil || string(got) != "node-key" {
		t.Errorf("orbit's node key after upgrades: %q, %v", got, err)
	}

	// Uninstall: the service and the packaged files go; orbit's state stays.
	w.msiexec("/x", v1msi)
	if w.regQuery(service) != "" {
		t.Error("service still registered after uninstall")
	}
	if w.regQuery(uninstall+v1code) != "" {
		t.Error("product still registered after uninstall")
	}
	for p := range contents(v1) {
		if _, err := os.Stat(filepath.Join(w.installDir(), filepath.FromSlash(p))); !os.IsNotExist(err) {
			t.Errorf("%s left after uninstall (%v)", p, err)
		}
	}
	if _, err := os.Stat(nodeKey); err != nil {
		t.Errorf("uninstall removed orbit's own state: %v", err)
	}
}

func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
