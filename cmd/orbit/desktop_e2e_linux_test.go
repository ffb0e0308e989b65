package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
)

// TestDesktopChannelFromFleetEndToEnd: with --fleet-desktop the updater
// keeps the tray app's archive installed, and the update channel the Fleet
// server sends moves it to another channel at once.
func TestDesktopChannelFromFleetEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "desktop-e2e-secret"
	fleetSrv := fleetServer(t, secret)

	tr := newTUFRepo(t)
	tr.add(t, "osqueryd", testbinOsqueryd(t, "5.12.1"), "5.12.1")
	tr.add(t, "desktop", testbin.DesktopArchive(t, testbinOsqueryd(t, "1.20.0")), "1.20.0")
	tr.add(t, "desktop", testbin.DesktopArchive(t, testbinOsqueryd(t, "1.21.0")), "1.21.0", "edge")

	root := filepath.Join(t.TempDir(), "orbit")
	p := startOrbitArgs(t, []string{"ORBIT_ENROLL_SECRET=" + secret}, append([]string{
		"--root-dir=" + root, "--fleet-url=" + fleetSrv.URL(), "--fleet-certificate=" + fleetSrv.CACertFile(),
		"--fleet-desktop", "--config-interval=1s", "--stop-grace=2s"}, tr.updateArgs()...)...)

	installed := func(version string) bool {
		s, _ := status.Read(filepath.Join(root, "state.json"))
		for _, ev := range s.Updates {
			if ev.Component == "desktop" && ev.Action == "installed" && ev.Version == version {
				return true
			}
		}
		return false
	}
	testwait.Within(t, 60*time.Second, "desktop 1.20.0 installed from stable", func() bool { return installed("1.20.0") })
	exe := func(ch string) []string {
		m, _ := filepath.Glob(filepath.Join(root, "bin", "desktop", "linux", ch, "desktop.*", "fleet-desktop", "fleet-desktop"))
		return m
	}
	if len(exe("stable")) != 1 {
		t.Fatalf("extracted tray app not found under bin/desktop/linux/stable: %v", exe("stable"))
	}

	// Fleet moves this host's tray app to edge: installed without waiting
	// for the next periodic check.
	fleetSrv.SetUpdateChannels("", "", "edge")
	testwait.Within(t, 30*time.Second, "desktop 1.21.0 installed from edge", func() bool { return installed("1.21.0") })
	if len(exe("edge")) != 1 {
		t.Fatalf("edge tray app not extracted: %v", exe("edge"))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
}
