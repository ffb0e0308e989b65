package session

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/orbitagent/orbit/supervisor"
)

// WTS lists the active Windows Terminal Services sessions: the console
// user's and each remote desktop user's. Session 0 (services) and
// sessions nobody is logged on to are left out.
type WTS struct{}

// Default is the platform's lister: the active WTS sessions.
func Default(Options) Lister { return WTS{} }

// Sessions lists the active sessions with a logged-on user.
func (WTS) Sessions(context.Context) ([]Session, error) {
	var infos *windows.WTS_SESSION_INFO
	var n uint32
	if err := windows.WTSEnumerateSessions(0, 0, 1, &infos, &n); err != nil {
		return nil, fmt.Errorf("list the Windows sessions (WTSEnumerateSessions): %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(infos)))
	var out []Session
	for _, info := range unsafe.Slice(infos, n) {
		if info.State != windows.WTSActive || info.SessionID == 0 {
			continue
		}
		if s, ok := wtsSession(info.SessionID); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// wtsSession describes a session from its user token; false when nobody
// is logged on to it (the login screen has no token).
func wtsSession(id uint32) (Session, bool) {
	var tok windows.Token
	if err := windows.WTSQueryUserToken(id, &tok); err != nil {
		return Session{}, false
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return Session{}, false
	}
	name, domain, _, err := tu.User.Sid.LookupAccount("")
	if err != nil {
		return Session{}, false
	}
	if domain != "" {
		name = domain + `\` + name
	}
	home, _ := tok.GetUserProfileDirectory()
	env, err := tok.Environ(false)
	if err != nil {
		return Session{}, false
	}
	slices.Sort(env)
	return Session{
		ID:   strconv.FormatUint(uint64(id), 10),
		User: supervisor.User{Name: name, Session: id},
		Home: home,
		Env:  env,
	}, true
}
