package osquery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/safefile"
)

// KillStale stops an osqueryd left behind by an earlier orbit (for example
// after `kill -9` on a platform without a parent-death signal). It only
// touches a process that really is an osqueryd started for this root: the
// pid file's pid must name a process whose executable is called osqueryd
// and whose command line carries this root's --pidfile. A recycled pid that
// now belongs to something else is left alone.
func KillStale(ctx context.Context, pidFile string, log zerolog.Logger) error {
	data, err := safefile.ReadLimited(pidFile, safefile.MaxState)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read osqueryd pid file %s: %w", pidFile, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		log.Warn().Str("pid_file", pidFile).Msg("ignoring malformed osqueryd pid file")
		return removePidFile(pidFile)
	}
	argv, err := processArgs(pid)
	if err != nil {
		// Gone already, or not ours to inspect: nothing to kill.
		return removePidFile(pidFile)
	}
	if !isOsquerydFor(argv, pidFile) {
		log.Info().Int("pid", pid).Msg("pid in osqueryd pid file belongs to another process; leaving it alone")
		return removePidFile(pidFile)
	}
	log.Warn().Int("pid", pid).Msg("stopping stale osqueryd left by an earlier orbit")
	if err := terminate(ctx, pid, 5*time.Second); err != nil {
		return fmt.Errorf("stop stale osqueryd pid %d: %w (stop it by hand before starting orbit)", pid, err)
	}
	return removePidFile(pidFile)
}

func removePidFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale pid file %s: %w", path, err)
	}
	return nil
}

// isOsquerydFor checks argv[0] names osqueryd (osqueryd, osqueryd.exe, or
// the macOS app bundle's binary) and that --pidfile points at pidFile.
func isOsquerydFor(argv []string, pidFile string) bool {
	if len(argv) == 0 {
		return false
	}
	base := strings.TrimSuffix(filepath.Base(argv[0]), ".exe")
	if base != "osqueryd" {
		return false
	}
	for i, a := range argv[1:] {
		if a == "--pidfile="+pidFile {
			return true
		}
		if a == "--pidfile" && i+2 < len(argv) && argv[i+2] == pidFile {
			return true
		}
	}
	return false
}
