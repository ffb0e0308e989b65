package updater

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/internal/httpclient"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/rootdir"
)

// The components as a host of another operating system names them, for a
// package built here for that host (orbitctl package).

// OrbitComponentFor is OrbitComponent on goos.
func OrbitComponentFor(goos, channel string) Component { return orbitFor(goos, channel) }

// OsquerydComponentFor is OsquerydComponent on goos (an app bundle on the
// "macos-app" platform for darwin).
func OsquerydComponentFor(goos, channel string) Component { return osquerydFor(goos, channel) }

// DesktopComponentFor is DesktopComponent on goos.
func DesktopComponentFor(goos, channel string) Component { return desktopFor(goos, channel) }

// TargetName is the component's target in the repository,
// <name>/<platform>/<channel>/<file>, with c.Platform when set, else
// platform.
func (c Component) TargetName(platform string) string {
	if c.Platform != "" {
		platform = c.Platform
	}
	return targetName(c, platform, c.Channel)
}

// IsArchive reports whether the target is a .tar.gz the updater extracts
// on install.
func (c Component) IsArchive() bool { return c.archive() }

// FetchConfig configures Fetch. Zero durations take the updater's
// defaults.
type FetchConfig struct {
	// UpdateURL is the repository base (metadata at /, targets under
	// /targets/).
	UpdateURL string
	// RootJSON is the trusted root the repository's metadata must chain to.
	RootJSON   []byte
	HTTPClient *http.Client // [httpclient.New(httpclient.Config{})]
	// Clock judges metadata expiry [clock.Real()].
	Clock           clock.Clock
	MetadataTimeout time.Duration // [2m]
	DownloadTimeout time.Duration // one target [30m]
	// Progress, when set, gets one line per target as its download starts.
	Progress io.Writer
}

// Fetched is one target Fetch downloaded and verified.
type Fetched struct {
	Name    string // "osqueryd/linux/stable/osqueryd"
	Version string // the target's custom "version", when it has one
	Length  int64
	// Hashes are the signed hashes by algorithm ("sha512"), in hex.
	Hashes map[string]string
	// Path is the file, under Fetch's dir at the target's name.
	Path string
}

// MissingTargetError means the repository's verified metadata has no
// target of that name (no build of a component for the platform and
// channel asked for).
type MissingTargetError struct {
	Target string
	URL    string
}

func (e *MissingTargetError) Error() string {
	return fmt.Sprintf("the repository at %s has no target %s: publish it with `orbitctl updates add`", e.URL, e.Target)
}

// Fetch refreshes the repository's metadata from the trusted root, then
// downloads each named target into dir (at dir/<name>), streamed and
// checked against its signed length and hashes as the updater's own
// downloads are, with no exec check (the targets may be for another
// platform). Metadata is kept in a temporary directory removed on return;
// nothing of a failed download stays in dir.
func Fetch(ctx context.Context, cfg FetchConfig, dir string, names ...string) ([]Fetched, error) {
	if err := ValidateURL(cfg.UpdateURL); err != nil {
		return nil, err
	}
	if err := checkRoot(cfg.RootJSON); err != nil {
		return nil, err
	}
	for _, n := range names {
		if !filepath.IsLocal(filepath.FromSlash(n)) || strings.Contains(n, `\`) || path.Clean(n) != n {
			return nil, fmt.Errorf("target name %q is not a clean relative path", n)
		}
	}
	if err := defaultClients(&cfg.HTTPClient, &cfg.Clock); err != nil {
		return nil, err
	}
	setDefault(&cfg.MetadataTimeout, 2*time.Minute)
	setDefault(&cfg.DownloadTimeout, 30*time.Minute)
	work, err := os.MkdirTemp("", "orbit-fetch-")
	if err != nil {
		return nil, fmt.Errorf("create a metadata directory: %w (check TMPDIR)", err)
	}
	defer os.RemoveAll(work)
	// The layout's root is one level down: its parent is then this run's
	// private directory, which the host-side checks accept.
	layout := rootdir.Layout{Root: filepath.Join(work, "root")}
	for _, d := range []string{layout.Root, layout.TUF(), layout.Staging()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("create a metadata directory: %w", err)
		}
	}
	// The updater's own refresh and download, on a private layout: the
	// same verification, the same limits, one downloader.
	u := &Updater{cfg: Config{
		Layout: layout, UpdateURL: cfg.UpdateURL, RootJSON: cfg.RootJSON, HTTPClient: cfg.HTTPClient,
		Clock: cfg.Clock, MetadataTimeout: cfg.MetadataTimeout, DownloadTimeout: cfg.DownloadTimeout,
	}, log: zerolog.Nop()}
	stats := &netStats{}
	mctx, cancel := context.WithTimeout(ctx, cfg.MetadataTimeout)
	defer cancel()
	tu, err := u.refresh(mctx, stats)
	if err != nil {
		return nil, err
	}
	consistent := tu.GetTrustedMetadataSet().Root.Signed.ConsistentSnapshot

	infos := make([]targetInfo, len(names))
	for i, name := range names {
		tf, err := tu.GetTargetInfo(name)
		if err != nil && strings.HasSuffix(err.Error(), " not found") {
			return nil, &MissingTargetError{Target: name, URL: redact(cfg.UpdateURL)}
		}
		if err != nil {
			return nil, fmt.Errorf("look up target %s: %w", name, err)
		}
		if infos[i], err = newTargetInfo(name, tf); err != nil {
			return nil, err
		}
	}
	var out []Fetched
	ok := false
	defer func() {
		if !ok {
			for _, f := range out {
				os.Remove(f.Path)
			}
		}
	}()
	for _, ti := range infos {
		if cfg.Progress != nil {
			v := ti.Version
			if v == "" {
				v = "(no version)"
			}
			fmt.Fprintf(cfg.Progress, "fetching %s %s, %.1f MiB\n", ti.Name, v, float64(ti.Length)/(1<<20))
		}
		dst := filepath.Join(dir, filepath.FromSlash(ti.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
		}
		tmp, err := u.download(ctx, stats, layout.Staging(), ti, consistent)
		if err != nil {
			return nil, err
		}
		err = os.Rename(tmp.path, dst)
		if err != nil {
			// dir may be on another filesystem than TMPDIR.
			err = safefile.CopyFile(tmp.path, dst, 0o755)
		}
		tmp.Close() // the download's own directory
		if err != nil {
			return nil, fmt.Errorf("move %s into place: %w", ti.Name, err)
		}
		f := Fetched{Name: ti.Name, Version: ti.Version, Length: ti.Length, Hashes: map[string]string{}, Path: dst}
		for alg, h := range ti.Hashes {
			f.Hashes[alg] = hex.EncodeToString(h)
		}
		out = append(out, f)
	}
	ok = true
	return out, nil
}

// defaultClients fills an unset HTTP client (the project's default one) and
// clock (the real one), for New and Fetch alike.
func defaultClients(client **http.Client, clk *clock.Clock) error {
	if *client == nil {
		c, err := httpclient.New(httpclient.Config{})
		if err != nil {
			return err
		}
		*client = c
	}
	if *clk == nil {
		*clk = clock.Real()
	}
	return nil
}
