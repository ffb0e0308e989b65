package packager

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/authenticode"
	"github.com/orbitagent/orbit/packaging/deb"
	"github.com/orbitagent/orbit/packaging/msi"
	"github.com/orbitagent/orbit/packaging/pkg"
	"github.com/orbitagent/orbit/packaging/rpm"
	"github.com/orbitagent/orbit/updater"
)

// What every package says about itself.
const (
	packageName = "orbit"
	description = "osquery agent supervisor with signed updates and Fleet enrollment\n" +
		"Runs osqueryd, keeps it and itself up to date from a signed TUF\n" +
		"repository, and enrolls the host into Fleet."
	maintainer = "Orbit Maintainers <maintainers@orbitagent.dev>"
	vendor     = "Orbit" // the msi's folder: C:\Program Files\Orbit, orbit's default root
	homepage   = "https://github.com/orbitagent/orbit"
	license    = "Apache-2.0"
	// unixRoot is orbit's root on Linux and macOS (rootdir.DefaultPath).
	unixRoot    = "/opt/orbit"
	serviceName = "orbit"
	displayName = "Orbit osquery"
)

// copyright is the deb's machine-readable /usr/share/doc/orbit/copyright,
// for the year of the build.
const copyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: orbit
Source: ` + homepage + `

Files: *
Copyright: %d The orbit authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.
`

// Result says what Build made.
type Result struct {
	Path       string
	Type, Arch string
	Version    string
	Size       int64
	Components []Bundled
}

// Bundled is one component in the package.
type Bundled struct {
	Target  string // "osqueryd/linux/stable/osqueryd"
	Version string // from the repository; "" for a given file
	Source  string // "repository" or the file given
	Length  int64
}

// job is one build's state.
type job struct {
	o              Options
	goos, platform string
	root           []byte
	settings       packaging.Settings
	parts          []*part
	format         packaging.Format
	signer         *authenticode.Signer
}

// Build makes the package o asks for and writes it to o.Output (or a
// default name in the working directory) through a temporary file in the
// same directory, renamed into place once the package is whole: a failed
// build leaves no file at the output path.
func Build(ctx context.Context, o Options) (*Result, error) {
	j, pk, err := prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := j.format.Build(ctx, pk, &buf); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if j.signer != nil {
		if data, err = j.signer.SignMSI(ctx, data); err != nil {
			return nil, fmt.Errorf("sign the msi: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := j.o.Output
	if out == "" {
		out = j.defaultName()
	}
	if err := safefile.WriteAtomic(out, data, 0o644); err != nil {
		return nil, fmt.Errorf("write the package: %w", err)
	}
	res := &Result{Path: out, Type: j.o.Type, Arch: j.o.Arch, Version: j.o.Version, Size: int64(len(data))}
	for _, p := range j.parts {
		b := Bundled{Target: p.target, Version: p.bundled.Version, Source: "repository", Length: int64(len(p.data))}
		if p.file != "" {
			b.Source = p.file
		}
		res.Components = append(res.Components, b)
	}
	return res, nil
}

// prepare checks o, gathers the components and lays the package out.
func prepare(ctx context.Context, o Options) (*job, *packaging.Package, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	j := &job{o: o.withDefaults()}
	j.goos, _ = goos(j.o.Type)
	j.platform, _ = updater.PlatformFor(j.goos, j.o.Arch)
	if err := j.readInputs(); err != nil {
		return nil, nil, err
	}
	// Keys are read before anything is downloaded: a wrong passphrase
	// fails at once.
	if err := j.setupFormat(); err != nil {
		return nil, nil, err
	}
	if err := j.gather(ctx); err != nil {
		return nil, nil, err
	}
	if j.o.Version == "" {
		for _, p := range j.parts {
			if p.comp.SelfUpdate {
				j.o.Version = p.bundled.Version
			}
		}
		if !versionRE.MatchString(j.o.Version) {
			return nil, nil, fmt.Errorf("--version is needed: the bundled orbit has no usable version (%q) to name the package after", j.o.Version)
		}
	}
	if j.signer != nil {
		for _, p := range j.parts {
			if !p.comp.SelfUpdate {
				continue
			}
			signed, err := j.signer.SignPE(ctx, p.data)
			if err != nil {
				return nil, nil, fmt.Errorf("sign orbit.exe: %w", err)
			}
			// The package's orbit.exe is not the repository's any more:
			// the updater replaces it at its first check unless the
			// repository publishes the same signed file.
			p.data = signed
			p.bundled = updater.BundledFile(p.target, p.bundled.Version, signed)
		}
	}
	pk, err := j.pkg()
	if err != nil {
		return nil, nil, err
	}
	return j, pk, nil
}

func (j *job) setupFormat() error {
	var err error
	switch j.o.Type {
	case "deb":
		j.format, err = deb.New(deb.Config{SignKeyFile: j.o.SignKey, PassphraseEnv: j.o.SignPassphraseEnv})
	case "rpm":
		j.format, err = rpm.New(rpm.Config{SignKeyFile: j.o.SignKey, PassphraseEnv: j.o.SignPassphraseEnv})
	case "pkg":
		j.format, err = pkg.New(pkg.Config{})
	case "msi":
		j.format = &msi.Format{}
	}
	if err != nil {
		return fmt.Errorf("--sign-key: %w", err)
	}
	if j.o.AuthenticodeCert != "" {
		cfg, err := authenticode.ReadConfig(j.o.AuthenticodeCert, j.o.AuthenticodeKey)
		if err != nil {
			return err
		}
		cfg.Description, cfg.URL = displayName, homepage
		if j.signer, err = authenticode.New(cfg); err != nil {
			return err
		}
	}
	return nil
}

func (j *job) defaultName() string {
	v, a := j.o.Version, j.o.Arch
	switch j.o.Type {
	case "deb":
		return packageName + "_" + v + "_" + a + ".deb"
	case "rpm":
		return packageName + "-" + v + "-1." + map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[a] + ".rpm"
	}
	return packageName + "-" + v + "-" + a + "." + j.o.Type
}

// targets are the parts in the host layout, and the bundle manifest.
func (j *job) targets() ([]packaging.Target, packaging.RootFile, error) {
	var ts []packaging.Target
	var manifest updater.Bundle
	for _, p := range j.parts {
		parts := strings.SplitN(p.target, "/", 4)
		ts = append(ts, packaging.Target{Component: parts[0], Platform: parts[1], Channel: parts[2], File: parts[3], Data: p.data})
		manifest.Targets = append(manifest.Targets, p.bundled)
	}
	m, err := manifest.Marshal()
	if err != nil {
		return nil, packaging.RootFile{}, err
	}
	return ts, packaging.RootFile{Path: "bin/bundle.json", Mode: 0o644, Data: m}, nil
}

// pkg lays the agent out for the package's OS.
func (j *job) pkg() (*packaging.Package, error) {
	targets, manifest, err := j.targets()
	if err != nil {
		return nil, err
	}
	p := &packaging.Package{
		Name: packageName, Identifier: j.o.Identifier, Version: j.o.Version, Arch: j.o.Arch,
		Description: description, Maintainer: maintainer, Vendor: vendor, Homepage: homepage, License: license,
		ModTime: j.o.ModTime,
	}
	switch j.goos {
	case "linux":
		a := packaging.LinuxAgent{
			Name: packageName, Description: displayName, Root: unixRoot,
			Settings: j.settings.Env(unixRoot), TrustedRoot: j.root, Targets: targets,
			RootFiles: append(j.settings.Files(false), manifest), Copyright: fmt.Appendf(nil, copyright, j.o.ModTime.Year()),
		}
		if p.Files, err = a.Files(j.o.Type); err != nil {
			return nil, err
		}
		p.Scripts, err = a.Scripts()
	case "darwin":
		a := packaging.MacAgent{
			Identifier: j.o.Identifier, Root: unixRoot, Settings: j.settings, TrustedRoot: j.root,
			Targets: targets, RootFiles: []packaging.RootFile{manifest},
		}
		if p.Files, err = a.Files(); err != nil {
			return nil, err
		}
		p.Scripts, err = a.Scripts()
	case "windows":
		a := packaging.WindowsAgent{
			Name: serviceName, DisplayName: displayName, Description: "Runs osqueryd, keeps it updated and connects it to Fleet",
			InstallDir: msi.InstallDir, Settings: j.settings, TrustedRoot: j.root,
			Targets: targets, RootFiles: []packaging.RootFile{manifest},
		}
		if p.Files, err = a.Files(); err != nil {
			return nil, err
		}
		p.Service, err = a.Service()
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
