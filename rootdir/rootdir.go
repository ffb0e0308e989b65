// Package rootdir names every file orbit keeps under its root directory
// (/opt/orbit, C:\Program Files\Orbit), so the layout lives in one place and
// the supervisor, updater and Fleet client agree on it.
package rootdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// DefaultPath is the root directory used when --root-dir is not given.
func DefaultPath() string {
	if runtime.GOOS == "windows" {
		return `C:\Program Files\Orbit`
	}
	return "/opt/orbit"
}

// Layout resolves paths under one root directory.
type Layout struct {
	Root string
}

// ErrNoRoot is the error for a layout without a root directory.
var ErrNoRoot = errors.New("root directory is empty: pass --root-dir")

// New returns the layout of root, made absolute so that paths handed to
// child processes do not depend on their working directory.
func New(root string) (Layout, error) {
	if root == "" {
		return Layout{}, ErrNoRoot
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return Layout{}, fmt.Errorf("resolve root directory %q: %w", root, err)
	}
	return Layout{Root: abs}, nil
}

// Validate refuses a layout without a root directory (the zero Layout).
func (l Layout) Validate() error {
	if l.Root == "" {
		return ErrNoRoot
	}
	return nil
}

func (l Layout) join(elem ...string) string {
	return filepath.Join(append([]string{l.Root}, elem...)...)
}

// BinDir is where installed targets of a component live:
// bin/<component>/<platform>/<channel>.
func (l Layout) BinDir(component, platform, channel string) string {
	return l.join("bin", component, platform, channel)
}

// Bin is the installed file of a target: bin/<component>/<platform>/<channel>/<file>.
func (l Layout) Bin(component, platform, channel, file string) string {
	return filepath.Join(l.BinDir(component, platform, channel), file)
}

func (l Layout) Staging() string       { return l.join("staging") }
func (l Layout) TUF() string           { return l.join("tuf") }
func (l Layout) NodeKey() string       { return l.join("secret-orbit-node-key.txt") }
func (l Layout) EnrollSecret() string  { return l.join("secret.txt") }
func (l Layout) Identifier() string    { return l.join("identifier") }
func (l Layout) OsqueryFlags() string  { return l.join("osquery.flags") }
func (l Layout) OsqueryDB() string     { return l.join("osquery.db") }
func (l Layout) OsqueryLogDir() string { return l.join("osquery_log") }
func (l Layout) OsqueryPID() string    { return l.join("osquery.pid") }
func (l Layout) State() string         { return l.join("state.json") }
func (l Layout) Lock() string          { return l.join("orbit.lock") }
func (l Layout) FleetConfigCache() string {
	return l.join("fleet-config.json")
}

// SoftwareInstalls holds the private (0700) working directories of
// software installs from Fleet: the downloaded package and its scripts.
func (l Layout) SoftwareInstalls() string { return l.join("software-installs") }

// SoftwareInstallJournal records installs that started and results not yet
// delivered to Fleet (0600), so none is lost or run twice across restarts.
func (l Layout) SoftwareInstallJournal() string { return l.join("software-installs.json") }

// ExtensionsAutoload is the file listing extensions osqueryd loads at start.
func (l Layout) ExtensionsAutoload() string { return l.join("extensions.load") }

// InsecureProxyCert is the certificate of orbit's --insecure TLS proxy
// for osqueryd (osquery/tlsproxy), osqueryd's --tls_server_certs then. It
// is made at every start; its key never reaches the disk.
func (l Layout) InsecureProxyCert() string { return l.join("insecure-proxy.pem") }

// ExtensionsSocket is osqueryd's extension socket. Windows uses a named pipe,
// as osquery does there.
func (l Layout) ExtensionsSocket() string {
	if runtime.GOOS == "windows" {
		return `\\.\pipe\orbit-osquery-extension`
	}
	return l.join("orbit-osquery.em")
}

// Create makes the root directory (0755) and its fixed subdirectories,
// after checking the directories on the way to it (CheckAncestors), so a
// refused root is never created. The tuf directory holds trusted metadata
// and is 0700. Only what Create makes is given its mode; an existing
// directory keeps its own: CheckPermissions refuses a
// loose one instead of silently changing what an admin set up, or hiding
// that someone loosened it.
func (l Layout) Create() error {
	if err := l.CheckAncestors(); err != nil {
		return err
	}
	dirs := []struct {
		path string
		mode os.FileMode
	}{
		{l.Root, 0o755},
		{l.join("bin"), 0o755},
		{l.Staging(), 0o755},
		{l.TUF(), 0o700},
		{l.OsqueryLogDir(), 0o755},
	}
	for _, d := range dirs {
		if err := mkdirTight(d.path, d.mode); err != nil {
			return err
		}
	}
	return nil
}

// mkdirTight creates path and any missing parent, each with exactly its
// mode (Mkdir's is narrowed by the umask: a 077 umask would hide bin/ from
// the tray app's user). Existing directories are left alone.
func mkdirTight(path string, mode os.FileMode) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if parent := filepath.Dir(path); parent != path {
		if err := mkdirTight(parent, 0o755); err != nil {
			return err
		}
	}
	if err := os.Mkdir(path, mode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return fmt.Errorf("create %s: %w (check that orbit runs as root and the disk is writable)", path, err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("set mode of %s: %w", path, err)
		}
	}
	return nil
}
