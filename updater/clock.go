package updater

import (
	"runtime"
	"time"
)

const isWindows = runtime.GOOS == "windows"

// Clock is the time source; tests inject a fake one to drive splay,
// intervals, grace windows and cooldowns without sleeping.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DefaultPlatform is the TUF platform name of the machine we run on, as
// Fleet's repositories name them. macOS osqueryd uses "macos-app" instead:
// set Component.Platform for it.
func DefaultPlatform() string {
	switch runtime.GOOS {
	case "darwin":
		return "macos"
	case "windows":
		if runtime.GOARCH == "arm64" {
			return "windows-arm64"
		}
		return "windows"
	default:
		if runtime.GOARCH == "arm64" {
			return "linux-arm64"
		}
		return "linux"
	}
}
