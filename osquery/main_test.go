package osquery

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testwait"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

func requireUnix(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in osqueryd tests use Unix sockets and signals")
	}
}

// standin is one stand-in osqueryd process under test.
type standin struct {
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *logcapture.Buffer
	socket string
	db     string
}

// startStandin starts the stand-in osqueryd with an extension socket and a
// database in dir (short: Unix socket paths are limited to ~104 bytes).
func startStandin(t testing.TB, dir string, env []string, args ...string) *standin {
	t.Helper()
	socket, db := filepath.Join(dir, "orbit-osquery.em"), filepath.Join(dir, "osquery.db")
	all := append([]string{"--pidfile=" + filepath.Join(dir, "osquery.pid"), "--extensions_socket=" + socket,
		"--database_path=" + db, "--extensions_interval=0", "--extensions_timeout=0"}, args...)
	return execStandin(t, socket, db, env, all)
}

// execStandin starts the stand-in with exactly args (orbit's own command
// line, say); socket and db are where args put them.
func execStandin(t testing.TB, socket, db string, env, args []string) *standin {
	t.Helper()
	requireUnix(t)
	bin := testbin.Build(t, "./testdata/osqueryd", "osqueryd", "")
	s := &standin{done: make(chan struct{}), stderr: &logcapture.Buffer{}, socket: socket, db: db}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = s.stderr
	s.cmd.WaitDelay = 5 * time.Second
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.kill(t) })
	return s
}

// kill is kill -9: the socket file stays behind, as after a crash.
func (s *standin) kill(t testing.TB) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("stand-in osqueryd did not die")
	}
}

func (s *standin) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// waitAnswering waits (bounded in real time) until the manager answers.
func (s *standin) waitAnswering(t testing.TB) {
	t.Helper()
	c := testClient(t, s.socket)
	testwait.For(t, "stand-in osqueryd answering on "+s.socket, func() bool {
		if s.exited() {
			t.Fatalf("stand-in exited: %s", s.stderr.String())
		}
		return c.Ping(context.Background()) == nil
	})
}

func testClient(t testing.TB, socket string) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Socket: socket, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFakeClock() *clocktest.Fake {
	return clocktest.New(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
}

// testLogger logs JSON into a buffer the test can grep.
func testLogger() (zerolog.Logger, *logcapture.Buffer) {
	buf := &logcapture.Buffer{}
	return zerolog.New(buf).Level(zerolog.DebugLevel), buf
}

func countLines(s, substr string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// runActor runs an actor until the test ends and reports its result.
func runActor(t *testing.T, run func(context.Context) error) (cancel func() error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx) }()
	var once sync.Once
	var result error
	cancel = func() error {
		once.Do(func() {
			stop()
			select {
			case result = <-errc:
			case <-time.After(20 * time.Second):
				t.Error("actor did not return after its context ended")
			}
		})
		return result
	}
	t.Cleanup(func() { _ = cancel() })
	return cancel
}
