package packaging

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/updater"
)

// Where the systemd unit goes. Debian (bookworm and the Ubuntus of its
// time) keeps packaged units in /lib/systemd/system: dpkg does not know
// that /lib is an alias of /usr/lib on merged-/usr systems, so Debian
// holds packages off /usr/lib/systemd/system until trixie, and /lib works
// on merged and unmerged hosts alike. rpm distributions use
// /usr/lib/systemd/system (%{_unitdir}); /lib there is a symlink that rpm
// does not own paths under.
const (
	DebUnitDir = "/lib/systemd/system"
	RPMUnitDir = "/usr/lib/systemd/system"
)

// DefaultStopGrace is orbit's --stop-grace default.
const DefaultStopGrace = 10 * time.Second

// Target is one bundled component in the host layout of
// docs/ARCHITECTURE.md: <root>/bin/<Component>/<Platform>/<Channel>/<File>.
type Target struct {
	Component string // "orbit", "osqueryd"
	Platform  string // LinuxPlatform(arch): "linux", "linux-arm64"
	Channel   string // "stable"
	File      string // "orbit", "osqueryd"
	Data      []byte
}

// LinuxPlatform is the update platform of a Go architecture on Linux, as
// the updater names it (updater.DefaultPlatform on that host).
func LinuxPlatform(arch string) (string, error) {
	if arch != "amd64" && arch != "arm64" {
		return "", fmt.Errorf("unknown arch %q: use amd64 or arm64", arch)
	}
	return updater.PlatformFor("linux", arch)
}

// LinuxAgent is the agent as a deb or rpm installs it: the bundled
// components and trusted root under Root, the systemd unit that `orbit
// service install` would write, and /etc/default/<Name>, the root-only
// settings file the unit reads (it holds the enroll secret).
type LinuxAgent struct {
	// Name names the unit (<Name>.service) and the settings file
	// (/etc/default/<Name>): "orbit".
	Name        string
	Description string // the unit's Description=
	// Root is orbit's root directory: "/opt/orbit".
	Root string
	// StopGrace is orbit's --stop-grace (zero: orbit's default, 10s):
	// written as ORBIT_STOP_GRACE and into the unit's TimeoutStopSec, so
	// the two agree.
	StopGrace time.Duration
	// Settings are the other ORBIT_* variables (every orbit flag has
	// one), ORBIT_ENROLL_SECRET included.
	Settings map[string]string
	// TrustedRoot is the TUF root.json, installed as <Root>/tuf/root.json.
	TrustedRoot []byte
	// Targets are the bundled components; one of them is orbit, which
	// the stable path <Root>/bin/orbit/orbit links to and the unit runs.
	Targets []Target
	// RootFiles go under Root as well: the Fleet CA bundle, osquery's
	// flagfile or config, the bundle manifest.
	RootFiles []RootFile
	// Copyright is /usr/share/doc/<Name>/copyright, which Debian policy
	// requires of every deb.
	Copyright []byte
}

var (
	safeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)
	safePathRE = regexp.MustCompile(`^(/[A-Za-z0-9._+-]+)+$`)
	envKeyRE   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

func (a LinuxAgent) check() error {
	if !safeNameRE.MatchString(a.Name) {
		return fmt.Errorf("linux agent: name %q must be lowercase letters, digits, '.', '+' or '-'", a.Name)
	}
	if err := checkUnixRoot(a.Root); err != nil {
		return fmt.Errorf("linux agent: %w", err)
	}
	if len(a.TrustedRoot) == 0 {
		return fmt.Errorf("linux agent: no trusted TUF root: the package must carry root.json")
	}
	if a.StopGrace < 0 {
		return fmt.Errorf("linux agent: negative stop grace %v", a.StopGrace)
	}
	return nil
}

// checkUnixRoot is the rule for the root of a Unix package. The root is
// pasted into the scripts (rm -rf on purge): only plain characters, and
// never a top-level directory.
func checkUnixRoot(root string) error {
	if !safePathRE.MatchString(root) || path.Clean(root) != root || strings.Count(root, "/") < 2 {
		return fmt.Errorf("root %q must be a clean absolute path at least two levels deep (/opt/orbit), of letters, digits and . _ + -", root)
	}
	return nil
}

func (a LinuxAgent) unitPath(format string) (string, error) {
	switch format {
	case "deb":
		return DebUnitDir + "/" + a.Name + ".service", nil
	case "rpm":
		return RPMUnitDir + "/" + a.Name + ".service", nil
	}
	return "", fmt.Errorf("linux agent: unknown format %q: use deb or rpm", format)
}

// EnvFilePath is the settings file the unit reads.
func (a LinuxAgent) EnvFilePath() string { return "/etc/default/" + a.Name }

// StableOrbit is the path the unit runs: a link to the bundled orbit, which
// the updater repoints after a self-update.
func (a LinuxAgent) StableOrbit() string { return a.Root + "/bin/orbit/orbit" }

// Files returns the tree a deb or rpm of the agent installs.
func (a LinuxAgent) Files(format string) ([]File, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	unitPath, err := a.unitPath(format)
	if err != nil {
		return nil, err
	}
	files, err := rootTree{
		join:        func(rel string) string { return strings.TrimSuffix(a.Root+"/"+rel, "/") },
		trustedRoot: a.TrustedRoot, targets: a.Targets, files: a.RootFiles,
		stable: "orbit", link: true,
	}.build()
	if err != nil {
		return nil, fmt.Errorf("linux agent: %w", err)
	}

	grace := a.StopGrace
	if grace == 0 {
		grace = DefaultStopGrace
	}
	unit, err := supervisor.SystemdUnit(supervisor.ServiceConfig{
		Name: a.Name, Description: a.Description, Executable: a.StableOrbit(), StopGrace: grace,
	})
	if err != nil {
		return nil, fmt.Errorf("linux agent: %w", err)
	}
	files = append(files, File{Path: unitPath, Mode: 0o644, Data: []byte(unit)})

	settings := map[string]string{"ORBIT_ROOT_DIR": a.Root, "ORBIT_STOP_GRACE": grace.String()}
	for k, v := range a.Settings {
		if _, fixed := settings[k]; fixed {
			return nil, fmt.Errorf("linux agent: setting %s is derived from the agent's Root and StopGrace: set those instead", k)
		}
		settings[k] = v
	}
	env, err := EnvFile(a.Name, settings)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: a.EnvFilePath(), Mode: 0o600, Data: env, Config: true})

	if format == "deb" {
		if len(a.Copyright) == 0 {
			return nil, fmt.Errorf("linux agent: a deb needs a copyright file (Debian policy 12.5): set Copyright")
		}
		files = append(files,
			File{Path: "/usr/share/doc/" + a.Name + "/copyright", Mode: 0o644, Data: a.Copyright},
			File{Path: "/usr/share/lintian/overrides/" + a.Name, Mode: 0o644, Data: []byte(lintianOverrides(a))},
		)
	}
	return files, nil
}

// lintianOverrides silences the tags that are deliberate in this layout,
// each with its reason; lintian prints the comment with the override.
func lintianOverrides(a LinuxAgent) string {
	root := strings.TrimPrefix(a.Root, "/")
	n := a.Name
	return fmt.Sprintf(`# The agent's root is %[2]s, the layout Fleet's orbit uses: the updater
# installs and rolls back components there and the tooling expects it.
%[1]s: dir-or-file-in-opt [%[2]s/*]
# Holds the enroll secret: readable by root only.
%[1]s: non-standard-file-perm 0600 != 0644 [etc/default/%[1]s]
# Trusted TUF metadata: only root may read or change it.
%[1]s: non-standard-dir-perm 0700 != 0755 [%[2]s/tuf/]
# The bundled binaries are TUF targets: their bytes must match the signed
# hashes for the updater to adopt them, so they cannot be stripped.
%[1]s: unstripped-binary-or-object [%[2]s/bin/*]
# Go programs are statically linked by design.
%[1]s: statically-linked-binary [%[2]s/bin/*]
# The same scripts serve deb and rpm, and must work where systemd is not
# running (images, containers): they call systemctl behind
# [ -d /run/systemd/system ] rather than through deb-systemd-helper.
%[1]s: maintainer-script-calls-systemctl [*]
`, n, root)
}

// Scripts are the agent's hooks. Install enables and starts the service;
// an upgrade or a reinstall restarts it and leaves the node key, the enroll
// state and what the updater installed under Root alone; removal stops and
// disables it and deletes the components orbit itself put under
// Root/bin (the package manager deletes the package's own files); purge
// (rpm: erase) deletes the rest: Root and the settings file. Where systemd
// is not running (a container, a chroot, an image build) nothing is
// started or stopped, and the unit is enabled offline when systemctl is
// there, so it starts at the next boot.
func (a LinuxAgent) Scripts() (Scripts, error) {
	if err := a.check(); err != nil {
		return Scripts{}, err
	}
	unit := a.Name + ".service"
	env := a.EnvFilePath()
	return Scripts{
		AfterInstall: fmt.Sprintf(`unit=%s
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable "$unit"
	if [ "$1" = upgrade ]; then
		systemctl restart "$unit"
	else
		systemctl start "$unit"
	fi
elif command -v systemctl >/dev/null 2>&1; then
	# systemd is installed but not running (an image build, a chroot):
	# enable offline, so the service starts at the next boot.
	systemctl enable "$unit" 2>/dev/null || echo "%[2]s: could not enable $unit; run 'systemctl enable $unit' on the booted host" >&2
fi`, unit, a.Name),
		BeforeRemove: fmt.Sprintf(`unit=%s
if [ -d /run/systemd/system ]; then
	systemctl stop "$unit" || true
fi
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable "$unit" 2>/dev/null || true
fi`, unit),
		AfterRemove: fmt.Sprintf(`if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
# The components the updater installed next to the package's own; the
# node key, enroll state and osquery database stay until a purge.
rm -rf %[1]s/bin %[1]s/staging`, a.Root),
		// The .rpmsave/.rpmnew/.dpkg-* copies hold the enroll secret too.
		AfterPurge: fmt.Sprintf(`rm -rf %[1]s
rm -f %[2]s %[2]s.rpmsave %[2]s.rpmnew %[2]s.dpkg-old %[2]s.dpkg-dist %[2]s.dpkg-new`, a.Root, env),
	}, nil
}

// EnvFile renders settings as the systemd environment file of service
// name: sorted KEY="value" lines that systemd's EnvironmentFile= and sh's
// "." read alike (inside double quotes both take \" \\ \$ and \` as the
// escaped character and nothing else as special).
func EnvFile(name string, settings map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(settings))
	for k, v := range settings {
		if !envKeyRE.MatchString(k) {
			return nil, fmt.Errorf("settings: %q is not a variable name (A-Z, 0-9, _)", k)
		}
		if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("settings: %s holds a newline or another control character", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "# Settings of %s (every orbit flag has an ORBIT_* variable). Readable by\n# root only: it holds the enroll secret.\n", name)
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=\"%s\"\n", k, esc.Replace(settings[k]))
	}
	return []byte(b.String()), nil
}
