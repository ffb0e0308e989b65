// Package desktop is the logic of the tray app (Fleet Desktop): its
// settings from the environment orbit passes, the device token it reads
// and watches, the poller of Fleet's device API, the menu model it shows,
// and the opener of the user's browser.
//
// Everything that touches the outside world sits behind a small interface
// or an injected value (clock.Clock, *http.Client, Opener, MenuView), so the
// tray glue in cmd/desktop only draws what App hands it, and tests drive
// the timing with a fake clock.
//
// The app's life:
//
//	App.Run: Connecting... -> poll GET /api/latest/fleet/device/{token}/desktop
//	  200  -> online: "Your device is OK" or "N failing policies"; next poll in PollInterval
//	  404  -> GET .../policies and count the failing ones (an older Fleet)
//	  401  -> re-read the token file and retry, AuthRetries times, then offline
//	  else -> offline: the next poll backs off (backoff.Backoff)
//	the identifier file is checked every TokenCheckInterval (a stat; the
//	content is read only when the file changed): a rotated token polls at once.
package desktop
