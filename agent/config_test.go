package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/rootdir"
)

// standalone is a valid configuration without Fleet or updates.
func standalone(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	osq := filepath.Join(dir, "osqueryd")
	// Answers the version probe, and the host facts query as osqueryd -S
	// would.
	script := "#!/bin/sh\ncase \"$1\" in\n" +
		`-S) echo '[{"uuid":"0A1B2C3D-0000-4000-8000-00000000AB01","hostname":"h1","platform":"ubuntu","osquery_uuid":"0A1B2C3D-0000-4000-8000-00000000AB01","instance_id":"3f1e"}]';;` + "\n" +
		"*) echo osqueryd version 9.9.9;;\nesac\n"
	if err := os.WriteFile(osq, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := rootdir.New(filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Layout: l, Version: "1.2.3-test",
		DisableUpdates: true, OsquerydPath: osq,
		UpdateURL: "https://updates.example.com", UpdateInterval: 15 * time.Minute,
		Channels:       Channels{"stable", "stable", "stable"},
		ConfigInterval: 30 * time.Second, TokenCheckInterval: 30 * time.Second,
		StopGrace: 10 * time.Second,
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	pem := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(pem, []byte("pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "fleet-desktop")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fleet := func(c *Config) { c.FleetURL, c.EnrollSecret = "https://fleet.example.com", "s" }
	tray := func(c *Config, path string) { fleet(c); c.FleetDesktop, c.DesktopPath = true, path }
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" is valid
	}{
		{"standalone", func(*Config) {}, ""},
		{"fleet", fleet, ""},
		{"fleet with a path prefix", func(c *Config) { fleet(c); c.FleetURL = "https://fleet.example.com/tenant" }, ""},
		{"socks5 proxy", func(c *Config) { fleet(c); c.FleetProxy = "socks5://127.0.0.1:1080" }, ""},
		{"no root", func(c *Config) { c.Layout = rootdir.Layout{} }, "pass --root-dir"},
		{"fleet without secret", func(c *Config) { fleet(c); c.EnrollSecret = "" }, "--fleet-url needs an enroll secret"},
		{"plain http fleet", func(c *Config) { fleet(c); c.FleetURL = "http://fleet.example.com" }, "must start with https://"},
		// A path prefix is fine (the osquery endpoints get it); a query is not.
		{"fleet with a query", func(c *Config) { fleet(c); c.FleetURL = "https://fleet.example.com/x?y=1" }, "has a query or fragment"},
		{"fleet and standalone", func(c *Config) { fleet(c); c.OsqueryConfig = pem }, "--fleet-url and --osquery-config are mutually exclusive"},
		{"insecure and certificate", func(c *Config) { fleet(c); c.Insecure, c.FleetCertificate = true, pem }, "--insecure with --fleet-certificate: insecure and a CA bundle are mutually exclusive"},
		{"bad proxy", func(c *Config) { fleet(c); c.FleetProxy = "ftp://proxy:21" }, `--fleet-proxy "ftp://proxy:21" is not a proxy URL`},
		{"proxy credentials", func(c *Config) { fleet(c); c.FleetProxy = "http://u:pw@proxy:3128" }, "--fleet-proxy must not carry credentials"},
		{"fleet url credentials", func(c *Config) { fleet(c); c.FleetURL = "https://u:pw@fleet.example.com" }, "--fleet-url must not carry credentials"},
		{"update url credentials", func(c *Config) { c.UpdateURL = "https://u:pw@updates.example.com" }, "--update-url must not carry credentials"},
		{"short config interval", func(c *Config) { c.ConfigInterval = time.Millisecond }, "--config-interval 1ms is too short"},
		{"short token check", func(c *Config) { c.TokenCheckInterval = time.Millisecond }, "--device-token-check-interval 1ms is too short"},
		{"short update interval", func(c *Config) { c.UpdateInterval = time.Second }, "--update-interval 1s is too short"},
		{"bad channel", func(c *Config) { c.Channels.Osqueryd = "../x" }, `--osqueryd-channel "../x" is not a channel name`},
		{"channel with a space", func(c *Config) { c.Channels.Orbit = "my channel" }, `--orbit-channel "my channel" is not a channel name`},
		{"zero grace", func(c *Config) { c.StopGrace = 0 }, "--stop-grace 0s must be between 0 and 10m"},
		{"long grace", func(c *Config) { c.StopGrace = time.Hour }, "--stop-grace 1h0m0s must be between"},
		{"missing osqueryd", func(c *Config) { c.OsquerydPath += ".nope" }, "--osqueryd-path"},
		{"missing fleet CA", func(c *Config) { fleet(c); c.FleetCertificate = pem + ".nope" }, "--fleet-certificate: read CA bundle: open " + pem + ".nope"},
		{"missing update CA", func(c *Config) { c.UpdateTLSCertificate = pem + ".nope" }, "--update-tls-certificate: read CA bundle: open " + pem + ".nope"},
		{"missing osquery config", func(c *Config) { c.OsqueryConfig = pem + ".nope" }, "--osquery-config"},
		// Refused here, before Run creates the root directory, not when the
		// client is built.
		{"fleet CA not PEM", func(c *Config) { fleet(c); c.FleetCertificate = pem }, "--fleet-certificate: CA bundle " + pem + " holds no PEM certificate"},
		{"update CA not PEM", func(c *Config) { c.UpdateTLSCertificate = pem }, "--update-tls-certificate: CA bundle " + pem + " holds no PEM certificate"},
		{"osquery config is a directory", func(c *Config) { c.OsqueryConfig = filepath.Dir(pem) }, "--osquery-config: read " + filepath.Dir(pem) + ": not a regular file"},
		{"osqueryd is a directory", func(c *Config) { c.OsquerydPath = filepath.Dir(c.OsquerydPath) }, "is not a file"},
		{"osqueryd not executable", func(c *Config) { c.OsquerydPath = pem }, "--osqueryd-path " + pem + ": is not executable"},
		{"fleet port out of range", func(c *Config) { fleet(c); c.FleetURL = "https://fleet.example.com:70000" }, "port 70000 is out of range"},
		{"update port out of range", func(c *Config) { c.DisableUpdates, c.UpdateURL = false, "https://updates.example.com:99999" }, "port 99999 is out of range"},
		{"proxy port out of range", func(c *Config) { fleet(c); c.FleetProxy = "http://proxy:0" }, "port 0 is out of range"},
		{"long config interval", func(c *Config) { c.ConfigInterval = 2562047 * time.Hour }, "--config-interval 2562047h0m0s is too long"},
		{"long token check", func(c *Config) { c.TokenCheckInterval = 2 * time.Hour }, "--device-token-check-interval 2h0m0s is too long"},
		{"long update interval", func(c *Config) { c.UpdateInterval = 2562047 * time.Hour }, "--update-interval 2562047h0m0s is too long"},
		{"secret too long", func(c *Config) { fleet(c); c.EnrollSecret = strings.Repeat("s", 4097) }, "longer than 4096 bytes"},
		{"no osqueryd and no updates", func(c *Config) { c.OsquerydPath = "" }, "--disable-updates with no osqueryd installed"},
		{"updates without root", func(c *Config) { c.DisableUpdates = false }, "pass --update-roots"},
		{"updates with a bad root", func(c *Config) { c.DisableUpdates, c.UpdateRoots = false, []byte("{}") }, "not a valid TUF root.json"},
		{"updates from ftp", func(c *Config) { c.DisableUpdates, c.UpdateURL = false, "ftp://updates" }, "--update-url \"ftp://updates\" must be an http(s) URL"},
		{"tray from a path", func(c *Config) { tray(c, exe) }, ""},
		{"tray not executable", func(c *Config) { tray(c, pem) }, "--desktop-path " + pem + ": is not executable"},
		{"tray browser host", func(c *Config) { tray(c, exe); c.DesktopAlternativeBrowserHost = "fleet.corp:8443" }, ""},
		{"nothing installs the tray", func(c *Config) { tray(c, "") }, "--fleet-desktop with --disable-updates needs --desktop-path"},
		{"relative tray path", func(c *Config) { tray(c, "fleet-desktop") }, `--desktop-path "fleet-desktop" must be an absolute path`},
		{"missing tray", func(c *Config) { tray(c, exe+".nope") }, "--desktop-path " + exe + ".nope: file not found"},
		{"tray browser host with a scheme", func(c *Config) { tray(c, exe); c.DesktopAlternativeBrowserHost = "https://fleet.corp" },
			`FLEET_DESKTOP_ALTERNATIVE_BROWSER_HOST "https://fleet.corp" must be a host or host:port`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := standalone(t)
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error repeats a password: %v", err)
			}
		})
	}
}

func TestUpdateComponents(t *testing.T) {
	t.Parallel()
	names := func(c Config) []component.Name {
		var out []component.Name
		for _, uc := range c.updateComponents() {
			out = append(out, uc.Name)
		}
		return out
	}
	cfg := standalone(t)
	cfg.OsquerydPath = ""
	if got := names(cfg); !slices.Equal(got, []component.Name{component.Orbit, component.Osqueryd}) {
		t.Errorf("default components %v", got)
	}
	cfg.OsquerydPath, cfg.FleetDesktop = "/usr/bin/osqueryd", true
	if got := names(cfg); !slices.Equal(got, []component.Name{component.Orbit, component.Desktop}) {
		t.Errorf("with --osqueryd-path and --fleet-desktop: %v", got)
	}
	cfg.DesktopPath = "/opt/dev/fleet-desktop"
	if got := names(cfg); !slices.Equal(got, []component.Name{component.Orbit}) {
		t.Errorf("with --desktop-path the updater still manages the tray app: %v", got)
	}
	cfg.DesktopPath = ""
	cfg.Channels = Channels{"edge", "5.12", "beta"}
	for _, uc := range cfg.updateComponents() {
		want := map[component.Name]string{component.Orbit: "edge", component.Desktop: "beta"}[uc.Name]
		if uc.Channel != want {
			t.Errorf("%s on channel %q, want %q", uc.Name, uc.Channel, want)
		}
	}
}
