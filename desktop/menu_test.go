package desktop

import "testing"

func TestBuildMenu(t *testing.T) {
	t.Parallel()
	n := func(v uint) *uint { return &v }
	yes, no := true, false
	tests := []struct {
		name    string
		state   State
		status  string
		online  bool
		selfSvc bool
	}{
		{"connecting", State{}, TitleConnecting, false, false},
		{"ok", State{Status: StatusOnline, FailingPolicies: n(0)}, TitleOK, true, true},
		{"one", State{Status: StatusOnline, FailingPolicies: n(1), SelfService: &yes}, "1 failing policy", true, true},
		{"many", State{Status: StatusOnline, FailingPolicies: n(12)}, "12 failing policies", true, true},
		{"no self-service", State{Status: StatusOnline, FailingPolicies: n(0), SelfService: &no}, TitleOK, true, false},
		{"no count", State{Status: StatusOnline, SelfService: &no}, TitleConnected, true, false},
		{"offline", State{Status: StatusOffline, FailingPolicies: n(3)}, TitleOffline, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := BuildMenu("4.5.6", tt.state)
			if v := m.Item(ItemVersion); v.Title != "Fleet Desktop v4.5.6" || v.Enabled || !v.Visible {
				t.Errorf("version item %+v", v)
			}
			if s := m.Item(ItemStatus); s.Title != tt.status || s.Enabled || !s.Visible {
				t.Errorf("status item %+v, want %q, disabled", s, tt.status)
			}
			for _, id := range []ItemID{ItemMyDevice, ItemTransparency} {
				if it := m.Item(id); it.Enabled != tt.online || !it.Visible {
					t.Errorf("%s = %+v, want enabled %v", id, it, tt.online)
				}
			}
			if it := m.Item(ItemSelfService); it.Enabled != tt.selfSvc || it.Visible != tt.selfSvc {
				t.Errorf("self-service = %+v, want shown %v", it, tt.selfSvc)
			}
		})
	}
	if got := len(Items()); got != int(itemCount) || Items()[0] != ItemVersion || Items()[itemCount-1] != ItemTransparency {
		t.Fatalf("Items() = %v", Items())
	}
}
