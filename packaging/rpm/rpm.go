// Package rpm builds RPM packages of the agent with nfpm
// (github.com/goreleaser/nfpm/v2), in Go, on any OS.
//
// rpm passes its scriptlets the number of instances of the package that
// will be installed once the step is done, and on an upgrade runs, in
// order: the new package's %pre and %post, then the OLD package's %preun
// and %postun. So the hooks are decoded as:
//
//	%pre    $1 = 1         BeforeInstall install
//	%pre    $1 >= 2        BeforeInstall upgrade (a reinstall too)
//	%post   $1 = 1 / >= 2  AfterInstall install / upgrade
//	%preun  $1 = 0         BeforeRemove
//	%postun $1 = 0         AfterRemove, then AfterPurge (rpm has no purge)
//
// and %preun/%postun do nothing when $1 >= 1: that is the old package
// leaving during an upgrade, after the new one is in place, and anything
// it removed (the service file, the settings) would be the new package's.
// Config files become %config(noreplace); the changelog has one entry
// for the version, dated ModTime. The payload is gzip-compressed
// and every header field that could vary is fixed (build time = ModTime,
// build host "localhost"), so the same Package gives the same bytes.
//
// With a signing key the header and payload carry an OpenPGP signature
// that `rpm --checksig` verifies once the public key is imported.
package rpm

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	nfpmrpm "github.com/goreleaser/nfpm/v2/rpm"

	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/internal/nfpmbuild"
)

// Config is the format's signing setup: SignKeyFile, an OpenPGP secret
// key (empty: unsigned), and PassphraseEnv, the environment variable
// holding its passphrase (default ORBIT_SIGN_PASSPHRASE), never a flag.
type Config = nfpmbuild.Config

// Format writes rpm packages. It implements packaging.Format.
type Format = nfpmbuild.Format

// New returns the rpm format. A signing key is read and decrypted here, so
// a wrong key or passphrase fails before any package is built.
func New(c Config) (*Format, error) {
	return nfpmbuild.New(nfpmbuild.Kind{
		Name:     "rpm",
		Arch:     map[string]string{"amd64": "x86_64", "arm64": "aarch64"},
		Packager: nfpmrpm.DefaultRPM,
		Prepare:  prepare,
	}, c)
}

// prepare fixes every header field that could vary and adds a changelog.
func prepare(p *packaging.Package) (*packaging.Package, nfpmbuild.Spec, error) {
	changelog, err := json.Marshal([]map[string]any{{
		"semver": p.Version + "-1", "date": p.ModTime.UTC().Format(time.RFC3339), "packager": p.Maintainer,
		"changes": []map[string]string{{"note": p.Name + " " + p.Version}},
	}})
	if err != nil {
		return nil, nfpmbuild.Spec{}, fmt.Errorf("rpm: changelog: %w", err)
	}
	return p, nfpmbuild.Spec{
		Scripts:   Scripts(p.Scripts),
		Changelog: changelog,
		Tune: func(info *nfpm.Info) {
			info.Release = "1"
			info.RPM.Group = "System Environment/Daemons"
			info.RPM.BuildHost = "localhost"
			info.RPM.Compression = "gzip"
			info.RPM.Summary = strings.SplitN(strings.TrimSpace(p.Description), "\n", 2)[0]
			info.RPM.Packager = p.Maintainer
		},
	}, nil
}

// Scripts assembles rpm's four scriptlets from the hooks.
func Scripts(s packaging.Scripts) nfpmbuild.Scripts {
	return nfpmbuild.Scripts{
		PreInstall: packaging.MaintainerScript("rpm %pre", `if [ "$1" -ge 2 ] 2>/dev/null; then
	before_install upgrade
else
	before_install install
fi`, packaging.Hook{Func: "before_install", Body: s.BeforeInstall}),
		PostInstall: packaging.MaintainerScript("rpm %post", `if [ "$1" -ge 2 ] 2>/dev/null; then
	after_install upgrade
else
	after_install install
fi`, packaging.Hook{Func: "after_install", Body: s.AfterInstall}),
		PreRemove: packaging.MaintainerScript("rpm %preun", `# $1 >= 1: the old package leaving an upgrade; nothing to do.
if [ "$1" = 0 ]; then
	before_remove
fi`, packaging.Hook{Func: "before_remove", Body: s.BeforeRemove}),
		PostRemove: packaging.MaintainerScript("rpm %postun", `# $1 >= 1: the old package leaving an upgrade, after the new one's
# %post; removing anything here would remove the new package's files.
if [ "$1" = 0 ]; then
	after_remove
	after_purge
fi`, packaging.Hook{Func: "after_remove", Body: s.AfterRemove}, packaging.Hook{Func: "after_purge", Body: s.AfterPurge}),
	}
}
