package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/osqueryd"
	"github.com/orbitagent/orbit/updater"
)

// exitBadInput is the exit code for refused flags, distinct from runtime
// failures so scripts and service managers can tell them apart.
const exitBadInput = 2

func runAgentCommand(c *cli.Context) error {
	cfg, err := parseConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitBadInput)
	}
	if supervisor.Interactive() {
		return runAgent(c.Context, cfg, true)
	}
	// Under systemd, launchd or the Windows SCM: let kardianos/service
	// translate the manager's stop request into a context cancel. An agent
	// that ends on its own (a refusal at start, orbit's update on Windows)
	// must end the process too: the service manager restarts a process
	// that exits, but would show a wedged one as running forever.
	svc, err := supervisor.NewService(serviceConfig(cfg, nil), func(ctx context.Context) error {
		err := runAgent(ctx, cfg, false)
		if ctx.Err() == nil {
			exitUnderService(err)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := svc.Run(); err != nil {
		return fmt.Errorf("run as service: %w", err)
	}
	return svc.RunErr()
}

// exitUnderService ends the process with the agent's exit code (1 when it
// stopped without one), so systemd's Restart=always or the SCM's recovery
// actions start orbit again.
func exitUnderService(err error) {
	code := 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orbit:", err)
	}
	os.Exit(code)
}

// runAgent is the agent: it owns the root directory for its lifetime and
// runs every actor until ctx is done or a signal arrives.
func runAgent(ctx context.Context, cfg *agentConfig, handleSignals bool) error {
	layout := cfg.Layout
	log, closeLog := newLogger(cfg, os.Stderr)
	defer closeLog.Close()
	// A refusal is printed by main on stderr; with --log-file it goes to
	// the file too, where an admin of a service will look for it.
	refuse := func(err error) error {
		if cfg.LogFile != "" {
			log.Error().Err(err).Msg("orbit cannot start")
		}
		return cli.Exit(err.Error(), exitBadInput)
	}
	if err := layout.Create(); err != nil {
		return refuse(err)
	}
	if err := layout.CheckPermissions(); err != nil {
		return refuse(err)
	}
	lock, err := supervisor.AcquireLock(layout.Lock())
	if err != nil {
		return refuse(err)
	}
	defer lock.Release()
	log.Info().Str("version", version).Str("root_dir", layout.Root).Str("fleet_url", cfg.FleetURL).Msg("orbit starting")
	if cfg.secretOnArgv {
		log.Warn().Msg("enroll secret given on the command line, where local users can read it; use --enroll-secret-path or ORBIT_ENROLL_SECRET instead")
	}

	store := status.NewStore(layout.State(), version, nil)
	if err := store.UpdateComponent("orbit", func(c *status.Component) {
		c.State = status.StateRunning
		c.PID = os.Getpid()
		c.Version = version
		c.StartedAt = time.Now().UTC()
	}); err != nil {
		log.Error().Err(err).Msg("cannot write state file; orbit status will be stale")
	}

	// A new orbit counts its boots until it proves healthy; one that keeps
	// failing is swapped back for the previous version here.
	if !cfg.DisableUpdates {
		boot, err := updater.CheckBoot(layout, 0, log)
		if err != nil {
			log.Error().Err(err).Msg("self-update boot check failed")
		}
		if boot.RolledBack {
			_ = store.AddUpdateEvent(status.UpdateEvent{Component: "orbit", Action: "rolled_back",
				Message: fmt.Sprintf("updated orbit did not become healthy in %d boots; previous version restored", boot.Boots-1)})
			lock.Release()
			return reexec(boot.ExecPath)
		}
	}

	procs := processes{}
	self := newSelfUpdate()
	var upd *updater.Updater
	if !cfg.DisableUpdates {
		upd, err = newUpdater(cfg, log, store, procs, self)
		if err != nil {
			return refuse(err)
		}
	}
	osquerydPath := func() (string, error) {
		switch {
		case cfg.OsquerydPath != "":
			return cfg.OsquerydPath, nil
		case upd != nil:
			return upd.ExecPath("osqueryd")
		}
		p := managedOsquerydPath(cfg)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("osqueryd is not installed at %s (pass --osqueryd-path or enable updates): %w", p, err)
		}
		return p, nil
	}
	reporter := status.NewReporter(status.ReporterConfig{
		Store:   store,
		Logger:  log,
		Binary:  func(string) (string, error) { return osquerydPath() },
		Version: func(_, path string) string { return osqueryd.Version(path) },
	})
	defer reporter.Close()
	proc, err := osqueryd.NewProcess(osqueryd.RunnerConfig{
		Flags: osqueryd.FlagOptions{
			Layout:     layout,
			FleetURL:   cfg.FleetURL,
			CertFile:   cfg.FleetCertificate,
			ConfigPath: cfg.OsqueryConfig,
			ProxyHost:  proxyHost(cfg.FleetProxy),
			ExtraArgs:  cfg.ExtraArgs,
		},
		Path:         osquerydPath,
		EnrollSecret: cfg.EnrollSecret,
		StopGrace:    cfg.StopGrace,
		Logger:       log,
		OnStatus:     reporter.Report,
	})
	if err != nil {
		return refuse(err)
	}

	group := supervisor.NewGroup(log, nil)
	if handleSignals {
		group.Add("signals", supervisor.SignalActor(log))
	}
	procs["osqueryd"] = proc
	var channels fleet.ChannelSetter
	if upd != nil {
		group.Add("updater", upd)
		group.Add("self-update", self)
		channels = upd
	}
	if cfg.FleetDesktop {
		log.Warn().Msg("--fleet-desktop: the updater keeps the tray app installed, but this build does not run it yet")
	}

	// osqueryd starts once it is installed and, with Fleet, once the
	// server's startup flags are applied: a start before either would only
	// fail or be restarted at once, and count against its backoff.
	var gates []gate
	if upd != nil && cfg.OsquerydPath == "" {
		gates = append(gates, installedGate(osquerydPath, log))
	}
	if cfg.FleetURL != "" {
		agent, err := newFleetAgent(cfg, log, store, proc, channels, osquerydPath)
		if err != nil {
			return refuse(err)
		}
		group.Add("fleet", agent)
		gates = append(gates, fleetReadyGate(agent, log))
	}
	group.Add("osqueryd", gated(proc, gates...))

	err = group.Run(ctx)
	_ = store.UpdateComponent("orbit", func(c *status.Component) { c.State = status.StateStopped; c.PID = 0 })
	log.Info().Msg("orbit stopped")
	if self.path != "" {
		log.Info().Str("path", self.path).Msg("starting the updated orbit")
		closeLog.Close()
		lock.Release()
		return reexec(self.path)
	}
	if err == nil || errors.Is(err, supervisor.ErrShutdown) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// proxyHost turns --fleet-proxy into osquery's --proxy_hostname (host:port).
func proxyHost(proxyURL string) string {
	if u, err := url.Parse(proxyURL); err == nil {
		return u.Host
	}
	return ""
}

// newFleetAgent wires the Fleet client: it restarts osqueryd after a flag
// change and hands the server's update channels to the updater.
func newFleetAgent(cfg *agentConfig, log zerolog.Logger, store *status.Store, osq fleet.Restarter, channels fleet.ChannelSetter, osquerydPath func() (string, error)) (*fleet.Agent, error) {
	client, err := httpclient.New(fleet.HTTPClientConfig(httpclient.Config{
		CAFile:   cfg.FleetCertificate,
		Insecure: cfg.Insecure,
		Proxy:    cfg.FleetProxy,
		Logger:   log,
	}))
	if err != nil {
		return nil, fmt.Errorf("connect to Fleet: %w", err)
	}
	fc := fleet.Config{
		Layout:       cfg.Layout,
		URL:          cfg.FleetURL,
		EnrollSecret: cfg.EnrollSecret,
		HTTPClient:   client,
		Version:      version,
		OsquerydPath: func() string {
			p, err := osquerydPath()
			if err != nil {
				return ""
			}
			return p
		},
		Restarter:          osq,
		Status:             store,
		Logger:             log,
		ScriptsEnabled:     cfg.EnableScripts,
		ConfigInterval:     cfg.ConfigInterval,
		TokenCheckInterval: cfg.TokenCheck,
	}
	if channels != nil {
		fc.ChannelSetter = channels
	}
	return fleet.New(fc)
}

// gate blocks until something osqueryd needs is in place; false means ctx
// ended first.
type gate func(ctx context.Context) bool

// gated runs proc once every gate has opened.
func gated(proc *supervisor.Process, gates ...gate) supervisor.Actor {
	return supervisor.ActorFunc(func(ctx context.Context) error {
		for _, g := range gates {
			if !g(ctx) {
				return nil
			}
		}
		return proc.Run(ctx)
	})
}

// fleetReadyWait bounds how long osqueryd waits for Fleet's first config.
const fleetReadyWait = 30 * time.Second

// fleetReadyGate opens when the Fleet agent has applied the server's
// startup flags, or has given up reaching the server for now.
func fleetReadyGate(agent *fleet.Agent, log zerolog.Logger) gate {
	return func(ctx context.Context) bool {
		t := time.NewTimer(fleetReadyWait)
		defer t.Stop()
		select {
		case <-agent.Ready():
		case <-t.C:
			log.Warn().Dur("waited_ms", fleetReadyWait).Msg("no config from Fleet yet; starting osqueryd with the flags on disk")
		case <-ctx.Done():
			return false
		}
		return true
	}
}

// installedGate opens once the updater has installed osqueryd. It polls a
// file's existence, which costs nothing next to the download it waits for.
func installedGate(path func() (string, error), log zerolog.Logger) gate {
	return func(ctx context.Context) bool {
		if _, err := path(); err == nil {
			return true
		}
		log.Info().Msg("waiting for the updater to install osqueryd")
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
				if _, err := path(); err == nil {
					return true
				}
			}
		}
	}
}
