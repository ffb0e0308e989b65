package desktoptest

import (
	"os"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/orbitagent/orbit/internal/testwait"
)

// TestWatcher: an item registered by path belongs to its caller, one by
// name to that name's owner, duplicates are ignored, and an item leaves
// with its connection.
func TestWatcher(t *testing.T) {
	t.Parallel()
	bus := StartBus(t, BusConfig{})
	w := StartWatcher(t, bus.Address)

	item, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer item.Close()
	obj := item.Object(WatcherName, WatcherPath)
	for range 2 {
		if err := obj.Call(WatcherIface+".RegisterStatusNotifierItem", 0, "/StatusNotifierItem").Err; err != nil {
			t.Fatal(err)
		}
	}
	got := w.WaitItem(t, 10*time.Second)
	if got.BusName != item.Names()[0] || got.Path != "/StatusNotifierItem" || len(w.Items()) != 1 || w.Registrations() != 2 {
		t.Fatalf("items %v after two registrations by path from %s", w.Items(), item.Names()[0])
	}
	var v dbus.Variant
	if err := obj.Call("org.freedesktop.DBus.Properties.Get", 0, WatcherIface, "RegisteredStatusNotifierItems").Store(&v); err != nil {
		t.Fatal(err)
	}
	if l, _ := v.Value().([]string); len(l) != 1 || l[0] != item.Names()[0]+"/StatusNotifierItem" {
		t.Fatalf("RegisteredStatusNotifierItems = %v", v)
	}

	other, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.RequestName("org.kde.StatusNotifierItem-1-1", 0); err != nil {
		t.Fatal(err)
	}
	if err := other.Object(WatcherName, WatcherPath).Call(WatcherIface+".RegisterStatusNotifierItem", 0, "org.kde.StatusNotifierItem-1-1").Err; err != nil {
		t.Fatal(err)
	}
	w.WaitItem(t, 10*time.Second, func(it Item) bool {
		return it.BusName == "org.kde.StatusNotifierItem-1-1" && it.Owner == other.Names()[0]
	})
	other.Close()
	item.Close()
	if !testwait.Poll(testwait.Limit, func() bool { return len(w.Items()) == 0 }) {
		t.Fatalf("items %v stayed after their connections left", w.Items())
	}
}

// TestClientItems: a client that is not the watcher reads the watcher's
// list over the bus, with each item's owner and its pid.
func TestClientItems(t *testing.T) {
	t.Parallel()
	bus := StartBus(t, BusConfig{})
	StartWatcher(t, bus.Address)
	c := Dial(t, bus.Address)
	if items, err := c.Items(); err != nil || len(items) != 0 {
		t.Fatalf("items before any registration: %v, %v", items, err)
	}

	item, err := dbus.Connect(bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer item.Close()
	if err := item.Object(WatcherName, WatcherPath).Call(WatcherIface+".RegisterStatusNotifierItem", 0, "/StatusNotifierItem").Err; err != nil {
		t.Fatal(err)
	}
	items, err := c.Items()
	if err != nil {
		t.Fatal(err)
	}
	want := Item{BusName: item.Names()[0], Path: "/StatusNotifierItem", Owner: item.Names()[0]}
	if len(items) != 1 || items[0] != want {
		t.Fatalf("items %+v, want [%+v]", items, want)
	}
	// This process holds the item's connection.
	if pid, err := c.ConnectionPid(items[0].Owner); err != nil || int(pid) != os.Getpid() {
		t.Fatalf("the item's pid is %d (%v), want this test's %d", pid, err, os.Getpid())
	}
}
