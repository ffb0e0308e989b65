package main

import (
	"runtime"

	"github.com/orbitagent/orbit/updater"
)

func exeName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

// managedOsquerydPath is where the updater installs a plain osqueryd (on
// macOS it installs an app bundle, found through the updater instead).
func managedOsquerydPath(cfg *agentConfig) string {
	return cfg.Layout.Bin("osqueryd", updater.DefaultPlatform(), cfg.Channels.Osqueryd, exeName("osqueryd"))
}
