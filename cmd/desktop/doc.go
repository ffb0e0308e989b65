//go:build !darwin || cgo

// Command desktop is the tray app (Fleet Desktop) that orbit runs for each
// logged-in user, as that user. The logic is in package desktop; this
// command reads its settings from the environment orbit passes (Fleet's
// FLEET_DESKTOP_* names), and draws the menu with fyne.io/systray.
//
// Usage:
//
//	desktop              run the tray (settings from the environment)
//	desktop --version    print "fleet-desktop <version>" (orbit's version probe)
//	desktop --help       print a line and exit 0 (the updater's exec check)
//
// Exit codes: 0 after SIGTERM/SIGINT, when orbit (the parent) is gone, and
// for --version/--help; 2 for a bad argument or a missing or bad setting
// (one log line says which); 1 when the tray cannot go on (a failed re-exec).
//
// Every file has the constraint `!darwin || cgo`: on macOS systray is
// Objective-C behind cgo and needs Apple's SDK, so without cgo this
// command is left out and `GOOS=darwin go build ./...` still builds the
// rest of the module.
package main
