package updater

import (
	"fmt"
	"runtime"
)

const isWindows = runtime.GOOS == "windows"

// DefaultPlatform is the TUF platform name of the machine we run on, as
// Fleet's repositories name them. macOS osqueryd uses "macos-app" instead:
// set Component.Platform for it.
func DefaultPlatform() string { return platformFor(runtime.GOOS, runtime.GOARCH) }

// PlatformFor is the TUF platform of a host of goos and goarch (a package
// built for another machine): linux, linux-arm64, macos (Fleet's macOS
// targets are universal), windows, windows-arm64. Only the operating
// systems and architectures orbit is released for have one.
func PlatformFor(goos, goarch string) (string, error) {
	switch goos {
	case "linux", "darwin", "windows":
	default:
		return "", fmt.Errorf("no update platform for %s: orbit runs on linux, darwin and windows", goos)
	}
	if goarch != "amd64" && goarch != "arm64" {
		return "", fmt.Errorf("no update platform for %s/%s: use amd64 or arm64", goos, goarch)
	}
	return platformFor(goos, goarch), nil
}

func platformFor(goos, goarch string) string {
	switch goos {
	case "darwin":
		return "macos"
	case "windows":
		if goarch == "arm64" {
			return "windows-arm64"
		}
		return "windows"
	default:
		if goarch == "arm64" {
			return "linux-arm64"
		}
		return "linux"
	}
}
