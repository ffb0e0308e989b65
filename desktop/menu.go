package desktop

import "fmt"

// ItemID names a menu item. Items are shown in the order of Items.
type ItemID int

// The menu's items.
const (
	ItemVersion ItemID = iota
	ItemStatus
	ItemMyDevice
	ItemSelfService
	ItemTransparency
	itemCount
)

// Items is every item, in menu order.
func Items() []ItemID {
	ids := make([]ItemID, itemCount)
	for i := range ids {
		ids[i] = ItemID(i)
	}
	return ids
}

func (id ItemID) String() string {
	switch id {
	case ItemVersion:
		return "version"
	case ItemStatus:
		return "status"
	case ItemMyDevice:
		return "my_device"
	case ItemSelfService:
		return "self_service"
	case ItemTransparency:
		return "transparency"
	}
	return fmt.Sprintf("item_%d", int(id))
}

// Status is where the tray stands with Fleet.
type Status int

// The tray's states.
const (
	// StatusConnecting: no answer from Fleet yet (or no token yet).
	StatusConnecting Status = iota
	// StatusOnline: the last poll was answered.
	StatusOnline
	// StatusOffline: the last poll failed (Fleet unreachable, or it kept
	// refusing the device token).
	StatusOffline
)

func (s Status) String() string {
	switch s {
	case StatusConnecting:
		return "connecting"
	case StatusOnline:
		return "online"
	case StatusOffline:
		return "offline"
	}
	return fmt.Sprintf("status_%d", int(s))
}

// The status line's texts.
const (
	TitleConnecting = "Connecting..."
	TitleOK         = "Your device is OK"
	TitleOffline    = "Offline: Fleet is unreachable"
	// TitleConnected is shown when Fleet answers but tells no policy count
	// (402: a Fleet without the license for it).
	TitleConnected = "Connected to Fleet"
)

// State is what the menu is drawn from.
type State struct {
	Status Status
	// FailingPolicies is Fleet's count (nil: not told).
	FailingPolicies *uint
	// SelfService is Fleet's self_service flag (nil: an older Fleet that
	// does not send it, where Fleet Desktop shows the item).
	SelfService *bool
}

// MenuItem is how one item looks.
type MenuItem struct {
	Title   string
	Enabled bool
	Visible bool
}

// Menu is the whole menu, indexed by ItemID.
type Menu [itemCount]MenuItem

// Item returns one item.
func (m Menu) Item(id ItemID) MenuItem { return m[id] }

// BuildMenu draws the menu for a state: the version and status lines are
// text only; the pages open only while Fleet answers (a page that cannot
// load is no use, and a click must never open a stale token's page).
func BuildMenu(version string, s State) Menu {
	online := s.Status == StatusOnline
	var m Menu
	m[ItemVersion] = MenuItem{Title: "Fleet Desktop v" + version, Visible: true}
	m[ItemStatus] = MenuItem{Title: statusTitle(s), Visible: true}
	m[ItemMyDevice] = MenuItem{Title: "My device", Enabled: online, Visible: true}
	self := online && (s.SelfService == nil || *s.SelfService)
	m[ItemSelfService] = MenuItem{Title: "Self-service", Enabled: self, Visible: self}
	m[ItemTransparency] = MenuItem{Title: "Transparency", Enabled: online, Visible: true}
	return m
}

func statusTitle(s State) string {
	switch s.Status {
	case StatusOnline:
		switch {
		case s.FailingPolicies == nil:
			return TitleConnected
		case *s.FailingPolicies == 0:
			return TitleOK
		case *s.FailingPolicies == 1:
			return "1 failing policy"
		default:
			return fmt.Sprintf("%d failing policies", *s.FailingPolicies)
		}
	case StatusOffline:
		return TitleOffline
	}
	return TitleConnecting
}
