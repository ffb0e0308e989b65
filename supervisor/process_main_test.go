package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
)

// The test binary doubles as the supervised child. childModeEnv selects what
// it does instead of running tests.
const (
	childModeEnv     = "ORBIT_SUPERVISOR_TEST_CHILD"
	childPidfileEnv  = "ORBIT_SUPERVISOR_TEST_PIDFILE" // where a mode writes a pid
	childExitCodeEnv = "ORBIT_SUPERVISOR_TEST_EXIT_CODE"
	childAfterMSEnv  = "ORBIT_SUPERVISOR_TEST_AFTER_MS"
	childLinesEnv    = "ORBIT_SUPERVISOR_TEST_LINES"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(m.Run())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func childMain(mode string) int {
	switch mode {
	case "sleep": // honours SIGTERM (Go's default action)
		select {}
	case "exit": // exit with code K after N ms
		time.Sleep(time.Duration(envInt(childAfterMSEnv, 0)) * time.Millisecond)
		return envInt(childExitCodeEnv, 0)
	case "ignoreterm":
		signal.Ignore(syscall.SIGTERM)
		select {}
	case "grandchild":
		// Spawn a grandchild that ignores SIGTERM in our process group, record
		// its pid, then ignore SIGTERM ourselves (or exit if asked to).
		gc := exec.Command(os.Args[0])
		gc.Env = append(os.Environ(), childModeEnv+"=ignoreterm")
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start grandchild:", err)
			return 3
		}
		if err := writePidfile(os.Getenv(childPidfileEnv), gc.Process.Pid); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		if ms := envInt(childAfterMSEnv, -1); ms >= 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return envInt(childExitCodeEnv, 0)
		}
		signal.Ignore(syscall.SIGTERM)
		select {}
	case "print": // N numbered lines on stdout, one on stderr, then exit 0
		fmt.Fprintln(os.Stderr, "hello on stderr")
		for i := 0; i < envInt(childLinesEnv, 3); i++ {
			fmt.Printf("line %d\n", i)
		}
		if os.Getenv(childAfterMSEnv) == "forever" {
			select {}
		}
		return 0
	case "parent":
		return parentMain()
	}
	fmt.Fprintln(os.Stderr, "unknown test child mode", mode)
	return 2
}

// parentMain plays orbit: it supervises a sleeping child and records the
// child's pid, until it is killed.
func parentMain() int {
	// Keep other goroutines off the main thread: the runtime never ends the
	// main thread, which would hide a child forked from a dying thread.
	runtime.LockOSThread()
	pidfile := os.Getenv(childPidfileEnv)
	p, err := NewProcess(ProcessConfig{
		Name: "child",
		Spec: func(context.Context) (Spec, error) {
			return Spec{Path: os.Args[0], Env: []string{childModeEnv + "=sleep"}}, nil
		},
		Logger: zerolog.New(io.Discard),
		OnStatus: func(s status.Process) {
			if s.State == status.StateRunning {
				if err := writePidfile(pidfile, s.PID); err != nil {
					fmt.Fprintln(os.Stderr, err)
				}
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Churn OS threads while the child lives: goroutines that exit locked
	// make the runtime end their threads, which must not fire the child's
	// Pdeathsig. Then say so in <pidfile>.churned.
	go func() {
		for i := 0; i < 200; i++ {
			done := make(chan struct{})
			go func() { runtime.LockOSThread(); close(done) }()
			<-done
			time.Sleep(time.Millisecond)
		}
		if err := os.WriteFile(pidfile+".churned", nil, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if err := p.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return 1
}

// writePidfile writes atomically so a reader never sees a partial pid.
func writePidfile(path string, pid int) error {
	if path == "" {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	return os.Rename(tmp, path)
}

// waitPidfile polls for a pidfile written by a test child.
func waitPidfile(t *testing.T, path string) int {
	t.Helper()
	var b []byte
	testwait.For(t, "pidfile "+path, func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil
	})
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("pidfile %s: %v", path, err)
	}
	return pid
}
