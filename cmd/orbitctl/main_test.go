package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/updater/repo"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// orbitctl is this program, built once per test binary.
func orbitctl(t testing.TB) string {
	t.Helper()
	return testbin.Build(t, "./cmd/orbitctl", "orbitctl", "")
}

var secrets = map[string]string{
	"ROOT": "Pw-root-7c1d", "TARGETS": "Pw-targets-92aa", "SNAPSHOT": "Pw-snapshot-0e4b", "TIMESTAMP": "Pw-timestamp-55f3",
}

// env is the test process environment without any passphrase variables,
// plus the given ones.
func env(prefix string, override map[string]string) []string {
	var e []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORBIT_") && !strings.HasPrefix(kv, "FLEET_") {
			e = append(e, kv)
		}
	}
	for role, p := range secrets {
		if v, ok := override[role]; ok {
			p = v
		}
		e = append(e, prefix+role+"_PASSPHRASE="+p)
	}
	return e
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(orbitctl(t), args...)
	cmd.Env = environ
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run orbitctl: %v", err)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Fatalf("orbitctl %v printed a passphrase", args)
		}
	}
	return r
}

func mustRun(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	r := run(t, environ, args...)
	if r.code != 0 {
		t.Fatalf("orbitctl %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

func tree(t *testing.T, dir string) map[string]string {
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".orbitctl.lock" {
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return err
	})
	return m
}

// sameTree fails the test if dir's files differ from before (a tree of
// it): what commands that failed (what) must not have changed.
func sameTree(t *testing.T, dir string, before map[string]string, what string) {
	t.Helper()
	after := tree(t, dir)
	if len(before) != len(after) {
		t.Fatalf("%s changed the file set: %d -> %d files", what, len(before), len(after))
	}
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed %s", what, p)
		}
	}
}

func TestCLIEndToEnd(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"ORBIT_", "FLEET_"} {
		t.Run(prefix, func(t *testing.T) {
			t.Parallel()
			e := env(prefix, nil)
			dir := filepath.Join(t.TempDir(), "tuf")
			mustRun(t, e, "updates", "init", "--path", dir, "--root-keys", "2", "--root-threshold", "2", "--timestamp-expires", "3d")

			roots := mustRun(t, e, "updates", "roots", "--path", dir).stdout
			disk, _ := os.ReadFile(filepath.Join(dir, "repository", "root.json"))
			if roots != string(disk) || !strings.Contains(roots, `"_type": "root"`) {
				t.Fatalf("roots printed %q", roots)
			}
			trusted := filepath.Join(t.TempDir(), "root.json")
			os.WriteFile(trusted, []byte(roots), 0o644)

			bin := filepath.Join(t.TempDir(), "orbit-linux-amd64")
			os.WriteFile(bin, bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 5000), 0o755)
			mustRun(t, e, "updates", "add", "--path", dir, "--target", bin, "--name", "orbit", "--platform", "linux",
				"--version", "1.38.0", "-t", "stable", "-t", "1.38", "-t", "1", "--file-name", "orbit")

			var st repo.Status
			if err := json.Unmarshal([]byte(mustRun(t, e, "updates", "status", "--path", dir, "--json").stdout), &st); err != nil {
				t.Fatal(err)
			}
			if len(st.Targets) != 3 || st.Targets[0].File != "orbit" || st.Targets[0].Version != "1.38.0" || st.Targets[0].Length != 20000 {
				t.Fatalf("status targets = %+v", st.Targets)
			}
			versions := map[string]int64{}
			for _, r := range st.Roles {
				versions[r.Role] = r.Version
				if r.Role == "timestamp" && !r.ExpiresSoon {
					t.Errorf("3-day timestamp not flagged as expiring soon")
				}
			}
			if human := mustRun(t, e, "updates", "status", "--path", dir).stdout; !strings.Contains(human, "WARNING: expires in") || !strings.Contains(human, "orbit      linux") {
				t.Errorf("human status lacks warning or target:\n%s", human)
			}

			var rep repo.Report
			if err := json.Unmarshal([]byte(mustRun(t, e, "updates", "verify", "--path", dir, "--root", trusted, "--json").stdout), &rep); err != nil {
				t.Fatal(err)
			}
			if !rep.OK || len(rep.Targets) != 3 || len(rep.Roles) != 4 {
				t.Fatalf("verify report %+v", rep)
			}

			mustRun(t, e, "updates", "timestamp", "--path", dir)
			mustRun(t, e, "updates", "rotate", "--path", dir, "targets")
			mustRun(t, e, "updates", "rotate", "root", "--path", dir) // flags after the role
			if err := json.Unmarshal([]byte(mustRun(t, e, "updates", "status", "--path", dir, "--json").stdout), &st); err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{"root": 3, "targets": versions["targets"] + 1, "snapshot": versions["snapshot"] + 1, "timestamp": versions["timestamp"] + 2}
			for _, r := range st.Roles {
				if r.Version != want[r.Role] {
					t.Errorf("%s version %d, want %d", r.Role, r.Version, want[r.Role])
				}
			}
			// The root clients shipped with still verifies the rotated repository.
			if r := run(t, e, "updates", "verify", "--path", dir, "--root", trusted); r.code != 0 || !strings.Contains(r.stdout, "result: OK") {
				t.Fatalf("verify after rotations: %d %s %s", r.code, r.stdout, r.stderr)
			}

			before := tree(t, dir)
			for _, tc := range []struct {
				env  []string
				args []string
				want string
			}{
				{env(prefix, map[string]string{"TARGETS": "wrong"}), []string{"updates", "add", "--path", dir, "--target", bin, "--name", "orbit", "--platform", "linux", "--version", "1.39.0", "-t", "edge"}, "wrong passphrase"},
				{e, []string{"updates", "add", "--path", dir, "--target", bin, "--name", "orbit", "--platform", "linux", "--version", "v1", "-t", "edge"}, "not a semantic version"},
				{e, []string{"updates", "add", "--path", dir, "--target", bin + ".missing", "--name", "orbit", "--platform", "linux", "--version", "1.0.0", "-t", "edge"}, "no such file"},
				{e, []string{"updates", "rotate", "--path", dir, "superuser"}, "unknown role"},
				{e, []string{"updates", "timestamp", "--path", t.TempDir()}, "not an orbitctl update repository"},
				{e, []string{"updates", "init", "--path", dir}, "already"},
			} {
				r := run(t, tc.env, tc.args...)
				if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("orbitctl %v: exit %d, stderr %q; want failure mentioning %q", tc.args[1:], r.code, r.stderr, tc.want)
				}
			}
			sameTree(t, dir, before, "failed commands")
		})
	}
}

func TestCLIServe(t *testing.T) {
	t.Parallel()
	e := env("ORBIT_", nil)
	dir := filepath.Join(t.TempDir(), "tuf")
	mustRun(t, e, "updates", "init", "--path", dir)
	cmd := exec.Command(orbitctl(t), "updates", "serve", "--path", dir, "--addr", "127.0.0.1:0")
	cmd.Env = e
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := line[strings.Index(line, "http://"):]
	url = strings.TrimSpace(url)
	resp, err := http.Get(url + "/timestamp.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	disk, _ := os.ReadFile(filepath.Join(dir, "repository", "timestamp.json"))
	if resp.StatusCode != 200 || !bytes.Equal(body, disk) || resp.Header.Get("Cache-Control") != repo.CacheShort {
		t.Fatalf("GET timestamp.json: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if resp, err := http.Get(url + "/../keys/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("keys reachable: %d", resp.StatusCode)
		}
	}
	if runtime.GOOS != "windows" {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve exit after SIGTERM: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop on SIGTERM")
		}
	}
}

// rootKeyIDs returns the key IDs root.json lists for each role.
func rootKeyIDs(t *testing.T, dir string) (int64, map[string][]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "repository", "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Signed struct {
			Version int64 `json:"version"`
			Roles   map[string]struct {
				KeyIDs []string `json:"keyids"`
			} `json:"roles"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	ids := map[string][]string{}
	for role, r := range root.Signed.Roles {
		ids[role] = r.KeyIDs
	}
	return root.Signed.Version, ids
}

// TestCLIRotateFlagOrder runs `rotate` with its flags before, after and
// around the ROLE: urfave/cli v2 alone ignores flags after a positional
// argument, which made `rotate ROLE --path X` fail.
func TestCLIRotateFlagOrder(t *testing.T) {
	t.Parallel()
	e := env("ORBIT_", nil)
	for _, tc := range []struct {
		name string
		args func(dir string) []string
		role string
		// timestampLife, when set, is the lifetime the rotation must give
		// the re-signed timestamp (an expiry flag given after the role).
		timestampLife time.Duration
	}{
		{"flags first", func(d string) []string { return []string{"--path", d, "targets"} }, "targets", 0},
		{"flags after role", func(d string) []string { return []string{"targets", "--path", d} }, "targets", 0},
		{"equals form after role", func(d string) []string { return []string{"snapshot", "--path=" + d} }, "snapshot", 0},
		{"expiry flag after role", func(d string) []string { return []string{"timestamp", "--path", d, "--timestamp-expires", "2d"} }, "timestamp", 48 * time.Hour},
		{"flags around role", func(d string) []string { return []string{"--timestamp-expires", "5d", "root", "--path", d} }, "root", 0},
		{"after double dash", func(d string) []string { return []string{"--path", d, "--", "targets"} }, "targets", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "tuf")
			mustRun(t, e, "updates", "init", "--path", dir)
			v0, before := rootKeyIDs(t, dir)
			start := time.Now()
			mustRun(t, e, append([]string{"updates", "rotate"}, tc.args(dir)...)...)
			v1, after := rootKeyIDs(t, dir)
			if v1 != v0+1 {
				t.Fatalf("root version %d -> %d, want one rotation in %s", v0, v1, dir)
			}
			for role, ids := range after {
				changed := !slices.Equal(ids, before[role])
				if changed != (role == tc.role) {
					t.Errorf("role %s keys %v -> %v; only %s should change", role, before[role], ids, tc.role)
				}
			}
			if tc.timestampLife > 0 {
				var st repo.Status
				if err := json.Unmarshal([]byte(mustRun(t, e, "updates", "status", "--path", dir, "--json").stdout), &st); err != nil {
					t.Fatal(err)
				}
				for _, r := range st.Roles {
					// Bounds, not a duration measurement: the expiry was set
					// from a clock read between start and now.
					if r.Role == "timestamp" && (r.Expires.Before(start.Add(tc.timestampLife).Add(-time.Second)) || r.Expires.After(time.Now().Add(tc.timestampLife))) {
						t.Errorf("timestamp expires %s, want %s after the rotation", r.Expires, tc.timestampLife)
					}
				}
			}
		})
	}

	dir := filepath.Join(t.TempDir(), "tuf")
	mustRun(t, e, "updates", "init", "--path", dir)
	before := tree(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"targets", "--path", dir, "--bogus"}, "flag provided but not defined: --bogus"},
		{[]string{"targets", "root", "--path", dir}, "exactly one ROLE"},
		{[]string{"--path", dir}, "exactly one ROLE"},
		{[]string{"targets", "--path"}, "--path needs a value"},
		{[]string{"targets", "--path", dir, "--timestamp-expires", "soon"}, "invalid lifetime"},
		// n days overflow a time.Duration: refused, not replaced by the default.
		{[]string{"targets", "--path", dir, "--targets-expires", "99999999999d"}, "invalid lifetime"},
		{[]string{"targets", "--path", dir, "--targets-expires", "99999999999999999999"}, "invalid lifetime"},
		{[]string{"superuser", "--path", dir}, "unknown role"},
	} {
		r := run(t, e, append([]string{"updates", "rotate"}, tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("rotate %v: exit %d, stderr %q; want failure mentioning %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	sameTree(t, dir, before, "failed rotations")
}

func TestParseLifetime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true},
		{"30", 30 * 24 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"36500d", 36500 * 24 * time.Hour, true},
		{"36501d", 0, false},
		{"99999999999d", 0, false}, // wraps around as a time.Duration
		{"106752d", 0, false},      // the first day count that overflows
		{"99999999999999999999d", 0, false},
		{"2562047h", 0, false}, // a valid Go duration, but past the cap
		{"0d", 0, false},
		{"-1d", 0, false},
		{"soon", 0, false},
	} {
		got, err := parseLifetime(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("parseLifetime(%q) = %s, %v; want %s (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
