package session

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"syscall"

	"github.com/orbitagent/orbit/supervisor"
)

// consoleDevice is owned by the user logged in at the screen, and by root
// while the login window shows.
const consoleDevice = "/dev/console"

// minConsoleUID: macOS gives regular users uids from 501; below are
// system accounts such as _mbsetupuser (the setup assistant's).
const minConsoleUID = 500

// Console lists the macOS console user's session (one at a time: fast
// user switching moves the console to the user in front).
type Console struct{}

// Default is the platform's lister: the console user.
func Default(Options) Lister { return Console{} }

// Sessions returns the console user's session, or none at the login window.
func (Console) Sessions(context.Context) ([]Session, error) {
	fi, err := os.Stat(consoleDevice)
	if err != nil {
		return nil, fmt.Errorf("find the console user (%s): %w", consoleDevice, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid < minConsoleUID {
		return nil, nil
	}
	acct, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10))
	if err != nil {
		return nil, fmt.Errorf("look up the console user %d: %w", st.Uid, err)
	}
	gid, err := strconv.ParseUint(acct.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("console user %s has a bad group id %q", acct.Username, acct.Gid)
	}
	u := supervisor.User{Name: acct.Username, UID: st.Uid, GID: uint32(gid)}
	if ids, err := acct.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				u.Groups = append(u.Groups, uint32(g))
			}
		}
		slices.Sort(u.Groups)
	}
	home := acct.HomeDir
	if hi, err := os.Stat(home); err != nil || !hi.IsDir() {
		home = ""
	}
	env := map[string]string{"USER": u.Name, "LOGNAME": u.Name, "HOME": home, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
	return []Session{{ID: "console", User: u, Home: home, Type: "aqua", Env: envList(env)}}, nil
}
