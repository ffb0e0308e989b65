package desktoptest

import (
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
