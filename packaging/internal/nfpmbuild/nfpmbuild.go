// Package nfpmbuild is what the deb and rpm formats share: it checks a
// packaging.Package as a Linux package, stages its in-memory files where
// nfpm reads them (nfpm takes file paths, not bytes), and runs nfpm's
// packager with the format's own arch names, scripts and signer. The
// package is built in memory and written out only once it is whole, so a
// failed build writes nothing.
package nfpmbuild

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/binfmt"
	"github.com/orbitagent/orbit/packaging/internal/pgpsign"
)

// Config is what a deb or rpm format is constructed with.
type Config struct {
	// SignKeyFile is an OpenPGP secret key (gpg --export-secret-keys,
	// armored or binary) to sign packages with; empty builds them unsigned.
	SignKeyFile string
	// PassphraseEnv names the environment variable holding the key's
	// passphrase (default ORBIT_SIGN_PASSPHRASE). A passphrase is never a
	// flag value: argv is visible to every local user.
	PassphraseEnv string
}

// Kind is what sets one nfpm format apart.
type Kind struct {
	Name     string            // "deb", "rpm"
	Arch     map[string]string // Go arch -> the format's arch name
	Armored  bool              // an armored signature (deb) or a binary one (rpm)
	Packager nfpm.Packager
	// Prepare checks the Package against the format's own rules, adds
	// what the format requires, and returns the format's part of the
	// build. It runs after the common checks.
	Prepare func(p *packaging.Package) (*packaging.Package, Spec, error)
}

// Format is a deb or rpm format. It implements packaging.Format.
type Format struct {
	kind   Kind
	signer *pgpsign.Signer
}

var _ packaging.Format = (*Format)(nil)

// New returns the format of kind. A signing key is read and decrypted
// here, so a wrong key or passphrase fails before any package is built.
func New(kind Kind, c Config) (*Format, error) {
	f := &Format{kind: kind}
	if c.SignKeyFile != "" {
		s, err := pgpsign.Load(c.SignKeyFile, c.PassphraseEnv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind.Name, err)
		}
		f.signer = s
	}
	return f, nil
}

// Name is the --type value.
func (f *Format) Name() string { return f.kind.Name }

// Build writes the package for p to w. The Package is checked in full
// first and the package is built in memory, so bad input or a failed build
// writes nothing. Package.Service is not used: the unit is one of the
// Files and the hooks start it.
func (f *Format) Build(ctx context.Context, p *packaging.Package, w io.Writer) error {
	name := f.kind.Name
	if err := checkPackage(name, p); err != nil {
		return err
	}
	arch, ok := f.kind.Arch[p.Arch]
	if !ok {
		return fmt.Errorf("%s: unknown arch %q: use amd64 or arm64", name, p.Arch)
	}
	if err := checkFiles(name, p); err != nil {
		return err
	}
	p, spec, err := f.kind.Prepare(p)
	if err != nil {
		return err
	}
	spec.Format, spec.Arch = name, arch
	if f.signer != nil {
		when, armored := p.ModTime, f.kind.Armored
		spec.Sign = func(data io.Reader) ([]byte, error) { return f.signer.Sign(data, when, armored) }
	}
	return build(ctx, p, spec, f.kind.Packager, w)
}

// Spec is a format's part of a build.
type Spec struct {
	// Scripts are the format's maintainer scripts by nfpm slot, already
	// assembled from the Package's hooks; empty ones are left out.
	Scripts Scripts
	// Changelog, when set, is a changelog in chglog's YAML (JSON is
	// YAML too), for nfpm to render in the format's own way.
	Changelog []byte
	// Tune sets the format's own fields of the nfpm.Info.
	Tune func(info *nfpm.Info)

	// Set by Build.
	Format, Arch string
	Sign         func(data io.Reader) ([]byte, error)
}

// Scripts are nfpm's script slots, as script text.
type Scripts struct {
	PreInstall, PostInstall, PreRemove, PostRemove string
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)
	accountRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

// checkPackage validates the package-wide fields every Linux format needs.
// Versions are dpkg's and rpm's common ground: a digit first, then
// letters, digits and . + ~ (no '-', which both use to split off a
// release).
func checkPackage(format string, p *packaging.Package) error {
	if p == nil {
		return fmt.Errorf("%s: no package given", format)
	}
	if !nameRE.MatchString(p.Name) {
		return fmt.Errorf("%s: package name %q must be at least two lowercase letters, digits, '+', '-' or '.', starting with a letter or digit", format, p.Name)
	}
	if !versionRE.MatchString(p.Version) {
		return fmt.Errorf("%s: version %q must start with a digit and hold only letters, digits, '.', '+' and '~'", format, p.Version)
	}
	if strings.TrimSpace(p.Description) == "" {
		return fmt.Errorf("%s: the package needs a description", format)
	}
	if !strings.Contains(p.Maintainer, "<") || !strings.HasSuffix(p.Maintainer, ">") {
		return fmt.Errorf("%s: maintainer %q must be \"Name <email>\"", format, p.Maintainer)
	}
	for _, f := range []struct{ name, v string }{
		{"description", p.Description}, {"maintainer", p.Maintainer}, {"vendor", p.Vendor},
		{"homepage", p.Homepage}, {"license", p.License},
	} {
		if f.name != "description" && strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return fmt.Errorf("%s: %s holds a newline or another control character", format, f.name)
		}
	}
	if s := p.ModTime.Unix(); p.ModTime.IsZero() || s < 0 || s > 1<<32-1 {
		return fmt.Errorf("%s: ModTime %v is unset or outside 1970..2106: set it (SOURCE_DATE_EPOCH)", format, p.ModTime)
	}
	return p.Scripts.Check()
}

// checkFiles validates the tree: clean absolute paths, no duplicates, only
// regular files, directories and symlinks, owners by name, and every
// executable that is not a script an ELF program for arch (so a Windows
// binary never lands in a Linux package).
func checkFiles(format string, p *packaging.Package) error {
	seen := map[string]fs.FileMode{}
	for _, f := range p.Files {
		if err := checkPath(f.Path); err != nil {
			return fmt.Errorf("%s: %w", format, err)
		}
		if _, dup := seen[f.Path]; dup {
			return fmt.Errorf("%s: %s is listed twice", format, f.Path)
		}
		seen[f.Path] = f.Mode
		for _, a := range []string{f.Owner, f.Group} {
			if a != "" && !accountRE.MatchString(a) {
				return fmt.Errorf("%s: %s: owner or group %q must be a user or group name", format, f.Path, a)
			}
		}
		if f.Mode.Perm() == 0 {
			return fmt.Errorf("%s: %s has no permission bits: give it a mode (0644, 0755, ...)", format, f.Path)
		}
		if f.Config && !f.Mode.IsRegular() {
			return fmt.Errorf("%s: %s: only a regular file can be a config file", format, f.Path)
		}
		switch f.Mode.Type() {
		case 0:
			if f.LinkTarget != "" {
				return fmt.Errorf("%s: %s is a regular file but has a link target: set fs.ModeSymlink or drop the target", format, f.Path)
			}
			if f.Mode.Perm()&0o111 != 0 && !bytes.HasPrefix(f.Data, []byte("#!")) {
				if err := binfmt.CheckELF(f.Data, p.Arch); err != nil {
					return fmt.Errorf("%s: %s %w: a %s package for %s needs Linux %s binaries", format, f.Path, err, format, p.Arch, p.Arch)
				}
			}
		case fs.ModeDir:
			if len(f.Data) > 0 || f.LinkTarget != "" {
				return fmt.Errorf("%s: directory %s cannot have data or a link target", format, f.Path)
			}
		case fs.ModeSymlink:
			if f.LinkTarget == "" || strings.IndexFunc(f.LinkTarget, unicode.IsControl) >= 0 || len(f.Data) > 0 {
				return fmt.Errorf("%s: symlink %s needs a target without control characters, and no data", format, f.Path)
			}
		default:
			return fmt.Errorf("%s: %s is a %v: only regular files, directories and symlinks can be installed", format, f.Path, f.Mode.Type())
		}
	}
	for _, f := range p.Files {
		for dir := path.Dir(f.Path); dir != "/"; dir = path.Dir(dir) {
			if m, ok := seen[dir]; ok && !m.IsDir() {
				return fmt.Errorf("%s: %s is under %s, which is not a directory", format, f.Path, dir)
			}
		}
	}
	return nil
}

func checkPath(p string) error {
	if err := packaging.CheckUnixPath(p); err != nil {
		return err
	}
	// nfpm reads these as glob or brace patterns in places; no installer
	// path of ours needs them.
	if strings.ContainsAny(p, "*?[]{}\\") {
		return fmt.Errorf("path %q holds a glob character (* ? [ ] { } \\)", p)
	}
	return nil
}

// build stages p's files and scripts in a private temporary directory,
// runs packager over them and, once the package is whole, writes it to w.
func build(ctx context.Context, p *packaging.Package, s Spec, packager nfpm.Packager, w io.Writer) error {
	stage, err := os.MkdirTemp("", "orbit-"+s.Format+"-")
	if err != nil {
		return fmt.Errorf("%s: create a staging directory: %w (check TMPDIR)", s.Format, err)
	}
	defer os.RemoveAll(stage)

	info := &nfpm.Info{
		Name:            p.Name,
		Arch:            s.Arch,
		Platform:        "linux",
		Version:         p.Version,
		VersionSchema:   "none",
		Maintainer:      p.Maintainer,
		Description:     p.Description,
		Vendor:          p.Vendor,
		Homepage:        p.Homepage,
		License:         p.License,
		DisableGlobbing: true,
		MTime:           p.ModTime.UTC(),
	}
	contents, err := stageFiles(stage, p)
	if err != nil {
		return fmt.Errorf("%s: stage files: %w", s.Format, err)
	}
	info.Contents = contents
	for _, sc := range []struct {
		slot, text string
		dst        *string
	}{
		{"preinstall", s.Scripts.PreInstall, &info.Scripts.PreInstall},
		{"postinstall", s.Scripts.PostInstall, &info.Scripts.PostInstall},
		{"preremove", s.Scripts.PreRemove, &info.Scripts.PreRemove},
		{"postremove", s.Scripts.PostRemove, &info.Scripts.PostRemove},
	} {
		if sc.text == "" {
			continue
		}
		name := filepath.Join(stage, "script-"+sc.slot)
		if err := os.WriteFile(name, []byte(sc.text), 0o600); err != nil {
			return fmt.Errorf("%s: stage the %s script: %w", s.Format, sc.slot, err)
		}
		*sc.dst = name
	}
	if s.Changelog != nil {
		name := filepath.Join(stage, "changelog.yaml")
		if err := os.WriteFile(name, s.Changelog, 0o600); err != nil {
			return fmt.Errorf("%s: stage the changelog: %w", s.Format, err)
		}
		info.Changelog = name
	}
	if s.Tune != nil {
		s.Tune(info)
	}
	if s.Sign != nil {
		switch s.Format {
		case "deb":
			info.Deb.Signature.SignFn = s.Sign
		case "rpm":
			info.RPM.Signature.SignFn = s.Sign
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := packager.Package(info, &buf); err != nil {
		return fmt.Errorf("%s: build %s %s: %w", s.Format, p.Name, p.Version, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("%s: write the package: %w", s.Format, err)
	}
	return nil
}

// stageFiles writes each regular file's data to stage and describes the
// tree as nfpm contents, in path order.
func stageFiles(stage string, p *packaging.Package) (files.Contents, error) {
	sorted := append([]packaging.File(nil), p.Files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	mtime := p.ModTime.UTC()
	var out files.Contents
	for i, f := range sorted {
		fi := &files.ContentFileInfo{
			Owner: f.Owner, Group: f.Group, Mode: modeBits(f.Mode), MTime: mtime,
		}
		c := &files.Content{Destination: f.Path, FileInfo: fi}
		switch f.Mode.Type() {
		case fs.ModeDir:
			c.Type = files.TypeDir
		case fs.ModeSymlink:
			c.Type = files.TypeSymlink
			c.Source = f.LinkTarget
		default:
			src := filepath.Join(stage, "f"+strconv.Itoa(i))
			if err := os.WriteFile(src, f.Data, 0o600); err != nil {
				return nil, err
			}
			c.Source = src
			fi.Size = int64(len(f.Data))
			c.Type = files.TypeFile
			if f.Config {
				c.Type = files.TypeConfigNoReplace
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// modeBits keeps the permission and setuid/setgid/sticky bits; the type
// is carried by the content's Type.
func modeBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}
