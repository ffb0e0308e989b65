package testuser

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/orbitagent/orbit/desktop/desktoptest"
)

// Creds are process attributes that run a program as u.
func (u User) Creds() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
}

// Session is a graphical login of a real user, laid out as on a real
// host: <run>/<uid> (the user's own, 0700, as pam_systemd makes
// /run/user/<uid>) holds the user's private session bus, run as the user,
// and a compositor socket (wayland-0).
type Session struct {
	User       User
	RuntimeDir string
	Bus        *desktoptest.Bus
	wayland    net.Listener
}

// NewSession logs u in under run (a /run/user of the test's own).
func NewSession(t *testing.T, u User, run string) *Session {
	t.Helper()
	s := &Session{User: u, RuntimeDir: filepath.Join(run, strconv.FormatUint(uint64(u.UID), 10))}
	s.Login(t)
	return s
}

// Login makes the runtime directory, starts the bus (again, after a
// Logout) and opens the compositor socket.
func (s *Session) Login(t *testing.T) {
	t.Helper()
	if err := os.Mkdir(s.RuntimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.RuntimeDir, int(s.User.UID), int(s.User.GID)); err != nil {
		t.Fatal(err)
	}
	if s.Bus == nil {
		s.Bus = desktoptest.StartBus(t, desktoptest.BusConfig{Dir: s.RuntimeDir, SysProcAttr: s.User.Creds()})
	} else {
		s.Bus.Restart(t)
	}
	sock := filepath.Join(s.RuntimeDir, "wayland-0")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := os.Chown(sock, int(s.User.UID), int(s.User.GID)); err != nil {
		t.Fatal(err)
	}
	s.wayland = l
}

// Logout ends the session as pam_systemd does: its bus is gone and its
// runtime directory removed.
func (s *Session) Logout(t *testing.T) {
	t.Helper()
	s.Bus.Kill()
	s.wayland.Close()
	if err := os.RemoveAll(s.RuntimeDir); err != nil {
		t.Fatal(err)
	}
}

// Command is prog run as the session's user, on its bus, from /.
func (s *Session) Command(prog string, args ...string) *exec.Cmd {
	cmd := exec.Command(prog, args...)
	cmd.Env = []string{"DBUS_SESSION_BUS_ADDRESS=" + s.Bus.Address, "PATH=/usr/bin:/bin", "HOME=" + s.User.Home}
	cmd.SysProcAttr = s.User.Creds()
	cmd.Dir = "/"
	return cmd
}

// Watcher runs Debian's StatusNotifierWatcher (status-notifier-watcher)
// on the session's bus, as the user; stop (also run at the end of the
// test) kills it and waits.
func (s *Session) Watcher(t *testing.T, bin string) (stop func()) {
	t.Helper()
	cmd := s.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() { _ = cmd.Process.Kill(); <-done }
	t.Cleanup(stop)
	return stop
}

// ItemRegisteredBy reports whether the watcher on the session's bus lists
// a StatusNotifierItem owned by pid's connection (asked with dbus-send,
// as the user: the bus refuses everyone else, root included).
func (s *Session) ItemRegisteredBy(dbusSend string, pid int) bool {
	reply, err := s.Command(dbusSend, "--session", "--print-reply", "--dest="+desktoptest.WatcherName,
		string(desktoptest.WatcherPath), "org.freedesktop.DBus.Properties.Get",
		"string:"+desktoptest.WatcherIface, "string:RegisteredStatusNotifierItems").Output()
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(reply), "\n") {
		item, ok := strings.CutPrefix(strings.TrimSpace(line), "string \"")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(item, "\""), "/")
		out, err := s.Command(dbusSend, "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
			"org.freedesktop.DBus.GetConnectionUnixProcessID", "string:"+name).Output()
		if err == nil && strings.Contains(string(out), "uint32 "+strconv.Itoa(pid)) {
			return true
		}
	}
	return false
}
