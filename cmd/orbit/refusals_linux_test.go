package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/orbitagent/orbit/internal/testdir"
)

// snapshot is every file under a directory: mode, and content or target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return nil
			}
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x %s", sha256.Sum256(b), fi.ModTime())
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// oldRoot is the root directory of an orbit that ran and stopped.
func oldRoot(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"bin", "staging", "osquery_log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "tuf"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"state.json":    `{"orbit_version":"0.9.0","components":{"orbit":{"state":"stopped"}}}` + "\n",
		"osquery.flags": "--logger_min_status=1\n",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Every input orbit refuses is refused before it touches the root
// directory: one line, exit code 2, and the root as it was (absent, or
// with an earlier run's state.json still saying "stopped").
func TestRefusalsLeaveTheRootDirAsItWas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	osq := osquerydBin(t)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notPEM := write("not.pem", "not a certificate\n", 0o644)
	secret := write("secret", "s3cret\n", 0o600)
	hugeSecret := write("huge-secret", strings.Repeat("s", 1<<20), 0o600)
	notExec := write("osqueryd-noexec", "#!/bin/sh\n", 0o644)
	// Parses as a root, but carries no signature of its own keys: go-tuf
	// refuses it at every check.
	unsigned := write("unsigned-root.json", `{"signed":{"_type":"root","spec_version":"1.0.31","version":1,"expires":"2099-01-01T00:00:00Z","keys":{},"roles":{}},"signatures":[]}`, 0o644)
	fifo := filepath.Join(dir, "secret-fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	goodRoot := string(newTUFRepo(t).root)
	// Its own directory: lumberjack (before orbit checked --log-file)
	// renamed a directory given as the log file out of the way.
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}

	local := []string{"--disable-updates", "--osqueryd-path=" + osq}
	fleetArgs := []string{"--disable-updates", "--osqueryd-path=" + osq, "--fleet-url=https://127.0.0.1:1"}
	with := func(base []string, more ...string) []string { return append(append([]string{}, base...), more...) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unsigned update root", []string{"--osqueryd-path=" + osq, "--update-url=https://127.0.0.1:1", "--update-roots=" + unsigned}, "not signed by their own root keys"},
		{"update CA not PEM", []string{"--osqueryd-path=" + osq, "--update-url=https://127.0.0.1:1", "--update-roots=" + goodRoot, "--update-tls-certificate=" + notPEM}, "--update-tls-certificate: CA bundle " + notPEM + " holds no PEM certificate"},
		{"fleet CA not PEM", with(fleetArgs, "--enroll-secret-path="+secret, "--fleet-certificate="+notPEM), "--fleet-certificate: CA bundle " + notPEM + " holds no PEM certificate"},
		{"update URL port", []string{"--osqueryd-path=" + osq, "--update-url=https://127.0.0.1:99999", "--update-roots=" + goodRoot}, "port 99999 is out of range"},
		{"fleet URL port", with(local, "--fleet-url=https://127.0.0.1:70000", "--enroll-secret-path="+secret), "port 70000 is out of range"},
		{"proxy port", with(fleetArgs, "--enroll-secret-path="+secret, "--fleet-proxy=http://127.0.0.1:65536"), "port 65536 is out of range"},
		{"log file is a directory", with(local, "--log-file="+logDir), "--log-file " + logDir + " is not a regular file"},
		{"log file under a file", with(local, "--log-file="+secret+"/orbit.log"), "which is not a directory"},
		{"log age overflows", with(local, "--log-file-max-age=200000"), "--log-file-max-age at most 36500"},
		{"interval too long", with(local, "--update-interval=2562047h"), "--update-interval 2562047h0m0s is too long"},
		{"osqueryd is a directory", []string{"--disable-updates", "--osqueryd-path=" + dir}, "--osqueryd-path " + dir + ": is not a file"},
		{"osqueryd not executable", []string{"--disable-updates", "--osqueryd-path=" + notExec}, "is not executable"},
		{"secret is a FIFO", with(fleetArgs, "--enroll-secret-path="+fifo), "not a regular file (it is a FIFO)"},
		{"secret is a device", with(fleetArgs, "--enroll-secret-path=/dev/zero"), "not a regular file (it is a device)"},
		{"secret is a directory", with(fleetArgs, "--enroll-secret-path="+dir), "not a regular file (it is a directory)"},
		{"secret of 1 MiB", with(fleetArgs, "--enroll-secret-path="+hugeSecret), "the limit for this file is 4 KiB"},
		{"inline secret too long", with(fleetArgs, "--enroll-secret="+strings.Repeat("s", 5000)), "longer than 4096 bytes"},
	}
	for _, tt := range tests {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/existing=%v", tt.name, existing), func(t *testing.T) {
				t.Parallel()
				// A short root: with t.TempDir's long names an orbit that
				// wrongly ran would stop at its socket path, not show
				// what it wrote.
				root := filepath.Join(testdir.Short(t), "orbit")
				if existing {
					oldRoot(t, root)
				}
				before := snapshot(t, root)
				_, stderr, code := runOrbit(t, nil, append([]string{"--root-dir=" + root}, tt.args...)...)
				if code != exitBadInput {
					t.Fatalf("exit code %d, want %d; stderr: %s", code, exitBadInput, stderr)
				}
				lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
				if len(lines) != 1 || !strings.HasPrefix(lines[0], "orbit: ") || !strings.Contains(lines[0], tt.want) {
					t.Fatalf("stderr = %q, want one line containing %q", stderr, tt.want)
				}
				if bytes.Contains([]byte(stderr), []byte("s3cret")) {
					t.Fatalf("the secret is in the error: %q", stderr)
				}
				after := snapshot(t, root)
				if fmt.Sprint(before) != fmt.Sprint(after) {
					t.Fatalf("the refused run changed the root dir:\nbefore %v\nafter  %v", before, after)
				}
			})
		}
	}
}
