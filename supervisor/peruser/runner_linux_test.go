package peruser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/desktop"
	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/internal/testuser"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/session"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

func running(r *Runner) (status.Process, bool) {
	st := r.Statuses()
	if len(st) == 1 && st[0].State == status.StateRunning && st[0].PID > 0 {
		return st[0], true
	}
	return status.Process{}, false
}

// TestRunnerRunsTheRealTrayAsTheUser: as root, with a real user logged in
// (a runtime directory with their own session bus and a compositor
// socket, found by the real Linux lister), the real tray app runs as that
// user and never as root, registers on the user's bus, is restarted after
// kill -9, is stopped when the session ends, and nothing of it (no
// process, no zombie) is left once the runner stops.
func TestRunnerRunsTheRealTrayAsTheUser(t *testing.T) {
	t.Parallel()
	u := testuser.New(t)
	watcherBin := testbin.NeedTool(t, "status-notifier-watcher")
	dbusSend := testbin.NeedTool(t, "dbus-send")

	shared := testdir.Shared(t)
	tray := filepath.Join(shared, "fleet-desktop")
	if err := safefile.CopyFile(testbin.Build(t, "./cmd/desktop", "fleet-desktop", "-X main.version=9.9.9-peruser"), tray, 0o755); err != nil {
		t.Fatal(err)
	}
	// A token Fleet does not know: the tray runs, offline, all the same.
	const token = "6f0c3b1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b"
	f := fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{"peruser-secret"}, TLS: true})
	ident := filepath.Join(shared, "identifier")
	ca := filepath.Join(shared, "ca.pem")
	if err := os.WriteFile(ident, []byte(token), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safefile.CopyFile(f.CACertFile(), ca, 0o644); err != nil {
		t.Fatal(err)
	}

	run := filepath.Join(shared, "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	s := testuser.NewSession(t, u, run)
	stopWatcher := s.Watcher(t, watcherBin)

	logs := &logcapture.Buffer{}
	var gone []string
	goneCh := make(chan string, 10)
	r, err := New(Config{
		Name:     "desktop",
		Sessions: session.NewLinux(session.LinuxConfig{RunUserDir: run, RunUserOnly: true, Logger: zerolog.New(logs)}),
		Spec: func(context.Context) (supervisor.Spec, error) {
			return supervisor.Spec{Path: tray, Env: []string{
				desktop.EnvFleetURL + "=" + f.URL(),
				desktop.EnvIdentifierPath + "=" + ident,
				desktop.EnvRootCA + "=" + ca,
			}}, nil
		},
		Process: supervisor.ProcessConfig{
			Backoff:        backoff.Config{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: -1},
			StopGrace:      5 * time.Second,
			FatalExitCodes: []int{2},
			Logger:         zerolog.New(logs),
		},
		PollInterval: 100 * time.Millisecond,
		OnGone:       func(name string) { goneCh <- name },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("runner and tray logs:\n%s", logs)
		}
	})

	var st status.Process
	testwait.Within(t, 60*time.Second, "the tray running", func() (ok bool) { st, ok = running(r); return ok })
	if st.Name != "desktop/"+u.Name || st.User != u.Name || st.Session != "uid-"+strconv.FormatUint(uint64(u.UID), 10) {
		t.Errorf("status %+v", st)
	}
	testuser.CheckCreds(t, st.PID, u)
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.PID)); err != nil || exe != tray {
		t.Errorf("pid %d runs %q (%v), want the tray %s", st.PID, exe, err, tray)
	}
	checkTrayEnv(t, st.PID, s)

	// The tray is on the user's own bus: the watcher lists it, and the
	// connection that owns the item is the tray's process.
	testwait.Within(t, 60*time.Second, "the tray registered with the user's watcher", func() bool {
		return s.ItemRegisteredBy(dbusSend, st.PID)
	})

	// kill -9: restarted, as the user again.
	first := st.PID
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.Within(t, 60*time.Second, "the tray restarted after kill -9", func() (ok bool) {
		st, ok = running(r)
		return ok && st.PID != first
	})
	if st.Restarts < 1 || !strings.Contains(st.LastError, "signal: killed") {
		t.Errorf("status after kill -9: %+v", st)
	}
	testuser.CheckCreds(t, st.PID, u)
	if slices.Contains(testuser.Zombies(os.Getpid()), first) {
		t.Errorf("the killed tray %d is a zombie: not reaped", first)
	}

	// Logout: the tray is stopped and reaped, and forgotten.
	second := st.PID
	s.Logout(t)
	select {
	case name := <-goneCh:
		gone = append(gone, name)
	case <-time.After(60 * time.Second):
		t.Fatal("the tray was not stopped within 60s of the logout")
	}
	if !slices.Equal(gone, []string{"desktop/" + u.Name}) || len(r.Statuses()) != 0 {
		t.Errorf("after logout: gone %q, statuses %+v", gone, r.Statuses())
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", second)); err == nil {
		t.Errorf("the tray %d is still there (alive or a zombie) after its session ended", second)
	}

	// Login again, then orbit stops: the runner returns with nothing of
	// the user's left but their own bus daemon.
	s.Login(t)
	testwait.Within(t, 60*time.Second, "the tray running after a new login", func() (ok bool) { st, ok = running(r); return ok })
	testuser.CheckCreds(t, st.PID, u)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("the runner did not stop within 30s")
	}
	s.Bus.Kill()
	stopWatcher()
	if left := testuser.Processes(u.UID); len(left) != 0 {
		t.Errorf("processes of %s left after the runner stopped: %v", u.Name, left)
	}
	if z := testuser.Zombies(os.Getpid()); len(z) != 0 {
		t.Errorf("zombie children left: %v", z)
	}
}

// checkTrayEnv: the tray got the session's variables, its own settings,
// and nothing of orbit's (the test's) environment.
func checkTrayEnv(t *testing.T, pid int, s *testuser.Session) {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	for _, want := range []string{
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(s.RuntimeDir, "bus"),
		"WAYLAND_DISPLAY=wayland-0",
		"XDG_RUNTIME_DIR=" + s.RuntimeDir,
		"HOME=" + s.User.Home,
		"USER=" + s.User.Name,
	} {
		if !slices.Contains(env, want) {
			t.Errorf("tray environment %q lacks %s", env, want)
		}
	}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if os.Getenv(name) != "" && !slices.Contains([]string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"}, name) {
			t.Errorf("tray environment has %s from orbit's own environment", name)
		}
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != s.User.Home {
		t.Errorf("tray cwd %q (%v), want the user's home %s", cwd, err, s.User.Home)
	}
}
