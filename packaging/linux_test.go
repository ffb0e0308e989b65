package packaging

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/updater"
)

func agent() LinuxAgent {
	return LinuxAgent{
		Name: "orbit", Description: "Orbit osquery", Root: "/opt/orbit", StopGrace: 5 * time.Second,
		Settings:    map[string]string{"ORBIT_FLEET_URL": "https://fleet.example.com", "ORBIT_ENROLL_SECRET": "s3cret"},
		TrustedRoot: []byte(`{"signed":{"_type":"root"}}`),
		Targets: []Target{
			{Component: "orbit", Platform: "linux", Channel: "stable", File: "orbit", Data: []byte("\x7fELF")},
			{Component: "osqueryd", Platform: "linux", Channel: "stable", File: "osqueryd", Data: []byte("\x7fELF")},
		},
		Copyright: []byte("Files: *\n"),
	}
}

func byPath(files []File) map[string]File {
	m := map[string]File{}
	for _, f := range files {
		m[f.Path] = f
	}
	return m
}

// The paths a package installs are the ones orbit itself uses: the
// updater's stable orbit and installed targets, rootdir's tuf directory.
func TestLinuxLayoutMatchesTheAgent(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("compares with the agent's own paths on linux/amd64")
	}
	files, err := agent().Files("rpm")
	if err != nil {
		t.Fatal(err)
	}
	got := byPath(files)
	l := rootdir.Layout{Root: "/opt/orbit"}
	for _, p := range []string{
		updater.StableOrbitPath(l),
		l.Bin("orbit", updater.DefaultPlatform(), "stable", "orbit"),
		l.Bin("osqueryd", updater.DefaultPlatform(), "stable", "osqueryd"),
		filepath.Join(l.TUF(), "root.json"),
		l.TUF(),
	} {
		if _, ok := got[p]; !ok {
			t.Errorf("the package has no %s", p)
		}
	}
	if plat, _ := LinuxPlatform("amd64"); plat != updater.DefaultPlatform() {
		t.Errorf("LinuxPlatform(amd64) = %q, the updater says %q", plat, updater.DefaultPlatform())
	}
}

func TestLinuxFiles(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ format, unit string }{
		{"deb", "/lib/systemd/system/orbit.service"},
		{"rpm", "/usr/lib/systemd/system/orbit.service"},
	} {
		files, err := agent().Files(tt.format)
		if err != nil {
			t.Fatal(err)
		}
		got := byPath(files)
		unit, ok := got[tt.unit]
		if !ok || unit.Mode != 0o644 {
			t.Fatalf("%s: unit %s missing or mode %v, want 0644", tt.format, tt.unit, unit.Mode)
		}
		want, err := supervisor.SystemdUnit(supervisor.ServiceConfig{Name: "orbit", Description: "Orbit osquery", Executable: "/opt/orbit/bin/orbit/orbit", StopGrace: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if string(unit.Data) != want {
			t.Errorf("%s: the unit is not the one service install writes:\n%s", tt.format, unit.Data)
		}
		env := got["/etc/default/orbit"]
		if env.Mode != 0o600 || !env.Config || !strings.Contains(string(env.Data), `ORBIT_ENROLL_SECRET="s3cret"`) || !strings.Contains(string(env.Data), `ORBIT_STOP_GRACE="5s"`) {
			t.Errorf("%s: settings %+v", tt.format, env)
		}
		if l := got["/opt/orbit/bin/orbit/orbit"]; l.Mode.Type() != fs.ModeSymlink || l.LinkTarget != "linux/stable/orbit" {
			t.Errorf("%s: stable link %+v", tt.format, l)
		}
		if d := got["/opt/orbit/tuf"]; d.Mode != fs.ModeDir|0o700 {
			t.Errorf("%s: tuf dir mode %v", tt.format, d.Mode)
		}
		_, copyright := got["/usr/share/doc/orbit/copyright"]
		_, overrides := got["/usr/share/lintian/overrides/orbit"]
		if isDeb := tt.format == "deb"; copyright != isDeb || overrides != isDeb {
			t.Errorf("%s: copyright %v lintian overrides %v, want both only in a deb", tt.format, copyright, overrides)
		}
	}
}

// A zero StopGrace is orbit's default, in the settings and the unit alike.
func TestLinuxDefaultStopGrace(t *testing.T) {
	t.Parallel()
	a := agent()
	a.StopGrace = 0
	files, err := a.Files("rpm")
	if err != nil {
		t.Fatal(err)
	}
	got := byPath(files)
	if env := string(got["/etc/default/orbit"].Data); !strings.Contains(env, `ORBIT_STOP_GRACE="10s"`) {
		t.Errorf("settings:\n%s", env)
	}
	if unit := string(got["/usr/lib/systemd/system/orbit.service"].Data); !strings.Contains(unit, "TimeoutStopSec=30\n") {
		t.Errorf("unit:\n%s", unit)
	}
}

func TestLinuxAgentRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		modify func(*LinuxAgent)
		format string
		want   string
	}{
		{"top-level root", func(a *LinuxAgent) { a.Root = "/opt" }, "deb", "two levels deep"},
		{"root with a space", func(a *LinuxAgent) { a.Root = "/opt/my orbit" }, "deb", "letters, digits"},
		{"root with shell characters", func(a *LinuxAgent) { a.Root = "/opt/$(reboot)" }, "deb", "letters, digits"},
		{"unclean root", func(a *LinuxAgent) { a.Root = "/opt/orbit/" }, "deb", "clean"},
		{"bad name", func(a *LinuxAgent) { a.Name = "Orbit Agent" }, "deb", "name"},
		{"no trusted root", func(a *LinuxAgent) { a.TrustedRoot = nil }, "deb", "root.json"},
		{"no orbit", func(a *LinuxAgent) { a.Targets = a.Targets[1:] }, "deb", "no orbit target"},
		{"two orbits", func(a *LinuxAgent) { a.Targets = append(a.Targets, Target{"orbit", "linux", "edge", "orbit", nil}) }, "deb", "two orbit targets"},
		{"target path escape", func(a *LinuxAgent) { a.Targets[1].Channel = "../../etc" }, "deb", "each part"},
		{"derived setting", func(a *LinuxAgent) { a.Settings["ORBIT_ROOT_DIR"] = "/tmp" }, "deb", "derived"},
		{"bad setting name", func(a *LinuxAgent) { a.Settings["orbit-x"] = "1" }, "deb", "variable name"},
		{"newline in a setting", func(a *LinuxAgent) { a.Settings["ORBIT_X"] = "a\nORBIT_Y=b" }, "deb", "control character"},
		{"deb without copyright", func(a *LinuxAgent) { a.Copyright = nil }, "deb", "copyright"},
		{"unknown format", func(a *LinuxAgent) {}, "apk", "unknown format"},
		{"description systemd would expand", func(a *LinuxAgent) { a.Description = "100% orbit" }, "rpm", "expand"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := agent()
			a.Settings = map[string]string{"ORBIT_ENROLL_SECRET": "s"}
			tt.modify(&a)
			_, err := a.Files(tt.format)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Files error = %v, want one about %q", err, tt.want)
			}
		})
	}
}

// Values with quotes, backslashes, dollars and backquotes read back the
// same through sh's "." (the same rules as systemd's EnvironmentFile=).
func TestEnvFileReadsBack(t *testing.T) {
	t.Parallel()
	settings := map[string]string{
		"ORBIT_ENROLL_SECRET": `a"b\c$HOME` + "`id`" + `'d e`,
		"ORBIT_FLEET_URL":     "https://fleet.example.com:8443/x?y=1&z=%20",
		"ORBIT_EMPTY":         "",
	}
	data, err := EnvFile("orbit", settings)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "orbit")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, want := range settings {
		out, err := exec.Command("sh", "-c", `. "$0" && printf '%s' "$`+k+`"`, file).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != want {
			t.Errorf("%s read back as %q, want %q", k, out, want)
		}
	}
}

// The hooks are valid sh, and Root is what purge removes.
func TestLinuxScripts(t *testing.T) {
	t.Parallel()
	s, err := agent().Scripts()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"AfterInstall": s.AfterInstall, "BeforeRemove": s.BeforeRemove, "AfterRemove": s.AfterRemove, "AfterPurge": s.AfterPurge} {
		script := MaintainerScript("test", "hook", Hook{Func: "hook", Body: body})
		if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s is not valid sh: %v\n%s", name, err, out)
		}
		if strings.Contains(body, "command -v systemctl") && !strings.Contains(body, "[ -d /run/systemd/system ]") && name != "AfterPurge" {
			t.Errorf("%s decides on systemd by command -v systemctl alone", name)
		}
	}
	if !strings.Contains(s.AfterPurge, "rm -rf /opt/orbit\n") || !strings.Contains(s.AfterPurge, "/etc/default/orbit.rpmsave") {
		t.Errorf("AfterPurge:\n%s", s.AfterPurge)
	}
	if s.BeforeInstall != "" {
		t.Errorf("BeforeInstall has work to do: %q", s.BeforeInstall)
	}
}
