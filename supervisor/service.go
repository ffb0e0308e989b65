package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kardianos/service"
)

// ServiceConfig describes orbit as a system service.
type ServiceConfig struct {
	Name        string
	DisplayName string
	Description string
	// Executable and Args are what the service manager runs: orbit's own
	// path and the flags given to `orbit service install`.
	Executable string
	Args       []string
	// StopGrace is how long orbit takes to stop its children; the service
	// manager waits longer than that before killing anything.
	StopGrace time.Duration
	// System forces a service system by name (e.g. "linux-systemd"), for
	// hosts where detection is wrong, such as image builds in a chroot.
	System string
}

// systemdUnit is the unit orbit installs. KillMode=mixed sends SIGTERM to
// orbit alone, so it stops osqueryd and the tray app in order with their
// grace period; systemd SIGKILLs whatever is left after TimeoutStopSec.
// StartLimitIntervalSec=0 keeps systemd restarting orbit forever.
// EnvironmentFile (optional: "-") is where packages put the ORBIT_*
// settings and the enroll secret, root-only, so they are never in this
// world-readable unit or on argv; flags on ExecStart still win over it.
const systemdUnit = `[Unit]
Description={{Description}}
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
EnvironmentFile=-/etc/default/{{Name}}
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
{{if WorkingDirectory}}WorkingDirectory={{WorkingDirectory | cmdEscape}}
{{end}}Restart=always
RestartSec=1
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec={{TimeoutStopSec}}

[Install]
WantedBy=multi-user.target
`

// serviceOptions are the per-platform settings: launchd keeps orbit alive,
// the Windows SCM restarts it after a crash, systemd uses the unit above.
func serviceOptions(cfg ServiceConfig) service.KeyValue {
	stop := int((cfg.StopGrace + 20*time.Second).Seconds())
	return service.KeyValue{
		// systemd
		"SystemdScript": strings.ReplaceAll(systemdUnit, "{{TimeoutStopSec}}", fmt.Sprint(stop)),
		"Restart":       "always",
		// launchd: our plist (LaunchdPlist renders the same), logs under
		// LaunchdLogDir.
		"KeepAlive":     true,
		"RunAtLoad":     true,
		"LaunchdConfig": launchdPlist,
		"LogDirectory":  LaunchdLogDir,
		// Windows SCM recovery: restart after 1 s, reset the failure count daily.
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "1s",
		"OnFailureResetPeriod":   86400,
		"StartType":              "automatic",
	}
}

// program adapts a run function to kardianos/service's Start/Stop.
type program struct {
	run   func(ctx context.Context) error
	grace time.Duration

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.cancel = cancel
	p.done = make(chan struct{})
	p.mu.Unlock()
	go func() {
		defer close(p.done)
		err := p.run(ctx)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-time.After(p.grace + 10*time.Second):
		return errors.New("orbit did not stop in time")
	}
}

// forcedSystem makes kardianos use a system its detection rejected, e.g.
// systemd in an image build where systemd is installed but not PID 1.
type forcedSystem struct{ service.System }

func (forcedSystem) Detect() bool { return true }

// Service is orbit's handle on the service manager.
type Service struct {
	service.Service
	p    *program
	name string
}

// RunErr is the agent's own result after Run returned under the service
// manager (Run itself only reports service-manager errors).
func (s *Service) RunErr() error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.err
}

// NewService returns the service handle for install/uninstall/start/stop/
// status, and for running under the service manager. run is the agent.
func NewService(cfg ServiceConfig, run func(ctx context.Context) error) (*Service, error) {
	if cfg.System != "" {
		found := false
		for _, s := range service.AvailableSystems() {
			if s.String() == cfg.System {
				service.ChooseSystem(forcedSystem{s})
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown service system %q", cfg.System)
		}
	}
	if run == nil {
		run = func(ctx context.Context) error { <-ctx.Done(); return nil }
	}
	p := &program{run: run, grace: cfg.StopGrace}
	sc := &service.Config{
		Name:        cfg.Name,
		DisplayName: cfg.DisplayName,
		Description: cfg.Description,
		Executable:  cfg.Executable,
		Arguments:   cfg.Args,
		Option:      serviceOptions(cfg),
	}
	s, err := service.New(p, sc)
	if err != nil {
		return nil, fmt.Errorf("set up service %q: %w", cfg.Name, err)
	}
	return &Service{Service: s, p: p, name: cfg.Name}, nil
}

// Interactive reports whether orbit runs from a terminal or script rather
// than under a service manager.
func Interactive() bool { return service.Interactive() }

// SystemName is the service system in use (linux-systemd, darwin-launchd,
// windows-service, unix-systemv, ...).
func SystemName() string {
	if s := service.ChosenSystem(); s != nil {
		return s.String()
	}
	return "unknown"
}

// ErrManagerNotRunning means the service definition was written (or
// removed) but the service manager could not be told: systemd is installed
// but not running as PID 1, as in a chroot or container image build. The
// change takes effect at the next boot.
var ErrManagerNotRunning = errors.New("service manager not running; the change takes effect at next boot")

// Install writes the service definition and registers it.
func (s *Service) Install() error {
	if SystemName() == "darwin-launchd" {
		// launchd opens the job's log files but does not create their
		// directory.
		if err := os.MkdirAll(LaunchdLogDir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", LaunchdLogDir, err)
		}
	}
	err := s.Service.Install()
	if err != nil && s.offlineSystemd() && s.unitExists() {
		return fmt.Errorf("%w (%v)", ErrManagerNotRunning, err)
	}
	return err
}

// Uninstall removes the service definition.
func (s *Service) Uninstall() error {
	err := s.Service.Uninstall()
	if err != nil && s.offlineSystemd() && !s.unitExists() {
		return fmt.Errorf("%w (%v)", ErrManagerNotRunning, err)
	}
	return err
}

func (s *Service) offlineSystemd() bool {
	if SystemName() != "linux-systemd" {
		return false
	}
	_, err := os.Stat("/run/systemd/system")
	return err != nil
}

func (s *Service) unitExists() bool {
	_, err := os.Stat(s.UnitPath())
	return err == nil
}

// UnitPath is where the systemd unit lives (for messages and tests).
func (s *Service) UnitPath() string {
	return "/etc/systemd/system/" + s.name + ".service"
}
