package desktop

import (
	"net/url"
	"testing"
)

func TestLinks(t *testing.T) {
	t.Parallel()
	const tok = "1a2b3c4d-0000-4000-8000-00000000abcd"
	tests := []struct {
		base, host string
		item       ItemID
		want       string
	}{
		{"https://fleet.example.com", "", ItemMyDevice, "https://fleet.example.com/device/" + tok},
		{"https://fleet.example.com/", "", ItemSelfService, "https://fleet.example.com/device/" + tok + "/self-service"},
		{"https://fleet.example.com", "", ItemTransparency, "https://fleet.example.com/api/latest/fleet/device/" + tok + "/transparency"},
		{"https://fleet.example.com:8443/fleet/", "", ItemMyDevice, "https://fleet.example.com:8443/fleet/device/" + tok},
		{"https://fleet.internal:8443", "fleet.example.com", ItemMyDevice, "https://fleet.example.com/device/" + tok},
		{"https://fleet.internal/p", "fleet.example.com:444", ItemSelfService, "https://fleet.example.com:444/p/device/" + tok + "/self-service"},
		{"https://fleet.internal", "fleet.example.com", ItemTransparency, "https://fleet.example.com/api/latest/fleet/device/" + tok + "/transparency"},
	}
	for _, tt := range tests {
		base, err := url.Parse(tt.base)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := NewLinks(base, tt.host).URL(tt.item, tok)
		if !ok || got != tt.want {
			t.Errorf("URL(%s, %s, host %q) = %q, %v; want %q", tt.base, tt.item, tt.host, got, ok, tt.want)
		}
	}
	base, _ := url.Parse("https://fleet.example.com")
	for _, id := range []ItemID{ItemVersion, ItemStatus} {
		if u, ok := NewLinks(base, "").URL(id, tok); ok {
			t.Errorf("%s has a page: %q", id, u)
		}
	}
}
