//go:build unix && !linux

package supervisor

import "syscall"

// No parent-death signal outside Linux: stale children are found by pid files
// at the next start.
func setPdeathsig(*syscall.SysProcAttr) {}

func waitExitedNoReap(int) bool { return false }
