package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
)

func TestServiceInstallWritesVerifiedSystemdUnit(t *testing.T) {
	analyze := testbin.NeedTool(t, "systemd-analyze")
	testbin.NeedTool(t, "systemctl")
	testbin.NeedRoot(t, "service install writes /etc/systemd/system")
	name := fmt.Sprintf("orbit-test-%d", time.Now().UnixNano())
	env := []string{"ORBIT_SERVICE_SYSTEM=linux-systemd", "ORBIT_SERVICE_NAME=" + name}
	unit := "/etc/systemd/system/" + name + ".service"
	t.Cleanup(func() { os.Remove(unit) })

	root := filepath.Join(t.TempDir(), "orbit")
	const secret = "svc-install-secret-value"
	_, stderr, code := runOrbit(t, env, "service", "install", "--root-dir="+root,
		"--disable-updates", "--osqueryd-path="+osquerydBin(t),
		"--fleet-url=https://fleet.example.com:8443", "--enroll-secret="+secret, "--stop-grace=5s",
		"--", "--verbose")
	if code != 0 {
		t.Fatalf("service install exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatalf("unit not written: %v", err)
	}
	text := string(data)
	stable := filepath.Join(root, "bin", "orbit", "orbit")
	if !strings.Contains(text, "ExecStart="+stable+" ") {
		t.Errorf("ExecStart should run the stable path %s:\n%s", stable, text)
	}
	target, err := filepath.EvalSymlinks(stable)
	if err != nil || target != filepath.Join(root, "bin", "orbit", "linux", "stable", "orbit") {
		t.Errorf("stable path resolves to %q (%v), want the installed channel file", target, err)
	}
	if out, err := exec.Command(stable, "version").Output(); err != nil || strings.TrimSpace(string(out)) != "orbit 1.0.0-test" {
		t.Errorf("installed orbit: %q, %v", out, err)
	}
	for _, want := range []string{
		"Restart=always", "RestartSec=1", "KillMode=mixed", "TimeoutStopSec=25",
		`"--root-dir=` + root + `"`, `"--fleet-url=https://fleet.example.com:8443"`,
		`"--enroll-secret-path=` + filepath.Join(root, "secret.txt") + `"`,
		`"--stop-grace=5s"`, `"--" "--verbose"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, secret) {
		t.Fatalf("enroll secret written into the unit:\n%s", text)
	}
	fi, err := os.Stat(filepath.Join(root, "secret.txt"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v mode %v", err, fi.Mode())
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	_, stderr, code = runOrbit(t, env, "service", "uninstall")
	if code != 0 {
		t.Fatalf("service uninstall exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Fatalf("unit still there after uninstall: %v", err)
	}
}
