package osqueryd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/capped"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
)

// RunnerConfig configures the supervised osqueryd.
type RunnerConfig struct {
	Flags FlagOptions
	// Path returns the osqueryd executable to start. It is asked before
	// every start, so a binary installed by the updater is picked up.
	Path         func() (string, error)
	EnrollSecret string
	StopGrace    time.Duration
	Logger       zerolog.Logger
	OnStatus     func(status.Process)
	// Clock and Starter default to the real ones (see supervisor.ProcessConfig).
	Clock   clock.Clock
	Starter supervisor.Starter
}

// ErrNoEnrollSecret is the error for Fleet mode without an enroll secret,
// which orbit and osqueryd both need.
var ErrNoEnrollSecret = errors.New("--fleet-url needs an enroll secret: pass --enroll-secret-path (or ORBIT_ENROLL_SECRET)")

// Validate checks cfg, osqueryd's command line included.
func (cfg RunnerConfig) Validate() error {
	if cfg.Path == nil {
		return errors.New("osqueryd runner needs a path function")
	}
	if err := cfg.Flags.Validate(); err != nil {
		return err
	}
	if cfg.Flags.FleetURL != "" && cfg.EnrollSecret == "" {
		return ErrNoEnrollSecret
	}
	return cfg.processConfig(nil).Validate()
}

// NewProcess returns the supervised osqueryd. Its argv is built once here,
// so bad flag input fails at orbit's start, not at the first restart.
func NewProcess(cfg RunnerConfig) (*supervisor.Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	args, err := Flags(cfg.Flags)
	if err != nil {
		return nil, err
	}
	return supervisor.NewProcess(cfg.processConfig(args))
}

func (cfg RunnerConfig) processConfig(args []string) supervisor.ProcessConfig {
	env := ChildEnv(os.Environ(), cfg.EnrollSecret)
	layout := cfg.Flags.Layout
	log := cfg.Logger
	return supervisor.ProcessConfig{
		Name: string(component.Osqueryd),
		Spec: func(context.Context) (supervisor.Spec, error) {
			path, err := cfg.Path()
			if err != nil {
				return supervisor.Spec{}, err
			}
			return supervisor.Spec{Path: path, Args: args, Env: env, Dir: layout.Root}, nil
		},
		BeforeStart: func(ctx context.Context) error {
			// osqueryd refuses a missing --flagfile and warns about a
			// missing autoload list: both start out empty.
			for _, f := range []string{layout.OsqueryFlags(), layout.ExtensionsAutoload()} {
				if err := EnsureFile(f); err != nil {
					return err
				}
			}
			return KillStale(ctx, layout.OsqueryPID(), log)
		},
		StopGrace: cfg.StopGrace,
		Logger:    log,
		OnStatus:  cfg.OnStatus,
		Clock:     cfg.Clock,
		Starter:   cfg.Starter,
	}
}

// ChildEnv is orbit's environment for osqueryd: the enroll secret is set
// (only when given), and orbit's own secret-bearing variables are dropped
// so they do not leak into a child that does not need them.
func ChildEnv(parent []string, enrollSecret string) []string {
	env := make([]string, 0, len(parent)+1)
	for _, kv := range parent {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case EnrollSecretEnv, "ORBIT_ENROLL_SECRET":
			continue
		}
		env = append(env, kv)
	}
	if enrollSecret != "" {
		env = append(env, EnrollSecretEnv+"="+enrollSecret)
	}
	return env
}

// EnsureFile creates an empty file (0644, user-editable) when missing.
func EnsureFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// Version runs `<path> --version` in osqueryd's environment (without the
// enroll secret) and returns the last word it prints ("osqueryd version
// 5.12.1" gives "5.12.1"), or "" when it does not answer within 5 s.
func Version(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := &capped.Buffer{Max: 4096}
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Stdout = out
	cmd.WaitDelay = time.Second
	cmd.Env = ChildEnv(os.Environ(), "")
	if err := cmd.Run(); err != nil {
		return ""
	}
	f := strings.Fields(out.String())
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}
