package packaging

import (
	"strings"
	"time"
)

// Settings are the orbit flags a package sets, by meaning. The files they
// name (the Fleet CA bundle, osquery's flagfile and config, on macOS and
// Windows the enroll secret) are bundled under the agent's root, and the
// flags point there.
type Settings struct {
	FleetURL     string
	EnrollSecret string
	// FleetCertificate is a PEM CA bundle, bundled as <root>/fleet.pem.
	FleetCertificate []byte
	Insecure         bool
	UpdateURL        string
	// UpdateRoots names the bundled <root>/tuf/root.json as the trusted
	// root.
	UpdateRoots                                   bool
	OrbitChannel, OsquerydChannel, DesktopChannel string
	DisableUpdates                                bool
	UpdateInterval                                time.Duration // 0: orbit's default
	FleetDesktop                                  bool
	EnableScripts                                 bool
	// OsqueryFlagfile is bundled as <root>/osquery.flags, the flagfile
	// orbit always gives osqueryd. In Fleet mode the server's startup
	// flags replace it, as with Fleet's agent.
	OsqueryFlagfile []byte
	// OsqueryConfig is standalone mode's osquery config, bundled as
	// <root>/osquery.conf.
	OsqueryConfig []byte
}

// The files Settings bundle, relative to the root.
const (
	FleetCertificateFile = "fleet.pem"
	OsqueryFlagfileFile  = "osquery.flags"
	OsqueryConfigFile    = "osquery.conf"
	EnrollSecretFile     = "secret.txt" // rootdir.Layout.EnrollSecret
	TrustedRootFile      = "tuf/root.json"
)

// flag is one orbit flag and its value.
type flag struct{ name, value string }

// flags are the settings as orbit's flags, in a fixed order. join roots a
// bundled file's path; secretFile names the enroll secret's file (false
// leaves the secret out: Linux passes it in the environment file).
func (s Settings) flags(join func(rel string) string, secretFile bool) []flag {
	var out []flag
	add := func(name, value string) { out = append(out, flag{name, value}) }
	on := func(name string, b bool) {
		if b {
			add(name, "true")
		}
	}
	if s.FleetURL != "" {
		add("fleet-url", s.FleetURL)
	}
	if s.EnrollSecret != "" && secretFile {
		add("enroll-secret-path", join(EnrollSecretFile))
	}
	if len(s.FleetCertificate) > 0 {
		add("fleet-certificate", join(FleetCertificateFile))
	}
	on("insecure", s.Insecure)
	if s.UpdateURL != "" {
		add("update-url", s.UpdateURL)
	}
	if s.UpdateRoots {
		add("update-roots", join(TrustedRootFile))
	}
	desktop := ""
	if s.FleetDesktop {
		desktop = s.DesktopChannel
	}
	for _, ch := range []flag{{"orbit-channel", s.OrbitChannel}, {"osqueryd-channel", s.OsquerydChannel}, {"desktop-channel", desktop}} {
		if ch.value != "" {
			add(ch.name, ch.value)
		}
	}
	on("disable-updates", s.DisableUpdates)
	if s.UpdateInterval != 0 {
		add("update-interval", s.UpdateInterval.String())
	}
	on("fleet-desktop", s.FleetDesktop)
	on("enable-scripts", s.EnableScripts)
	if len(s.OsqueryConfig) > 0 {
		add("osquery-config", join(OsqueryConfigFile))
	}
	return out
}

// Env is the settings as orbit's ORBIT_* variables (every flag has one),
// the enroll secret among them, for a root-only environment file.
func (s Settings) Env(root string) map[string]string {
	env := map[string]string{}
	for _, f := range s.flags(func(rel string) string { return root + "/" + rel }, false) {
		env["ORBIT_"+strings.ToUpper(strings.ReplaceAll(f.name, "-", "_"))] = f.value
	}
	if s.EnrollSecret != "" {
		env["ORBIT_ENROLL_SECRET"] = s.EnrollSecret
	}
	return env
}

// Args is the settings as flags for a service definition that anyone may
// read (the launchd plist, the Windows service's command line): the
// enroll secret is a root-only file named by --enroll-secret-path.
func (s Settings) Args(join func(rel string) string) []string {
	var out []string
	for _, f := range s.flags(join, true) {
		out = append(out, "--"+f.name+"="+f.value)
	}
	return out
}

// Files are the files the settings bundle; secretFile adds the enroll
// secret's (0600).
func (s Settings) Files(secretFile bool) []RootFile {
	var out []RootFile
	if s.EnrollSecret != "" && secretFile {
		out = append(out, RootFile{Path: EnrollSecretFile, Mode: 0o600, Data: []byte(s.EnrollSecret + "\n")})
	}
	if len(s.FleetCertificate) > 0 {
		out = append(out, RootFile{Path: FleetCertificateFile, Mode: 0o644, Data: s.FleetCertificate})
	}
	if len(s.OsqueryFlagfile) > 0 {
		out = append(out, RootFile{Path: OsqueryFlagfileFile, Mode: 0o644, Data: s.OsqueryFlagfile})
	}
	if len(s.OsqueryConfig) > 0 {
		// Packs may name internal hosts or carry tokens: osqueryd (root)
		// is its only reader.
		out = append(out, RootFile{Path: OsqueryConfigFile, Mode: 0o600, Data: s.OsqueryConfig})
	}
	return out
}
