package osquery

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rs/zerolog"
)

// ErrNoEnrollSecret is the error for Fleet mode without an enroll secret,
// which orbit and osqueryd both need.
var ErrNoEnrollSecret = errors.New("--fleet-url needs an enroll secret: pass --enroll-secret-path (or ORBIT_ENROLL_SECRET)")

// RunnerConfig says how orbit runs osqueryd.
type RunnerConfig struct {
	Flags FlagOptions
	// Path returns the osqueryd executable to start. It is asked before
	// every start, so a binary installed by the updater is picked up.
	Path         func() (string, error)
	EnrollSecret string
	Logger       zerolog.Logger
}

// Validate checks cfg, osqueryd's command line included, without touching
// the disk.
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
	return nil
}

// Command is one start of osqueryd: what the process runner execs.
type Command struct {
	Path string
	Args []string
	Env  []string
	Dir  string
}

// Runner knows what it takes to start osqueryd: the command line (built
// before every start, since it looks at the flagfile and the extension
// list), the environment with the enroll secret, and the files and stale
// process to deal with first. The generic process runner (package
// supervisor) starts, watches and restarts it; this package does not
// depend on it.
type Runner struct {
	cfg RunnerConfig
	env []string
}

// NewRunner checks cfg and returns the runner.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, env: ChildEnv(os.Environ(), cfg.EnrollSecret)}, nil
}

// Command returns the next start's command: the current binary and a
// command line from the files as they are now.
func (r *Runner) Command(context.Context) (Command, error) {
	path, err := r.cfg.Path()
	if err != nil {
		return Command{}, err
	}
	args, err := Flags(r.cfg.Flags)
	if err != nil {
		return Command{}, err
	}
	return Command{Path: path, Args: args, Env: r.env, Dir: r.cfg.Flags.Layout.Root}, nil
}

// Prepare runs before every start: the flagfile and the autoload list
// exist (orbit always passes the flagfile, and osqueryd warns about a
// missing list), and an osqueryd left behind by an earlier orbit is
// stopped.
func (r *Runner) Prepare(ctx context.Context) error {
	l := r.cfg.Flags.Layout
	for _, f := range []string{l.OsqueryFlags(), l.ExtensionsAutoload()} {
		if err := ensureFile(f); err != nil {
			return err
		}
	}
	return KillStale(ctx, l.OsqueryPID(), r.cfg.Logger)
}

// ensureFile creates an empty file (0644, administrators may read it)
// when missing.
func ensureFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}
