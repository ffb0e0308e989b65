//go:build !windows

package updater

import (
	"errors"
	"syscall"
)

func isDiskErr(err error) bool {
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// isNotExecutable reports a start that failed because the file is no
// program for this machine (the release's fault, not the host's).
func isNotExecutable(err error) bool { return errors.Is(err, syscall.ENOEXEC) }
