// Package desktoptest gives tests of the tray app a real desktop session
// to run in: a private session bus (Debian's dbus-daemon), a
// StatusNotifierWatcher (the part of a desktop's panel that lists tray
// icons) and a dbusmenu client that reads and clicks the tray's menu, as a
// panel does.
//
//	bus := desktoptest.StartBus(t, desktoptest.BusConfig{})
//	w := desktoptest.StartWatcher(t, bus.Address)
//	// run the tray with DBUS_SESSION_BUS_ADDRESS=bus.Address
//	item := w.WaitItem(t, 30*time.Second)
//	c := desktoptest.Dial(t, bus.Address)
//	entries, err := c.Layout(item)
//	err = c.Click(item, entries[2].ID)
package desktoptest
