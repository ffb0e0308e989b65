package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The programs that put a child into a user's login session on macOS.
const (
	launchctlPath = "/bin/launchctl"
	sudoPath      = "/usr/bin/sudo"
	envPath       = "/usr/bin/env"
)

// startAsUser runs the child in the user's login (Aqua) context, where a
// menu bar app can reach the window server: `launchctl asuser` needs root
// and keeps it, so sudo drops to the user, and env sets the child's
// environment (sudo would reset it). No shell is involved; the child is in
// its own process group like any other, but macOS has no parent-death
// signal: it is the tray's own parent watch that ends it if orbit dies.
func startAsUser(spec Spec, stdout, stderr *os.File) (Child, error) {
	wrapped, err := asUserSpec(spec)
	if err != nil {
		return nil, err
	}
	return startCmd(command(wrapped, stdout, stderr))
}

// asUserSpec wraps spec into launchctl asuser, sudo and env.
func asUserSpec(spec Spec) (Spec, error) {
	// env takes every argument with a '=' before the program as a
	// variable, and the first one without as the program.
	if strings.Contains(spec.Path, "=") {
		return Spec{}, fmt.Errorf("run %s as %s: the path must not contain '='; install it elsewhere", spec.Path, spec.User.Name)
	}
	uid := strconv.FormatUint(uint64(spec.User.UID), 10)
	args := []string{"asuser", uid, sudoPath, "-u", "#" + uid, "--", envPath, "-i"}
	for _, kv := range spec.Env {
		if i := strings.IndexByte(kv, '='); i > 0 && !strings.HasPrefix(kv, "-") {
			args = append(args, kv)
		}
	}
	args = append(args, spec.Path)
	args = append(args, spec.Args...)
	return Spec{Path: launchctlPath, Args: args, Dir: spec.Dir, Env: []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin"}}, nil
}
