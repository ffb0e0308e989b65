package desktoptest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// MenuIface is the menu interface tray icons export.
const MenuIface = "com.canonical.dbusmenu"

// Entry is one menu item as a panel reads it.
type Entry struct {
	ID      int32
	Label   string
	Enabled bool
	Visible bool
	// Type is "standard" or "separator".
	Type string
}

// Client reads and clicks tray menus, as a panel does.
type Client struct {
	conn *dbus.Conn
}

// Dial connects a client to the bus at addr for the test.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Connect is Dial for programs that are not tests (the demo's menu
// reader); the caller closes the client.
func Connect(addr string) (*Client, error) {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("menu client: connect to %s: %w", addr, err)
	}
	return &Client{conn: conn}, nil
}

// Close leaves the bus.
func (c *Client) Close() error { return c.conn.Close() }

const callLimit = 10 * time.Second

func (c *Client) call(obj dbus.BusObject, method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(context.Background(), callLimit)
	defer cancel()
	return obj.CallWithContext(ctx, method, 0, args...)
}

// menuObject is the item's menu (its Menu property).
func (c *Client) menuObject(it Item) (dbus.BusObject, error) {
	var v dbus.Variant
	if err := c.call(c.conn.Object(it.BusName, it.Path), "org.freedesktop.DBus.Properties.Get", ItemIface, "Menu").Store(&v); err != nil {
		return nil, fmt.Errorf("read the item's Menu property: %w", err)
	}
	p, ok := v.Value().(dbus.ObjectPath)
	if !ok || !p.IsValid() {
		return nil, fmt.Errorf("the item's Menu property is %v, not an object path", v)
	}
	return c.conn.Object(it.BusName, p), nil
}

// Layout calls GetLayout(0, -1, []) and returns the top level's entries.
func (c *Client) Layout(it Item) ([]Entry, error) {
	obj, err := c.menuObject(it)
	if err != nil {
		return nil, err
	}
	var rev uint32
	var root struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	if err := c.call(obj, MenuIface+".GetLayout", int32(0), int32(-1), []string{}).Store(&rev, &root); err != nil {
		return nil, fmt.Errorf("GetLayout: %w", err)
	}
	var out []Entry
	for _, ch := range root.Children {
		e, err := entryOf(ch)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// entryOf decodes one (ia{sv}av) child, with dbusmenu's defaults for
// properties left out.
func entryOf(v dbus.Variant) (Entry, error) {
	fields, ok := v.Value().([]any)
	if !ok || len(fields) != 3 {
		return Entry{}, fmt.Errorf("menu child %v is not (ia{sv}av)", v)
	}
	id, ok1 := fields[0].(int32)
	props, ok2 := fields[1].(map[string]dbus.Variant)
	if !ok1 || !ok2 {
		return Entry{}, fmt.Errorf("menu child %v is not (ia{sv}av)", v)
	}
	e := Entry{ID: id, Enabled: true, Visible: true, Type: "standard"}
	if p, ok := props["label"]; ok {
		e.Label, _ = p.Value().(string)
	}
	if p, ok := props["enabled"]; ok {
		e.Enabled, _ = p.Value().(bool)
	}
	if p, ok := props["visible"]; ok {
		e.Visible, _ = p.Value().(bool)
	}
	if p, ok := props["type"]; ok {
		e.Type, _ = p.Value().(string)
	}
	return e, nil
}

// Click sends Event(id, "clicked", "", now), as a panel does on a click.
func (c *Client) Click(it Item, id int32) error {
	obj, err := c.menuObject(it)
	if err != nil {
		return err
	}
	return c.call(obj, MenuIface+".Event", id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix())).Err
}

// Find returns the entry labelled label.
func Find(entries []Entry, label string) (Entry, bool) {
	for _, e := range entries {
		if e.Label == label {
			return e, true
		}
	}
	return Entry{}, false
}

// ConnectionPid is the pid of the process behind a bus connection.
func (c *Client) ConnectionPid(busName string) (uint32, error) {
	var pid uint32
	err := c.call(c.conn.BusObject(), "org.freedesktop.DBus.GetConnectionUnixProcessID", busName).Store(&pid)
	return pid, err
}

// Items reads the watcher's RegisteredStatusNotifierItems over the bus, as
// a panel started after the tray does, with each item's owner.
func (c *Client) Items() ([]Item, error) {
	var v dbus.Variant
	if err := c.call(c.conn.Object(WatcherName, WatcherPath), "org.freedesktop.DBus.Properties.Get", WatcherIface, "RegisteredStatusNotifierItems").Store(&v); err != nil {
		return nil, fmt.Errorf("read the watcher's items: %w", err)
	}
	list, ok := v.Value().([]string)
	if !ok {
		return nil, fmt.Errorf("the watcher's RegisteredStatusNotifierItems is %v, not a list of strings", v)
	}
	var out []Item
	for _, s := range list {
		it := ParseItem(s)
		if err := c.call(c.conn.BusObject(), "org.freedesktop.DBus.GetNameOwner", it.BusName).Store(&it.Owner); err != nil {
			continue // gone since the watcher listed it
		}
		out = append(out, it)
	}
	return out, nil
}

// ParseItem reads an entry of a watcher's list: "<bus name><path>", or a
// bus name alone for an item at /StatusNotifierItem (what watchers list
// for a registration by name).
func ParseItem(s string) Item {
	name, path, ok := strings.Cut(s, "/")
	if !ok || path == "" {
		return Item{BusName: name, Path: "/StatusNotifierItem"}
	}
	return Item{BusName: name, Path: dbus.ObjectPath("/" + path)}
}
