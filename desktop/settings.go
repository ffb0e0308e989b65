package desktop

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The environment orbit passes to the tray app, with Fleet's names.
const (
	EnvFleetURL               = "FLEET_DESKTOP_FLEET_URL"
	EnvIdentifierPath         = "FLEET_DESKTOP_DEVICE_IDENTIFIER_PATH"
	EnvRootCA                 = "FLEET_DESKTOP_FLEET_ROOT_CA"
	EnvInsecure               = "FLEET_DESKTOP_INSECURE"
	EnvAlternativeBrowserHost = "FLEET_DESKTOP_ALTERNATIVE_BROWSER_HOST"

	// EnvTestPollInterval is for tests only (not documented to users): it
	// can shorten the poll interval, never lengthen it.
	EnvTestPollInterval = "ORBIT_DESKTOP_TEST_POLL_INTERVAL"
)

// DefaultPollInterval is how often the tray asks Fleet for the device's
// summary (Fleet Desktop: 10 s).
const DefaultPollInterval = 10 * time.Second

// minTestPollInterval keeps a test knob from turning the tray into a busy loop.
const minTestPollInterval = 50 * time.Millisecond

// Settings is what the tray app needs to know, read from the environment.
type Settings struct {
	// FleetURL is the Fleet server (http or https, optionally with a path
	// prefix), without credentials, query or fragment.
	FleetURL *url.URL
	// IdentifierPath is the absolute path of the file orbit writes the
	// device token to.
	IdentifierPath string
	// RootCA is an absolute path to a PEM bundle of the CAs that sign
	// Fleet's certificate ("" = the system roots).
	RootCA string
	// Insecure skips certificate verification (orbit's --insecure).
	Insecure bool
	// AlternativeBrowserHost, when set, is the host[:port] the browser
	// pages use instead of FleetURL's (a Fleet reached by the agent through
	// another name than by people).
	AlternativeBrowserHost string
	// PollInterval is DefaultPollInterval unless a test shortened it.
	PollInterval time.Duration
}

// SettingsFromEnv reads the settings with getenv (os.Getenv) and validates
// them. The error names every bad variable, on one line, and says what to
// do: the tray logs it once and exits.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	var problems []string
	s := Settings{
		IdentifierPath:         strings.TrimSpace(getenv(EnvIdentifierPath)),
		RootCA:                 strings.TrimSpace(getenv(EnvRootCA)),
		AlternativeBrowserHost: strings.TrimSpace(getenv(EnvAlternativeBrowserHost)),
		PollInterval:           DefaultPollInterval,
	}
	if raw := strings.TrimSpace(getenv(EnvFleetURL)); raw == "" {
		problems = append(problems, EnvFleetURL+" is not set: orbit sets it to its --fleet-url; start the tray app from orbit or set it to https://your-fleet")
	} else if u, err := url.Parse(raw); err != nil {
		problems = append(problems, fmt.Sprintf("%s %q is not a URL: use https://host[:port]", EnvFleetURL, raw))
	} else {
		s.FleetURL = u
	}
	if raw := strings.TrimSpace(getenv(EnvInsecure)); raw != "" {
		v, err := strconv.ParseBool(raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q is not a boolean: use 1 or 0", EnvInsecure, raw))
		}
		s.Insecure = v
	}
	if raw := strings.TrimSpace(getenv(EnvTestPollInterval)); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < minTestPollInterval || d > DefaultPollInterval {
			problems = append(problems, fmt.Sprintf("%s=%q must be a duration from %s to %s", EnvTestPollInterval, raw, minTestPollInterval, DefaultPollInterval))
		} else {
			s.PollInterval = d
		}
	}
	if s.IdentifierPath == "" {
		problems = append(problems, EnvIdentifierPath+" is not set: orbit sets it to <root>/identifier; start the tray app from orbit")
	}
	if err := s.validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return Settings{}, errors.New("bad tray app settings: " + strings.Join(problems, "; "))
	}
	return s, nil
}

// Validate checks settings built in code (SettingsFromEnv already did).
func (s Settings) Validate() error {
	if s.FleetURL == nil {
		return errors.New("FleetURL is required")
	}
	if s.IdentifierPath == "" {
		return errors.New("IdentifierPath is required")
	}
	if s.PollInterval <= 0 {
		return errors.New("PollInterval must be positive")
	}
	return s.validate()
}

// validate checks the values that are set; missing ones are reported by
// the callers, with advice that fits each.
func (s Settings) validate() error {
	var problems []string
	if u := s.FleetURL; u != nil {
		switch {
		case u.Scheme != "https" && u.Scheme != "http":
			problems = append(problems, fmt.Sprintf("%s %q must start with https://", EnvFleetURL, u.Redacted()))
		case u.Host == "":
			problems = append(problems, fmt.Sprintf("%s %q has no host: use https://host[:port]", EnvFleetURL, u.Redacted()))
		case u.User != nil:
			problems = append(problems, EnvFleetURL+" must not hold credentials (user:pass@)")
		case u.RawQuery != "" || u.Fragment != "":
			problems = append(problems, fmt.Sprintf("%s %q must not have a query or fragment", EnvFleetURL, u.Redacted()))
		}
	}
	if s.IdentifierPath != "" && !filepath.IsAbs(s.IdentifierPath) {
		problems = append(problems, fmt.Sprintf("%s %q must be an absolute path", EnvIdentifierPath, s.IdentifierPath))
	}
	if s.RootCA != "" && !filepath.IsAbs(s.RootCA) {
		problems = append(problems, fmt.Sprintf("%s %q must be an absolute path to a PEM file", EnvRootCA, s.RootCA))
	}
	if h := s.AlternativeBrowserHost; h != "" {
		if u, err := url.Parse("https://" + h); err != nil || u.Host != h || u.User != nil || u.Path != "" {
			problems = append(problems, fmt.Sprintf("%s %q must be a host or host:port, without scheme or path", EnvAlternativeBrowserHost, h))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
