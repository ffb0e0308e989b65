package updater

import (
	"errors"

	"golang.org/x/sys/windows"
)

func isDiskErr(err error) bool {
	for _, e := range []error{windows.ERROR_DISK_FULL, windows.ERROR_HANDLE_DISK_FULL,
		windows.ERROR_DISK_QUOTA_EXCEEDED, windows.ERROR_WRITE_PROTECT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// isNotExecutable reports a start that failed because the file is no
// program for this machine (the release's fault, not the host's).
func isNotExecutable(err error) bool { return errors.Is(err, windows.ERROR_BAD_EXE_FORMAT) }
