//go:build unix && !darwin

package supervisor

import (
	"os"
	"syscall"
)

// startAsUser forks the child with the user's credentials set directly:
// uid, gid and exactly the given supplementary groups (root's are
// dropped), no sudo and no shell in between. The kernel switches them in
// the forked child before exec, so the program never runs as root; the
// parent-death signal is set after the switch, so it still holds.
func startAsUser(spec Spec, stdout, stderr *os.File) (Child, error) {
	cmd := command(spec, stdout, stderr)
	groups := append([]uint32{}, spec.User.Groups...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: spec.User.UID, Gid: spec.User.GID, Groups: groups},
	}
	return startCmd(cmd)
}
