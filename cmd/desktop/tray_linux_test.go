package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/orbitagent/orbit/desktop/desktoptest"
	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testwait"
)

// TestTrayOverSessionBus runs the real tray against the Fleet test server
// on a private session bus with a StatusNotifierWatcher: the item
// registers, GetLayout shows the items and the server's failing-policy
// count, the count follows the server within two polls, and "My device"
// opens the right page on every one of 20 clicks in a row.
func TestTrayOverSessionBus(t *testing.T) {
	t.Parallel()
	f := startFleet(t)
	f.SetPolicies(policies("fail", "pass", "fail"))
	f.SetDesktopInfo(fleettest.DesktopInfo{SelfService: true})
	s := startSession(t, f, nil)
	bus, tray, it := s.bus, s.tray, s.item
	if pid := ownerPid(t, bus.Address, it); pid != uint32(tray.cmd.Process.Pid) {
		t.Fatalf("the registered item belongs to pid %d, not the tray (%d)", pid, tray.cmd.Process.Pid)
	}
	c := desktoptest.Dial(t, bus.Address)
	entries := waitMenu(t, c, it, "2 failing policies", hasStatus("2 failing policies"))
	var labels []string
	for _, e := range entries {
		if e.Type == "separator" {
			labels = append(labels, "---")
			continue
		}
		labels = append(labels, e.Label)
	}
	want := []string{"Fleet Desktop v" + trayVersion, "2 failing policies", "---", "My device", "Self-service", "Transparency"}
	if strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Fatalf("menu = %q, want %q", labels, want)
	}
	for _, l := range []string{"My device", "Self-service", "Transparency"} {
		if e, _ := desktoptest.Find(entries, l); !e.Enabled || !e.Visible {
			t.Fatalf("%q = %+v, want enabled and visible", l, e)
		}
	}
	for _, l := range []string{"Fleet Desktop v" + trayVersion, "2 failing policies"} {
		if e, _ := desktoptest.Find(entries, l); e.Enabled {
			t.Fatalf("%q is clickable; it is a text line", l)
		}
	}

	// The count changes on the server: by the time the server sees the
	// third poll after the change (the first may have been in flight), the
	// menu must show it.
	f.ResetCalls()
	f.SetPolicies(policies("fail", "pass", "pass"))
	waitCalls(t, f, desktopCalls(f), 3)
	entries, err := c.Layout(it)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := desktoptest.Find(entries, "1 failing policy"); !ok {
		t.Fatalf("two polls after the change the menu is %+v, want \"1 failing policy\"", entries)
	}

	my, _ := desktoptest.Find(entries, "My device")
	for i := range 20 {
		if err := c.Click(it, my.ID); err != nil {
			t.Fatalf("click %d: %v", i+1, err)
		}
	}
	pages := tray.waitOpened(t, 20)
	wantURL := f.URL() + "/device/" + f.token
	if len(pages) != 20 {
		t.Fatalf("%d pages opened for 20 clicks: %q", len(pages), pages)
	}
	for i, p := range pages {
		if p != wantURL {
			t.Fatalf("click %d opened %q, want %q", i+1, p, wantURL)
		}
	}
	if strings.Contains(tray.out.String(), f.token) {
		t.Fatalf("the tray logged the device token:\n%s", tray.out.String())
	}
	tray.terminate(t)
}

// TestTrayWaitsForWatcher: a tray started before any tray host says so
// once, registers with the watcher that appears later, and again with a
// watcher that restarts while it runs.
func TestTrayWaitsForWatcher(t *testing.T) {
	t.Parallel()
	f := startFleet(t)
	bus := desktoptest.StartBus(t, desktoptest.BusConfig{})
	env, opened := trayEnv(t, f, bus.Address)
	tray := startTray(t, env, opened)
	tray.waitLog(t, "no StatusNotifierWatcher")

	w := desktoptest.StartWatcher(t, bus.Address)
	it := w.WaitItem(t, 30*time.Second)
	c := desktoptest.Dial(t, bus.Address)
	waitMenu(t, c, it, "the device is OK", hasStatus("Your device is OK"))

	w.Close()
	w2 := desktoptest.StartWatcher(t, bus.Address)
	it2 := w2.WaitItem(t, 30*time.Second)
	if it2.Owner != it.Owner {
		t.Fatalf("after the watcher's restart the item is %v, want the tray's %v", it2, it)
	}
	waitMenu(t, c, it2, "the device is OK", hasStatus("Your device is OK"))
	if n := tray.countLines("no StatusNotifierWatcher"); n != 1 {
		t.Fatalf("the missing watcher was logged %d times, want once:\n%s", n, tray.out.String())
	}
	tray.terminate(t)
}

// TestTrayWithoutSessionBus: with no bus at all the tray stays up, idle,
// says so in one line, and ends with exit 0 on SIGTERM (systray would
// panic on quit here).
func TestTrayWithoutSessionBus(t *testing.T) {
	t.Parallel()
	f := startFleet(t)
	tests := []struct {
		name string
		env  func(dir string) []string
	}{
		{"address of a missing socket", func(dir string) []string {
			return []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(dir, "bus")}
		}},
		{"no address, empty runtime dir", func(dir string) []string { return []string{"XDG_RUNTIME_DIR=" + dir} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, opened := trayEnv(t, f, "")
			tray := startTray(t, append(env, tt.env(t.TempDir())...), opened)
			tray.waitLog(t, "no session bus")
			tray.checkIdle(t)
			if n := tray.countLines("session bus"); n != 1 {
				t.Fatalf("%d lines about the session bus, want one:\n%s", n, tray.out.String())
			}
			if n := len(f.CallsMatching(desktopCalls(f))); n != 0 {
				t.Fatalf("an invisible tray polled Fleet %d times", n)
			}
			tray.terminate(t)
		})
	}
}

// TestTrayBusDies: killing the bus under a running tray does not crash it
// (systray alone ends in "all goroutines are asleep - deadlock"): one line
// says so, it idles, and when a bus comes back it restarts itself (same
// pid) and registers again.
func TestTrayBusDies(t *testing.T) {
	t.Parallel()
	s := startSession(t, startFleet(t), nil)
	bus, tray := s.bus, s.tray
	bus.Kill()
	tray.waitLog(t, "lost the session bus")
	tray.checkIdle(t)
	if n := tray.countLines("lost the session bus"); n != 1 {
		t.Fatalf("%d lines about the lost bus, want one:\n%s", n, tray.out.String())
	}

	bus.Restart(t)
	w2 := desktoptest.StartWatcher(t, bus.Address)
	it := w2.WaitItem(t, 60*time.Second)
	if pid := ownerPid(t, bus.Address, it); pid != uint32(tray.cmd.Process.Pid) {
		t.Fatalf("the item on the new bus belongs to pid %d, want the tray's %d (re-executed in place)", pid, tray.cmd.Process.Pid)
	}
	waitMenu(t, desktoptest.Dial(t, bus.Address), it, "the device is OK", hasStatus("Your device is OK"))
	tray.terminate(t)
}

// TestTrayWithRealWatcher cross-checks the registration with Debian's
// status-notifier-watcher (haskell-status-notifier-item-utils).
func TestTrayWithRealWatcher(t *testing.T) {
	t.Parallel()
	watcherBin := testbin.NeedTool(t, "status-notifier-watcher")
	f := startFleet(t)
	bus := desktoptest.StartBus(t, desktoptest.BusConfig{})
	wcmd := exec.Command(watcherBin)
	wcmd.Env = []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.Address, "PATH=/usr/bin:/bin"}
	if err := wcmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wcmd.Process.Kill(); _ = wcmd.Wait() })

	conn, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	testwait.Within(t, 30*time.Second, "status-notifier-watcher to take its name", func() bool {
		var ok bool
		return conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, desktoptest.WatcherName).Store(&ok) == nil && ok
	})
	env, opened := trayEnv(t, f, bus.Address)
	tray := startTray(t, env, opened)
	var items []string
	testwait.Within(t, 30*time.Second, "the tray in the watcher's RegisteredStatusNotifierItems", func() bool {
		v, err := conn.Object(desktoptest.WatcherName, desktoptest.WatcherPath).GetProperty(desktoptest.WatcherIface + ".RegisteredStatusNotifierItems")
		if err != nil {
			return false
		}
		items, _ = v.Value().([]string)
		for _, it := range items {
			var name string
			bus, _, _ := strings.Cut(it, "/")
			if conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, bus).Store(&name) != nil {
				continue
			}
			var pid uint32
			if conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, name).Store(&pid) == nil && pid == uint32(tray.cmd.Process.Pid) {
				return true
			}
		}
		return false
	})
	t.Logf("status-notifier-watcher lists %q", items)
	tray.signal(t, syscall.SIGINT)
}

// TestTrayExitsWhenParentGone: the tray's parent (orbit) is killed with
// SIGKILL; the tray notices its new parent and exits 0 by itself.
func TestTrayExitsWhenParentGone(t *testing.T) {
	// The test process becomes a subreaper, so the orphaned tray is
	// re-parented to it and its exit status can be read.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	f := startFleet(t)
	env, _ := trayEnv(t, f, "")
	env = append(env, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(t.TempDir(), "bus"))
	logFile := filepath.Join(t.TempDir(), "tray.log")
	parent := exec.Command("/bin/sh", "-c", `"$0" 2>"$1" & echo $!; wait`, trayBinary(t), logFile)
	parent.Env = env
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := out.Read(buf)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		t.Fatalf("no tray pid from the parent: %q", buf[:n])
	}
	testwait.Within(t, 30*time.Second, "the tray to start", func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), "no session bus")
	})
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()

	exited := make(chan syscall.WaitStatus, 1)
	go func() {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		exited <- ws
	}()
	select {
	case ws := <-exited:
		b, _ := os.ReadFile(logFile)
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Fatalf("the orphaned tray ended with %v, want exit 0:\n%s", ws, b)
		}
		if !strings.Contains(string(b), "the parent process is gone") {
			t.Fatalf("the tray did not say why it stopped:\n%s", b)
		}
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatal("the tray outlived its parent by 30s")
	}
}

// TestTrayReregistersAfterStraySignal: systray stops following the
// watcher for good once its connection receives any signal with fewer than
// three arguments (here a unicast one, which no match rule filters). The
// tray's own keeper still registers the item with a restarted watcher.
func TestTrayReregistersAfterStraySignal(t *testing.T) {
	t.Parallel()
	s := startSession(t, startFleet(t), nil)
	bus, w, tray, it := s.bus, s.w, s.tray, s.item
	conn, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stray := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath:        dbus.MakeVariant(dbus.ObjectPath("/org/example/Stray")),
		dbus.FieldInterface:   dbus.MakeVariant("org.example.Stray"),
		dbus.FieldMember:      dbus.MakeVariant("Poke"),
		dbus.FieldDestination: dbus.MakeVariant(it.Owner),
	}}
	// systray subscribes only after its first registration, so the first
	// stray signal may come before it listens; then it re-registers with
	// the restarted watcher itself, which shows it listens now, and the
	// second stray signal disables it.
	const keeperLine = "registered the tray icon with the tray host"
	for attempt := 1; attempt <= 2 && !strings.Contains(tray.out.String(), keeperLine); attempt++ {
		if call := conn.Send(stray, nil); call.Err != nil {
			t.Fatal(call.Err)
		}
		// A round trip to the tray's connection: it has dispatched the
		// stray signal before it answers this.
		if err := conn.Object(it.Owner, "/").Call("org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
			t.Fatal(err)
		}
		w.Close()
		w = desktoptest.StartWatcher(t, bus.Address)
		if got := w.WaitItem(t, 30*time.Second); got.Owner != it.Owner {
			t.Fatalf("registered %v, want the tray's %v", got, it)
		}
	}
	// Once systray no longer follows the watcher, the keeper registered.
	tray.waitLog(t, keeperLine)
	tray.terminate(t)
}
