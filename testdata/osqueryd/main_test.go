package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/golden"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testwait"
)

// binDir holds the binaries TestMain and buildVariant build.
var (
	binDir    string
	standin   string
	variantMu sync.Mutex
	variants  = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "osqueryd-standin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	standin = filepath.Join(dir, "osqueryd")
	if err := goBuild(standin, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goBuild(out, ldflags string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	args := []string{"build", "-o", out}
	if os.Getenv("OSQUERYD_STANDIN_TEST_RACE") == "1" {
		// Lets the daemon's own goroutines run under the race detector.
		args = append(args, "-race")
	}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	args = append(args, ".")
	cmd := exec.Command(goBin, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build osqueryd stand-in: %v\n%s", err, b)
	}
	return nil
}

// buildVariant builds the stand-in with extra ldflags once per test run.
func buildVariant(t *testing.T, name, ldflags string) string {
	t.Helper()
	variantMu.Lock()
	defer variantMu.Unlock()
	if p, ok := variants[name]; ok {
		return p
	}
	p := filepath.Join(binDir, name)
	if err := goBuild(p, ldflags); err != nil {
		t.Fatal(err)
	}
	variants[name] = p
	return p
}

type result struct {
	code           int
	stdout, stderr string
}

// runBin runs the binary to completion with a bounded wait.
func runBin(t *testing.T, bin string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not exit; stderr: %s", args, errb.String())
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

func queryJSON(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	r := runBin(t, standin, nil, "", args...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("%v: output is not a JSON array of objects: %v\n%s", args, err, r.stdout)
	}
	return rows
}

// flagValues reads flags back through the osquery_flags table.
func flagValues(t *testing.T, args ...string) map[string]string {
	t.Helper()
	all := append([]string{"-S", "--json", "select name, value from osquery_flags"}, args...)
	vals := map[string]string{}
	for _, r := range queryJSON(t, all...) {
		vals[r["name"]] = r["value"]
	}
	return vals
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFlagParsing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ff := writeFile(t, filepath.Join(dir, "osquery.flags"), `# server flags
--distributed_interval=5

  --verbose
--logger_path=/tmp/from-flagfile
--config_refresh=11
`)
	nested := writeFile(t, filepath.Join(dir, "outer.flags"), "--flagfile="+ff+"\n--config_refresh=12\n")
	unknownFF := writeFile(t, filepath.Join(dir, "unknown.flags"), "--verbose\n--distributed_intervall=5\n")
	spacedFF := writeFile(t, filepath.Join(dir, "spaced.flags"), "--distributed_interval 5\n--config_refresh=13\n")
	bareFF := writeFile(t, filepath.Join(dir, "bare.flags"), "--pack_delimiter\n--config_refresh=14\n")
	sectionFF := writeFile(t, filepath.Join(dir, "section.flags"), "otherprog\n--distributed_interval=3\nosquery*\n--config_refresh=15\n--verbose\n")
	aliasFF := writeFile(t, filepath.Join(dir, "alias.flags"), "--config_tls_refresh=34\n")
	cases := []struct {
		name string
		args []string
		want map[string]string
	}{
		{"equals", []string{"--distributed_interval=7"}, map[string]string{"distributed_interval": "7"}},
		{"separate value", []string{"--distributed_interval", "8"}, map[string]string{"distributed_interval": "8"}},
		{"single dash", []string{"-distributed_interval=9"}, map[string]string{"distributed_interval": "9"}},
		{"bool bare", []string{"--verbose"}, map[string]string{"verbose": "true"}},
		{"bool explicit false", []string{"--verbose=false"}, map[string]string{"verbose": "false"}},
		{"bool no-prefix", []string{"--verbose", "--noverbose"}, map[string]string{"verbose": "false"}},
		{"bool yes", []string{"--utc=yes"}, map[string]string{"utc": "true"}},
		{"enroll_secret_env with space", []string{"--enroll_secret_env", "ENROLL_SECRET"}, map[string]string{"enroll_secret_env": "ENROLL_SECRET"}},
		{"flagfile in place", []string{"--distributed_interval=1", "--flagfile=" + ff},
			map[string]string{"distributed_interval": "5", "verbose": "true", "logger_path": "/tmp/from-flagfile", "flagfile": ff}},
		{"later flag wins over flagfile", []string{"--flagfile", ff, "--distributed_interval=9", "--noverbose"},
			map[string]string{"distributed_interval": "9", "verbose": "false"}},
		{"nested flagfile", []string{"--flagfile=" + nested}, map[string]string{"distributed_interval": "5", "config_refresh": "12"}},
		{"defaults", nil, map[string]string{"distributed_interval": "60", "pack_delimiter": "_", "host_identifier": "hostname"}},
		// gflags ignores unknown flags and flags without a value in a
		// flagfile (gflags issue #61, osquery issue #1866); only the
		// command line refuses them.
		{"unknown in flagfile ignored", []string{"--flagfile=" + unknownFF}, map[string]string{"verbose": "true", "distributed_interval": "60"}},
		{"flagfile line with space ignored", []string{"--flagfile=" + spacedFF}, map[string]string{"distributed_interval": "60", "config_refresh": "13"}},
		{"flagfile string flag without value ignored", []string{"--flagfile=" + bareFF}, map[string]string{"pack_delimiter": "_", "config_refresh": "14"}},
		{"empty flagfile value reads nothing", []string{"--flagfile="}, map[string]string{"flagfile": "", "distributed_interval": "60"}},
		{"two flagfiles", []string{"--flagfile=" + ff + "," + spacedFF}, map[string]string{"distributed_interval": "5", "config_refresh": "13"}},
		{"program-name section", []string{"--flagfile=" + sectionFF}, map[string]string{"distributed_interval": "60", "config_refresh": "15", "verbose": "true"}},
		{"alias sets its flag", []string{"--config_tls_refresh=33"}, map[string]string{"config_refresh": "33"}},
		{"alias in flagfile", []string{"--flagfile=" + aliasFF}, map[string]string{"config_refresh": "34"}},
		{"no-prefix ignores its value", []string{"--verbose", "--noverbose=true"}, map[string]string{"verbose": "false"}},
		{"hex and sign", []string{"--distributed_interval=0x10", "--watchdog_level=-1"}, map[string]string{"distributed_interval": "16", "watchdog_level": "-1"}},
		{"undefok forgives unknown flags", []string{"--undefok=bogus,other", "--bogus=1", "--noother", "--config_refresh=16"}, map[string]string{"config_refresh": "16"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := flagValues(t, tc.args...)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("flag %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	trailing := writeFile(t, filepath.Join(dir, "trailing.flags"), "--distributed_interval=5 \n")
	crlf := writeFile(t, filepath.Join(dir, "crlf.flags"), "--verbose=true\r\n")
	badFF := writeFile(t, filepath.Join(dir, "bad.flags"), "--bogus\n--config_refresh=soon\n")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus_flag=1"}, "unknown command line flag 'bogus_flag'"},
		{"unknown bare flag", []string{"--pidfile=/x", "--extension_socket=/y"}, "unknown command line flag 'extension_socket'"},
		// A bad value is an error in a flagfile too: trailing blanks and
		// CRs stay in the value (osquery issue #7697).
		{"trailing space in flagfile", []string{"--flagfile=" + trailing}, "illegal value '5 ' specified for uint64 flag 'distributed_interval'"},
		{"CRLF flagfile", []string{"--flagfile=" + crlf}, "illegal value 'true\r' specified for bool flag 'verbose'"},
		{"bad value in flagfile", []string{"--flagfile=" + badFF}, "illegal value 'soon' specified for uint64 flag 'config_refresh'"},
		{"out of range", []string{"--watchdog_level=2147483648"}, "illegal value '2147483648' specified for int32 flag 'watchdog_level'"},
		{"negative unsigned", []string{"--carver_block_size=-1"}, "illegal value '-1' specified for uint32 flag 'carver_block_size'"},
		{"alias with a bad value", []string{"--config_tls_refresh=x"}, "illegal value 'x' specified for uint64 flag 'config_tls_refresh'"},
		{"every error reported", []string{"--bogus_a", "--bogus_b=1"}, "unknown command line flag 'bogus_a'\nERROR: unknown command line flag 'bogus_b'"},
		{"undefok does not forgive bad values", []string{"--undefok=verbose", "--verbose=maybe"}, "illegal value 'maybe'"},
		{"fromenv without the variable", []string{"--fromenv=distributed_interval"}, "FLAGS_distributed_interval not found in environment"},
		{"fromenv of an unknown flag", []string{"--tryfromenv=bogus"}, "unknown command line flag 'bogus' (via --fromenv or --tryfromenv)"},
		{"flag that left osquery", []string{"--enable_bpf_events"}, "unknown command line flag 'enable_bpf_events'"},
		{"missing flagfile", []string{"--flagfile=" + filepath.Join(dir, "nope")}, "cannot read flagfile"},
		{"bad integer", []string{"--distributed_interval=60.0"}, "illegal value '60.0' specified for uint64 flag 'distributed_interval'"},
		{"bad bool", []string{"--verbose=maybe"}, "illegal value 'maybe' specified for bool flag 'verbose'"},
		{"missing value", []string{"--pidfile"}, "flag 'pidfile' is missing its argument"},
		{"no-prefix on string", []string{"--nopidfile"}, "boolean value (--nopidfile) specified for string command line flag"},
		// Flags are checked before anything else, even --version.
		{"unknown with version", []string{"--version", "--nope"}, "unknown command line flag 'nope'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runBin(t, standin, nil, "", tc.args...)
			if r.code != 1 {
				t.Fatalf("exit code %d, want 1; stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("stderr %q does not contain %q", r.stderr, tc.want)
			}
		})
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"fromenv", []string{"FLAGS_distributed_interval=42"}, []string{"--fromenv=distributed_interval"}, "42"},
		{"tryfromenv without the variable", nil, []string{"--tryfromenv=distributed_interval"}, "60"},
		{"later flag wins", []string{"FLAGS_distributed_interval=42"}, []string{"--fromenv=distributed_interval", "--distributed_interval=43"}, "43"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-S", "--json", "select value from osquery_flags where name = 'distributed_interval'"}, tc.args...)
			r := runBin(t, standin, tc.env, "", args...)
			if r.code != 0 || !strings.Contains(r.stdout, `"value":"`+tc.want+`"`) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want value %s", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}

// fleetFlags is the argv orbit gives osqueryd in Fleet mode, without the
// flagfile (testdata/osqueryd-argv.golden).
func fleetFlags(t *testing.T, root, host, certs string) []string {
	return golden.OsquerydArgv(t, map[string]string{"root": root, "host": host, "ca": certs}, "fleet-tunable", "base", "fleet", "fleet-ca", "tail")
}

func TestFleetFlagListIsAccepted(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ff := writeFile(t, filepath.Join(root, "osquery.flags"), "--distributed_interval=7\n--verbose=true\n")
	if ff != filepath.Join(root, "osquery.flags") {
		t.Fatalf("flagfile at %s", ff)
	}
	args := golden.OsquerydArgv(t, map[string]string{"root": root, "host": "fleet.example:8080", "ca": "/tmp/certs.pem"},
		"fleet-tunable", "flagfile", "base", "fleet", "fleet-ca", "tail")
	got := flagValues(t, args...)
	want := map[string]string{"distributed_interval": "7", "verbose": "true", "carver_block_size": "2000000",
		"logger_plugin": "tls", "enroll_secret_env": "ENROLL_SECRET", "disable_distributed": "false",
		"extensions_autoload": "", "host_identifier": "uuid"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("flag %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	v513 := buildVariant(t, "osqueryd-5.13.1", "-X main.version=5.13.1")
	crash := buildVariant(t, "osqueryd-crash", "-X main.version=5.14.0 -X main.crashAtStart=1")
	cases := []struct {
		name     string
		bin      string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"default", standin, []string{"--version"}, 0, "osqueryd version 5.12.1\n"},
		{"single dash", standin, []string{"-version"}, 0, "osqueryd version 5.12.1\n"},
		{"ldflags", v513, []string{"--version"}, 0, "osqueryd version 5.13.1\n"},
		{"crash build still answers version", crash, []string{"--version"}, 0, "osqueryd version 5.14.0\n"},
		{"crash build fails daemon start", crash, []string{"--pidfile=" + filepath.Join(t.TempDir(), "p")}, 1, ""},
		{"crash build fails shell", crash, []string{"-S", "--json", "select 1"}, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runBin(t, tc.bin, nil, "", tc.args...)
			if r.code != tc.wantCode || r.stdout != tc.wantOut {
				t.Fatalf("got exit %d stdout %q, want %d %q (stderr %q)", r.code, r.stdout, tc.wantCode, tc.wantOut, r.stderr)
			}
		})
	}
	// osquery_info.version follows the build-time version too.
	rows := func() []map[string]string {
		r := runBin(t, v513, nil, "", "-S", "--json", "select version from osquery_info")
		var rows []map[string]string
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}()
	if len(rows) != 1 || rows[0]["version"] != "5.13.1" {
		t.Fatalf("osquery_info.version = %v, want 5.13.1", rows)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$`)

func TestShellQueries(t *testing.T) {
	t.Parallel()
	hostname, _ := os.Hostname()
	const fleetHostInfo = `
	SELECT
		si.uuid,
		si.hardware_serial,
		si.hostname,
		si.computer_name,
		si.hardware_model,
		os.platform,
		os.version as os_version,
		oi.instance_id,
		oi.version as osquery_version
	FROM system_info si, os_version os, osquery_info oi`
	dbDir := filepath.Join(t.TempDir(), "osquery.db")
	cases := []struct {
		name  string
		args  []string
		stdin string
		check func(t *testing.T, rows []map[string]string)
	}{
		{"system_info", []string{"-S", "--json", "select * from system_info"}, "", func(t *testing.T, rows []map[string]string) {
			if len(rows) != 1 {
				t.Fatalf("rows = %d", len(rows))
			}
			r := rows[0]
			if !uuidRE.MatchString(r["uuid"]) {
				t.Errorf("uuid %q is not an upper-case UUID", r["uuid"])
			}
			if r["hostname"] != hostname || r["computer_name"] == "" {
				t.Errorf("hostname %q computer_name %q, want %q", r["hostname"], r["computer_name"], hostname)
			}
			for _, c := range []string{"cpu_brand", "hardware_model", "hardware_serial", "physical_memory", "cpu_type"} {
				if _, ok := r[c]; !ok {
					t.Errorf("column %s missing", c)
				}
			}
		}},
		{"column list", []string{"--json", "-S", "select uuid, hostname from system_info;"}, "", func(t *testing.T, rows []map[string]string) {
			if len(rows) != 1 || len(rows[0]) != 2 || rows[0]["uuid"] == "" || rows[0]["hostname"] != hostname {
				t.Fatalf("rows = %v", rows)
			}
		}},
		{"double dash S", []string{"--S", "--json", "select platform, name from os_version"}, "", func(t *testing.T, rows []map[string]string) {
			want := runtime.GOOS
			if runtime.GOOS == "linux" {
				want = osReleaseID()
			}
			if len(rows) != 1 || rows[0]["platform"] != want || rows[0]["name"] == "" {
				t.Fatalf("rows = %v, want platform %q", rows, want)
			}
		}},
		{"osquery_info", []string{"-S", "select pid, version, instance_id, uuid from osquery_info", "--json"}, "", func(t *testing.T, rows []map[string]string) {
			if len(rows) != 1 || rows[0]["version"] != "5.12.1" || rows[0]["pid"] == "" || rows[0]["pid"] == "0" ||
				!uuidRE.MatchString(rows[0]["uuid"]) || rows[0]["instance_id"] == "" {
				t.Fatalf("rows = %v", rows)
			}
		}},
		{"fleet host info join", []string{"-S", "--database_path", dbDir, "--json", fleetHostInfo}, "", func(t *testing.T, rows []map[string]string) {
			if len(rows) != 1 {
				t.Fatalf("rows = %v", rows)
			}
			r := rows[0]
			if r["osquery_version"] != "5.12.1" || r["hostname"] != hostname || r["platform"] == "" || !uuidRE.MatchString(r["uuid"]) {
				t.Fatalf("row = %v", r)
			}
			if _, ok := r["os_version"]; !ok {
				t.Fatalf("alias os_version missing: %v", r)
			}
		}},
		{"stdin query", []string{"-S", "--json"}, "select uuid AS system_uuid from osquery_info;", func(t *testing.T, rows []map[string]string) {
			if len(rows) != 1 || !uuidRE.MatchString(rows[0]["system_uuid"]) {
				t.Fatalf("rows = %v", rows)
			}
		}},
		{"where and limit", []string{"-S", "--json", "select name, value from osquery_flags where name = 'distributed_interval' or name like 'pack_del%' limit 5", "--distributed_interval=3"}, "", func(t *testing.T, rows []map[string]string) {
			if len(rows) != 2 || rows[0]["name"] != "distributed_interval" || rows[0]["value"] != "3" || rows[1]["value"] != "_" {
				t.Fatalf("rows = %v", rows)
			}
		}},
		{"literal", []string{"-S", "--json", "select 1 as one, 'x' as two"}, "", func(t *testing.T, rows []map[string]string) {
			if len(rows) != 1 || rows[0]["one"] != "1" || rows[0]["two"] != "x" {
				t.Fatalf("rows = %v", rows)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runBin(t, standin, nil, tc.stdin, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d stderr %q", r.code, r.stderr)
			}
			var rows []map[string]string
			if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, r.stdout)
			}
			tc.check(t, rows)
		})
	}
	// The same database keeps the same instance id across runs.
	a := queryJSON(t, "-S", "--json", "--database_path="+dbDir, "select instance_id from osquery_info")
	b := queryJSON(t, "-S", "--json", "--database_path="+dbDir, "select instance_id from osquery_info")
	if a[0]["instance_id"] == "" || a[0]["instance_id"] != b[0]["instance_id"] {
		t.Fatalf("instance_id changed across runs with one database: %v vs %v", a, b)
	}
}

func osReleaseID() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "linux"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ID="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}

func TestShellErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, query, want string
	}{
		{"unknown table", "select * from no_such_table", "Error: no such table: no_such_table"},
		{"unknown column", "select nope from system_info", "Error: no such column: nope"},
		{"syntax", "selec * from system_info", "syntax error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runBin(t, standin, nil, "", "-S", "--json", tc.query)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d stderr %q, want non-zero and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestShellOutputModes(t *testing.T) {
	t.Parallel()
	r := runBin(t, standin, nil, "", "-S", "--csv", "--header=false", "select version from osquery_info")
	if r.stdout != "5.12.1\n" {
		t.Fatalf("csv output %q", r.stdout)
	}
	r = runBin(t, standin, nil, "", "-S", "select version from osquery_info")
	if !strings.Contains(r.stdout, "| version |") || !strings.Contains(r.stdout, "| 5.12.1  |") {
		t.Fatalf("pretty output %q", r.stdout)
	}
}

// proc is a running daemon under test.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *logcapture.Buffer
}

func startDaemon(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	// A grandchild holding stderr open must not block Wait forever.
	cmd.WaitDelay = 5 * time.Second
	p := &proc{cmd: cmd, done: make(chan struct{}), stderr: &logcapture.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait returns the exit code, failing the test if the process does not
// exit within a generous bound.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not exit; stderr: %s", p.stderr.String())
	}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return -int(ws.Signal())
	}
	return ws.ExitStatus()
}

// stop sends SIGTERM and wants a clean exit (0), as osqueryd's.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls for a condition with a generous deadline; it is not a
// timing assertion, only a bound on waiting for the daemon's side effects.
func waitFor(t *testing.T, p *proc, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, func() bool {
		if p != nil && p.exited() {
			t.Fatalf("daemon exited while waiting for %s; stderr: %s", what, p.stderr.String())
		}
		return cond()
	})
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestDaemonPidfileSocketAndSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := testdir.Short(t)
			pidfile, sock, db := filepath.Join(dir, "osquery.pid"), filepath.Join(dir, "o.em"), filepath.Join(dir, "osquery.db")
			p := startDaemon(t, standin, nil, "--pidfile="+pidfile, "--extensions_socket", sock, "--database_path="+db)
			waitFor(t, p, "socket", func() bool { return fileExists(sock) })
			b, err := os.ReadFile(pidfile)
			if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(p.cmd.Process.Pid) {
				t.Fatalf("pidfile = %q, %v; want %d", b, err, p.cmd.Process.Pid)
			}
			// The file appears at bind(2), a moment before listen(2): dial
			// until the listener is up.
			waitFor(t, p, "extensions socket accepting connections", func() bool {
				c, err := net.Dial("unix", sock)
				if err == nil {
					c.Close()
				}
				return err == nil
			})
			if fi, err := os.Stat(db); err != nil || !fi.IsDir() {
				t.Fatalf("database_path not created as a directory: %v", err)
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t); code != 0 {
				t.Fatalf("exit code %d after %v, want 0; stderr %s", code, sig, p.stderr.String())
			}
			if fileExists(pidfile) || fileExists(sock) {
				t.Fatalf("pidfile or socket left behind after clean exit")
			}
		})
	}
}

func TestDaemonRefusesSecondInstance(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	pidfile, db := filepath.Join(dir, "osquery.pid"), filepath.Join(dir, "osquery.db")
	first := startDaemon(t, standin, nil, "--pidfile="+pidfile, "--database_path="+db)
	waitFor(t, first, "pidfile", func() bool { return fileExists(pidfile) })

	// Same database, other pidfile: RocksDB's lock refuses it after
	// osquery's retries (exit 78; 1 without the watchdog).
	fast := []string{"OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"}
	r := runBin(t, standin, fast, "", "--pidfile="+filepath.Join(dir, "other.pid"), "--database_path="+db)
	if r.code != exitCatastrophic || !strings.Contains(r.stderr, "While lock file") {
		t.Fatalf("second daemon on the same database: exit %d, want %d; stderr %q", r.code, exitCatastrophic, r.stderr)
	}
	r = runBin(t, standin, fast, "", "--pidfile="+filepath.Join(dir, "other.pid"), "--database_path="+db, "--disable_watchdog")
	if r.code != exitFailure {
		t.Fatalf("second daemon without watchdog: exit %d, want %d; stderr %q", r.code, exitFailure, r.stderr)
	}
	if runtime.GOOS == "linux" {
		// Same pidfile, other database: the pidfile names a live osqueryd.
		r = runBin(t, standin, nil, "", "--pidfile="+pidfile, "--database_path="+filepath.Join(dir, "db2"))
		if r.code != 1 || !strings.Contains(r.stderr, "already running") {
			t.Fatalf("second daemon with the same pidfile: exit %d stderr %q", r.code, r.stderr)
		}
	}
	_ = first.cmd.Process.Signal(syscall.SIGTERM)
	if code := first.wait(t); code != 0 {
		t.Fatalf("first daemon exit %d", code)
	}
}

func TestStalePidfileAndSocketAreReplaced(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	pidfile, sock := filepath.Join(dir, "osquery.pid"), filepath.Join(dir, "o.em")
	writeFile(t, pidfile, "999999999")
	writeFile(t, sock, "stale")
	p := startDaemon(t, standin, nil, "--pidfile="+pidfile, "--extensions_socket="+sock)
	waitFor(t, p, "socket", func() bool {
		fi, err := os.Lstat(sock)
		return err == nil && fi.Mode()&os.ModeSocket != 0
	})
	if b, _ := os.ReadFile(pidfile); string(b) != fmt.Sprint(p.cmd.Process.Pid) {
		t.Fatalf("pidfile = %q", b)
	}
	p.stop(t)
}

func TestEnvSwitches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		env      []string
		wantCode int
		// pidfile: whether a pidfile must exist after exit (a crash leaves it)
		wantPidfileAfter bool
	}{
		{"exit code alone", []string{"OSQUERYD_STANDIN_EXIT_CODE=3"}, 3, false},
		{"exit code zero", []string{"OSQUERYD_STANDIN_EXIT_CODE=0"}, 0, false},
		{"crash after ms default code", []string{"OSQUERYD_STANDIN_CRASH_AFTER_MS=50"}, 1, true},
		{"crash after ms with code", []string{"OSQUERYD_STANDIN_CRASH_AFTER_MS=50", "OSQUERYD_STANDIN_EXIT_CODE=42"}, 42, true},
		{"bad exit code", []string{"OSQUERYD_STANDIN_EXIT_CODE=x"}, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testdir.Short(t)
			pidfile := filepath.Join(dir, "osquery.pid")
			p := startDaemon(t, standin, tc.env, "--pidfile="+pidfile)
			if code := p.wait(t); code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.wantCode, p.stderr.String())
			}
			if fileExists(pidfile) != tc.wantPidfileAfter {
				t.Fatalf("pidfile exists = %v, want %v", fileExists(pidfile), tc.wantPidfileAfter)
			}
		})
	}
}

func TestIgnoreSIGTERM(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	pidfile := filepath.Join(dir, "osquery.pid")
	p := startDaemon(t, standin, []string{"OSQUERYD_STANDIN_IGNORE_SIGTERM=1"}, "--pidfile="+pidfile)
	waitFor(t, p, "pidfile", func() bool { return fileExists(pidfile) })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Proving a non-event needs a wait; it bounds nothing about speed.
	select {
	case <-p.done:
		t.Fatalf("daemon exited on SIGTERM although told to ignore it")
	case <-time.After(300 * time.Millisecond):
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want killed by SIGKILL", code)
	}
}

func TestHang(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	pidfile, sock := filepath.Join(dir, "osquery.pid"), filepath.Join(dir, "o.em")
	p := startDaemon(t, standin, []string{"OSQUERYD_STANDIN_HANG=1"}, "--pidfile="+pidfile, "--extensions_socket="+sock)
	waitFor(t, p, "pidfile", func() bool { return fileExists(pidfile) })
	if fileExists(sock) {
		t.Fatalf("a hung daemon must not create its extensions socket")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if fileExists(pidfile) {
		t.Fatalf("pidfile left behind")
	}
}

func TestRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rec := filepath.Join(dir, "record.jsonl")
	env := []string{"OSQUERYD_STANDIN_RECORD=" + rec, "ENROLL_SECRET=topsecret-value-123"}
	runs := [][]string{
		{"--version"},
		{"--enroll_secret_env", "ENROLL_SECRET", "-S", "--json", "select 1"},
		{"--bogus"}, // recorded even though it fails
	}
	for _, args := range runs {
		runBin(t, standin, env, "", args...)
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "topsecret-value-123") {
		t.Fatalf("record file contains an environment value")
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	i := 0
	for ; sc.Scan(); i++ {
		var r startRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if i >= len(runs) {
			t.Fatalf("more lines than starts")
		}
		if strings.Join(r.Argv[1:], " ") != strings.Join(runs[i], " ") || r.Pid <= 0 {
			t.Fatalf("line %d: argv %v pid %d, want %v", i, r.Argv, r.Pid, runs[i])
		}
		if !contains(r.Env, "ENROLL_SECRET") || !contains(r.Env, "OSQUERYD_STANDIN_RECORD") {
			t.Fatalf("line %d: env names %v miss ENROLL_SECRET", i, r.Env)
		}
	}
	if i != len(runs) {
		t.Fatalf("%d lines, want %d", i, len(runs))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
