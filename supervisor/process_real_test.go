//go:build unix

package supervisor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
)

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	// A zombie has exited; it only waits for its parent (maybe init) to reap it.
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	return true
}

func selfExe(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func childSpec(t testing.TB, env ...string) func(context.Context) (Spec, error) {
	exe := selfExe(t)
	return func(context.Context) (Spec, error) { return Spec{Path: exe, Env: env}, nil }
}

type realRun struct {
	p      *Process
	log    *logBuffer
	cancel context.CancelFunc
	done   chan error
}

func startReal(t *testing.T, cfg ProcessConfig) *realRun {
	t.Helper()
	r := &realRun{log: &logBuffer{}, done: make(chan error, 1)}
	cfg.Logger = zerolog.New(r.log)
	p, err := NewProcess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s of cancel")
		}
	})
	return r
}

func (r *realRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		r.done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}
}

func (r *realRun) waitRunning(t *testing.T, notPID int) status.Process {
	t.Helper()
	var st status.Process
	testwait.For(t, "child running", func() bool {
		st = r.p.Status()
		return st.State == status.StateRunning && st.PID != 0 && st.PID != notPID
	})
	return st
}

func TestRealChildKilledIsRestarted(t *testing.T) {
	t.Parallel()
	r := startReal(t, ProcessConfig{
		Name:    "sleeper",
		Spec:    childSpec(t, childModeEnv+"=sleep"),
		Backoff: backoff.Config{Initial: 10 * time.Millisecond, Jitter: -1},
	})
	first := r.waitRunning(t, 0)
	if !alive(first.PID) {
		t.Fatalf("status pid %d is not a live process", first.PID)
	}
	if err := unix.Kill(first.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := r.waitRunning(t, first.PID)
	if second.Restarts != 1 || second.ConsecutiveFailures != 1 || second.LastExitCode != -1 || !strings.Contains(second.LastError, "signal: killed") {
		t.Fatalf("after SIGKILL: status %+v", second)
	}
	if !alive(second.PID) {
		t.Fatalf("new pid %d is not alive", second.PID)
	}
	r.stop(t)
	if alive(second.PID) {
		t.Fatalf("child %d alive after Run returned", second.PID)
	}
	if st := r.p.Status(); st.State != status.StateStopped || st.PID != 0 {
		t.Fatalf("after stop: %+v", st)
	}
}

func TestRealStopKillsTreeIgnoringSIGTERM(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
	r := startReal(t, ProcessConfig{
		Name:      "stubborn",
		Spec:      childSpec(t, childModeEnv+"=grandchild", childPidfileEnv+"="+pidfile),
		StopGrace: 200 * time.Millisecond,
	})
	child := r.waitRunning(t, 0).PID
	grandchild := waitPidfile(t, pidfile)
	if !alive(child) || !alive(grandchild) {
		t.Fatalf("child %d alive %v, grandchild %d alive %v", child, alive(child), grandchild, alive(grandchild))
	}
	r.stop(t)
	if alive(child) {
		t.Fatalf("child %d survived the stop", child)
	}
	// The grandchild was SIGKILLed; its reaping by init is asynchronous.
	testwait.For(t, "grandchild gone", func() bool { return !alive(grandchild) })
	if n := len(r.log.withMessage(t, "child did not exit within the stop grace period; killing its process tree")); n != 1 {
		t.Fatalf("want the grace-period kill to be logged once, got %d", n)
	}
}

func TestRealLeftoverGroupMemberKilledAfterLeaderExit(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
	r := startReal(t, ProcessConfig{
		Name: "leaver",
		Spec: childSpec(t, childModeEnv+"=grandchild", childPidfileEnv+"="+pidfile,
			childAfterMSEnv+"=0", childExitCodeEnv+"=7"),
		Backoff: backoff.Config{Initial: time.Hour, Max: time.Hour},
	})
	grandchild := waitPidfile(t, pidfile)
	testwait.For(t, "leader exit recorded", func() bool { return r.p.Status().State == status.StateBackoff })
	if st := r.p.Status(); st.LastExitCode != 7 {
		t.Fatalf("status %+v, want exit code 7", st)
	}
	testwait.For(t, "grandchild left in the group gone", func() bool { return !alive(grandchild) })
	r.stop(t)
}

func TestRealChildOutputLogged(t *testing.T) {
	t.Parallel()
	r := startReal(t, ProcessConfig{
		Name:                 "talker",
		Spec:                 childSpec(t, childModeEnv+"=print", childLinesEnv+"=3", childAfterMSEnv+"=forever"),
		OutputLinesPerSecond: -1,
	})
	testwait.For(t, "4 output lines logged", func() bool { return len(r.log.withMessage(t, "child output")) == 4 })
	r.stop(t)
	got := map[string][]string{}
	for _, ev := range r.log.withMessage(t, "child output") {
		if ev["component"] != "talker" {
			t.Fatalf("output event without component=talker: %v", ev)
		}
		got[ev["stream"].(string)] = append(got[ev["stream"].(string)], ev["line"].(string))
	}
	if strings.Join(got["stdout"], ",") != "line 0,line 1,line 2" || strings.Join(got["stderr"], ",") != "hello on stderr" {
		t.Fatalf("logged output %v", got)
	}
	for _, ev := range r.log.withMessage(t, "child started") {
		if ev["component"] != "talker" || ev["pid"] == nil {
			t.Fatalf("start event %v", ev)
		}
	}
}

func TestRealChildOutputRateLimited(t *testing.T) {
	t.Parallel()
	// A fake clock freezes the token bucket: exactly the burst gets through.
	clk := newFakeClock()
	r := startReal(t, ProcessConfig{
		Name:                 "flood",
		Spec:                 childSpec(t, childModeEnv+"=print", childLinesEnv+"=100"),
		OutputLinesPerSecond: 10, // burst 20
		Clock:                clk,
	})
	clk.WaitTimer(t) // the child exited; Run waits out its backoff
	r.stop(t)
	lines := r.log.withMessage(t, "child output")
	if len(lines) != 20 {
		t.Fatalf("%d lines logged, want the burst of 20", len(lines))
	}
	reports := r.log.withMessage(t, "child output lines dropped by the log rate limit")
	if got := droppedTotal(reports); got != 81 {
		t.Fatalf("dropped lines reported = %d, want 81 (101 - 20); reports %v", got, reports)
	}
	for _, ev := range reports {
		if ev["component"] != "flood" {
			t.Fatalf("report without component: %v", ev)
		}
	}
}
