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
	"runtime"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/osquery/tlsproxy"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/peruser"
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
	// Starter starts osqueryd and the tray app (default
	// supervisor.ExecStarter).
	Starter supervisor.Starter
	// Sessions lists the graphical sessions the tray app runs in (default
	// the platform's: session.Default).
	Sessions peruser.Sessions
	// Executable is this orbit's own executable, which the self-update
	// boot check compares with a new orbit on trial [os.Executable()].
	Executable string
	// LogRing holds orbit's recent log lines for the fleetd_logs table
	// (the caller's logger writes into it); nil serves an empty table.
	LogRing *osquery.LogRing
	// HealthClock drives osqueryd's health pings (default Clock), so a
	// test can step the ping schedule alone.
	HealthClock clock.Clock
	// LogLevel is the logger's level, which Fleet's debug_logging switches
	// (nil: the level stays as the logger was built).
	LogLevel fleet.LevelSetter
	// ServiceName is the service orbit runs as under a service manager
	// ("" when run from a terminal). On Windows the agent then sets the
	// service's recovery actions and protects its secret files.
	ServiceName string
}

// Outcome is how a run ended.
type Outcome struct {
	// Reexec is the orbit to run in this one's place, with the same
	// arguments: the stable path after orbit installed a new version (exec
	// it; on Windows exit for the service manager), or with Candidate, a
	// new orbit on trial.
	Reexec string
	// Candidate means Reexec is a new orbit on trial, started by this
	// known-good one: exec it on Unix; on Windows, which has no exec, run
	// it as a child and exit with its exit code.
	Candidate bool
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
	if runtime.GOOS == "windows" && deps.ServiceName != "" {
		secureService(cfg, deps.ServiceName, log, serviceHooks{recovery: supervisor.SetRecoveryActions, protect: rootdir.ProtectSecret})
	}
	log.Info().Str("version", cfg.Version).Str("root_dir", layout.Root).Str("fleet_url", cfg.FleetURL).Msg("orbit starting")
	if cfg.SecretOnArgv {
		log.Warn().Msg("enroll secret given on the command line, where local users can read it; use --enroll-secret-path or ORBIT_ENROLL_SECRET instead")
	}

	store := newStore(cfg, deps.Clock, log)
	// A new orbit on trial is started from here, by this (known-good)
	// orbit, which counts its boots and rolls it back after too many: the
	// rollback never depends on the new binary running correctly.
	if !cfg.DisableUpdates {
		if path := checkBoot(cfg, deps, store, log); path != "" {
			return Outcome{Reexec: path, Candidate: true}, nil
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

// checkBoot runs the self-update boot check: it returns a new orbit on
// trial to run in this one's place (this boot was counted for it), or ""
// to run on: nothing is pending, this is the orbit on trial, or it failed
// its boots and was rolled back (recorded in the state file for `orbit
// status`).
func checkBoot(cfg Config, deps Deps, store *status.Store, log zerolog.Logger) string {
	boot, err := updater.CheckBoot(cfg.Layout, updater.BootConfig{Executable: deps.Executable, Clock: deps.Clock, Logger: log})
	if err != nil {
		log.Error().Err(err).Msg("self-update boot check failed")
	}
	if boot.RolledBack {
		_ = store.AddUpdateEvent(status.UpdateEvent{Component: string(component.Orbit), Action: "rolled_back", Version: boot.Version, Hash: boot.Hash,
			Message: fmt.Sprintf("did not become healthy in %d boots; previous version kept, this one is never retried", boot.Boots)})
	}
	return boot.RunCandidate
}

// actors is one run's wiring.
type actors struct {
	group    *supervisor.Group
	reporter *status.Reporter
	self     *selfUpdate
	procs    *processes
	// osquery is the one client of osqueryd's extension socket: host facts,
	// queries (pre-install checks, orbit status --query).
	osquery *osquery.Client
}

// build makes every actor and adds it to the group, osqueryd behind its
// start gates.
func build(cfg Config, deps Deps, store *status.Store) (*actors, error) {
	log := deps.Logger
	osq, err := osquery.NewClient(osquery.ClientConfig{Socket: cfg.Layout.ExtensionsSocket()})
	if err != nil {
		return nil, err
	}
	a := &actors{group: supervisor.NewGroup(log, deps.Clock), self: newSelfUpdate(), osquery: osq}
	if deps.Signals {
		a.group.Add("signals", supervisor.SignalActor(log))
	}
	procs := &processes{procs: map[component.Name]supervised{}}
	a.procs = procs
	var upd *updater.Updater
	if !cfg.DisableUpdates {
		if upd, err = newUpdater(cfg, deps, store, procs, a.self); err != nil {
			return nil, err
		}
		a.group.Add("updater", upd)
		a.group.Add("self-update", a.self)
	}
	osqPath := osquerydPath(cfg, upd)
	deskPath := desktopPath(cfg, upd)
	a.reporter = status.NewReporter(status.ReporterConfig{
		Store:  store,
		Logger: log,
		Binary: func(name string) (string, error) {
			if isDesktopCopy(name) {
				return deskPath()
			}
			if name != string(component.Osqueryd) {
				return "", fmt.Errorf("no binary known for %s", name)
			}
			return osqPath()
		},
		Version: func(name, path string) string {
			if isDesktopCopy(name) {
				return installedVersion(store, component.Desktop, path)
			}
			return osquery.Version(path)
		},
	})
	built := false
	defer func() {
		if !built {
			a.reporter.Close()
		}
	}()

	// --insecure: osqueryd cannot skip certificate checks, so it talks to
	// a loopback proxy it trusts. The proxy listens from here on, before
	// osqueryd's first start.
	var insecure *osquery.InsecureProxy
	var proc *supervisor.Process
	if cfg.Insecure && cfg.FleetURL != "" {
		p, err := newInsecureProxy(cfg, deps, func() { proc.Restart() })
		if err != nil {
			return nil, err
		}
		a.group.Add("insecure-proxy", p)
		insecure = &osquery.InsecureProxy{Addr: p.Addr(), CertFile: p.CertFile()}
	}
	starts := &osquerydStarts{}
	proc, err = newOsqueryd(cfg, deps, osqPath, insecure, func(p status.Process) {
		a.reporter.Report(p)
		starts.observe(p)
	})
	if err != nil {
		return nil, err
	}
	procs.procs[component.Osqueryd] = proc
	if cfg.FleetDesktop {
		desk, err := newDesktop(cfg, deps, deskPath, a.reporter)
		if err != nil {
			return nil, err
		}
		procs.procs[component.Desktop] = desk
		var deskGates []gate
		if upd != nil && cfg.DesktopPath == "" {
			deskGates = append(deskGates, installedGate(deps.Clock, deskPath, string(component.Desktop), log))
		}
		a.group.Add("desktop", gated(desk, deskGates...))
	}
	info := &orbitInfo{cfg: cfg, store: store, upd: upd, startedAt: deps.Clock.Now()}
	ext, health, err := newOsquerySocket(cfg, deps, info, proc)
	if err != nil {
		return nil, err
	}
	starts.health = health

	// osqueryd starts once it is installed and, with Fleet, once the
	// server's startup flags are applied: a start before either would only
	// fail or be restarted at once, and count against its backoff.
	var gates []gate
	if upd != nil && cfg.OsquerydPath == "" {
		gates = append(gates, installedGate(deps.Clock, osqPath, string(component.Osqueryd), log))
	}
	if cfg.FleetURL != "" {
		var channels fleet.ChannelSetter
		var exts fleet.ExtensionSetter
		if upd != nil {
			channels = upd
			procs.exts = &extensions{upd: upd, layout: cfg.Layout, osqueryd: proc, log: log}
			exts = procs.exts
		}
		facts := &osquery.HostFactsReader{Client: osq, Path: osqPath, DatabasePath: cfg.Layout.OsqueryDB()}
		agent, err := newFleetAgent(cfg, deps, store, proc, channels, exts, facts)
		if err != nil {
			return nil, err
		}
		a.group.Add("fleet", agent)
		gates = append(gates, fleetReadyGate(deps.Clock, agent.Ready(), log))
	}
	start := allOnce(gates...)
	a.group.Add("osqueryd", gated(proc, start))
	// The socket's users wait for osqueryd too: before its first start
	// there is nothing to register with or to ping.
	a.group.Add("osquery-extension", gated(ext, start))
	a.group.Add("osquery-health", gated(health, start))
	built = true
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

// newOsqueryd is the supervised osqueryd: the generic process runner,
// asking osquery.Runner what to start each time, reporting each status.
func newOsqueryd(cfg Config, deps Deps, path func() (string, error), insecure *osquery.InsecureProxy, onStatus func(status.Process)) (*supervisor.Process, error) {
	rc := cfg.osquerydRunner(path)
	rc.Flags.Insecure = insecure
	rc.Logger = deps.Logger
	r, err := osquery.NewRunner(rc)
	if err != nil {
		return nil, err
	}
	return supervisor.NewProcess(supervisor.ProcessConfig{
		Name: string(component.Osqueryd),
		Spec: func(ctx context.Context) (supervisor.Spec, error) {
			c, err := r.Command(ctx)
			return supervisor.Spec{Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir}, err
		},
		BeforeStart: r.Prepare,
		StopGrace:   cfg.StopGrace,
		Logger:      deps.Logger,
		OnStatus:    onStatus,
		Clock:       deps.Clock,
		Starter:     deps.Starter,
	})
}

// newInsecureProxy is --insecure's loopback TLS proxy for osqueryd: it
// reaches Fleet through orbit's own --insecure client, and restarts
// osqueryd (renew) when it renews its certificate.
func newInsecureProxy(cfg Config, deps Deps, renew func()) (*tlsproxy.Proxy, error) {
	hc := fleet.HTTPClientConfig(httpclient.Config{Insecure: true, Proxy: cfg.FleetProxy, Logger: deps.Logger})
	client, err := httpclient.New(hc)
	if err != nil {
		return nil, fmt.Errorf("connect to Fleet for osqueryd's --insecure proxy: %w", err)
	}
	return tlsproxy.New(tlsproxy.Config{
		FleetURL: cfg.FleetURL,
		Client:   client,
		CertFile: cfg.Layout.InsecureProxyCert(),
		OnRenew:  renew,
		Clock:    deps.Clock,
		Logger:   deps.Logger,
	})
}

// newUpdater is the updater; it restarts and watches the supervised
// processes and hands orbit's own update to self.
func newUpdater(cfg Config, deps Deps, store *status.Store, procs *processes, self *selfUpdate) (*updater.Updater, error) {
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
	uc.Executable = deps.Executable
	uc.Status = store
	uc.Logger = deps.Logger
	return updater.New(uc)
}

// newFleetAgent is the Fleet client: it restarts osqueryd after a flag
// change and hands the server's update channels to the updater.
func newFleetAgent(cfg Config, deps Deps, store *status.Store, osq fleet.Restarter, channels fleet.ChannelSetter, exts fleet.ExtensionSetter, facts fleet.HostFactsSource) (*fleet.Agent, error) {
	hc := cfg.fleetHTTP()
	hc.Logger = deps.Logger
	client, err := httpclient.New(hc)
	if err != nil {
		return nil, fmt.Errorf("connect to Fleet: %w", err)
	}
	fc := cfg.fleetAgent()
	fc.HTTPClient = client
	fc.Clock = deps.Clock
	fc.HostFacts = facts
	fc.Restarter = osq
	// Pre-install queries of software installs run in the supervised
	// osqueryd, through its extension socket.
	if q, err := osquery.NewClient(osquery.ClientConfig{Socket: cfg.Layout.ExtensionsSocket()}); err != nil {
		deps.Logger.Warn().Err(err).Msg("no osquery client: software installs with a pre-install query will wait")
	} else {
		fc.Querier = q
	}
	fc.ChannelSetter = channels
	fc.Extensions = exts
	fc.Platform = updater.DefaultPlatform()
	fc.Status = store
	fc.Logger = deps.Logger
	fc.LogLevel = deps.LogLevel
	return fleet.New(fc)
}
