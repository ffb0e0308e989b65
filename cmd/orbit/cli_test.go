package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runOrbit(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// A refusal is immediate; an orbit that runs instead is killed, so the
	// test fails on its exit code rather than hanging.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, orbitBin(t), args...)
	cmd.WaitDelay = 5 * time.Second // osqueryd children may hold the output pipes
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), exitCode(err)
}

func TestBadFlagsGiveOneClearError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	osq := osquerydBin(t)
	empty := filepath.Join(dir, "empty-secret")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(cert, []byte("pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := "--root-dir=" + filepath.Join(dir, "root")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{"secret and secret path", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret=a", "--enroll-secret-path=" + empty}, "--enroll-secret and --enroll-secret-path are mutually exclusive"},
		{"insecure and certificate", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret=a", "--insecure", "--fleet-certificate=" + cert}, "--insecure with --fleet-certificate: insecure and a CA bundle are mutually exclusive"},
		{"fleet and standalone", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret=a", "--osquery-config=" + cert}, "--fleet-url and --osquery-config are mutually exclusive"},
		{"plain http fleet", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=http://f.example.com", "--enroll-secret=a"}, "must start with https://"},
		{"fleet without secret", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com"}, "--fleet-url needs an enroll secret"},
		{"empty secret file", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret-path=" + empty}, "is empty"},
		{"secret without fleet", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--enroll-secret=a"}, "--enroll-secret needs --fleet-url"},
		{"missing osqueryd", []string{root, "--disable-updates", "--osqueryd-path=" + filepath.Join(dir, "nope")}, "--osqueryd-path " + filepath.Join(dir, "nope") + ": file not found"},
		{"no osqueryd and no updates", []string{root, "--disable-updates"}, "--disable-updates with no osqueryd installed"},
		{"updates without a repository", []string{root, "--osqueryd-path=" + osq}, "pass --update-url"},
		{"updates without root", []string{root, "--osqueryd-path=" + osq, "--update-url=https://updates.example.com"}, "pass --update-roots"},
		{"short interval", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--update-interval=1s"}, "--update-interval 1s is too short"},
		{"bad duration", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--update-interval=soon"}, "invalid value \"soon\""},
		{"bad channel", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--osqueryd-channel=../x"}, "is not a channel name"},
		{"bad grace", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--stop-grace=0s"}, "--stop-grace 0s must be between"},
		{"proxy credentials", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret=a", "--fleet-proxy=http://u:pw@proxy:3128"}, "--fleet-proxy must not carry credentials"},
		{"fleet url credentials", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://u:pw@f.example.com", "--enroll-secret=a"}, "--fleet-url must not carry credentials"},
		{"update url credentials", []string{root, "--osqueryd-path=" + osq, "--update-roots={}", "--update-url=https://u:pw@updates.example.com"}, "--update-url must not carry credentials"},
		{"bad proxy", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret=a", "--fleet-proxy=::nope"}, "--fleet-proxy"},
		{"desktop path without the tray", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--desktop-path=" + osq}, "--desktop-path needs --fleet-desktop"},
		{"tray without updates or path", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret=a", "--fleet-desktop"}, "--fleet-desktop with --disable-updates needs --desktop-path"},
		{"tray browser host with a path", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret=a", "--fleet-desktop", "--desktop-path=" + osq, "--fleet-desktop-alternative-browser-host=h/x"}, "must be a host or host:port"},
		{"end-user email without fleet", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--end-user-email=jane@example.com"}, "--end-user-email needs --fleet-url"},
		{"bad end-user email", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://f.example.com", "--enroll-secret=a", "--end-user-email=jane"}, "--end-user-email must be one email address"},
		// osqueryd would exit at once on these, and orbit would crash-loop it.
		{"unknown osqueryd flag after --", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--", "--no_such_flag=1"}, `osqueryd arguments after --: osqueryd defines no flag "no_such_flag"`},
		{"ill-typed osqueryd flag after --", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--", "--distributed_interval=soon"}, "osqueryd arguments after --"},
		{"bad host identifier", []string{root, "--disable-updates", "--osqueryd-path=" + osq, "--host-identifier=hostname"}, `--host-identifier "hostname" is not valid: use uuid or instance`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runOrbit(t, nil, tt.args...)
			if code != exitBadInput {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitBadInput, stderr)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "orbit: ") || !strings.Contains(lines[0], tt.want) {
				t.Fatalf("stderr = %q, want one line containing %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Fatalf("unexpected stdout %q", stdout)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "root")); !os.IsNotExist(err) {
		t.Fatalf("refused runs created the root dir: %v", err)
	}
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	out, _, code := runOrbit(t, nil, "version")
	if code != 0 || strings.TrimSpace(out) != "orbit 1.0.0-test" {
		t.Fatalf("orbit version = %q (exit %d)", out, code)
	}
}

func TestStatusCommand(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "orbit")
	_, stderr, code := runOrbit(t, nil, "status", "--root-dir="+root)
	if code == 0 || !strings.Contains(stderr, "orbit has not run with this root directory yet") {
		t.Fatalf("status before any run: exit %d, stderr %q", code, stderr)
	}

	p := startOrbit(t, root, nil)
	pid := waitOsquerydRunning(t, root, 0)
	out, _, code := runOrbit(t, nil, "status", "--root-dir="+root)
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	for _, want := range []string{"orbit 1.0.0-test running (pid ", "osqueryd", "running", "5.12.1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, " "+itoa(pid)+" ") {
		t.Fatalf("status output lacks osqueryd pid %d:\n%s", pid, out)
	}
	p.cmd.Process.Signal(os.Interrupt)
	p.wait(t, 30e9)
	out, _, _ = runOrbit(t, nil, "status", "--root-dir="+root)
	if !strings.Contains(out, "orbit is not running") {
		t.Fatalf("status after stop:\n%s", out)
	}
}
