package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/golden"
	"github.com/orbitagent/orbit/internal/testwait"
)

func TestKilledOsquerydIsRestarted(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "orbit")
	startOrbit(t, root, nil)
	first := waitOsquerydRunning(t, root, 0)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := waitOsquerydRunning(t, root, first)
	if second == first {
		t.Fatalf("osqueryd pid unchanged: %d", first)
	}
	if c := osquerydState(t, root); c.Restarts < 1 {
		t.Fatalf("restarts = %d, want >= 1", c.Restarts)
	}
}

func TestSIGTERMLeavesNoChild(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
	}{
		{"child honours SIGTERM", nil},
		{"child ignores SIGTERM", []string{"OSQUERYD_STANDIN_IGNORE_SIGTERM=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "orbit")
			p := startOrbit(t, root, tt.env)
			child := waitOsquerydRunning(t, root, 0)
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := p.wait(t, 30*time.Second); err != nil {
				t.Fatalf("orbit exit: %v\n%s", err, p.log.String())
			}
			if alive(child) {
				t.Fatalf("osqueryd %d survived orbit's exit", child)
			}
		})
	}
}

func TestKill9OrbitLeavesNoChild(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "orbit")
	p := startOrbit(t, root, []string{"OSQUERYD_STANDIN_IGNORE_SIGTERM=1"})
	child := waitOsquerydRunning(t, root, 0)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 30*time.Second)
	// The parent-death signal is SIGKILL, so even a child that ignores
	// SIGTERM goes.
	testwait.For(t, "osqueryd gone after orbit was killed", func() bool { return !alive(child) })
}

func TestStaleOsquerydIsCleanedUpAtStart(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "orbit")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// An osqueryd orphaned by an orbit on a platform without parent-death
	// signals: same root, own process group, alive.
	stale := exec.Command(osquerydBin(t), "--pidfile="+filepath.Join(root, "osquery.pid"), "--database_path="+filepath.Join(root, "osquery.db"))
	stale.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := stale.Start(); err != nil {
		t.Fatal(err)
	}
	go stale.Wait()
	t.Cleanup(func() { stale.Process.Kill() })
	testwait.For(t, "stale pid file", func() bool {
		b, err := os.ReadFile(filepath.Join(root, "osquery.pid"))
		return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(stale.Process.Pid)
	})

	startOrbit(t, root, nil)
	fresh := waitOsquerydRunning(t, root, stale.Process.Pid)
	testwait.For(t, "stale osqueryd stopped", func() bool { return !alive(stale.Process.Pid) })
	if !alive(fresh) {
		t.Fatalf("new osqueryd %d not running", fresh)
	}
}

// A second orbit on the same root is refused, also after orbit.lock was
// removed from under the first: the root directory itself is locked.
func TestSecondOrbitOnSameRootIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		removeLock bool
		want       func(first int) string
	}{
		{"lock file in place", false, func(first int) string {
			return fmt.Sprintf("already running with this root directory (pid %d", first)
		}},
		{"lock file removed", true, func(int) string { return "already running with this root directory" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "orbit")
			first := startOrbit(t, root, nil)
			waitOsquerydRunning(t, root, 0)
			if tc.removeLock {
				if err := os.Remove(filepath.Join(root, "orbit.lock")); err != nil {
					t.Fatal(err)
				}
			}
			second := startOrbit(t, root, nil)
			err := second.wait(t, 30*time.Second)
			if code := exitCode(err); code != exitBadInput {
				t.Fatalf("second orbit exit code %d, want %d; output:\n%s", code, exitBadInput, second.log.String())
			}
			out := strings.TrimSpace(second.log.String())
			if want := tc.want(first.cmd.Process.Pid); !strings.Contains(out, want) {
				t.Fatalf("second orbit said %q, want it to contain %q", out, want)
			}
			if strings.Count(out, "\n") != 0 {
				t.Fatalf("want one line, got:\n%s", out)
			}
			select {
			case <-first.done:
				t.Fatal("first orbit exited")
			default:
			}
		})
	}
}

// A symbolic link at orbit.lock is refused, and the file it points at is
// not overwritten with orbit's pid.
func TestLockFileSymlinkIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := filepath.Join(dir, "orbit")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "passwd")
	if err := os.WriteFile(target, []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(root, "orbit.lock")); err != nil {
		t.Fatal(err)
	}
	p := startOrbit(t, root, nil)
	if code := exitCode(p.wait(t, 30*time.Second)); code != exitBadInput {
		t.Fatalf("exit code %d, want %d; output:\n%s", code, exitBadInput, p.log.String())
	}
	if out := p.log.String(); !strings.Contains(out, "symbolic link") {
		t.Fatalf("output %q does not name the link", out)
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0:root:/root:/bin/sh\n" {
		t.Fatalf("the link's target was overwritten: %q", b)
	}
}

func TestSecretNeverInArgvOrLogs(t *testing.T) {
	t.Parallel()
	const secret = "Sup3r-s3cret-enroll-value"
	root := filepath.Join(t.TempDir(), "orbit")
	// Nothing listens on port 1: osqueryd keeps failing to enroll, which
	// is the path most likely to log what it sent.
	p := startOrbit(t, root, []string{"ORBIT_ENROLL_SECRET=" + secret}, "--fleet-url=https://127.0.0.1:1", "--debug")
	child := waitOsquerydRunning(t, root, 0)

	for _, pid := range []int{p.cmd.Process.Pid, child} {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(cmdline, []byte(secret)) {
			t.Fatalf("secret on argv of pid %d: %q", pid, cmdline)
		}
	}
	// The secret does reach osqueryd, through its environment.
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", child))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(environ, []byte("\x00ENROLL_SECRET="+secret+"\x00")) && !bytes.HasPrefix(environ, []byte("ENROLL_SECRET="+secret+"\x00")) {
		t.Fatalf("osqueryd environment lacks ENROLL_SECRET")
	}
	if bytes.Contains(environ, []byte("ORBIT_ENROLL_SECRET=")) {
		t.Fatalf("orbit's own secret variable leaked into osqueryd's environment")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	if strings.Contains(p.log.String(), secret) {
		t.Fatalf("secret in orbit's log:\n%s", p.log.String())
	}
	if !strings.Contains(p.log.String(), "orbit starting") {
		t.Fatalf("expected a log to check, got:\n%s", p.log.String())
	}
}

func TestRefusesWritableRootDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(root string) error
		path  func(root string) string
	}{
		{"root dir world-writable", func(root string) error { return os.Chmod(root, 0o777) }, func(root string) string { return root }},
		{"binary group-writable", func(root string) error {
			dir := filepath.Join(root, "bin", "osqueryd", "linux", "stable")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			bin := filepath.Join(dir, "osqueryd")
			if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
				return err
			}
			return os.Chmod(bin, 0o775) // WriteFile's mode is masked by umask
		}, func(root string) string { return filepath.Join(root, "bin", "osqueryd", "linux", "stable", "osqueryd") }},
		// Not only the root and bin/: every directory orbit writes into.
		{"staging world-writable", func(root string) error {
			if err := os.Mkdir(filepath.Join(root, "staging"), 0o755); err != nil {
				return err
			}
			return os.Chmod(filepath.Join(root, "staging"), 0o777)
		}, func(root string) string { return filepath.Join(root, "staging") }},
		// And the directories above the root.
		{"parent world-writable", func(root string) error { return os.Chmod(filepath.Dir(root), 0o777) },
			func(root string) string { return filepath.Dir(root) + ", on the way to " + root + "," }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "orbit")
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(root); err != nil {
				t.Fatal(err)
			}
			p := startOrbit(t, root, nil)
			err := p.wait(t, 30*time.Second)
			if code := exitCode(err); code != exitBadInput {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, exitBadInput, p.log.String())
			}
			if want := tt.path(root) + " is writable by group or others"; !strings.Contains(p.log.String(), want) {
				t.Fatalf("output %q lacks %q", p.log.String(), want)
			}
		})
	}
}

type startRecord struct {
	Argv []string  `json:"argv"`
	Env  []string  `json:"env"`
	PID  int       `json:"pid"`
	Time time.Time `json:"time"`
}

func readRecords(t *testing.T, path string) []startRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []startRecord
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r startRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad record line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// daemonStarts are the recorded runs of osqueryd as a daemon: the Fleet
// agent's host-facts query (`osqueryd -S`) and orbit's `--version` probe
// are recorded too.
func daemonStarts(t *testing.T, path string) []startRecord {
	t.Helper()
	var out []startRecord
	for _, r := range readRecords(t, path) {
		if !slices.Contains(r.Argv, "-S") && !slices.Contains(r.Argv, "--version") {
			out = append(out, r)
		}
	}
	return out
}

// TestOsquerydArgvFromRealRun checks the command line a real orbit gives a
// real osqueryd, in Fleet mode with every optional flag, against
// testdata/osqueryd-argv.golden.
func TestOsquerydArgvFromRealRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := filepath.Join(dir, "orbit")
	record := filepath.Join(dir, "starts.jsonl")
	// A real CA bundle (orbit checks it); nothing listens on port 1.
	srv := fleetServer(t, "s")
	ca := srv.CACertFile()
	startOrbit(t, root, []string{"ORBIT_ENROLL_SECRET=s", "OSQUERYD_STANDIN_RECORD=" + record},
		"--fleet-url=https://127.0.0.1:1", "--fleet-certificate="+ca, "--fleet-proxy=http://127.0.0.1:3128",
		"--", "--verbose", "--config_refresh=10")
	var recs []startRecord
	testwait.For(t, "osqueryd started", func() bool { recs = daemonStarts(t, record); return len(recs) > 0 })
	want := append(golden.OsquerydArgv(t, map[string]string{"root": root, "host": "127.0.0.1:1", "ca": ca, "proxy": "127.0.0.1:3128"},
		"fleet-tunable", "flagfile", "base", "fleet", "fleet-ca", "fleet-proxy", "tail"), "--verbose", "--config_refresh=10")
	got := recs[0].Argv[1:]
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("osqueryd argv differs\n got: %q\nwant: %q", got, want)
	}
	if !slices.Contains(recs[0].Env, "ENROLL_SECRET") || slices.Contains(recs[0].Env, "ORBIT_ENROLL_SECRET") {
		t.Fatalf("osqueryd env names %v: want ENROLL_SECRET and not ORBIT_ENROLL_SECRET", recs[0].Env)
	}
}

// TestCrashLoopBacksOffAndShowsInStatus runs an osqueryd that exits at
// once: orbit restarts it with growing gaps and `orbit status` reports the
// crash loop with the restarts and the last error.
func TestCrashLoopBacksOffAndShowsInStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := filepath.Join(dir, "orbit")
	record := filepath.Join(dir, "starts.jsonl")
	startOrbit(t, root, []string{"OSQUERYD_STANDIN_EXIT_CODE=3", "OSQUERYD_STANDIN_RECORD=" + record})
	// Five short runs make a crash loop: about 1+2+4+8 s of backoff.
	testwait.Within(t, 60*time.Second, "crash loop in state.json", func() bool { return osquerydState(t, root).CrashLoop })
	recs := daemonStarts(t, record)
	if len(recs) < 5 {
		t.Fatalf("%d starts recorded, want at least 5", len(recs))
	}
	// Backoff with ±20% jitter: each gap is clearly longer than the one
	// before (1 s, 2 s, 4 s, 8 s nominal).
	for i := 2; i < 5; i++ {
		prev, gap := recs[i-1].Time.Sub(recs[i-2].Time), recs[i].Time.Sub(recs[i-1].Time)
		if gap <= prev {
			t.Fatalf("gap %d (%s) not longer than gap %d (%s): no backoff", i, gap, i-1, prev)
		}
	}
	out, _, code := runOrbit(t, nil, "status", "--root-dir="+root)
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "osqueryd ") {
			line = l
		}
	}
	for _, want := range []string{"(crash loop)", "exit status 3"} {
		if !strings.Contains(line, want) {
			t.Fatalf("status line %q lacks %q\n%s", line, want, out)
		}
	}
}
