package desktoptest

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

func TestParseItem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Item
	}{
		{":1.7/StatusNotifierItem", Item{BusName: ":1.7", Path: "/StatusNotifierItem"}},
		{":1.7/org/ayatana/NotificationItem/tray", Item{BusName: ":1.7", Path: "/org/ayatana/NotificationItem/tray"}},
		{"org.kde.StatusNotifierItem-12-1", Item{BusName: "org.kde.StatusNotifierItem-12-1", Path: "/StatusNotifierItem"}},
		{":1.7/", Item{BusName: ":1.7", Path: dbus.ObjectPath("/StatusNotifierItem")}},
	} {
		if got := ParseItem(tc.in); got != tc.want {
			t.Errorf("ParseItem(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
