package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/agent"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/updater"
)

// Flag names match Fleet's orbit so admins can carry their settings over.
const (
	flagRootDir              = "root-dir"
	flagFleetURL             = "fleet-url"
	flagEnrollSecret         = "enroll-secret"
	flagEnrollSecretPath     = "enroll-secret-path"
	flagFleetCertificate     = "fleet-certificate"
	flagInsecure             = "insecure"
	flagFleetProxy           = "fleet-proxy"
	flagUpdateURL            = "update-url"
	flagUpdateRoots          = "update-roots"
	flagUpdateTLSCertificate = "update-tls-certificate"
	flagOrbitChannel         = "orbit-channel"
	flagOsquerydChannel      = "osqueryd-channel"
	flagDesktopChannel       = "desktop-channel"
	flagUpdateInterval       = "update-interval"
	flagDisableUpdates       = "disable-updates"
	flagFleetDesktop         = "fleet-desktop"
	flagEnableScripts        = "enable-scripts"
	flagEndUserEmail         = "end-user-email"
	flagDebug                = "debug"
	flagLogFile              = "log-file"
	flagLogFileMaxSize       = "log-file-max-size"
	flagLogFileMaxBackups    = "log-file-max-backups"
	flagLogFileMaxAge        = "log-file-max-age"
	flagOsquerydPath         = "osqueryd-path"
	flagOsqueryConfig        = "osquery-config"
	flagStopGrace            = "stop-grace"
	flagConfigInterval       = "config-interval"
	flagTokenCheckInterval   = "device-token-check-interval"
	flagHostIdentifier       = "host-identifier"
)

// The tray app's flags (Fleet's names where Fleet has them).
const (
	flagDesktopPath            = "desktop-path"
	flagDesktopAltBrowserHost  = "fleet-desktop-alternative-browser-host"
	flagDesktopSessionsDirTest = "desktop-sessions-dir"
)

func envVar(flag string) []string {
	return []string{"ORBIT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

func agentFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagRootDir, Value: rootdir.DefaultPath(), EnvVars: envVar(flagRootDir), Usage: "root directory for orbit's state and binaries"},
		&cli.StringFlag{Name: flagFleetURL, EnvVars: envVar(flagFleetURL), Usage: "Fleet server URL (https://host[:port])"},
		&cli.StringFlag{Name: flagEnrollSecret, EnvVars: envVar(flagEnrollSecret), Usage: "enroll secret (prefer --enroll-secret-path or ORBIT_ENROLL_SECRET: argv is visible to local users)"},
		&cli.StringFlag{Name: flagEnrollSecretPath, EnvVars: envVar(flagEnrollSecretPath), Usage: "file holding the enroll secret"},
		&cli.StringFlag{Name: flagFleetCertificate, EnvVars: envVar(flagFleetCertificate), Usage: "CA bundle (PEM) that signs the Fleet server's certificate"},
		&cli.BoolFlag{Name: flagInsecure, EnvVars: envVar(flagInsecure), Usage: "do not verify the Fleet server's TLS certificate (testing only)"},
		&cli.StringFlag{Name: flagFleetProxy, EnvVars: envVar(flagFleetProxy), Usage: "HTTPS proxy URL for orbit's and osqueryd's calls to Fleet"},
		// No default: Fleet's public repository serves Fleet's own orbit as
		// orbit/<platform>/stable, which an orbit pointed there by default
		// would replace itself with. The repository is a choice, like its root.
		&cli.StringFlag{Name: flagUpdateURL, EnvVars: envVar(flagUpdateURL), Usage: "TUF update repository URL (required with updates, as --update-roots)"},
		&cli.StringFlag{Name: flagUpdateRoots, EnvVars: envVar(flagUpdateRoots), Usage: "trusted TUF root: JSON inline (starting with '{') or a path to root.json"},
		&cli.StringFlag{Name: flagUpdateTLSCertificate, EnvVars: envVar(flagUpdateTLSCertificate), Usage: "CA bundle (PEM) for the update server"},
		&cli.StringFlag{Name: flagOrbitChannel, Value: "stable", EnvVars: envVar(flagOrbitChannel), Usage: "update channel of orbit"},
		&cli.StringFlag{Name: flagOsquerydChannel, Value: "stable", EnvVars: envVar(flagOsquerydChannel), Usage: "update channel of osqueryd"},
		&cli.StringFlag{Name: flagDesktopChannel, Value: "stable", EnvVars: envVar(flagDesktopChannel), Usage: "update channel of the tray app"},
		&cli.DurationFlag{Name: flagUpdateInterval, Value: 15 * time.Minute, EnvVars: envVar(flagUpdateInterval), Usage: "how often to check for updates"},
		&cli.BoolFlag{Name: flagDisableUpdates, EnvVars: envVar(flagDisableUpdates), Usage: "never check for updates; run what is installed"},
		&cli.BoolFlag{Name: flagFleetDesktop, EnvVars: envVar(flagFleetDesktop), Usage: "run the tray app for logged-in users"},
		&cli.BoolFlag{Name: flagEnableScripts, EnvVars: envVar(flagEnableScripts), Usage: "run scripts sent by the Fleet server"},
		&cli.StringFlag{Name: flagEndUserEmail, EnvVars: envVar(flagEndUserEmail), Usage: "the end user's email, sent to Fleet (device mapping) when the server takes it"},
		&cli.BoolFlag{Name: flagDebug, EnvVars: envVar(flagDebug), Usage: "debug logging"},
		&cli.StringFlag{Name: flagLogFile, EnvVars: envVar(flagLogFile), Usage: "write logs to this file (rotated) instead of stderr"},
		&cli.IntFlag{Name: flagLogFileMaxSize, Value: 25, EnvVars: envVar(flagLogFileMaxSize), Usage: "rotate --log-file at this size, in MB"},
		&cli.IntFlag{Name: flagLogFileMaxBackups, Value: 3, EnvVars: envVar(flagLogFileMaxBackups), Usage: "rotated log files to keep"},
		&cli.IntFlag{Name: flagLogFileMaxAge, Value: 28, EnvVars: envVar(flagLogFileMaxAge), Usage: "days to keep rotated log files"},
		&cli.StringFlag{Name: flagOsquerydPath, EnvVars: envVar(flagOsquerydPath), Usage: "run this osqueryd instead of the one the updater manages"},
		&cli.StringFlag{Name: flagOsqueryConfig, EnvVars: envVar(flagOsqueryConfig), Usage: "standalone mode: osquery config file (with packs); results go to <root>/osquery_log"},
		&cli.DurationFlag{Name: flagStopGrace, Value: 10 * time.Second, EnvVars: envVar(flagStopGrace), Usage: "time children get to exit after SIGTERM before they are killed"},
		// Hidden: how often the device token's age is checked; lowered by
		// tests to see an hourly rotation without waiting.
		&cli.DurationFlag{Name: flagTokenCheckInterval, Value: 30 * time.Second, EnvVars: envVar(flagTokenCheckInterval), Hidden: true, Usage: "how often the device token's age is checked (it is rotated hourly)"},
		&cli.DurationFlag{Name: flagConfigInterval, Value: 30 * time.Second, EnvVars: envVar(flagConfigInterval), Usage: "how often to fetch the Fleet server's config"},
		&cli.StringFlag{Name: flagDesktopPath, EnvVars: envVar(flagDesktopPath), Usage: "with --fleet-desktop: run this tray app instead of the one the updater manages (development)"},
		&cli.StringFlag{Name: flagDesktopAltBrowserHost, EnvVars: envVar(flagDesktopAltBrowserHost), Usage: "host[:port] the tray app's pages open on, when people reach Fleet by another name"},
		// Hidden: sessions for the tray app come from this directory laid
		// out as /run/user instead of logind (tests of a whole orbit).
		&cli.StringFlag{Name: flagDesktopSessionsDirTest, EnvVars: envVar(flagDesktopSessionsDirTest), Hidden: true, Usage: "with --fleet-desktop: take the graphical sessions from this directory, laid out as /run/user, instead of logind"},
		&cli.StringFlag{Name: flagHostIdentifier, Value: "uuid", EnvVars: envVar(flagHostIdentifier), Usage: "how Fleet tells hosts apart: uuid, or instance for cloned VMs that share a hardware UUID"},
	}
}

// runConfig is the validated command line: the agent's configuration and
// orbit's own logging.
type runConfig struct {
	Agent agent.Config
	Log   logConfig
}

// logConfig is where orbit's own log goes.
type logConfig struct {
	Debug      bool
	File       string
	MaxSize    int // MB
	MaxBackups int
	MaxAge     int // days
}

// parseConfig turns flags into the agent's Config and validates it; every
// error is one line saying what to fix. Rules about flags themselves (which
// may be combined, which need --fleet-url) live here; rules about values
// belong to the packages that use them and are applied by Config.Validate.
func parseConfig(c *cli.Context) (*runConfig, error) {
	layout, err := rootdir.New(c.String(flagRootDir))
	if err != nil {
		return nil, err
	}
	cfg := agent.Config{
		Layout:               layout,
		Version:              version,
		FleetURL:             strings.TrimRight(c.String(flagFleetURL), "/"),
		FleetCertificate:     c.String(flagFleetCertificate),
		Insecure:             c.Bool(flagInsecure),
		FleetProxy:           c.String(flagFleetProxy),
		EnableScripts:        c.Bool(flagEnableScripts),
		EndUserEmail:         c.String(flagEndUserEmail),
		FleetDesktop:         c.Bool(flagFleetDesktop),
		ConfigInterval:       c.Duration(flagConfigInterval),
		TokenCheckInterval:   c.Duration(flagTokenCheckInterval),
		DisableUpdates:       c.Bool(flagDisableUpdates),
		UpdateURL:            c.String(flagUpdateURL),
		UpdateTLSCertificate: c.String(flagUpdateTLSCertificate),
		Channels: agent.Channels{
			Orbit:    c.String(flagOrbitChannel),
			Osqueryd: c.String(flagOsquerydChannel),
			Desktop:  c.String(flagDesktopChannel),
		},
		UpdateInterval: c.Duration(flagUpdateInterval),
		OsquerydPath:   c.String(flagOsquerydPath),
		OsqueryConfig:  c.String(flagOsqueryConfig),
		OsqueryArgs:    c.Args().Slice(),
		StopGrace:      c.Duration(flagStopGrace),

		DesktopPath:                   c.String(flagDesktopPath),
		DesktopAlternativeBrowserHost: c.String(flagDesktopAltBrowserHost),
		DesktopSessionsDir:            c.String(flagDesktopSessionsDirTest),
		HostIdentifier:                c.String(flagHostIdentifier),
	}
	logs := logConfig{
		Debug:      c.Bool(flagDebug),
		File:       c.String(flagLogFile),
		MaxSize:    c.Int(flagLogFileMaxSize),
		MaxBackups: c.Int(flagLogFileMaxBackups),
		MaxAge:     c.Int(flagLogFileMaxAge),
	}

	if c.IsSet(flagEnrollSecret) && c.IsSet(flagEnrollSecretPath) {
		return nil, errors.New("--enroll-secret and --enroll-secret-path are mutually exclusive: give one")
	}
	if s := c.String(flagEnrollSecret); s != "" {
		cfg.EnrollSecret = s
		// urfave reports env-provided values as set too; only argv is a leak.
		cfg.SecretOnArgv = os.Getenv(envVar(flagEnrollSecret)[0]) != s
	}
	if p := c.String(flagEnrollSecretPath); p != "" {
		data, err := safefile.ReadLimited(p, safefile.MaxSecret)
		if err != nil {
			return nil, fmt.Errorf("--enroll-secret-path: %w", err)
		}
		cfg.EnrollSecret = strings.TrimSpace(string(data))
		cfg.EnrollSecretPath = absPath(p)
		if cfg.EnrollSecret == "" {
			return nil, fmt.Errorf("--enroll-secret-path %s is empty: put the enroll secret from Fleet's Add hosts page in it", p)
		}
	}
	if cfg.FleetURL == "" {
		for _, f := range []string{flagEnrollSecret, flagEnrollSecretPath, flagFleetCertificate, flagInsecure, flagFleetProxy, flagEnableScripts, flagFleetDesktop, flagEndUserEmail} {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--%s needs --fleet-url", f)
			}
		}
	}
	for _, f := range []string{flagDesktopPath, flagDesktopAltBrowserHost, flagDesktopSessionsDirTest} {
		if c.IsSet(f) && !cfg.FleetDesktop {
			return nil, fmt.Errorf("--%s needs --fleet-desktop", f)
		}
	}
	if logs.MaxSize < 1 || logs.MaxBackups < 0 || logs.MaxAge < 0 {
		return nil, errors.New("--log-file-max-size must be at least 1 (MB); backups and age cannot be negative")
	}
	if logs.MaxSize > maxLogFileSize || logs.MaxAge > maxLogFileAge {
		return nil, fmt.Errorf("--log-file-max-size is at most %d (MB) and --log-file-max-age at most %d (days)", maxLogFileSize, maxLogFileAge)
	}
	if logs.File != "" {
		if err := checkLogFile(logs.File); err != nil {
			return nil, err
		}
	}
	if v := c.String(flagUpdateRoots); v != "" && !cfg.DisableUpdates {
		if cfg.UpdateRoots, err = updater.ReadRoots(v); err != nil {
			return nil, fmt.Errorf("--update-roots: %w", err)
		}
	}
	if cfg.OsqueryConfig != "" {
		cfg.OsqueryConfig = absPath(cfg.OsqueryConfig)
	}
	if cfg.FleetCertificate != "" {
		cfg.FleetCertificate = absPath(cfg.FleetCertificate)
	}
	if cfg.DesktopPath != "" {
		cfg.DesktopPath = absPath(cfg.DesktopPath)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &runConfig{Agent: cfg, Log: logs}, nil
}
