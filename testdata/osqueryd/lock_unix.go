//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/orbitagent/orbit/internal/safefile"
)

// lockDatabase takes an exclusive lock on <db>/LOCK, as RocksDB does, so two
// daemons cannot share one database.
func lockDatabase(dir string) (func(), error) {
	l, err := safefile.TryLock(filepath.Join(dir, "LOCK"), 0o600)
	if err != nil {
		return nil, err
	}
	return func() { _ = l.Release() }, nil
}

// otherRunningPid reports whether the pidfile names another live process
// running this same program, which osquery refuses to run beside.
func otherRunningPid(pidfile string) (int, bool) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return 0, false
	}
	self, err1 := os.Executable()
	other, err2 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err1 != nil || err2 != nil {
		// Without /proc (macOS) we cannot tell a reused pid from osqueryd;
		// a stale pidfile must not block a start.
		return 0, false
	}
	return pid, filepath.Clean(self) == filepath.Clean(other)
}
