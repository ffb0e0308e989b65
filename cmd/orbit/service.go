package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"
	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/agent"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/updater"
)

// serviceName is the unit/label/service name, as Fleet's packages use on
// Linux; on macOS the launchd label is reverse-DNS, the one orbitctl
// package gives its plist by default. ORBIT_SERVICE_NAME changes it
// (tests, side-by-side installs, a package built with --identifier).
func serviceName() string {
	if n := os.Getenv("ORBIT_SERVICE_NAME"); n != "" {
		return n
	}
	if runtime.GOOS == "darwin" {
		return supervisor.DefaultIdentifier
	}
	return "orbit"
}

func serviceConfig(stopGrace time.Duration, args []string) supervisor.ServiceConfig {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return supervisor.ServiceConfig{
		Name:        serviceName(),
		DisplayName: "Orbit osquery",
		Description: "Orbit runs osqueryd, keeps it updated and connects it to Fleet",
		Executable:  exe,
		Args:        args,
		StopGrace:   stopGrace,
		System:      os.Getenv("ORBIT_SERVICE_SYSTEM"),
	}
}

func serviceCommand() *cli.Command {
	control := func(action string) *cli.Command {
		return &cli.Command{
			Name:  action,
			Usage: action + " the orbit service",
			Action: func(c *cli.Context) error {
				svc, err := supervisor.NewService(serviceConfig(c.Duration(flagStopGrace), nil), nil)
				if err != nil {
					return err
				}
				var err2 error
				if action == "uninstall" {
					err2 = svc.Uninstall()
				} else {
					err2 = service.Control(svc, action)
				}
				if errors.Is(err2, supervisor.ErrManagerNotRunning) {
					fmt.Fprintf(c.App.ErrWriter, "orbit: %v\n", err2)
				} else if err2 != nil {
					return fmt.Errorf("%s service %q: %w", action, serviceName(), err2)
				}
				fmt.Fprintf(c.App.Writer, "service %s: %s done\n", serviceName(), action)
				return nil
			},
		}
	}
	return &cli.Command{
		Name:  "service",
		Usage: "install and control orbit as a system service",
		Subcommands: []*cli.Command{
			{
				Name:      "install",
				Usage:     "install orbit as a service that runs with the flags given here",
				Flags:     agentFlags(),
				ArgsUsage: "[-- extra osqueryd flags]",
				Action:    installService,
			},
			control("uninstall"),
			control("start"),
			control("stop"),
			{
				Name:  "status",
				Usage: "print whether the service is installed and running",
				Action: func(c *cli.Context) error {
					svc, err := supervisor.NewService(serviceConfig(0, nil), nil)
					if err != nil {
						return err
					}
					st, err := svc.Status()
					fmt.Fprintf(c.App.Writer, "service %s (%s): %s\n", serviceName(), supervisor.SystemName(), serviceStatusText(st, err))
					return nil
				},
			},
		},
	}
}

func serviceStatusText(st service.Status, err error) string {
	if errors.Is(err, service.ErrNotInstalled) {
		return "not installed"
	}
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	switch st {
	case service.StatusRunning:
		return "running"
	case service.StatusStopped:
		return "stopped"
	default:
		return "unknown"
	}
}

// installService validates the flags exactly as a run would, then writes
// the service definition carrying them. An enroll secret given inline is
// moved into <root>/secret.txt (0600) so it never sits in a unit file or
// on the service's argv.
func installService(c *cli.Context) error {
	rc, err := parseConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitBadInput)
	}
	cfg := rc.Agent
	if err := cfg.Layout.Create(); err != nil {
		return err
	}
	args := []string{}
	for _, f := range agentFlags() {
		name := f.Names()[0]
		if !c.IsSet(name) || name == flagEnrollSecret {
			continue
		}
		args = append(args, flagArg(c, name))
	}
	if !c.IsSet(flagRootDir) {
		args = append(args, "--"+flagRootDir+"="+cfg.Layout.Root)
	}
	if c.IsSet(flagEnrollSecret) {
		args = append(args, "--"+flagEnrollSecretPath+"="+cfg.Layout.EnrollSecret())
	}
	if extra := c.Args().Slice(); len(extra) > 0 {
		args = append(append(args, "--"), extra...)
	}
	stable, err := installSelf(cfg)
	if err != nil {
		return err
	}
	sc := serviceConfig(cfg.StopGrace, args)
	sc.Executable = stable
	svc, err := supervisor.NewService(sc, nil)
	if err != nil {
		return err
	}
	if c.IsSet(flagEnrollSecret) {
		if err := safefile.WriteAtomic(cfg.Layout.EnrollSecret(), []byte(cfg.EnrollSecret+"\n"), 0o600); err != nil {
			return fmt.Errorf("store enroll secret: %w", err)
		}
	}
	if err := svc.Install(); err != nil {
		if !errors.Is(err, supervisor.ErrManagerNotRunning) {
			return fmt.Errorf("install service %q: %w", serviceName(), err)
		}
		fmt.Fprintf(c.App.ErrWriter, "orbit: %s written; %v\n", svc.UnitPath(), err)
	}
	fmt.Fprintf(c.App.Writer, "service %s installed (%s)\n", serviceName(), supervisor.SystemName())
	return nil
}

// flagArg renders a set flag as --name=value, absolute paths included, so
// the service finds its files whatever its working directory.
func flagArg(c *cli.Context, name string) string {
	switch name {
	case flagEnrollSecretPath, flagFleetCertificate, flagOsquerydPath, flagOsqueryConfig,
		flagUpdateTLSCertificate, flagLogFile, flagRootDir:
		return "--" + name + "=" + absPath(c.String(name))
	case flagUpdateRoots:
		v := c.String(name)
		if !strings.HasPrefix(strings.TrimSpace(v), "{") {
			v = absPath(v)
		}
		return "--" + name + "=" + v
	}
	v := c.Value(name)
	if b, ok := v.(bool); ok {
		return fmt.Sprintf("--%s=%t", name, b)
	}
	return fmt.Sprintf("--%s=%v", name, v)
}

// installSelf copies this orbit into the root as the installed channel
// file and points the stable path <root>/bin/orbit/orbit at it, as
// packages do. The service runs the stable path, so after a self-update
// (which repoints it) a service restart runs the new orbit, not the file
// `service install` was run from.
func installSelf(cfg agent.Config) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find orbit's own executable: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("find orbit's own executable: %w", err)
	}
	dst := updater.OrbitComponent(cfg.Channels.Orbit).Path(cfg.Layout, updater.DefaultPlatform())
	if !safefile.SameFile(exe, dst) {
		src, _, err := safefile.OpenRegular(exe)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", exe, err)
		}
		defer src.Close()
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
		}
		if err := safefile.WriteAtomicFrom(dst, src, 0o755); err != nil {
			return "", fmt.Errorf("install orbit into the root dir: %w", err)
		}
	}
	if err := updater.InstallStableOrbit(cfg.Layout, dst); err != nil {
		return "", err
	}
	return updater.StableOrbitPath(cfg.Layout), nil
}
