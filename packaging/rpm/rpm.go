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
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	nfpmrpm "github.com/goreleaser/nfpm/v2/rpm"

	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/internal/nfpmbuild"
	"github.com/orbitagent/orbit/packaging/internal/pgpsign"
)

// Config tunes the format.
type Config struct {
	// SignKeyFile is an OpenPGP secret key (gpg --export-secret-keys,
	// armored or binary) to sign the package with; empty builds it unsigned.
	SignKeyFile string
	// PassphraseEnv names the environment variable holding the key's
	// passphrase (default ORBIT_SIGN_PASSPHRASE). A passphrase is never a
	// flag value: argv is visible to every local user.
	PassphraseEnv string
}

// Format writes rpm packages. It implements packaging.Format.
type Format struct {
	signer *pgpsign.Signer
}

var _ packaging.Format = (*Format)(nil)

// New returns the rpm format. A signing key is read and decrypted here, so
// a wrong key or passphrase fails before any package is built.
func New(c Config) (*Format, error) {
	s, err := nfpmbuild.Signer("rpm", c.SignKeyFile, c.PassphraseEnv)
	if err != nil {
		return nil, err
	}
	return &Format{signer: s}, nil
}

// Name is "rpm".
func (*Format) Name() string { return "rpm" }

// rpmArch maps Go architectures to rpm's.
var rpmArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}

// Build writes the rpm for p to w; bad input writes nothing.
// Package.Service is not used: the unit is one of the Files and the hooks
// start it.
func (f *Format) Build(ctx context.Context, p *packaging.Package, w io.Writer) error {
	if err := nfpmbuild.CheckPackage("rpm", p); err != nil {
		return err
	}
	arch, ok := rpmArch[p.Arch]
	if !ok {
		return fmt.Errorf("rpm: unknown arch %q: use amd64 or arm64", p.Arch)
	}
	if err := nfpmbuild.CheckFiles("rpm", p); err != nil {
		return err
	}
	changelog, err := json.Marshal([]map[string]any{{
		"semver": p.Version + "-1", "date": p.ModTime.UTC().Format(time.RFC3339), "packager": p.Maintainer,
		"changes": []map[string]string{{"note": p.Name + " " + p.Version}},
	}})
	if err != nil {
		return fmt.Errorf("rpm: changelog: %w", err)
	}
	spec := nfpmbuild.Spec{
		Format:    "rpm",
		Arch:      arch,
		Scripts:   Scripts(p.Scripts),
		Sign:      nfpmbuild.SignAt(f.signer, p.ModTime, false),
		Changelog: changelog,
		Tune: func(info *nfpm.Info) {
			info.Release = "1"
			info.RPM.Group = "System Environment/Daemons"
			info.RPM.BuildHost = "localhost"
			info.RPM.Compression = "gzip"
			info.RPM.Summary = strings.SplitN(strings.TrimSpace(p.Description), "\n", 2)[0]
			info.RPM.Packager = p.Maintainer
		},
	}
	return nfpmbuild.Build(ctx, p, spec, nfpmrpm.DefaultRPM, w)
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
