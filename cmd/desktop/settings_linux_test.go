package main

import (
	"debug/pe"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/desktop"
	"github.com/orbitagent/orbit/desktop/desktoptest"
)

// TestTrayTLSSettings: the tray trusts FLEET_DESKTOP_FLEET_ROOT_CA, or
// skips verification with FLEET_DESKTOP_INSECURE; with neither, Fleet's
// test CA is unknown and the menu shows the offline line.
func TestTrayTLSSettings(t *testing.T) {
	t.Parallel()
	f := startFleet(t)
	tests := []struct {
		name   string
		mod    func(env []string) []string
		status string
	}{
		{"root ca", func(env []string) []string { return env }, "Your device is OK"},
		{"insecure", func(env []string) []string { return append(without(env, desktop.EnvRootCA), desktop.EnvInsecure+"=1") }, "Your device is OK"},
		{"neither", func(env []string) []string { return without(env, desktop.EnvRootCA) }, desktop.TitleOffline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startSession(t, f, tt.mod)
			tray := s.tray
			// The status line and the items' state are separate updates of
			// the menu: wait for the menu that shows both.
			wantEnabled := tt.status != desktop.TitleOffline
			waitMenu(t, desktoptest.Dial(t, s.bus.Address), s.item, fmt.Sprintf("%q with My device enabled=%v", tt.status, wantEnabled),
				func(es []desktoptest.Entry) bool {
					my, ok := desktoptest.Find(es, "My device")
					return hasStatus(tt.status)(es) && ok && my.Enabled == wantEnabled
				})
			if tt.status == desktop.TitleOffline && !strings.Contains(tray.out.String(), "certificate") {
				t.Fatalf("the offline line does not say why:\n%s", tray.out.String())
			}
			tray.terminate(t)
		})
	}
}

func without(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestTrayBadSettings: a missing or bad setting is one log line naming
// it, and exit code 2, as orbit's own bad input.
func TestTrayBadSettings(t *testing.T) {
	t.Parallel()
	f := startFleet(t)
	good, _ := trayEnv(t, f, "unix:path=/nonexistent")
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no url", without(good, desktop.EnvFleetURL), desktop.EnvFleetURL + " is not set"},
		{"no identifier path", without(good, desktop.EnvIdentifierPath), desktop.EnvIdentifierPath + " is not set"},
		{"insecure maybe", append(good, desktop.EnvInsecure+"=maybe"), desktop.EnvInsecure},
		{"missing ca file", append(without(good, desktop.EnvRootCA), desktop.EnvRootCA+"="+filepath.Join(t.TempDir(), "none.pem")), desktop.EnvRootCA},
		{"ca without a certificate", append(without(good, desktop.EnvRootCA), desktop.EnvRootCA+"="+os.Args[0]), desktop.EnvRootCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(trayBinary(t))
			cmd.Env = tt.env
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit = %v, want code 2:\n%s", err, out)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if strings.Contains(l, "cannot start the tray app") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Fatalf("want one line naming %s:\n%s", tt.want, out)
			}
		})
	}
}

// TestVersionAndHelp: orbit's version probe and the updater's exec check.
func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	bin := trayBinary(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "fleet-desktop "+trayVersion {
		t.Fatalf("--version = %q, %v", out, err)
	}
	if out, err := exec.Command(bin, "--help").Output(); err != nil || len(out) == 0 {
		t.Fatalf("--help = %q, %v", out, err)
	}
	err = exec.Command(bin, "--bogus").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("--bogus = %v, want exit code 2", err)
	}
}

// TestWindowsBuildIsGUI: built as the Makefile does for Windows
// (-H=windowsgui), the tray is a GUI program (no console window opens
// with it at each login).
func TestWindowsBuildIsGUI(t *testing.T) {
	t.Parallel()
	exe := filepath.Join(t.TempDir(), "fleet-desktop.exe")
	cmd := exec.Command("go", "build", "-ldflags", "-H=windowsgui", "-o", exe, ".")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go build: %v\n%s", err, out)
	}
	f, err := pe.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("optional header %T, want a 64-bit PE", f.OptionalHeader)
	}
	if oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_GUI {
		t.Fatalf("PE subsystem %d, want %d (Windows GUI)", oh.Subsystem, pe.IMAGE_SUBSYSTEM_WINDOWS_GUI)
	}
}
