package updater

import "runtime"

const isWindows = runtime.GOOS == "windows"

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
