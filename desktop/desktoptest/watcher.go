package desktoptest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

// The StatusNotifierWatcher's names (freedesktop's StatusNotifierItem spec,
// KDE's names).
const (
	WatcherName  = "org.kde.StatusNotifierWatcher"
	WatcherPath  = dbus.ObjectPath("/StatusNotifierWatcher")
	WatcherIface = "org.kde.StatusNotifierWatcher"
	ItemIface    = "org.kde.StatusNotifierItem"
)

// Item is a registered StatusNotifierItem: the bus name to call and the
// object path of the item there.
type Item struct {
	BusName string
	Path    dbus.ObjectPath
	// Owner is the unique name of the connection that owns BusName.
	Owner string
}

// String is the item as the watcher lists it ("<bus name><path>").
func (i Item) String() string { return i.BusName + string(i.Path) }

// Watcher is a StatusNotifierWatcher on a bus, written as KDE's: an item
// registered by object path belongs to the caller; one registered by bus
// name lives at /StatusNotifierItem of that name. Items leave when their
// owner leaves the bus.
type Watcher struct {
	conn  *dbus.Conn
	props *prop.Properties

	mu      sync.Mutex
	items   []Item
	calls   int // RegisterStatusNotifierItem calls
	changed chan struct{}
}

// StartWatcher connects to the bus at addr and takes the watcher's name;
// it is closed at the end of the test.
func StartWatcher(t testing.TB, addr string) *Watcher {
	t.Helper()
	w, err := NewWatcher(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// NewWatcher is StartWatcher for callers that close it themselves.
func NewWatcher(addr string) (*Watcher, error) {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("watcher: connect to %s: %w", addr, err)
	}
	w := &Watcher{conn: conn, changed: make(chan struct{})}
	if err := w.export(); err != nil {
		conn.Close()
		return nil, err
	}
	if err := conn.AddMatchSignal(
		dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"),
	); err != nil {
		conn.Close()
		return nil, fmt.Errorf("watcher: watch owners: %w", err)
	}
	sigs := make(chan *dbus.Signal, 64)
	conn.Signal(sigs)
	go w.dropGone(sigs)
	reply, err := conn.RequestName(WatcherName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		conn.Close()
		return nil, fmt.Errorf("watcher: take %s: reply %v, %v", WatcherName, reply, err)
	}
	return w, nil
}

func (w *Watcher) export() error {
	if err := w.conn.Export(watcherMethods{w}, WatcherPath, WatcherIface); err != nil {
		return fmt.Errorf("watcher: export: %w", err)
	}
	props, err := prop.Export(w.conn, WatcherPath, prop.Map{
		WatcherIface: {
			"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitTrue},
			"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitTrue},
			"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitTrue},
		},
	})
	if err != nil {
		return fmt.Errorf("watcher: export properties: %w", err)
	}
	w.props = props
	node := &introspect.Node{
		Name: string(WatcherPath),
		Interfaces: []introspect.Interface{
			introspect.IntrospectData,
			prop.IntrospectData,
			{Name: WatcherIface, Methods: introspect.Methods(watcherMethods{w}), Properties: props.Introspection(WatcherIface)},
		},
	}
	return w.conn.Export(introspect.NewIntrospectable(node), WatcherPath, "org.freedesktop.DBus.Introspectable")
}

// watcherMethods holds only the exported D-Bus methods.
type watcherMethods struct{ w *Watcher }

// RegisterStatusNotifierItem is the spec's method.
func (m watcherMethods) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	it := Item{BusName: service, Path: "/StatusNotifierItem", Owner: string(sender)}
	if strings.HasPrefix(service, "/") {
		it.BusName, it.Path = string(sender), dbus.ObjectPath(service)
	} else if err := m.w.conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, service).Store(&it.Owner); err != nil {
		return dbus.MakeFailedError(fmt.Errorf("%s has no owner", service))
	}
	m.w.add(it)
	return nil
}

// RegisterStatusNotifierHost is the spec's method (hosts are not tracked).
func (m watcherMethods) RegisterStatusNotifierHost(dbus.Sender, string) *dbus.Error { return nil }

func (w *Watcher) add(it Item) {
	w.mu.Lock()
	w.calls++
	for _, have := range w.items {
		if have.Owner == it.Owner && have.Path == it.Path {
			w.mu.Unlock()
			return // KDE's watcher ignores a second registration
		}
	}
	w.items = append(w.items, it)
	w.publishLocked()
	w.mu.Unlock()
	_ = w.conn.Emit(WatcherPath, WatcherIface+".StatusNotifierItemRegistered", it.String())
}

// dropGone forgets the items of connections that left the bus.
func (w *Watcher) dropGone(sigs chan *dbus.Signal) {
	for sig := range sigs {
		if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
			continue
		}
		name, _ := sig.Body[0].(string)
		newOwner, _ := sig.Body[2].(string)
		if newOwner != "" {
			continue
		}
		w.mu.Lock()
		kept := w.items[:0]
		var gone []Item
		for _, it := range w.items {
			if it.Owner == name || it.BusName == name {
				gone = append(gone, it)
				continue
			}
			kept = append(kept, it)
		}
		w.items = kept
		if len(gone) > 0 {
			w.publishLocked()
		}
		w.mu.Unlock()
		for _, it := range gone {
			_ = w.conn.Emit(WatcherPath, WatcherIface+".StatusNotifierItemUnregistered", it.String())
		}
	}
}

// publishLocked updates the property and wakes the waiters; w.mu held.
func (w *Watcher) publishLocked() {
	list := make([]string, len(w.items))
	for i, it := range w.items {
		list[i] = it.String()
	}
	func() {
		// SetMust panics when the change cannot be emitted: the watcher's
		// connection is closing, and nobody listens any more.
		defer func() { _ = recover() }()
		w.props.SetMust(WatcherIface, "RegisteredStatusNotifierItems", list)
	}()
	close(w.changed)
	w.changed = make(chan struct{})
}

// Items is the list of registered items.
func (w *Watcher) Items() []Item {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Item(nil), w.items...)
}

// Registrations counts RegisterStatusNotifierItem calls (duplicates too).
func (w *Watcher) Registrations() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// WaitItem waits until an item is registered (optionally one accepted by
// match) and returns it.
func (w *Watcher) WaitItem(t testing.TB, timeout time.Duration, match ...func(Item) bool) Item {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ch := w.changed
		for _, it := range w.items {
			if len(match) == 0 || match[0](it) {
				w.mu.Unlock()
				return it
			}
		}
		w.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no StatusNotifierItem registered with the watcher within %s (items: %v)", timeout, w.Items())
			return Item{}
		}
	}
}

// Close leaves the bus, as a panel that exits; its name is released.
func (w *Watcher) Close() { w.conn.Close() }
