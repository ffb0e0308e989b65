package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/updater"
)

// updateComponents lists what the updater keeps current, with Fleet's
// target names: on macOS osqueryd ships as an app bundle.
func updateComponents(cfg *agentConfig) []updater.Component {
	osq := updater.Component{Name: "osqueryd", Channel: cfg.Channels.Osqueryd, FileName: exeName("osqueryd")}
	if runtime.GOOS == "darwin" {
		osq = updater.Component{
			Name: "osqueryd", Channel: cfg.Channels.Osqueryd, Platform: "macos-app",
			FileName: "osqueryd.app.tar.gz", ExecInArchive: "osquery.app/Contents/MacOS/osqueryd",
		}
	}
	comps := []updater.Component{{Name: "orbit", Channel: cfg.Channels.Orbit, FileName: exeName("orbit")}}
	if cfg.OsquerydPath == "" {
		// An explicit --osqueryd-path is the admin's binary: leave it alone.
		comps = append(comps, osq)
	}
	if cfg.FleetDesktop {
		comps = append(comps, desktopComponent(cfg.Channels.Desktop))
	}
	return comps
}

// desktopComponent is the tray app's target, with Fleet's names. Fleet
// checks it with --help (it has no --version).
func desktopComponent(channel string) updater.Component {
	c := updater.Component{Name: "desktop", Channel: channel, VersionArgs: []string{"--help"}}
	switch runtime.GOOS {
	case "windows":
		c.FileName = "fleet-desktop.exe"
	case "darwin":
		c.FileName, c.ExecInArchive = "desktop.app.tar.gz", "Fleet Desktop.app/Contents/MacOS/fleet-desktop"
	default:
		c.FileName, c.ExecInArchive = "desktop.tar.gz", "fleet-desktop/fleet-desktop"
	}
	return c
}

// processes maps component names to their runners, for the updater's
// restarts and health questions.
type processes map[string]*supervisor.Process

func (p processes) Restart(component string) {
	if proc := p[component]; proc != nil {
		proc.Restart()
	}
}

func (p processes) CrashLooping(component string) bool {
	if proc := p[component]; proc != nil {
		return proc.Status().CrashLoop
	}
	return false
}

// selfUpdate carries orbit's own update from the updater to main: the
// updater calls Trigger, an actor turns it into a group shutdown, and
// runAgent re-execs the new binary once every child has stopped.
type selfUpdate struct {
	once sync.Once
	ch   chan string
	path string
}

func newSelfUpdate() *selfUpdate { return &selfUpdate{ch: make(chan string, 1)} }

func (s *selfUpdate) Trigger(path string) {
	s.once.Do(func() { s.ch <- path })
}

func (s *selfUpdate) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case p := <-s.ch:
		s.path = p
		return fmt.Errorf("%w: orbit was updated", supervisor.ErrShutdown)
	}
}

func newUpdater(cfg *agentConfig, log zerolog.Logger, store *status.Store, procs processes, self *selfUpdate) (*updater.Updater, error) {
	roots, err := updater.ParseRoots(cfg.UpdateRoots)
	if err != nil {
		return nil, fmt.Errorf("--update-roots: %w", err)
	}
	client, err := httpclient.New(httpclient.Config{CAFile: cfg.UpdateTLSCert, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("connect to the update server (--update-tls-certificate): %w", err)
	}
	return updater.New(updater.Config{
		Layout:      cfg.Layout,
		UpdateURL:   cfg.UpdateURL,
		RootJSON:    roots,
		Platform:    updater.DefaultPlatform(),
		Components:  updateComponents(cfg),
		Interval:    cfg.UpdateInterval,
		HTTPClient:  client,
		Restarter:   procs,
		Health:      procs,
		SelfUpdated: self.Trigger,
		Status:      store,
		Logger:      log,
	})
}
