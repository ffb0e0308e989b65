package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/supervisor/osqueryd"
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
)

// DefaultUpdateURL is Fleet's public update repository, so an agent built
// from this repo works with Fleet's published osqueryd out of the box.
const DefaultUpdateURL = "https://updates.fleetdm.com"

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
		&cli.StringFlag{Name: flagUpdateURL, Value: DefaultUpdateURL, EnvVars: envVar(flagUpdateURL), Usage: "TUF update repository URL"},
		&cli.StringFlag{Name: flagUpdateRoots, EnvVars: envVar(flagUpdateRoots), Usage: "trusted TUF root: JSON inline (starting with '{') or a path to root.json"},
		&cli.StringFlag{Name: flagUpdateTLSCertificate, EnvVars: envVar(flagUpdateTLSCertificate), Usage: "CA bundle (PEM) for the update server"},
		&cli.StringFlag{Name: flagOrbitChannel, Value: "stable", EnvVars: envVar(flagOrbitChannel), Usage: "update channel of orbit"},
		&cli.StringFlag{Name: flagOsquerydChannel, Value: "stable", EnvVars: envVar(flagOsquerydChannel), Usage: "update channel of osqueryd"},
		&cli.StringFlag{Name: flagDesktopChannel, Value: "stable", EnvVars: envVar(flagDesktopChannel), Usage: "update channel of the tray app"},
		&cli.DurationFlag{Name: flagUpdateInterval, Value: 15 * time.Minute, EnvVars: envVar(flagUpdateInterval), Usage: "how often to check for updates"},
		&cli.BoolFlag{Name: flagDisableUpdates, EnvVars: envVar(flagDisableUpdates), Usage: "never check for updates; run what is installed"},
		&cli.BoolFlag{Name: flagFleetDesktop, EnvVars: envVar(flagFleetDesktop), Usage: "run the tray app for logged-in users"},
		&cli.BoolFlag{Name: flagEnableScripts, EnvVars: envVar(flagEnableScripts), Usage: "run scripts sent by the Fleet server"},
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
		&cli.DurationFlag{Name: flagTokenCheckInterval, Value: 30 * time.Second, EnvVars: envVar(flagTokenCheckInterval), Hidden: true},
		&cli.DurationFlag{Name: flagConfigInterval, Value: 30 * time.Second, EnvVars: envVar(flagConfigInterval), Usage: "how often to fetch the Fleet server's config"},
	}
}

// agentConfig is the validated command line.
type agentConfig struct {
	Layout           rootdir.Layout
	FleetURL         string
	EnrollSecret     string
	secretOnArgv     bool
	FleetCertificate string
	Insecure         bool
	FleetProxy       string
	UpdateURL        string
	UpdateRoots      string
	UpdateTLSCert    string
	Channels         struct{ Orbit, Osqueryd, Desktop string }
	UpdateInterval   time.Duration
	DisableUpdates   bool
	FleetDesktop     bool
	EnableScripts    bool
	Debug            bool
	LogFile          string
	LogMaxSize       int
	LogMaxBackups    int
	LogMaxAge        int
	OsquerydPath     string
	OsqueryConfig    string
	StopGrace        time.Duration
	ConfigInterval   time.Duration
	TokenCheck       time.Duration
	ExtraArgs        []string
}

// parseConfig validates flags; every error is one line saying what to fix.
func parseConfig(c *cli.Context) (*agentConfig, error) {
	var cfg agentConfig
	layout, err := rootdir.New(c.String(flagRootDir))
	if err != nil {
		return nil, err
	}
	cfg.Layout = layout
	cfg.FleetURL = strings.TrimRight(c.String(flagFleetURL), "/")
	cfg.FleetCertificate = c.String(flagFleetCertificate)
	cfg.Insecure = c.Bool(flagInsecure)
	cfg.FleetProxy = c.String(flagFleetProxy)
	cfg.UpdateURL = c.String(flagUpdateURL)
	cfg.UpdateRoots = c.String(flagUpdateRoots)
	cfg.UpdateTLSCert = c.String(flagUpdateTLSCertificate)
	cfg.Channels.Orbit = c.String(flagOrbitChannel)
	cfg.Channels.Osqueryd = c.String(flagOsquerydChannel)
	cfg.Channels.Desktop = c.String(flagDesktopChannel)
	cfg.UpdateInterval = c.Duration(flagUpdateInterval)
	cfg.DisableUpdates = c.Bool(flagDisableUpdates)
	cfg.FleetDesktop = c.Bool(flagFleetDesktop)
	cfg.EnableScripts = c.Bool(flagEnableScripts)
	cfg.Debug = c.Bool(flagDebug)
	cfg.LogFile = c.String(flagLogFile)
	cfg.LogMaxSize = c.Int(flagLogFileMaxSize)
	cfg.LogMaxBackups = c.Int(flagLogFileMaxBackups)
	cfg.LogMaxAge = c.Int(flagLogFileMaxAge)
	cfg.OsquerydPath = c.String(flagOsquerydPath)
	cfg.OsqueryConfig = c.String(flagOsqueryConfig)
	cfg.StopGrace = c.Duration(flagStopGrace)
	cfg.ConfigInterval = c.Duration(flagConfigInterval)
	cfg.TokenCheck = c.Duration(flagTokenCheckInterval)
	cfg.ExtraArgs = c.Args().Slice()

	if c.IsSet(flagEnrollSecret) && c.IsSet(flagEnrollSecretPath) {
		return nil, errors.New("--enroll-secret and --enroll-secret-path are mutually exclusive: give one")
	}
	if cfg.Insecure && cfg.FleetCertificate != "" {
		return nil, errors.New("--insecure and --fleet-certificate are mutually exclusive: with a CA bundle, verification can stay on")
	}
	if cfg.FleetURL != "" && cfg.OsqueryConfig != "" {
		return nil, errors.New("--fleet-url and --osquery-config are mutually exclusive: Fleet mode gets osquery's config from the server")
	}
	if s := c.String(flagEnrollSecret); s != "" {
		cfg.EnrollSecret = s
		// urfave reports env-provided values as set too; only argv is a leak.
		cfg.secretOnArgv = os.Getenv(envVar(flagEnrollSecret)[0]) != s
	}
	if p := c.String(flagEnrollSecretPath); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read --enroll-secret-path: %w", err)
		}
		cfg.EnrollSecret = strings.TrimSpace(string(data))
		if cfg.EnrollSecret == "" {
			return nil, fmt.Errorf("--enroll-secret-path %s is empty: put the enroll secret from Fleet's Add hosts page in it", p)
		}
	}
	if cfg.FleetURL != "" {
		if _, err := osqueryd.TLSHostname(cfg.FleetURL); err != nil {
			return nil, err
		}
		if cfg.EnrollSecret == "" {
			return nil, errors.New("--fleet-url needs an enroll secret: pass --enroll-secret-path (or ORBIT_ENROLL_SECRET)")
		}
	} else {
		for _, f := range []string{flagEnrollSecret, flagEnrollSecretPath, flagFleetCertificate, flagInsecure, flagFleetProxy, flagEnableScripts, flagFleetDesktop} {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--%s needs --fleet-url", f)
			}
		}
	}
	for _, f := range []struct{ flag, path string }{
		{flagFleetCertificate, cfg.FleetCertificate},
		{flagOsqueryConfig, cfg.OsqueryConfig},
		{flagOsquerydPath, cfg.OsquerydPath},
		{flagUpdateTLSCertificate, cfg.UpdateTLSCert},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("--%s %s: file not found or unreadable: %w", f.flag, f.path, err)
		}
	}
	// A password in a URL would sit in argv, the service's unit file and
	// osqueryd's --proxy_hostname, all readable by local users.
	for _, f := range []struct{ flag, v string }{{flagFleetURL, cfg.FleetURL}, {flagFleetProxy, cfg.FleetProxy}, {flagUpdateURL, cfg.UpdateURL}} {
		if u, err := url.Parse(f.v); err == nil && u.User != nil {
			return nil, fmt.Errorf("--%s must not carry credentials (user:password@): local users can read them from the process list; for a proxy, set HTTPS_PROXY in orbit's environment instead", f.flag)
		}
	}
	if cfg.FleetProxy != "" {
		if err := httpclient.ValidateProxy(cfg.FleetProxy); err != nil {
			return nil, fmt.Errorf("--fleet-proxy %w", err)
		}
	}
	for _, ch := range []struct{ flag, v string }{
		{flagOrbitChannel, cfg.Channels.Orbit}, {flagOsquerydChannel, cfg.Channels.Osqueryd}, {flagDesktopChannel, cfg.Channels.Desktop},
	} {
		if ch.v == "" || strings.ContainsAny(ch.v, `/\ `) || ch.v == "." || ch.v == ".." {
			return nil, fmt.Errorf("--%s %q is not a channel name: use stable, edge, or a version like 5.12", ch.flag, ch.v)
		}
	}
	if cfg.UpdateInterval < 10*time.Second {
		return nil, fmt.Errorf("--update-interval %s is too short: use at least 10s (default 15m)", cfg.UpdateInterval)
	}
	if cfg.ConfigInterval < time.Second {
		return nil, fmt.Errorf("--config-interval %s is too short: use at least 1s (default 30s)", cfg.ConfigInterval)
	}
	if cfg.TokenCheck < 100*time.Millisecond {
		return nil, fmt.Errorf("--%s %s is too short", flagTokenCheckInterval, cfg.TokenCheck)
	}
	if cfg.StopGrace <= 0 || cfg.StopGrace > 10*time.Minute {
		return nil, fmt.Errorf("--stop-grace %s must be between 0 and 10m (default 10s)", cfg.StopGrace)
	}
	if cfg.LogMaxSize < 1 || cfg.LogMaxBackups < 0 || cfg.LogMaxAge < 0 {
		return nil, errors.New("--log-file-max-size must be at least 1 (MB); backups and age cannot be negative")
	}
	if !cfg.DisableUpdates {
		if cfg.UpdateRoots == "" {
			return nil, errors.New("updates need a trusted root: pass --update-roots (the repository's root.json, inline or a path) or --disable-updates")
		}
		u, err := url.Parse(cfg.UpdateURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("--update-url %q must be an http(s) URL", cfg.UpdateURL)
		}
	} else if cfg.OsquerydPath == "" {
		// Without updates nothing will install osqueryd: it must be there.
		if _, err := os.Stat(managedOsquerydPath(&cfg)); err != nil {
			return nil, fmt.Errorf("--disable-updates with no osqueryd installed at %s: pass --osqueryd-path or enable updates", managedOsquerydPath(&cfg))
		}
	}
	if cfg.OsqueryConfig != "" {
		cfg.OsqueryConfig = absPath(cfg.OsqueryConfig)
	}
	if cfg.FleetCertificate != "" {
		cfg.FleetCertificate = absPath(cfg.FleetCertificate)
	}
	return &cfg, nil
}
