package supervisor

import (
	"fmt"
	"strconv"
	"strings"
)

// The programs that put a child into a user's login session on macOS.
const (
	launchctlPath = "/bin/launchctl"
	sudoPath      = "/usr/bin/sudo"
	envPath       = "/usr/bin/env"
)

// asUserSpec is how macOS starts spec as spec.User (startAsUser on
// darwin); it is built everywhere so that its command line is tested
// where macOS is not at hand.
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
