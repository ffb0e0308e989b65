package agent

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/updater"
)

// Channels are the update channels of orbit's components.
type Channels struct{ Orbit, Osqueryd, Desktop string }

// Config is the agent's configuration. cmd/orbit builds it from its flags
// and calls Validate, which applies each package's own rules, so a rule
// and its message exist once whether the CLI or a package meets bad input.
type Config struct {
	Layout rootdir.Layout
	// Version is orbit's own version.
	Version string

	// FleetURL switches on Fleet mode; the options below it need it.
	FleetURL     string
	EnrollSecret string
	// EnrollSecretPath is the file EnrollSecret was read from, if any
	// (protected again at each start under the Windows SCM).
	EnrollSecretPath string
	// SecretOnArgv says the secret came on the command line, where local
	// users can read it: Run warns about it.
	SecretOnArgv       bool
	FleetCertificate   string // CA bundle for orbit and osqueryd
	Insecure           bool
	FleetProxy         string
	EnableScripts      bool
	EndUserEmail       string // --end-user-email, for Fleet's device mapping
	FleetDesktop       bool
	ConfigInterval     time.Duration
	TokenCheckInterval time.Duration

	// DisableUpdates runs what is installed; otherwise the updater keeps
	// orbit, osqueryd (unless OsquerydPath) and, with FleetDesktop, the
	// tray app current from UpdateURL.
	DisableUpdates       bool
	UpdateURL            string
	UpdateRoots          []byte // the trusted root.json (updater.ReadRoots)
	UpdateTLSCertificate string
	Channels             Channels
	UpdateInterval       time.Duration

	// OsquerydPath is an admin's osqueryd, left alone by the updater.
	OsquerydPath string
	// OsqueryConfig is standalone mode: a local osquery config.
	OsqueryConfig string
	// OsqueryArgs come after `--` on orbit's command line.
	OsqueryArgs []string
	StopGrace   time.Duration
	// PingTimeout bounds each health ping of osqueryd (default 10 s).
	PingTimeout time.Duration
	// HostIdentifier is Fleet's --host-identifier: uuid (default) or
	// instance, for cloned VMs that share a hardware UUID.
	HostIdentifier string

	// DesktopPath is a tray app to run instead of the updater's (for
	// development; the updater then leaves the tray app alone).
	DesktopPath string
	// DesktopAlternativeBrowserHost is the host[:port] the tray's pages
	// open on, when people reach Fleet by another name than the agent.
	DesktopAlternativeBrowserHost string
	// DesktopSessionsDir replaces logind for the tray runner: sessions
	// come from this directory laid out as /run/user (tests).
	DesktopSessionsDir string
}

// Validate checks the configuration without changing anything on disk.
// Its errors are one line saying what to fix.
func (c Config) Validate() error {
	if err := c.Layout.Validate(); err != nil {
		return err
	}
	// First, so that no later message repeats a password.
	for _, u := range []struct{ flag, v string }{{"fleet-url", c.FleetURL}, {"fleet-proxy", c.FleetProxy}, {"update-url", c.UpdateURL}} {
		if err := httpclient.CheckNoCredentials(u.v); err != nil {
			return fmt.Errorf("--%s %w", u.flag, err)
		}
	}
	// The path function is the one thing Validate cannot check: Run gives it.
	if err := c.osquerydRunner(func() (string, error) { return "", nil }).Validate(); err != nil {
		return err
	}
	if err := supervisor.ValidateStopGrace(c.StopGrace); err != nil {
		return err
	}
	if c.FleetURL != "" {
		if err := c.fleetAgent().Validate(); err != nil {
			return err
		}
		if err := c.fleetHTTP().Validate(); err != nil {
			if errors.Is(err, httpclient.ErrInsecureWithCA) {
				return fmt.Errorf("--insecure with --fleet-certificate: %w", err)
			}
			return fmt.Errorf("--fleet-proxy %w", err)
		}
	}
	// The intervals and channels are checked even when their part is off,
	// as every flag is.
	if err := fleet.ValidateIntervals(c.ConfigInterval, c.TokenCheckInterval); err != nil {
		return err
	}
	if err := updater.ValidateInterval(c.UpdateInterval); err != nil {
		return err
	}
	for _, ch := range []struct{ flag, v string }{
		{"orbit-channel", c.Channels.Orbit}, {"osqueryd-channel", c.Channels.Osqueryd}, {"desktop-channel", c.Channels.Desktop},
	} {
		if err := component.ValidateChannel(ch.v); err != nil {
			return fmt.Errorf("--%s %w", ch.flag, err)
		}
	}
	if c.FleetDesktop {
		if err := c.validateDesktop(); err != nil {
			return err
		}
	}
	// The files are read here, not only where they are used: a refusal
	// must come before Run touches the root directory.
	for _, f := range []struct{ flag, path string }{
		{"fleet-certificate", c.FleetCertificate},
		{"update-tls-certificate", c.UpdateTLSCertificate},
	} {
		if f.path == "" {
			continue
		}
		if _, err := httpclient.LoadCABundle(f.path); err != nil {
			return fmt.Errorf("--%s: %w", f.flag, err)
		}
	}
	if c.OsqueryConfig != "" {
		if _, err := safefile.ReadLimited(c.OsqueryConfig, safefile.MaxConfig); err != nil {
			return fmt.Errorf("--osquery-config: %w", err)
		}
	}
	for _, p := range []struct{ flag, path, what string }{
		{"osqueryd-path", c.OsquerydPath, "the osqueryd executable"},
		{"desktop-path", c.DesktopPath, "the tray app's executable"},
	} {
		if p.path == "" {
			continue
		}
		if err := checkExecutable(p.path, p.what); err != nil {
			return fmt.Errorf("--%s %s: %w", p.flag, p.path, err)
		}
	}
	if !c.DisableUpdates {
		return c.updater().Validate()
	}
	if c.OsquerydPath == "" {
		// Without updates nothing will install osqueryd: it must be there.
		if _, err := os.Stat(c.managedOsquerydPath()); err != nil {
			return fmt.Errorf("--disable-updates with no osqueryd installed at %s: pass --osqueryd-path or enable updates", c.managedOsquerydPath())
		}
	}
	return nil
}

// checkExecutable refuses what osqueryd cannot be: a missing file, a
// directory, or (off Windows) a file without an execute bit. Each would
// only fail at every start, behind the restart backoff.
func checkExecutable(path, what string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("file not found or unreadable: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("is not a file: give the path of %s", what)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("is not executable (mode %#o): run `chmod 0755` on it or give %s", fi.Mode().Perm(), what)
	}
	return nil
}

// updateComponents lists what the updater keeps current, with Fleet's
// target names.
func (c Config) updateComponents() []updater.Component {
	comps := []updater.Component{updater.OrbitComponent(c.Channels.Orbit)}
	if c.OsquerydPath == "" {
		// An explicit --osqueryd-path is the admin's binary: leave it alone.
		comps = append(comps, updater.OsquerydComponent(c.Channels.Osqueryd))
	}
	if c.FleetDesktop && c.DesktopPath == "" {
		// An explicit --desktop-path is the developer's binary: leave it alone.
		comps = append(comps, updater.DesktopComponent(c.Channels.Desktop))
	}
	return comps
}

// managedOsquerydPath is where the updater installs a plain osqueryd (on
// macOS it installs an app bundle, found through the updater instead).
func (c Config) managedOsquerydPath() string {
	return updater.OsquerydComponent(c.Channels.Osqueryd).Path(c.Layout, updater.DefaultPlatform())
}

// proxyHost turns --fleet-proxy into osquery's --proxy_hostname (host:port).
func proxyHost(proxyURL string) string {
	if u, err := url.Parse(proxyURL); err == nil {
		return u.Host
	}
	return ""
}

// The parts of each package's config that come from the command line; Run
// adds the clients, clocks and hooks.

func (c Config) osquerydRunner(path func() (string, error)) osquery.RunnerConfig {
	return osquery.RunnerConfig{
		Flags: osquery.FlagOptions{
			Layout:         c.Layout,
			FleetURL:       c.FleetURL,
			CertFile:       c.FleetCertificate,
			ConfigPath:     c.OsqueryConfig,
			ProxyHost:      proxyHost(c.FleetProxy),
			HostIdentifier: c.HostIdentifier,
			ExtraArgs:      c.OsqueryArgs,
		},
		Path:         path,
		EnrollSecret: c.EnrollSecret,
	}
}

func (c Config) fleetHTTP() httpclient.Config {
	return fleet.HTTPClientConfig(httpclient.Config{CAFile: c.FleetCertificate, Insecure: c.Insecure, Proxy: c.FleetProxy})
}

func (c Config) fleetAgent() fleet.Config {
	return fleet.Config{
		Layout:             c.Layout,
		URL:                c.FleetURL,
		EnrollSecret:       c.EnrollSecret,
		Version:            c.Version,
		ScriptsEnabled:     c.EnableScripts,
		EndUserEmail:       c.EndUserEmail,
		HostIdentifier:     c.HostIdentifier,
		ConfigInterval:     c.ConfigInterval,
		TokenCheckInterval: c.TokenCheckInterval,
	}
}

func (c Config) updater() updater.Config {
	return updater.Config{
		Layout:     c.Layout,
		UpdateURL:  c.UpdateURL,
		RootJSON:   c.UpdateRoots,
		Platform:   updater.DefaultPlatform(),
		Components: c.updateComponents(),
		Interval:   c.UpdateInterval,
	}
}
