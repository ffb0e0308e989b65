package main

import (
	"runtime"

	"github.com/orbitagent/orbit/rootdir"
)

// targetPlatform is this host's platform name in the update repository.
func targetPlatform() string {
	p := map[string]string{"linux": "linux", "darwin": "macos", "windows": "windows"}[runtime.GOOS]
	if p == "" {
		p = runtime.GOOS
	}
	if runtime.GOARCH == "arm64" && p != "macos" {
		p += "-arm64"
	}
	return p
}

func exeName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

// managedOsquerydPath is where the updater installs osqueryd.
func managedOsquerydPath(cfg *agentConfig) string {
	return rootdir.Layout{Root: cfg.Layout.Root}.Bin("osqueryd", targetPlatform(), cfg.Channels.Osqueryd, exeName("osqueryd"))
}
