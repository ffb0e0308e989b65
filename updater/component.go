package updater

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/rootdir"
)

// Component is one updatable program and what is special about it. Its TUF
// target is <Name>/<Platform>/<Channel>/<FileName>. OrbitComponent,
// OsquerydComponent and DesktopComponent are Fleet's.
type Component struct {
	Name    component.Name
	Channel string // "stable", "edge" or a pinned version
	// FileName is the target's file name: "osqueryd", "orbit.exe",
	// "osqueryd.app.tar.gz", "desktop.tar.gz".
	FileName string
	// ExecInArchive is the executable's slash path inside a .tar.gz target
	// (an app bundle, or a directory), e.g.
	// "osquery.app/Contents/MacOS/osqueryd". Archives, and only they, have
	// one: they are extracted into a new directory on install.
	ExecInArchive string
	// Platform overrides Config.Platform (macOS osqueryd is "macos-app").
	Platform string
	// ExecCheck is what a new binary is run with before it is installed;
	// it must exit 0. Nil means ["--version"].
	ExecCheck []string
	// SelfUpdate marks orbit itself: it is checked last, so the others are
	// current before it hands over; its install repoints the stable path
	// the service runs and calls Config.SelfUpdated instead of a restart;
	// and CheckBoot and MarkHealthy, not the rollback window, judge it.
	SelfUpdate bool
}

// archive reports whether the target is extracted on install.
func (c Component) archive() bool { return isArchive(c.FileName) }

// execCheck is the exec check's arguments.
func (c Component) execCheck() []string {
	if c.ExecCheck == nil {
		return []string{"--version"}
	}
	return c.ExecCheck
}

// Path is where the plain target c is (or, bundled by a package, already
// was) installed: bin/<name>/<platform>/<channel>/<file>, with c.Platform
// when set, else platform.
func (c Component) Path(l rootdir.Layout, platform string) string {
	if c.Platform != "" {
		platform = c.Platform
	}
	return l.Bin(string(c.Name), platform, c.Channel, c.FileName)
}

// Validate checks the component on its own.
func (c Component) Validate() error {
	if err := c.Name.Validate(); err != nil {
		return err
	}
	if err := component.ValidateChannel(c.Channel); err != nil {
		return fmt.Errorf("%s channel %w", c.Name, err)
	}
	if !pathElement(c.FileName) || (c.Platform != "" && !pathElement(c.Platform)) {
		return fmt.Errorf("component %s: file name %q and platform %q must each be one path element (no slashes, not . or ..)", c.Name, c.FileName, c.Platform)
	}
	switch {
	case c.archive() && c.ExecInArchive == "":
		return fmt.Errorf("component %s is an archive: set the executable's path inside it", c.Name)
	case !c.archive() && c.ExecInArchive != "":
		return fmt.Errorf("component %s has an executable inside an archive, but its file %s is not a .tar.gz", c.Name, c.FileName)
	}
	return nil
}

// pathElement reports whether s can be one element of a path or target name.
func pathElement(s string) bool {
	return s != "" && !strings.ContainsAny(s, `/\`) && s != "." && s != ".."
}

// exeName is a program's file name on goos.
func exeName(goos, name string) string {
	if goos == "windows" {
		return name + ".exe"
	}
	return name
}

// OrbitComponent is orbit itself, as Fleet's repositories publish it. Its
// exec check is `orbit version`.
func OrbitComponent(channel string) Component { return orbitFor(runtime.GOOS, channel) }

func orbitFor(goos, channel string) Component {
	return Component{Name: component.Orbit, Channel: channel, FileName: exeName(goos, "orbit"),
		ExecCheck: []string{"version"}, SelfUpdate: true}
}

// OsquerydComponent is osqueryd with Fleet's target names: on macOS an app
// bundle on the "macos-app" platform.
func OsquerydComponent(channel string) Component { return osquerydFor(runtime.GOOS, channel) }

func osquerydFor(goos, channel string) Component {
	if goos == "darwin" {
		return Component{Name: component.Osqueryd, Channel: channel, Platform: "macos-app",
			FileName: "osqueryd.app.tar.gz", ExecInArchive: "osquery.app/Contents/MacOS/osqueryd"}
	}
	return Component{Name: component.Osqueryd, Channel: channel, FileName: exeName(goos, "osqueryd")}
}

// DesktopComponent is the tray app with Fleet's target names. Fleet checks
// it with --help (it has no --version).
func DesktopComponent(channel string) Component { return desktopFor(runtime.GOOS, channel) }

func desktopFor(goos, channel string) Component {
	c := Component{Name: component.Desktop, Channel: channel, ExecCheck: []string{"--help"}}
	switch goos {
	case "windows":
		c.FileName = "fleet-desktop.exe"
	case "darwin":
		c.FileName, c.ExecInArchive = "desktop.app.tar.gz", "Fleet Desktop.app/Contents/MacOS/fleet-desktop"
	default:
		c.FileName, c.ExecInArchive = "desktop.tar.gz", "fleet-desktop/fleet-desktop"
	}
	return c
}

func targetName(c Component, platform, channel string) string {
	return path.Join(string(c.Name), platform, channel, c.FileName)
}

// MinInterval is the shortest Config.Interval: the missing-component
// retries start at 10 s and grow up to the interval.
const MinInterval = missingRetryFirst

// MaxInterval is the longest Config.Interval: longer is a typo, and the
// waits derived from it must not overflow.
const MaxInterval = 30 * 24 * time.Hour

// ValidateInterval is the rule for the check interval (0 takes the
// default).
func ValidateInterval(d time.Duration) error {
	if d != 0 && d < MinInterval {
		return fmt.Errorf("--update-interval %s is too short: use at least %s (default 15m)", d, MinInterval)
	}
	if d > MaxInterval {
		return fmt.Errorf("--update-interval %s is too long: use at most 720h (30 days; default 15m)", d)
	}
	return nil
}

// ValidateURL is the rule for the repository URL.
func ValidateURL(raw string) error {
	if raw == "" {
		return errors.New("updates need a repository: pass --update-url (the TUF repository your release owner publishes with orbitctl updates), or --disable-updates")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("--update-url %q must be an http(s) URL", raw)
	}
	if err := httpclient.CheckNoCredentials(raw); err != nil {
		return fmt.Errorf("--update-url %w", err)
	}
	if err := httpclient.CheckPort(u); err != nil {
		return fmt.Errorf("--update-url %q: %w", raw, err)
	}
	return nil
}

// Validate checks cfg as New would, without touching the disk.
func (cfg Config) Validate() error {
	if err := cfg.Layout.Validate(); err != nil {
		return err
	}
	if err := ValidateURL(cfg.UpdateURL); err != nil {
		return err
	}
	if err := checkRoot(cfg.RootJSON); err != nil {
		return err
	}
	if err := ValidateInterval(cfg.Interval); err != nil {
		return err
	}
	for _, d := range []time.Duration{cfg.Interval, cfg.MaxSplay, cfg.RollbackWindow, cfg.HealthInterval,
		cfg.SelfHealthyAfter, cfg.MetadataTimeout, cfg.DownloadTimeout, cfg.ExecTimeout} {
		if d < 0 {
			return fmt.Errorf("updater durations must not be negative (got %s)", d)
		}
	}
	seen := map[component.Name]bool{}
	self := 0
	for _, c := range cfg.Components {
		if err := c.Validate(); err != nil {
			return err
		}
		if seen[c.Name] {
			return fmt.Errorf("component %s is configured twice", c.Name)
		}
		seen[c.Name] = true
		if c.SelfUpdate {
			self++
		}
	}
	if self > 1 {
		return errors.New("only one component can be orbit itself (SelfUpdate)")
	}
	return nil
}
