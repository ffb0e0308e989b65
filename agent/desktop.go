package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/desktop"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/peruser"
	"github.com/orbitagent/orbit/supervisor/session"
	"github.com/orbitagent/orbit/updater"
)

// trayBadSettingsExit is the tray app's exit code for a missing or bad
// setting (cmd/desktop's exit codes): a restart will not fix it, so its
// copy waits the backoff's maximum at once.
const trayBadSettingsExit = 2

// desktopEnv is the tray app's own environment, with Fleet's names: where
// Fleet is, how to trust it and where the device token is. Nothing of
// orbit's own environment (its enroll secret) is in it; the runner adds
// the user's session.
func (c Config) desktopEnv() []string {
	env := []string{
		desktop.EnvFleetURL + "=" + c.FleetURL,
		desktop.EnvIdentifierPath + "=" + c.Layout.Identifier(),
	}
	if c.FleetCertificate != "" {
		env = append(env, desktop.EnvRootCA+"="+c.FleetCertificate)
	}
	if c.Insecure {
		env = append(env, desktop.EnvInsecure+"=1")
	}
	if c.DesktopAlternativeBrowserHost != "" {
		env = append(env, desktop.EnvAlternativeBrowserHost+"="+c.DesktopAlternativeBrowserHost)
	}
	return env
}

// validateDesktop applies the tray app's own rules to the settings orbit
// would hand it, so a bad one is refused here and not by every copy.
func (c Config) validateDesktop() error {
	if c.DisableUpdates && c.DesktopPath == "" {
		return fmt.Errorf("--fleet-desktop with --disable-updates needs --desktop-path: nothing else installs the tray app")
	}
	if c.DesktopPath != "" && !filepath.IsAbs(c.DesktopPath) {
		return fmt.Errorf("--desktop-path %q must be an absolute path", c.DesktopPath)
	}
	vars := map[string]string{}
	for _, kv := range c.desktopEnv() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	if _, err := desktop.SettingsFromEnv(func(k string) string { return vars[k] }); err != nil {
		return fmt.Errorf("--fleet-desktop (or --fleet-desktop-alternative-browser-host): %w", err)
	}
	return nil
}

// desktopPath finds the tray app to start: the developer's or the
// updater's.
func desktopPath(cfg Config, upd *updater.Updater) func() (string, error) {
	return func() (string, error) {
		switch {
		case cfg.DesktopPath != "":
			return cfg.DesktopPath, nil
		case upd != nil:
			return upd.ExecPath(component.Desktop)
		}
		return "", fmt.Errorf("no tray app: pass --desktop-path or enable updates")
	}
}

// isDesktopCopy tells a user's tray app ("desktop/<user>") in the state
// file.
func isDesktopCopy(name string) bool {
	return strings.HasPrefix(name, string(component.Desktop)+"/")
}

// installedVersion is the version the updater recorded for the file at
// path (the tray app has no --version to probe: Fleet's answers only
// --help).
func installedVersion(store *status.Store, name component.Name, path string) string {
	if c, ok := store.Snapshot().Components[string(name)]; ok && c.Path == path {
		return c.Version
	}
	return ""
}

// newDesktop is the tray app's runner: one copy per graphical session, as
// its user, reporting to the state file as desktop/<user>.
func newDesktop(cfg Config, deps Deps, path func() (string, error), reporter *status.Reporter) (*peruser.Runner, error) {
	sessions := deps.Sessions
	if sessions == nil {
		sessions = session.Default(session.Options{Logger: deps.Logger, RunUserDir: cfg.DesktopSessionsDir})
	}
	env := cfg.desktopEnv()
	return peruser.New(peruser.Config{
		Name:     string(component.Desktop),
		Sessions: sessions,
		Spec: func(context.Context) (supervisor.Spec, error) {
			p, err := path()
			if err != nil {
				return supervisor.Spec{}, err
			}
			return supervisor.Spec{Path: p, Env: env}, nil
		},
		Process: supervisor.ProcessConfig{
			StopGrace:      cfg.StopGrace,
			FatalExitCodes: []int{trayBadSettingsExit},
			Logger:         deps.Logger,
			Clock:          deps.Clock,
			Starter:        deps.Starter,
			OnStatus:       reporter.Report,
		},
		OnGone: reporter.Forget,
	})
}
