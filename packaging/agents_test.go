package packaging

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/supervisor"
)

const testSecret = "enroll-secret-9f1e"

func settings() Settings {
	return Settings{
		FleetURL: "https://fleet.example.com:8443", EnrollSecret: testSecret,
		FleetCertificate: []byte("-----BEGIN CERTIFICATE-----\n"), UpdateURL: "https://updates.example.com",
		UpdateRoots: true, OrbitChannel: "stable", OsquerydChannel: "edge", DesktopChannel: "stable",
		UpdateInterval: 30 * time.Minute, FleetDesktop: true, EnableScripts: true,
		OsqueryFlagfile: []byte("--verbose\n"),
	}
}

// The settings read the same whichever way a format carries them: as
// ORBIT_* variables with the secret inline (Linux, a root-only file), or as
// flags with the secret in a file of its own (macOS, Windows).
func TestSettingsEnvAndArgs(t *testing.T) {
	t.Parallel()
	s := settings()
	env := s.Env("/opt/orbit")
	want := map[string]string{
		"ORBIT_FLEET_URL": "https://fleet.example.com:8443", "ORBIT_ENROLL_SECRET": testSecret,
		"ORBIT_FLEET_CERTIFICATE": "/opt/orbit/fleet.pem", "ORBIT_UPDATE_URL": "https://updates.example.com",
		"ORBIT_UPDATE_ROOTS": "/opt/orbit/tuf/root.json", "ORBIT_ORBIT_CHANNEL": "stable",
		"ORBIT_OSQUERYD_CHANNEL": "edge", "ORBIT_DESKTOP_CHANNEL": "stable", "ORBIT_UPDATE_INTERVAL": "30m0s",
		"ORBIT_FLEET_DESKTOP": "true", "ORBIT_ENABLE_SCRIPTS": "true",
	}
	if len(env) != len(want) {
		t.Errorf("env %v, want %v", env, want)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	args := s.Args(func(rel string) string { return `[DIR]` + rel })
	for _, a := range args {
		if strings.Contains(a, testSecret) {
			t.Errorf("the secret is on the command line: %q", a)
		}
	}
	for _, w := range []string{"--enroll-secret-path=[DIR]secret.txt", "--fleet-certificate=[DIR]fleet.pem", "--update-roots=[DIR]tuf/root.json", "--fleet-desktop=true"} {
		if !slices.Contains(args, w) {
			t.Errorf("args %q lack %q", args, w)
		}
	}
	s.FleetDesktop, s.Insecure, s.FleetCertificate = false, true, nil
	args = s.Args(func(rel string) string { return rel })
	if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--desktop-channel") }) || !slices.Contains(args, "--insecure=true") {
		t.Errorf("without the tray app, with --insecure: %q", args)
	}
	files := map[string]RootFile{}
	for _, f := range settings().Files(true) {
		files[f.Path] = f
	}
	if f := files["secret.txt"]; f.Mode != 0o600 || string(f.Data) != testSecret+"\n" {
		t.Errorf("secret file %+v", f)
	}
	if _, ok := files["osquery.flags"]; !ok {
		t.Error("no flagfile")
	}
	for _, f := range settings().Files(false) {
		if f.Path == "secret.txt" {
			t.Error("Files(false) bundles the secret file")
		}
	}
}

func macAgent() MacAgent {
	return MacAgent{
		Identifier: "com.example.orbit", Root: "/opt/orbit", Settings: settings(),
		TrustedRoot: []byte(`{"signed":{}}`),
		Targets: []Target{
			{Component: "orbit", Platform: "macos", Channel: "stable", File: "orbit", Data: []byte("\xcf\xfa\xed\xfe")},
			{Component: "osqueryd", Platform: "macos-app", Channel: "edge", File: "osqueryd.app.tar.gz", Data: []byte("\x1f\x8b")},
		},
		RootFiles: []RootFile{{Path: "bin/bundle.json", Mode: 0o644, Data: []byte("{}")}},
	}
}

// The macOS tree: the updater's layout under /opt/orbit, the secret
// root-only, the launchd job world-readable and free of it.
func TestMacAgentFiles(t *testing.T) {
	t.Parallel()
	files, err := macAgent().Files()
	if err != nil {
		t.Fatal(err)
	}
	got := byPath(files)
	for _, w := range []struct {
		path  string
		mode  fs.FileMode
		group string
		link  string
	}{
		{"/opt/orbit", fs.ModeDir | 0o755, "", ""},
		{"/opt/orbit/tuf", fs.ModeDir | 0o700, "", ""},
		{"/opt/orbit/tuf/root.json", 0o644, "", ""},
		{"/opt/orbit/bin/orbit/macos/stable/orbit", 0o755, "", ""},
		{"/opt/orbit/bin/orbit/orbit", fs.ModeSymlink | 0o777, "", "macos/stable/orbit"},
		{"/opt/orbit/bin/osqueryd/macos-app/edge/osqueryd.app.tar.gz", 0o644, "", ""},
		{"/opt/orbit/bin/bundle.json", 0o644, "", ""},
		{"/opt/orbit/secret.txt", 0o600, "", ""},
		{"/opt/orbit/fleet.pem", 0o644, "", ""},
		{"/opt/orbit/osquery.flags", 0o644, "", ""},
		{"/Library/LaunchDaemons/com.example.orbit.plist", 0o644, "wheel", ""},
		{"/var/log/orbit", fs.ModeDir | 0o755, "wheel", ""},
	} {
		f, ok := got[w.path]
		if !ok {
			t.Errorf("no %s", w.path)
			continue
		}
		if f.Mode != w.mode || f.Group != w.group || f.LinkTarget != w.link {
			t.Errorf("%s: mode %v group %q link %q, want %v %q %q", w.path, f.Mode, f.Group, f.LinkTarget, w.mode, w.group, w.link)
		}
	}
	for _, f := range files {
		if f.Mode.Perm()&0o044 != 0 && strings.Contains(string(f.Data), testSecret) {
			t.Errorf("%s (%v) holds the secret", f.Path, f.Mode)
		}
	}
	plist := string(got["/Library/LaunchDaemons/com.example.orbit.plist"].Data)
	want, err := supervisor.LaunchdPlist(supervisor.ServiceConfig{
		Name: "com.example.orbit", Executable: "/opt/orbit/bin/orbit/orbit",
		Args: append([]string{"--root-dir=/opt/orbit"}, settings().Args(func(rel string) string { return "/opt/orbit/" + rel })...),
	})
	if err != nil {
		t.Fatal(err)
	}
	if plist != want {
		t.Errorf("the packaged plist is not the one orbit service install writes:\n%s\nwant:\n%s", plist, want)
	}
	if !strings.Contains(plist, "<string>--enroll-secret-path=/opt/orbit/secret.txt</string>") {
		t.Errorf("plist does not name the secret file:\n%s", plist)
	}
}

// The postinstall hook, run as the installer runs it: on the running system
// it unloads any old job and bootstraps and kicks the new one; installed
// onto another volume (an image) it leaves launchd alone.
func TestMacAgentScripts(t *testing.T) {
	t.Parallel()
	s, err := macAgent().Scripts()
	if err != nil {
		t.Fatal(err)
	}
	if s.BeforeRemove != "" || s.BeforeInstall != "" {
		t.Errorf("unexpected hooks %+v", s)
	}
	for _, tt := range []struct {
		name, volume string
		failures     int // bootstrap failures before it succeeds
		want         string
		fails        bool
	}{
		{"running system", "/", 0, "bootout system/com.example.orbit\nbootstrap system /Library/LaunchDaemons/com.example.orbit.plist\nkickstart -k system/com.example.orbit", false},
		{"old job slow to leave", "/", 2, "bootout system/com.example.orbit\n" + strings.Repeat("bootstrap system /Library/LaunchDaemons/com.example.orbit.plist\n", 3) + "kickstart -k system/com.example.orbit", false},
		{"image build", "/Volumes/Image", 0, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			log := filepath.Join(dir, "launchctl.log")
			fake := "#!/bin/sh\necho \"$*\" >>" + log + "\n" +
				"if [ \"$1\" = bootstrap ] && [ $(grep -c bootstrap " + log + ") -le " + string(rune('0'+tt.failures)) + " ]; then exit 5; fi\n"
			if err := os.WriteFile(filepath.Join(dir, "launchctl"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			// The hook as the pkg's postinstall wraps it; mkdir of the log
			// directory goes to a scratch root.
			body := strings.ReplaceAll(s.AfterInstall, "mkdir -p /var/log/orbit", "mkdir -p "+filepath.Join(dir, "log"))
			body = strings.ReplaceAll(body, "sleep 1", ":")
			script := "set -e\nafter_install() {\n" + body + "\n}\nafter_install install \"$@\"\n"
			cmd := exec.Command("sh", "-c", script, "postinstall", "/tmp/orbit.pkg", "/", tt.volume)
			cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.fails {
				t.Fatalf("postinstall: %v\n%s", err, out)
			}
			b, _ := os.ReadFile(log)
			if got := strings.TrimSpace(string(b)); got != tt.want {
				t.Errorf("launchctl calls:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// The Windows tree is relative to the install folder, orbit's stable copy
// is the bundled orbit.exe, and the service's command line names the
// secret's file, never the secret.
func TestWindowsAgent(t *testing.T) {
	t.Parallel()
	exe := []byte("MZ orbit")
	a := WindowsAgent{
		Name: "orbit", DisplayName: "Orbit osquery", InstallDir: "[INSTALLDIR]", Settings: settings(),
		TrustedRoot: []byte(`{}`),
		Targets: []Target{
			{Component: "orbit", Platform: "windows", Channel: "stable", File: "orbit.exe", Data: exe},
			{Component: "osqueryd", Platform: "windows", Channel: "edge", File: "osqueryd.exe", Data: []byte("MZ osq")},
		},
	}
	files, err := a.Files()
	if err != nil {
		t.Fatal(err)
	}
	got := byPath(files)
	for p, mode := range map[string]fs.FileMode{
		"bin": fs.ModeDir | 0o755, "tuf": fs.ModeDir | 0o700, "tuf/root.json": 0o644,
		"bin/orbit/windows/stable/orbit.exe": 0o755, "bin/orbit/orbit.exe": 0o755,
		"bin/osqueryd/windows/edge/osqueryd.exe": 0o755, "secret.txt": 0o600, "fleet.pem": 0o644,
	} {
		if f, ok := got[p]; !ok || f.Mode != mode {
			t.Errorf("%s: %+v, want mode %v", p, f.Mode, mode)
		}
	}
	if _, ok := got[""]; ok {
		t.Error("the install folder itself is listed")
	}
	if string(got["bin/orbit/orbit.exe"].Data) != string(exe) {
		t.Error("the stable orbit.exe is not a copy of the bundled one")
	}
	svc, err := a.Service()
	if err != nil {
		t.Fatal(err)
	}
	if svc.Executable != "bin/orbit/orbit.exe" || svc.Args[0] != "--root-dir=[INSTALLDIR]" {
		t.Errorf("service %+v", svc)
	}
	for _, w := range []string{`--enroll-secret-path=[INSTALLDIR]secret.txt`, `--update-roots=[INSTALLDIR]tuf\root.json`} {
		if !slices.Contains(svc.Args, w) {
			t.Errorf("service args %q lack %q", svc.Args, w)
		}
	}
	if strings.Contains(strings.Join(svc.Args, " "), testSecret) {
		t.Error("the secret is on the service's command line")
	}
}
