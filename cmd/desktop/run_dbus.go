//go:build (linux && !android) || freebsd || openbsd || netbsd

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"fyne.io/systray"
	"github.com/godbus/dbus/v5"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock"
)

// On Linux and the BSDs systray is a StatusNotifierItem with a
// com.canonical.dbusmenu menu on the session bus. fyne systray v1.12.2 has
// traps there, each designed around here:
//
//   - Without a session bus it logs, runs invisibly and panics on quit
//     (nativeEnd closes a nil connection); and without an address godbus
//     would autolaunch a bus nobody shows. So systray is started only once
//     a session bus and a StatusNotifierWatcher are there (waitForHost),
//     with DBUS_SESSION_BUS_ADDRESS set to the bus found, and it is never
//     quit: systray.RunWithExternalLoop's start is used, its end (nativeEnd)
//     never called; the process just exits.
//   - When the bus dies under systray.Run, its main loop waits forever and
//     the runtime ends the process ("all goroutines are asleep -
//     deadlock"). Here the main goroutine waits on signals and on the bus
//     connection's context; a dead bus is logged once, the tray waits for a
//     bus to return, then re-executes itself for a fresh systray.
//   - systray re-registers with a watcher that appears or restarts
//     (NameOwnerChanged), but stops listening for good on the first signal
//     with fewer than three arguments, and misses a watcher that appears
//     between its first attempt and its match rule: keepRegistered checks
//     the watcher's list on every new watcher and registers the item itself.
//   - SetIcon panics (prop.SetMust) if the bus is gone when it emits the
//     change: the icon is set before the start, when it is only stored.
//   - onReady and clicks: see trayMenu.

// Session bus names.
const (
	watcherName  = "org.kde.StatusNotifierWatcher"
	watcherPath  = dbus.ObjectPath("/StatusNotifierWatcher")
	watcherIface = "org.kde.StatusNotifierWatcher"
	itemPath     = "/StatusNotifierItem" // where systray exports the item
	busCallLimit = 5 * time.Second
)

// busBackoff spaces the checks for a session bus that is not there: a
// dial of a local socket, at most every 10 s.
var busBackoff = backoff.Config{Initial: 500 * time.Millisecond, Max: 10 * time.Second}

func runTray(ctx context.Context, t tray) int {
	probe, err := waitForHost(ctx, t)
	if err != nil {
		return exitOK // ctx ended: a signal, or orbit is gone
	}
	defer probe.conn.Close()
	// systray dials dbus.SessionBus(), godbus's shared connection: make it
	// now, on the bus just found, so systray's is the one watched here.
	shared, err := dbus.SessionBus()
	if err != nil {
		t.log.Error().Err(err).Msg("lost the session bus before the tray icon was shown; waiting for it to return")
		return waitAndReexec(ctx, t)
	}
	decorate()
	start, _ := systray.RunWithExternalLoop(t.menu.onReady, nil)
	start()
	t.log.Info().Str("bus_name", uniqueName(shared)).Msg("tray icon on the session bus")

	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	go t.runApp(appCtx)
	go keepRegistered(appCtx, t, probe, shared)

	select {
	case <-ctx.Done():
		return exitOK
	case <-shared.Context().Done():
	case <-probe.conn.Context().Done():
	}
	stopApp()
	t.log.Error().Msg("lost the session bus: the tray icon is gone; waiting for the bus to return")
	return waitAndReexec(ctx, t)
}

// waitAndReexec waits for a session bus, then replaces this process with a
// fresh copy of itself (same pid, so orbit keeps watching it): systray
// cannot move to a new connection.
func waitAndReexec(ctx context.Context, t tray) int {
	bo, _ := backoff.New(busBackoff)
	for {
		if !clock.Sleep(ctx, t.clk, bo.Next(0)) {
			return exitOK
		}
		conn, err := connectSessionBus()
		if err != nil {
			t.log.Debug().Err(err).Msg("no session bus yet")
			continue
		}
		conn.Close()
		break
	}
	t.log.Info().Msg("the session bus is back; restarting the tray app")
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	t.log.Error().Err(err).Msg("cannot restart the tray app; exiting for orbit to start it again")
	return exitFailed
}

// busProbe is a private connection of ours, subscribed to the watcher's
// owner changes.
type busProbe struct {
	conn *dbus.Conn
	sigs chan *dbus.Signal
}

// waitForHost returns once a session bus and a StatusNotifierWatcher are
// there. Each missing piece is logged once; the waits are a watcher owner
// signal, or a backoff of up to 10 s, so a tray without a host idles.
func waitForHost(ctx context.Context, t tray) (*busProbe, error) {
	bo, _ := backoff.New(busBackoff)
	said := ""
	say := func(what string, err error, msg string) {
		if what == said {
			t.log.Debug().Err(err).Msg(msg)
			return
		}
		said = what
		t.log.Warn().Err(err).Msg(msg)
	}
	for {
		p, err := newBusProbe()
		if err != nil {
			say("bus", err, "no session bus: the tray icon waits for one (orbit passes DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR of the user's session)")
			if !clock.Sleep(ctx, t.clk, bo.Next(0)) {
				return nil, ctx.Err()
			}
			continue
		}
		for {
			ok, err := hasOwner(ctx, p.conn, watcherName)
			if err == nil && ok {
				if said != "" {
					t.log.Info().Msg("session bus and tray host found")
				}
				return p, nil
			}
			if err == nil {
				say("watcher", nil, "no StatusNotifierWatcher on the session bus (no tray host is running): the tray icon waits for one")
			}
			timer := t.clk.NewTimer(bo.Next(0))
			select {
			case <-ctx.Done():
				timer.Stop()
				p.conn.Close()
				return nil, ctx.Err()
			case <-p.sigs: // the watcher's owner changed: look again
			case <-timer.C():
			case <-p.conn.Context().Done():
			}
			timer.Stop()
			if !p.conn.Connected() {
				break
			}
		}
		say("bus", nil, "lost the session bus while waiting for a tray host")
	}
}

func newBusProbe() (*busProbe, error) {
	conn, err := connectSessionBus()
	if err != nil {
		return nil, err
	}
	if err := conn.AddMatchSignal(
		dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, watcherName),
	); err != nil {
		conn.Close()
		return nil, fmt.Errorf("watch the session bus for a tray host: %w", err)
	}
	p := &busProbe{conn: conn, sigs: make(chan *dbus.Signal, 16)}
	conn.Signal(p.sigs)
	return p, nil
}

// connectSessionBus dials the user's session bus, never launching one, and
// pins DBUS_SESSION_BUS_ADDRESS to it for systray's own connection.
func connectSessionBus() (*dbus.Conn, error) {
	addr := sessionBusAddress(os.Getenv, func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.Mode()&os.ModeSocket != 0
	})
	if addr == "" {
		return nil, fmt.Errorf("DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus is not a socket")
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("connect to the session bus: %w", err)
	}
	if err := os.Setenv("DBUS_SESSION_BUS_ADDRESS", addr); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// sessionBusAddress is DBUS_SESSION_BUS_ADDRESS, else the socket systemd
// and dbus-broker put at $XDG_RUNTIME_DIR/bus ("" if neither).
func sessionBusAddress(getenv func(string) string, isSocket func(string) bool) string {
	if a := strings.TrimSpace(getenv("DBUS_SESSION_BUS_ADDRESS")); a != "" && a != "autolaunch:" {
		return a
	}
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" && strings.HasPrefix(dir, "/") {
		if p := strings.TrimRight(dir, "/") + "/bus"; isSocket(p) {
			return "unix:path=" + dbus.EscapeBusAddressValue(p)
		}
	}
	return ""
}

func hasOwner(ctx context.Context, conn *dbus.Conn, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, busCallLimit)
	defer cancel()
	var ok bool
	err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&ok)
	return ok, err
}

// keepRegistered makes sure every watcher that appears lists the item: at
// start, and whenever the watcher's owner changes, it reads the watcher's
// RegisteredStatusNotifierItems and registers the item when it is missing.
func keepRegistered(ctx context.Context, t tray, p *busProbe, shared *dbus.Conn) {
	ensure := func() {
		// Give systray's own registration a moment, to spare the watcher a
		// duplicate (which it would ignore anyway).
		if !clock.Sleep(ctx, t.clk, 500*time.Millisecond) {
			return
		}
		if registered(ctx, p.conn, shared) {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, busCallLimit)
		defer cancel()
		// From systray's connection with its object path, exactly as
		// systray registers: the watcher keys the item on the sender.
		err := shared.Object(watcherName, watcherPath).CallWithContext(cctx, watcherIface+".RegisterStatusNotifierItem", 0, itemPath).Err
		if err != nil {
			t.log.Debug().Err(err).Msg("cannot register the tray icon with the watcher yet")
			return
		}
		t.log.Info().Msg("registered the tray icon with the tray host")
	}
	ensure()
	for {
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-p.sigs:
			if !ok {
				return
			}
			if len(sig.Body) == 3 {
				if newOwner, _ := sig.Body[2].(string); newOwner != "" {
					ensure()
				}
			}
		}
	}
}

// registered reports whether the watcher lists systray's item.
func registered(ctx context.Context, probe, shared *dbus.Conn) bool {
	ctx, cancel := context.WithTimeout(ctx, busCallLimit)
	defer cancel()
	var v dbus.Variant
	err := probe.Object(watcherName, watcherPath).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, watcherIface, "RegisteredStatusNotifierItems").Store(&v)
	if err != nil {
		return false
	}
	items, _ := v.Value().([]string)
	me := uniqueName(shared)
	wellKnown := fmt.Sprintf("org.kde.StatusNotifierItem-%d-1", os.Getpid())
	for _, it := range items {
		if me != "" && (it == me || strings.HasPrefix(it, me+"/")) || strings.HasPrefix(it, wellKnown) {
			return true
		}
	}
	return false
}

func uniqueName(c *dbus.Conn) string {
	if names := c.Names(); len(names) > 0 {
		return names[0]
	}
	return ""
}
