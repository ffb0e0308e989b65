package desktop

import (
	"net/url"
	"path"
)

// Links builds the URLs of the pages the menu opens in the browser, as
// Fleet Desktop does: "My device" is <fleet>/device/<token>, self-service
// is <fleet>/device/<token>/self-service, and transparency is the device
// API's .../transparency, which Fleet redirects to the page its admins
// chose. With an alternative browser host, only the host of these URLs
// changes (never the host the tray's own API calls go to).
type Links struct {
	base        *url.URL
	browserHost string
}

// NewLinks returns the links of the Fleet at base.
func NewLinks(base *url.URL, alternativeBrowserHost string) Links {
	return Links{base: base, browserHost: alternativeBrowserHost}
}

// URL is the page an item opens for token; ok is false for items that
// open nothing.
func (l Links) URL(item ItemID, token string) (u string, ok bool) {
	var p string
	switch item {
	case ItemMyDevice:
		p = "/device/" + token
	case ItemSelfService:
		p = "/device/" + token + "/self-service"
	case ItemTransparency:
		p = "/api/latest/fleet/device/" + token + "/transparency"
	default:
		return "", false
	}
	b := joinPath(l.base, p)
	if l.browserHost != "" {
		b.Host = l.browserHost
	}
	return b.String(), true
}

// joinPath puts p under base's path prefix (a Fleet behind /fleet/).
func joinPath(base *url.URL, p string) *url.URL {
	u := *base
	u.Path = path.Join("/", base.Path, p)
	u.RawPath = ""
	return &u
}
