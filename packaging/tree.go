package packaging

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// RootFile is a file a package puts under the agent's root directory, by
// its slash path relative to the root ("fleet.pem", "bin/bundle.json").
type RootFile struct {
	Path string
	Mode fs.FileMode
	Data []byte
}

// rootTree is the part of the installed tree every OS shares: the root,
// bin/, tuf/ (0700) with the trusted root.json, each target at
// bin/<component>/<platform>/<channel>/<file>, the stable orbit the
// service runs, and the root files.
type rootTree struct {
	// join turns a path relative to the root ("" is the root) into a
	// File.Path: absolute for Unix formats, relative for the msi.
	join        func(rel string) string
	trustedRoot []byte
	targets     []Target
	files       []RootFile
	// stable is the stable orbit's name under bin/orbit ("orbit",
	// "orbit.exe"); link makes it a relative symlink to the bundled
	// orbit, as the updater writes it (so it recognises the link), else
	// a copy (the msi cannot carry a link; the updater copies on Windows).
	stable string
	link   bool
}

// build returns the tree's files.
func (t rootTree) build() ([]File, error) {
	var files []File
	// Relative paths (the msi's) have no entry for the root: the install
	// folder is the installer's own.
	if root := t.join(""); root != "" {
		files = append(files, File{Path: root, Mode: fs.ModeDir | 0o755})
	}
	files = append(files,
		File{Path: t.join("bin"), Mode: fs.ModeDir | 0o755},
		File{Path: t.join("tuf"), Mode: fs.ModeDir | 0o700},
	)
	if len(t.trustedRoot) > 0 {
		files = append(files, File{Path: t.join("tuf/root.json"), Mode: 0o644, Data: t.trustedRoot})
	}
	var orbit string
	var orbitData []byte
	for _, tg := range t.targets {
		for _, part := range []string{tg.Component, tg.Platform, tg.Channel, tg.File} {
			if !safeNameRE.MatchString(part) {
				return nil, fmt.Errorf("target %s/%s/%s/%s: each part must be lowercase letters, digits, '.', '+' or '-'", tg.Component, tg.Platform, tg.Channel, tg.File)
			}
		}
		rel := tg.Platform + "/" + tg.Channel + "/" + tg.File
		// An archive is the target's bytes, extracted by the updater (see
		// updater.Bundle); only programs are executable.
		mode := fs.FileMode(0o755)
		if strings.HasSuffix(tg.File, ".tar.gz") {
			mode = 0o644
		}
		files = append(files, File{Path: t.join("bin/" + tg.Component + "/" + rel), Mode: mode, Data: tg.Data})
		if tg.Component == "orbit" {
			if orbit != "" {
				return nil, fmt.Errorf("two orbit targets (%s and %s): bundle one", orbit, rel)
			}
			orbit, orbitData = rel, tg.Data
		}
	}
	stable := t.join("bin/orbit/" + t.stable)
	if orbit == "" {
		return nil, fmt.Errorf("no orbit target: the service runs %s, which must be a bundled orbit", stable)
	}
	if t.link {
		files = append(files, File{Path: stable, Mode: fs.ModeSymlink | 0o777, LinkTarget: orbit})
	} else {
		files = append(files, File{Path: stable, Mode: 0o755, Data: orbitData})
	}
	for _, f := range t.files {
		if f.Path == "" || path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || strings.HasPrefix(f.Path, "../") {
			return nil, fmt.Errorf("root file %q must be a clean path relative to the root", f.Path)
		}
		files = append(files, File{Path: t.join(f.Path), Mode: f.Mode, Data: f.Data})
	}
	return files, nil
}
