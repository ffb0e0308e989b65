// Package deb builds Debian packages of the agent with nfpm
// (github.com/goreleaser/nfpm/v2), in Go, on any OS.
//
// The Package's hooks become dpkg's maintainer scripts, decoded from
// dpkg's arguments (Debian policy, chapter 6):
//
//	preinst install [old]         BeforeInstall install
//	preinst upgrade old           BeforeInstall upgrade (a reinstall too)
//	postinst configure ""         AfterInstall install
//	postinst configure old        AfterInstall upgrade (a reinstall, or an
//	                              install over a removed-not-purged one)
//	postinst abort-*              AfterInstall upgrade (this version stays:
//	                              bring its service back)
//	prerm remove                  BeforeRemove
//	postrm remove                 AfterRemove
//	postrm purge                  AfterPurge
//
// and nothing on prerm/postrm upgrade, so an upgrade never runs the old
// package's removal. Config files become conffiles (they must be under
// /etc). The data and control archives are gzip-compressed, which every
// dpkg reads; their entries are stamped with the Package's ModTime, so the
// same Package gives the same bytes.
//
// With a signing key the package carries a _gpgorigin member: an armored
// detached OpenPGP signature over debian-binary, control.tar.gz and
// data.tar.gz concatenated, which debsig-verify checks.
package deb

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	nfpmdeb "github.com/goreleaser/nfpm/v2/deb"

	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/internal/nfpmbuild"
)

// Config is the format's signing setup: SignKeyFile, an OpenPGP secret
// key (empty: unsigned), and PassphraseEnv, the environment variable
// holding its passphrase (default ORBIT_SIGN_PASSPHRASE), never a flag.
type Config = nfpmbuild.Config

// Format writes deb packages. It implements packaging.Format.
type Format = nfpmbuild.Format

// New returns the deb format. A signing key is read and decrypted here, so
// a wrong key or passphrase fails before any package is built.
func New(c Config) (*Format, error) {
	return nfpmbuild.New(nfpmbuild.Kind{
		Name:     "deb",
		Arch:     map[string]string{"amd64": "amd64", "arm64": "arm64"},
		Armored:  true,
		Packager: nfpmdeb.Default,
		Prepare:  prepare,
	}, c)
}

// prepare adds what Debian asks of a package and is not in the Package.
func prepare(p *packaging.Package) (*packaging.Package, nfpmbuild.Spec, error) {
	for _, file := range p.Files {
		if file.Config && !strings.HasPrefix(file.Path, "/etc/") {
			return nil, nfpmbuild.Spec{}, fmt.Errorf("deb: %s is a config file outside /etc: dpkg conffiles live under /etc", file.Path)
		}
	}
	p, err := withChangelog(p)
	if err != nil {
		return nil, nfpmbuild.Spec{}, err
	}
	return p, nfpmbuild.Spec{
		Scripts: Scripts(p.Scripts),
		Tune: func(info *nfpm.Info) {
			info.Section = "admin"
			info.Priority = "optional"
			info.Deb.Compression = "gzip"
		},
	}, nil
}

// Scripts assembles dpkg's four maintainer scripts from the hooks.
func Scripts(s packaging.Scripts) nfpmbuild.Scripts {
	return nfpmbuild.Scripts{
		PreInstall: packaging.MaintainerScript("deb preinst", `case "$1" in
install) before_install install ;;
upgrade) before_install upgrade ;;
esac`, packaging.Hook{Func: "before_install", Body: s.BeforeInstall}),
		PostInstall: packaging.MaintainerScript("deb postinst", `case "$1" in
configure)
	if [ -n "$2" ]; then after_install upgrade; else after_install install; fi ;;
abort-upgrade|abort-remove|abort-deconfigure)
	# The upgrade or removal failed and this version stays installed.
	after_install upgrade ;;
esac`, packaging.Hook{Func: "after_install", Body: s.AfterInstall}),
		PreRemove: packaging.MaintainerScript("deb prerm", `case "$1" in
remove) before_remove ;;
esac`, packaging.Hook{Func: "before_remove", Body: s.BeforeRemove}),
		PostRemove: packaging.MaintainerScript("deb postrm", `case "$1" in
remove) after_remove ;;
purge) after_purge ;;
esac`, packaging.Hook{Func: "after_remove", Body: s.AfterRemove}, packaging.Hook{Func: "after_purge", Body: s.AfterPurge}),
	}
}

// withChangelog returns p with /usr/share/doc/<name>/changelog.gz, which
// Debian policy (12.7) asks of every native package, unless p has one: a
// single entry for this version, dated ModTime, gzip'd at maximum
// compression with no name or time in its header (so it is reproducible).
func withChangelog(p *packaging.Package) (*packaging.Package, error) {
	doc := "/usr/share/doc/" + p.Name + "/"
	for _, f := range p.Files {
		if f.Path == doc+"changelog.gz" || f.Path == doc+"changelog.Debian.gz" {
			return p, nil
		}
	}
	entry := fmt.Sprintf("%s (%s) stable; urgency=medium\n\n  * %s %s.\n\n -- %s  %s\n",
		p.Name, p.Version, p.Name, p.Version, p.Maintainer, p.ModTime.UTC().Format(time.RFC1123Z))
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write([]byte(entry)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	q := *p
	q.Files = append(append([]packaging.File(nil), p.Files...),
		packaging.File{Path: doc + "changelog.gz", Mode: 0o644, Data: buf.Bytes()})
	return &q, nil
}
