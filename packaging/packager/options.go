// Package packager is orbitctl package: it gathers the agent's components
// (from the update repository through the updater's own verified
// downloads, from a local repository directory, or from files), checks
// that they are programs for the package's platform, lays out the agent
// for the package's OS (packaging.LinuxAgent, MacAgent, WindowsAgent),
// builds it with the format's writer and puts the result at the output
// path only once it is whole.
package packager

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/updater"
)

// Options are orbitctl package's flags, by Fleet's names.
type Options struct {
	Type       string // deb, rpm, pkg, msi
	Arch       string // amd64, arm64
	Identifier string // reverse-DNS [supervisor.DefaultIdentifier]
	// Version is the package's version [the bundled orbit's].
	Version string

	FleetURL string
	// EnrollSecret, or EnrollSecretPath to read it from a file.
	EnrollSecret     string
	EnrollSecretPath string
	FleetCertificate string // PEM CA bundle file, bundled
	Insecure         bool

	UpdateURL string
	// UpdateRoots is the trusted root: root.json inline or its path
	// [the local repository's root.json with LocalRepo].
	UpdateRoots                                   string
	OrbitChannel, OsquerydChannel, DesktopChannel string
	DisableUpdates                                bool
	UpdateInterval                                time.Duration // 0: orbit's default
	FleetDesktop                                  bool
	EnableScripts                                 bool
	OsqueryFlagfile                               string // file, bundled as the flagfile
	OsqueryConfig                                 string // file: standalone mode

	// Output is the package file [a name of the format's kind in the
	// working directory].
	Output string
	// LocalRepo reads the components from a repository directory made by
	// orbitctl updates (DIR or DIR/repository) instead of UpdateURL.
	LocalRepo string
	// OrbitPath, OsquerydPath, DesktopPath bundle these files instead of
	// the repository's targets.
	OrbitPath, OsquerydPath, DesktopPath string

	// SignKey is an OpenPGP secret key to sign a deb or rpm with; its
	// passphrase comes from SignPassphraseEnv [ORBIT_SIGN_PASSPHRASE].
	SignKey           string
	SignPassphraseEnv string
	// AuthenticodeCert and AuthenticodeKey (PEM) sign orbit.exe and the
	// msi.
	AuthenticodeCert, AuthenticodeKey string

	// ModTime stamps every entry (SOURCE_DATE_EPOCH).
	ModTime time.Time
	// Progress gets a line per download.
	Progress io.Writer
}

var (
	identifierRE = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
	// The version every format takes: X.Y.Z with an optional +build or
	// ~pre-release suffix (dpkg and rpm refuse '-'; the msi keeps X.Y.Z).
	versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+([+~][A-Za-z0-9.+~]*)?$`)
)

// goos is the operating system a package type installs on.
func goos(typ string) (string, error) {
	switch typ {
	case "deb", "rpm":
		return "linux", nil
	case "pkg":
		return "darwin", nil
	case "msi":
		return "windows", nil
	}
	return "", fmt.Errorf("unknown package type %q: use --type deb, rpm, pkg or msi", typ)
}

// withDefaults fills the defaults.
func (o Options) withDefaults() Options {
	if o.Identifier == "" {
		o.Identifier = supervisor.DefaultIdentifier
	}
	for _, ch := range []*string{&o.OrbitChannel, &o.OsquerydChannel, &o.DesktopChannel} {
		if *ch == "" {
			*ch = "stable"
		}
	}
	if o.ModTime.IsZero() {
		o.ModTime = time.Now()
	}
	o.ModTime = o.ModTime.UTC().Truncate(time.Second)
	return o
}

// Validate checks the options without the network and without building
// anything: each error is one line that says what to change.
func (o Options) Validate() error {
	o = o.withDefaults()
	hostOS, err := goos(o.Type)
	if err != nil {
		return err
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return fmt.Errorf("unknown arch %q: use --arch amd64 or arm64", o.Arch)
	}
	if _, err := updater.PlatformFor(hostOS, o.Arch); err != nil {
		return err
	}
	if !identifierRE.MatchString(o.Identifier) {
		return fmt.Errorf("--identifier %q must be reverse-DNS, such as com.example.orbit", o.Identifier)
	}
	if o.Version != "" && !versionRE.MatchString(o.Version) {
		return fmt.Errorf("--version %q must be X.Y.Z, optionally followed by +build or ~pre (every package format takes that)", o.Version)
	}
	if err := o.validateFleet(); err != nil {
		return err
	}
	if o.UpdateURL != "" {
		if err := updater.ValidateURL(o.UpdateURL); err != nil {
			return err
		}
	} else if !o.DisableUpdates {
		return errors.New("--update-url is empty: the agents update from it (or pass --disable-updates)")
	}
	for _, ch := range []struct{ flag, v string }{
		{"orbit-channel", o.OrbitChannel}, {"osqueryd-channel", o.OsquerydChannel}, {"desktop-channel", o.DesktopChannel},
	} {
		if err := component.ValidateChannel(ch.v); err != nil {
			return fmt.Errorf("--%s %w", ch.flag, err)
		}
	}
	if err := updater.ValidateInterval(o.UpdateInterval); err != nil {
		return err
	}
	if o.UpdateInterval < 0 {
		return fmt.Errorf("--update-interval %s is negative", o.UpdateInterval)
	}
	if o.DisableUpdates && (hostOS == "darwin" || o.FleetDesktop && hostOS != "windows") {
		what := "macOS osqueryd (osqueryd.app.tar.gz)"
		if hostOS != "darwin" {
			what = "tray app (desktop.tar.gz)"
		}
		return fmt.Errorf("--disable-updates with a %s: the bundled %s is an archive the updater unpacks at the first start; keep updates on and pin the channel (--osqueryd-channel 5.12.1) to hold a version", o.Type, what)
	}
	if o.SignKey != "" && hostOS != "linux" {
		return fmt.Errorf("--sign-key signs deb and rpm packages, not a %s: sign a pkg with productsign on a Mac, an msi with --authenticode-cert", o.Type)
	}
	if (o.AuthenticodeCert == "") != (o.AuthenticodeKey == "") {
		return errors.New("--authenticode-cert and --authenticode-key go together: give both")
	}
	if o.AuthenticodeCert != "" && o.Type != "msi" {
		return fmt.Errorf("--authenticode-cert signs Windows programs and the msi, not a %s", o.Type)
	}
	if o.LocalRepo == "" && !o.allFromFiles() && o.UpdateURL == "" {
		return errors.New("the components come from the update repository: pass --update-url or --local-repo (or every --*-path)")
	}
	if o.UpdateRoots == "" && o.LocalRepo == "" {
		return errors.New("--update-roots is empty: the package carries the trusted root.json the agents verify updates with (print it with `orbitctl updates roots`)")
	}
	if o.Output != "" {
		dir := filepath.Dir(o.Output)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("--output %s: the directory %s does not exist: create it first", o.Output, dir)
		}
		if st, err := os.Stat(o.Output); err == nil && st.IsDir() {
			return fmt.Errorf("--output %s is a directory: give the package's file name", o.Output)
		}
	}
	return nil
}

// validateFleet applies orbit's own rules on the Fleet flags, so a package
// never carries settings the agent would refuse at every start.
func (o Options) validateFleet() error {
	if o.EnrollSecret != "" && o.EnrollSecretPath != "" {
		return errors.New("--enroll-secret and --enroll-secret-path are mutually exclusive: give one")
	}
	hasSecret := o.EnrollSecret != "" || o.EnrollSecretPath != ""
	if o.FleetURL == "" {
		for _, f := range []struct {
			flag string
			set  bool
		}{
			{"enroll-secret", o.EnrollSecret != ""}, {"enroll-secret-path", o.EnrollSecretPath != ""},
			{"fleet-certificate", o.FleetCertificate != ""}, {"insecure", o.Insecure},
			{"enable-scripts", o.EnableScripts}, {"fleet-desktop", o.FleetDesktop},
		} {
			if f.set {
				return fmt.Errorf("--%s needs --fleet-url", f.flag)
			}
		}
		return nil
	}
	if err := fleet.ValidateURL(o.FleetURL); err != nil {
		return err
	}
	if !hasSecret {
		return errors.New("--fleet-url needs an enroll secret: pass --enroll-secret-path (or ORBIT_ENROLL_SECRET) with the secret from Fleet's Add hosts page")
	}
	if o.Insecure && o.FleetCertificate != "" {
		return errors.New("--insecure with --fleet-certificate: give one (the certificate is the safe choice)")
	}
	if o.OsqueryConfig != "" {
		return errors.New("--osquery-config is standalone mode (a local config, no Fleet): it cannot be combined with --fleet-url")
	}
	if strings.IndexFunc(o.EnrollSecret, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return errors.New("--enroll-secret holds a newline or another control character")
	}
	return nil
}

func (o Options) allFromFiles() bool {
	return o.OrbitPath != "" && o.OsquerydPath != "" && (!o.FleetDesktop || o.DesktopPath != "")
}
