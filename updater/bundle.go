package updater

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/rootdir"
)

// A package bundles each component as its target's bytes at the target's
// path, bin/<name>/<platform>/<channel>/<file>, and lists them in the
// bundle manifest with their signed lengths and hashes. Plain files are
// adopted from their place as they are (recoverAndSeed; the first check
// compares them with the repository). An archive must be extracted before
// it can run, and nothing but its hashes tells which release it is, so the
// updater adopts a bundled archive at its first check, before it asks the
// network: it verifies the file against the manifest and installs it as
// it installs a download (extract into a new directory, exec check,
// state). The first check that reaches the repository then finds the same
// target and hash installed and downloads nothing.

// maxBundleManifest bounds the manifest: a few hundred bytes per target.
const maxBundleManifest = 256 << 10

// BundleManifestPath is where a package puts its bundle manifest:
// <root>/bin/bundle.json (no component is called bundle.json).
func BundleManifestPath(l rootdir.Layout) string { return filepath.Join(l.Root, "bin", "bundle.json") }

// Bundle is the bundle manifest.
type Bundle struct {
	Targets []BundledTarget `json:"targets"`
}

// BundledTarget is one bundled target; its file is bin/<Name>.
type BundledTarget struct {
	Name    string `json:"name"` // "desktop/linux/stable/desktop.tar.gz"
	Version string `json:"version,omitempty"`
	Length  int64  `json:"length"`
	// Hashes are by algorithm ("sha512", "sha256"), in hex: the signed
	// ones for a target fetched from the repository.
	Hashes map[string]string `json:"hashes"`
}

// BundledFile describes data bundled as target name, hashed here: for a
// file that did not come from the repository (orbitctl package
// --desktop-path). The repository's own target replaces it at the first
// check if their hashes differ.
func BundledFile(name, version string, data []byte) BundledTarget {
	s256, s512 := sha256.Sum256(data), sha512.Sum512(data)
	return BundledTarget{Name: name, Version: version, Length: int64(len(data)),
		Hashes: map[string]string{"sha256": hex.EncodeToString(s256[:]), "sha512": hex.EncodeToString(s512[:])}}
}

// Marshal renders the manifest with its targets sorted by name, so the
// same targets give the same bytes.
func (b Bundle) Marshal() ([]byte, error) {
	seen := map[string]bool{}
	for _, t := range b.Targets {
		if seen[t.Name] {
			return nil, fmt.Errorf("bundle manifest: target %s is listed twice", t.Name)
		}
		seen[t.Name] = true
		if _, err := t.info(); err != nil {
			return nil, fmt.Errorf("bundle manifest: %w", err)
		}
	}
	sorted := Bundle{Targets: append([]BundledTarget(nil), b.Targets...)}
	sort.Slice(sorted.Targets, func(i, j int) bool { return sorted.Targets[i].Name < sorted.Targets[j].Name })
	data, err := json.MarshalIndent(sorted, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// info is the target as the verified metadata would describe it.
func (t BundledTarget) info() (targetInfo, error) {
	tf := &metadata.TargetFiles{Length: t.Length, Hashes: metadata.Hashes{}}
	for alg, h := range t.Hashes {
		b, err := hex.DecodeString(h)
		if err != nil {
			return targetInfo{}, fmt.Errorf("target %s: %s hash is not hex", t.Name, alg)
		}
		tf.Hashes[alg] = b
	}
	ti, err := newTargetInfo(t.Name, tf)
	ti.Version = t.Version
	return ti, err
}

// readBundle reads the manifest; a missing one is an empty manifest.
func readBundle(l rootdir.Layout) (Bundle, error) {
	var b Bundle
	data, err := safefile.ReadLimited(BundleManifestPath(l), maxBundleManifest)
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return b, err
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("bundle manifest %s: %w", BundleManifestPath(l), err)
	}
	return b, nil
}

// adoptBundled installs the bundled archives of the components that have
// none installed (a first start, or one whose extracted directory is
// gone) from their bundled files, when they match the manifest. A bundle
// that fails is tried once per run and never counts against the target's
// hash: it is the package's fault, not the release's, and the normal
// download of the same target must stay possible. Called under checkMu,
// before the network is asked.
func (u *Updater) adoptBundled(ctx context.Context) {
	var bundle *Bundle
	for _, c := range u.components() {
		if !c.archive() {
			continue
		}
		u.stMu.Lock()
		rec := u.st.Components[c.Name]
		u.stMu.Unlock()
		if rec != nil && exists(rec.Path) {
			continue
		}
		if bundle == nil {
			b, err := readBundle(u.cfg.Layout)
			if err != nil {
				u.log.Warn().Err(err).Msg("bundle manifest unreadable, bundled archives are not adopted")
				return
			}
			bundle = &b
		}
		platform := u.platform(c)
		name := targetName(c, platform, c.Channel)
		var bt *BundledTarget
		for i := range bundle.Targets {
			if bundle.Targets[i].Name == name {
				bt = &bundle.Targets[i]
			}
		}
		if bt == nil {
			continue
		}
		log := u.log.With().Str("component", string(c.Name)).Str("target", name).Logger()
		ti, err := bt.info()
		if err != nil {
			log.Warn().Err(err).Msg("bundle manifest entry unusable")
			continue
		}
		if u.bundleTried[c.Name] {
			continue
		}
		u.stMu.Lock()
		resting, _ := u.st.blocked(ti.Hash, u.cfg.Clock.Now(), u.cfg.Clock.Mono())
		u.stMu.Unlock()
		if resting {
			continue
		}
		err = u.adoptArchive(ctx, c, ti, platform)
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			if u.bundleTried == nil {
				u.bundleTried = map[component.Name]bool{}
			}
			u.bundleTried[c.Name] = true
			log.Error().Err(err).Msg("bundled archive not adopted; the updater downloads the target instead")
			continue
		}
		log.Info().Str("version", ti.Version).Msg("bundled archive adopted")
	}
}

func (u *Updater) adoptArchive(ctx context.Context, c Component, ti targetInfo, platform string) error {
	src := c.Path(u.cfg.Layout, u.cfg.Platform)
	if !fileMatches(src, ti) {
		return fmt.Errorf("bundled %s does not match the length and hashes in %s", src, BundleManifestPath(u.cfg.Layout))
	}
	binDir := u.cfg.Layout.BinDir(string(c.Name), platform, c.Channel)
	rec := &installed{Target: ti.Name, Channel: c.Channel, Platform: platform, Version: ti.Version, Hash: ti.Hash, Length: ti.Length}
	if err := u.installArchive(ctx, c, ti, src, binDir, rec); err != nil {
		return err
	}
	if err := u.commitInstall(c, rec, false); err != nil {
		return err
	}
	u.cleanArchives(binDir, c, rec)
	return nil
}
