package desktoptest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testdir"
)

// BusConfig shapes a private session bus.
type BusConfig struct {
	// Dir holds the socket ("" = a new short temporary directory: a unix
	// socket path has at most 107 bytes).
	Dir string
	// SysProcAttr runs the daemon as another user (a session bus refuses
	// every other user, root included, so it runs as the tray's user).
	SysProcAttr *syscall.SysProcAttr
}

// Bus is a running private session bus.
type Bus struct {
	// Address is its DBUS_SESSION_BUS_ADDRESS.
	Address string
	// Socket is the socket's path.
	Socket string
	cmd    *exec.Cmd
	done   chan struct{}
	log    *logcapture.Buffer
}

// Log is what the daemons wrote to stderr.
func (b *Bus) Log() string { return b.log.String() }

// StartBus runs dbus-daemon --session on a socket of its own, until the
// end of the test.
func StartBus(t testing.TB, cfg BusConfig) *Bus {
	t.Helper()
	daemon := testbin.NeedTool(t, "dbus-daemon")
	dir := cfg.Dir
	if dir == "" {
		dir = testdir.Short(t)
	}
	b, err := startBus(daemon, filepath.Join(dir, "bus"), cfg.SysProcAttr, &logcapture.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Kill)
	return b
}

// LaunchBus is StartBus for programs that are not tests (the demo's
// stand-in desktop session): dbus-daemon from PATH on socket, run with
// attr; the caller ends it with Kill.
func LaunchBus(socket string, attr *syscall.SysProcAttr) (*Bus, error) {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		return nil, fmt.Errorf("dbus-daemon is not installed (Debian: apt-get install dbus): %w", err)
	}
	return startBus(daemon, socket, attr, &logcapture.Buffer{})
}

func startBus(daemon, socket string, attr *syscall.SysProcAttr, logs *logcapture.Buffer) (*Bus, error) {
	addr := "unix:path=" + socket
	cmd := exec.Command(daemon, "--session", "--nofork", "--print-address", "--address="+addr)
	cmd.SysProcAttr = attr
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dbus-daemon: %w", err)
	}
	b := &Bus{Socket: socket, cmd: cmd, done: make(chan struct{}), log: logs}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() { // keep the pipe drained
		}
	}()
	go func() { _ = cmd.Wait(); close(b.done) }()
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "unix:") {
			b.Kill()
			return nil, fmt.Errorf("dbus-daemon printed %q, not its address", line)
		}
		// The printed address carries a guid; the plain path works as well
		// and is what a session's DBUS_SESSION_BUS_ADDRESS looks like.
		b.Address = addr
		return b, nil
	case <-time.After(20 * time.Second):
		b.Kill()
		return nil, fmt.Errorf("dbus-daemon did not print its address within 20s")
	}
}

// Restart starts a new daemon on the same socket (after Kill), as a
// session bus that came back.
func (b *Bus) Restart(t testing.TB) {
	t.Helper()
	daemon := testbin.NeedTool(t, "dbus-daemon")
	_ = os.Remove(b.Socket)
	nb, err := startBus(daemon, b.Socket, b.cmd.SysProcAttr, b.log)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd, b.done = nb.cmd, nb.done
	t.Cleanup(b.Kill)
}

// Pid is the daemon's pid.
func (b *Bus) Pid() int { return b.cmd.Process.Pid }

// Kill ends the daemon with SIGKILL (a bus that dies) and waits for it.
func (b *Bus) Kill() {
	_ = b.cmd.Process.Kill()
	<-b.done
}
