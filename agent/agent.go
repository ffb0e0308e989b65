// Package agent is what orbit does at run time: it owns the root
// directory, builds the actors (the osqueryd runner, the updater, the
// Fleet agent, the self-update hand-over) from a validated Config, wires
// them to each other and runs them in one supervisor.Group. cmd/orbit
// keeps the command line, exit codes, subcommands and the re-exec.
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/osqueryd"
	"github.com/orbitagent/orbit/updater"
)

// Deps are what Run takes from its caller rather than the configuration;
// zero values are the real ones.
type Deps struct {
	Logger zerolog.Logger
	Clock  clock.Clock
	// Signals stops the run on SIGINT or SIGTERM: an interactive run. Under
	// a service manager the manager's stop cancels the context instead.
	Signals bool
	// Starter starts osqueryd (default supervisor.ExecStarter).
	Starter supervisor.Starter
}

// Outcome is how a run ended.
type Outcome struct {
	// Reexec is the orbit to run in this one's place (orbit updated
	// itself, or a new orbit was rolled back at boot): exec it with the
	// same arguments, or on Windows exit for the service manager.
	Reexec string
}

// Refusal is Run's error when orbit cannot start with this configuration
// or root directory; cmd/orbit exits with its bad-input code.
type Refusal struct{ Err error }

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(err error) error { return &Refusal{Err: err} }

// Run is the agent: it owns the root directory for its lifetime (the
// single-instance lock) and runs every actor until ctx is done, a signal
// arrives (with Deps.Signals) or orbit hands over to a new version.
func Run(ctx context.Context, cfg Config, deps Deps) (Outcome, error) {
	if err := cfg.Validate(); err != nil {
		return Outcome{}, refuse(err)
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real()
	}
	log := deps.Logger
	layout := cfg.Layout
	// Checked first, so a refused root is left as it was; what Create
	// adds is orbit's own and made tight.
	if err := layout.CheckPermissions(); err != nil {
		return Outcome{}, refuse(err)
	}
	if err := layout.Create(); err != nil {
		return Outcome{}, refuse(err)
	}
	lock, err := supervisor.AcquireLock(layout.Lock())
	if err != nil {
		return Outcome{}, refuse(err)
	}
	defer lock.Release()
	log.Info().Str("version", cfg.Version).Str("root_dir", layout.Root).Str("fleet_url", cfg.FleetURL).Msg("orbit starting")
	if cfg.SecretOnArgv {
		log.Warn().Msg("enroll secret given on the command line, where local users can read it; use --enroll-secret-path or ORBIT_ENROLL_SECRET instead")
	}

	store := newStore(cfg, deps.Clock, log)
	// A new orbit counts its boots until it proves healthy; one that keeps
	// failing is swapped back for the previous version here.
	if !cfg.DisableUpdates {
		if path := checkBoot(cfg, store, log); path != "" {
			return Outcome{Reexec: path}, nil
		}
	}

	a, err := build(cfg, deps, store)
	if err != nil {
		return Outcome{}, refuse(err)
	}
	defer a.reporter.Close()
	err = a.group.Run(ctx)
	_ = store.UpdateComponent(string(component.Orbit), func(c *status.Component) { c.State = status.StateStopped; c.PID = 0 })
	log.Info().Msg("orbit stopped")
	if a.self.path != "" {
		log.Info().Str("path", a.self.path).Msg("starting the updated orbit")
		return Outcome{Reexec: a.self.path}, nil
	}
	if err == nil || errors.Is(err, supervisor.ErrShutdown) || errors.Is(err, context.Canceled) {
		return Outcome{}, nil
	}
	return Outcome{}, err
}

// newStore starts this run's state file with orbit itself running.
func newStore(cfg Config, clk clock.Clock, log zerolog.Logger) *status.Store {
	store := status.NewStore(cfg.Layout.State(), cfg.Version, clk)
	if err := store.UpdateComponent(string(component.Orbit), func(c *status.Component) {
		c.State = status.StateRunning
		c.PID = os.Getpid()
		c.Version = cfg.Version
		c.StartedAt = clk.Now().UTC()
	}); err != nil {
		log.Error().Err(err).Msg("cannot write state file; orbit status will be stale")
	}
	return store
}

// checkBoot counts this boot of a freshly updated orbit and returns the
// previous orbit to exec when the new one has failed too often.
func checkBoot(cfg Config, store *status.Store, log zerolog.Logger) string {
	boot, err := updater.CheckBoot(cfg.Layout, 0, log)
	if err != nil {
		log.Error().Err(err).Msg("self-update boot check failed")
	}
	if !boot.RolledBack {
		return ""
	}
	_ = store.AddUpdateEvent(status.UpdateEvent{Component: string(component.Orbit), Action: "rolled_back",
		Message: fmt.Sprintf("updated orbit did not become healthy in %d boots; previous version restored", boot.Boots-1)})
	return boot.ExecPath
}

// actors is one run's wiring.
type actors struct {
	group    *supervisor.Group
	reporter *status.Reporter
	self     *selfUpdate
}

// build makes every actor and adds it to the group, osqueryd behind its
// start gates.
func build(cfg Config, deps Deps, store *status.Store) (*actors, error) {
	log := deps.Logger
	a := &actors{group: supervisor.NewGroup(log, deps.Clock), self: newSelfUpdate()}
	if deps.Signals {
		a.group.Add("signals", supervisor.SignalActor(log))
	}
	procs := processes{}
	var upd *updater.Updater
	if !cfg.DisableUpdates {
		var err error
		if upd, err = newUpdater(cfg, deps, store, procs, a.self); err != nil {
			return nil, err
		}
		a.group.Add("updater", upd)
		a.group.Add("self-update", a.self)
	}
	osqPath := osquerydPath(cfg, upd)
	a.reporter = status.NewReporter(status.ReporterConfig{
		Store:  store,
		Logger: log,
		Binary: func(name string) (string, error) {
			if name != string(component.Osqueryd) {
				return "", fmt.Errorf("no binary known for %s", name)
			}
			return osqPath()
		},
		Version: func(_, path string) string { return osqueryd.Version(path) },
	})
	proc, err := newOsqueryd(cfg, deps, osqPath, a.reporter)
	if err != nil {
		a.reporter.Close()
		return nil, err
	}
	procs[component.Osqueryd] = proc
	if cfg.FleetDesktop {
		log.Warn().Msg("--fleet-desktop: the updater keeps the tray app installed, but this build does not run it yet")
	}

	// osqueryd starts once it is installed and, with Fleet, once the
	// server's startup flags are applied: a start before either would only
	// fail or be restarted at once, and count against its backoff.
	var gates []gate
	if upd != nil && cfg.OsquerydPath == "" {
		gates = append(gates, installedGate(deps.Clock, osqPath, log))
	}
	if cfg.FleetURL != "" {
		var channels fleet.ChannelSetter
		if upd != nil {
			channels = upd
		}
		agent, err := newFleetAgent(cfg, deps, store, proc, channels, osqPath)
		if err != nil {
			a.reporter.Close()
			return nil, err
		}
		a.group.Add("fleet", agent)
		gates = append(gates, fleetReadyGate(deps.Clock, agent.Ready(), log))
	}
	a.group.Add("osqueryd", gated(proc, gates...))
	return a, nil
}

// osquerydPath finds the osqueryd to start: the admin's, the updater's, or
// the one a package installed where the updater would.
func osquerydPath(cfg Config, upd *updater.Updater) func() (string, error) {
	return func() (string, error) {
		switch {
		case cfg.OsquerydPath != "":
			return cfg.OsquerydPath, nil
		case upd != nil:
			return upd.ExecPath(component.Osqueryd)
		}
		p := cfg.managedOsquerydPath()
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("osqueryd is not installed at %s (pass --osqueryd-path or enable updates): %w", p, err)
		}
		return p, nil
	}
}

// newOsqueryd is the supervised osqueryd, reporting to the state file.
func newOsqueryd(cfg Config, deps Deps, path func() (string, error), reporter *status.Reporter) (*supervisor.Process, error) {
	rc := cfg.osquerydRunner(path)
	rc.Logger = deps.Logger
	rc.OnStatus = reporter.Report
	rc.Clock = deps.Clock
	rc.Starter = deps.Starter
	return osqueryd.NewProcess(rc)
}

// newUpdater is the updater; it restarts and watches the supervised
// processes and hands orbit's own update to self.
func newUpdater(cfg Config, deps Deps, store *status.Store, procs processes, self *selfUpdate) (*updater.Updater, error) {
	client, err := httpclient.New(httpclient.Config{CAFile: cfg.UpdateTLSCertificate, Logger: deps.Logger})
	if err != nil {
		return nil, fmt.Errorf("connect to the update server (--update-tls-certificate): %w", err)
	}
	uc := cfg.updater()
	uc.HTTPClient = client
	uc.Clock = deps.Clock
	uc.Restarter = procs
	uc.Health = procs
	uc.SelfUpdated = self.Trigger
	uc.Status = store
	uc.Logger = deps.Logger
	return updater.New(uc)
}

// newFleetAgent is the Fleet client: it restarts osqueryd after a flag
// change and hands the server's update channels to the updater.
func newFleetAgent(cfg Config, deps Deps, store *status.Store, osq fleet.Restarter, channels fleet.ChannelSetter, osqPath func() (string, error)) (*fleet.Agent, error) {
	hc := cfg.fleetHTTP()
	hc.Logger = deps.Logger
	client, err := httpclient.New(hc)
	if err != nil {
		return nil, fmt.Errorf("connect to Fleet: %w", err)
	}
	fc := cfg.fleetAgent()
	fc.HTTPClient = client
	fc.Clock = deps.Clock
	fc.OsquerydPath = func() string {
		p, err := osqPath()
		if err != nil {
			return ""
		}
		return p
	}
	fc.Restarter = osq
	fc.ChannelSetter = channels
	fc.Status = store
	fc.Logger = deps.Logger
	return fleet.New(fc)
}
