// Package packaging builds the installers of the agent (deb, rpm, pkg, msi)
// from one description of what the host gets. Each format lives in a package
// of its own behind the small Format interface, as nfpm does, so the layout,
// the settings file and the service definition are decided once, here, and
// every format only translates them.
package packaging

import (
	"context"
	"io"
	"io/fs"
	"time"
)

// Format writes one kind of installer.
type Format interface {
	// Name is the --type value: "deb", "rpm", "pkg" or "msi".
	Name() string
	// Build writes the installer for p to w. It must be deterministic: the
	// same Package (ModTime included) gives the same bytes.
	Build(ctx context.Context, p *Package, w io.Writer) error
}

// Package is what an installer carries and does.
type Package struct {
	// Name is the package name ("orbit").
	Name string
	// Identifier is reverse-DNS ("com.example.orbit"): the launchd label,
	// the pkg identifier, and the seed of the msi's names and codes.
	Identifier string
	// Version is the package's version ("1.2.3").
	Version string
	// Arch is the Go architecture: "amd64" or "arm64".
	Arch        string
	Description string
	Maintainer  string // "Name <email>"
	Vendor      string
	Homepage    string
	License     string
	// ModTime stamps every entry and header (SOURCE_DATE_EPOCH).
	ModTime time.Time
	// Files is the tree the package installs, in any order; formats sort
	// it themselves.
	Files []File
	// Scripts are the hooks run at install, upgrade and removal (deb,
	// rpm, pkg), each format calling them from its own scripts.
	Scripts Scripts
	// Service is the system service the package registers (msi: through
	// ServiceInstall; elsewhere the definition is one of Files and the
	// scripts start it).
	Service Service
}

// File is one entry of the installed tree.
type File struct {
	// Path is where it lands on the host, slash-separated. Unix formats
	// take absolute paths ("/opt/orbit/bin/orbit/linux/stable/orbit"); the
	// msi takes paths relative to its install folder ("bin/orbit/...").
	Path string
	// Mode holds the permission bits and fs.ModeDir or fs.ModeSymlink.
	Mode fs.FileMode
	// Data is the content of a regular file.
	Data []byte
	// LinkTarget is a symlink's target, as written.
	LinkTarget string
	// Config marks a settings file that an upgrade must not overwrite
	// (deb conffile, rpm %config(noreplace)).
	Config bool
	// Owner and Group are names; empty means root and the format's default
	// group (root; wheel/admin on macOS per the pkg format).
	Owner, Group string
}

// Scripts say what the package does when it is installed, upgraded and
// removed, by meaning rather than by one format's script slots: deb, rpm
// and pkg call their scripts with different arguments and in different
// orders (on an upgrade rpm runs the OLD package's %preun and %postun after
// the new one's %post; dpkg passes configure/upgrade/remove/purge), so each
// format decodes its own arguments and calls these hooks.
//
// Each hook is the body of a POSIX sh function (no #! line) that the
// format's script defines and calls under set -e; empty means nothing to
// do. A hook that fails fails the package operation.
type Scripts struct {
	// BeforeInstall runs before the files are unpacked. $1 is "install"
	// on a first install and "upgrade" when a version (the same one, for
	// a reinstall) is already installed. pkg always passes "install":
	// the macOS installer does not tell the two apart; its own arguments
	// follow ($4 is the target volume).
	BeforeInstall string
	// AfterInstall runs once the files are in place, with $1 as for
	// BeforeInstall.
	AfterInstall string
	// BeforeRemove runs before a removal deletes the package's files; not
	// on an upgrade or a reinstall.
	BeforeRemove string
	// AfterRemove runs after a removal has deleted the package's files;
	// not on an upgrade or a reinstall.
	AfterRemove string
	// AfterPurge runs when what a removal keeps (settings, state) must go
	// as well: deb's purge. rpm has no purge, so its erase runs
	// AfterRemove and then AfterPurge. pkg has no removal at all and
	// ignores the three removal hooks.
	AfterPurge string
}

// Service is the agent as a system service.
type Service struct {
	Name        string // "orbit"
	DisplayName string
	Description string
	// Executable is the installed path of the binary the service runs
	// (for the msi, relative to the install folder).
	Executable string
	// Args follow the executable; they never carry a secret.
	Args []string
}
