// Package session finds the logged-in users' graphical sessions, with
// what a program needs to run in each one as that user: the account
// (uid, gid, groups; the WTS session on Windows), the home directory and
// the session's environment (display, runtime directory, session bus),
// discovered for that session and never assumed.
//
//   - Linux: logind (`loginctl list-sessions`, `loginctl show-session`),
//     or /run/user/<uid> where logind does not answer; each session's
//     variables come from its own processes' /proc/<pid>/environ, then
//     from logind's Display and the runtime directory's sockets.
//   - macOS: the console user (the owner of /dev/console).
//   - Windows: the active WTS sessions and their user tokens.
//
// The per-user runner (supervisor/peruser) takes any lister of sessions;
// tests inject theirs.
package session

import (
	"context"
	"slices"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/supervisor"
)

// Session is one logged-in user's graphical session.
type Session struct {
	// ID names the session on this host: logind's session id, "uid-<uid>"
	// from /run/user, "console" on macOS, the WTS session id on Windows.
	ID string
	// User is who the session belongs to: programs for it run as them.
	User supervisor.User
	// Home is the user's home directory, checked to exist (and on Unix to
	// belong to the user); "" when it does not.
	Home string
	// Type is the display server ("x11", "wayland", "mir") when known.
	Type string
	// Env is what a program in this session starts with, NAME=value,
	// sorted: on Linux HOME, USER, LOGNAME, PATH and the session's display
	// variables; on Windows the user's environment block.
	Env []string
}

// Key identifies a session across polls: a new login is a new session.
func (s Session) Key() string {
	return s.ID + "/" + strconv.FormatUint(uint64(s.User.UID), 10) + "/" + s.User.Name
}

// Equal reports whether two snapshots of a session would start the same
// program the same way.
func (s Session) Equal(o Session) bool {
	return s.ID == o.ID && s.Home == o.Home && s.Type == o.Type && slices.Equal(s.Env, o.Env) &&
		s.User.Name == o.User.Name && s.User.UID == o.User.UID && s.User.GID == o.User.GID &&
		s.User.Session == o.User.Session && slices.Equal(s.User.Groups, o.User.Groups)
}

// The variables a program needs to reach a user's desktop.
const (
	EnvDisplay        = "DISPLAY"
	EnvWaylandDisplay = "WAYLAND_DISPLAY"
	EnvXAuthority     = "XAUTHORITY"
	EnvRuntimeDir     = "XDG_RUNTIME_DIR"
	EnvSessionBus     = "DBUS_SESSION_BUS_ADDRESS"
)

// envList turns a map into sorted NAME=value entries, leaving out empty
// values.
func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	slices.Sort(out)
	return out
}

// Lister lists the graphical sessions now logged in.
type Lister interface {
	Sessions(ctx context.Context) ([]Session, error)
}

// Options tune the platform's lister; the zero value is the real one.
type Options struct {
	Logger zerolog.Logger
	// RunUserDir, on Linux, replaces logind: sessions come from this
	// directory laid out as /run/user (tests of a whole orbit).
	RunUserDir string
}
