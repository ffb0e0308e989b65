// Package pkg builds macOS flat installer packages (a product archive) in
// Go, on any OS: no pkgbuild, productbuild, xar, mkbom or bomutils.
//
// Layout of the xar archive Build writes, for Package.Name "orbit":
//
//	Distribution           product definition: title, options with the
//	                       host architectures, minimum macOS, one choice,
//	                       and the pkg-ref to #orbit.pkg (zlib-encoded)
//	orbit.pkg/             the component package
//	orbit.pkg/PackageInfo  identifier, version, install-location "/",
//	                       payload numberOfFiles/installKBytes, scripts
//	                       (zlib-encoded)
//	orbit.pkg/Bom          bill of materials of the Payload (zlib-encoded)
//	orbit.pkg/Payload      gzip'd odc cpio of the installed tree, "./"-
//	                       relative, with every missing parent directory
//	orbit.pkg/Scripts      gzip'd odc cpio of preinstall/postinstall (0755),
//	                       wrapping the BeforeInstall/AfterInstall hooks,
//	                       only when there is one
//
// Installed entries belong to root (uid 0) and group admin (gid 80) unless
// the File names an owner or group; parent directories the Package does
// not list are added as 0755 root:wheel, as the installer would create
// them (and as /, /Library and /Library/LaunchDaemons are on macOS).
//
// The archive is unsigned and carries nothing a signer must strip, so on a
// Mac the remaining Apple steps are, in order:
//
//	productsign --sign "Developer ID Installer: NAME (TEAMID)" orbit.pkg orbit-signed.pkg
//	xcrun notarytool submit orbit-signed.pkg --keychain-profile PROFILE --wait
//	xcrun stapler staple orbit-signed.pkg
//
// Notarization also requires the Mach-O binaries inside to have been
// signed before they were put in the Package (codesign --sign "Developer
// ID Application: ..." --options runtime --timestamp). rcodesign
// (apple-codesign) claims to do all three steps off a Mac; that has not
// been tried here.
package pkg

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/bom"
	"github.com/orbitagent/orbit/packaging/cpio"
	"github.com/orbitagent/orbit/packaging/xar"
)

// DefaultMinOSVersion is the oldest macOS a package allows by default:
// Go 1.25 and later binaries need macOS 12 Monterey.
const DefaultMinOSVersion = "12.0"

// Config tunes the format.
type Config struct {
	// MinOSVersion is the oldest macOS the installer accepts ("12.0");
	// empty means DefaultMinOSVersion.
	MinOSVersion string
}

var osVersionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,2}$`)

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.MinOSVersion != "" && !osVersionRE.MatchString(c.MinOSVersion) {
		return fmt.Errorf("pkg: minimum macOS version %q must look like 12 or 12.0 or 12.0.1", c.MinOSVersion)
	}
	return nil
}

// Format writes macOS flat packages. It implements packaging.Format.
type Format struct {
	minOS string
}

var _ packaging.Format = (*Format)(nil)

// New returns the pkg format.
func New(c Config) (*Format, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f := &Format{minOS: c.MinOSVersion}
	if f.minOS == "" {
		f.minOS = DefaultMinOSVersion
	}
	return f, nil
}

// Name is "pkg".
func (*Format) Name() string { return "pkg" }

// maxFileSize is the largest file a BOM entry's 32-bit size records
// (larger ones need Size64 entries, which package bom does not write).
const maxFileSize = 1<<32 - 1

// hostArch maps Go architectures to the names the installer's
// hostArchitectures option uses.
var hostArch = map[string]string{"amd64": "x86_64", "arm64": "arm64"}

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	identifierRE = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
	versionRE    = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+~_-]*$`)
)

// Build writes the package for p to w. The Package is checked in full
// before anything is written, so bad input writes nothing. Package.Config
// has no meaning here (the installer always replaces files), and
// Package.Service is ignored: on macOS the launchd plist is one of the
// Files and the postinstall script bootstraps it.
func (f *Format) Build(ctx context.Context, p *packaging.Package, w io.Writer) error {
	if p == nil {
		return fmt.Errorf("pkg: no package given")
	}
	arch, err := checkPackage(p)
	if err != nil {
		return err
	}
	entries, err := payloadEntries(p)
	if err != nil {
		return err
	}
	scripts, err := scriptEntries(p)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	payload, err := gzipCPIO(entries, p)
	if err != nil {
		return fmt.Errorf("pkg: payload: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var bomData bytes.Buffer
	if err := bom.Write(&bomData, bomEntries(entries, p)); err != nil {
		return fmt.Errorf("pkg: bill of materials: %w", err)
	}
	var kbytes int64
	for _, e := range entries {
		kbytes += int64(len(e.data))
	}
	kbytes = (kbytes + 1023) / 1024

	info, err := packageInfo(p, scripts, len(entries), kbytes)
	if err != nil {
		return err
	}
	dist, err := distribution(p, arch, f.minOS, kbytes)
	if err != nil {
		return err
	}
	comp := p.Name + ".pkg"
	files := []xar.File{
		{Name: "Distribution", Mode: 0o644, Data: dist, Compress: true},
		{Name: comp, Mode: fs.ModeDir | 0o755},
		{Name: comp + "/PackageInfo", Mode: 0o644, Data: info, Compress: true},
		{Name: comp + "/Bom", Mode: 0o644, Data: bomData.Bytes(), Compress: true},
		{Name: comp + "/Payload", Mode: 0o644, Data: payload},
	}
	if len(scripts) > 1 {
		s, err := gzipCPIO(scripts, p)
		if err != nil {
			return fmt.Errorf("pkg: scripts: %w", err)
		}
		files = append(files, xar.File{Name: comp + "/Scripts", Mode: 0o644, Data: s})
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return xar.Write(w, files, xar.Options{ModTime: p.ModTime})
}

// checkPackage validates the package-wide fields and returns the host
// architecture name.
func checkPackage(p *packaging.Package) (string, error) {
	if !nameRE.MatchString(p.Name) {
		return "", fmt.Errorf("pkg: package name %q must be letters, digits, '.', '_' or '-', starting with a letter or digit", p.Name)
	}
	if !identifierRE.MatchString(p.Identifier) {
		return "", fmt.Errorf("pkg: identifier %q must be reverse-DNS (com.example.orbit): letters, digits and '-' between dots", p.Identifier)
	}
	if !versionRE.MatchString(p.Version) {
		return "", fmt.Errorf("pkg: version %q must be letters, digits and . + ~ _ -, starting with a letter or digit", p.Version)
	}
	arch, ok := hostArch[p.Arch]
	if !ok {
		return "", fmt.Errorf("pkg: unknown arch %q: use amd64 or arm64", p.Arch)
	}
	if s := p.ModTime.Unix(); s < 0 || s > 1<<32-1 {
		return "", fmt.Errorf("pkg: ModTime %v is outside 1970..2106: set it (SOURCE_DATE_EPOCH)", p.ModTime)
	}
	return arch, nil
}

// entry is one member of the Payload or Scripts archive.
type entry struct {
	path     string // "./opt/orbit"
	mode     fs.FileMode
	uid, gid int
	data     []byte
	link     string
}

// Well-known macOS accounts a File may name; numbers are accepted too.
var (
	macUsers  = map[string]int{"": 0, "root": 0, "daemon": 1}
	macGroups = map[string]int{"": 80, "admin": 80, "wheel": 0, "root": 0, "daemon": 1, "staff": 20}
)

func account(name string, known map[string]int, what string) (int, error) {
	if id, ok := known[name]; ok {
		return id, nil
	}
	if id, err := strconv.Atoi(name); err == nil && id >= 0 && id <= 0o777777 {
		return id, nil
	}
	names := make([]string, 0, len(known))
	for k := range known {
		if k != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return 0, fmt.Errorf("unknown %s %q: use %s or a number", what, name, strings.Join(names, ", "))
}

// payloadEntries checks the Files and returns the Payload's entries in
// path order, parents first, with the missing parents added.
func payloadEntries(p *packaging.Package) ([]entry, error) {
	byPath := map[string]*entry{}
	for i := range p.Files {
		f := &p.Files[i]
		if err := checkPath(f.Path); err != nil {
			return nil, err
		}
		if _, dup := byPath[f.Path]; dup {
			return nil, fmt.Errorf("pkg: %s is listed twice", f.Path)
		}
		e := &entry{path: "." + f.Path, mode: f.Mode, data: f.Data, link: f.LinkTarget}
		switch f.Mode.Type() {
		case 0:
			if f.LinkTarget != "" {
				return nil, fmt.Errorf("pkg: %s is a regular file but has a link target: set fs.ModeSymlink or drop the target", f.Path)
			}
			if int64(len(f.Data)) > maxFileSize {
				return nil, fmt.Errorf("pkg: %s is 4 GiB or larger, which the BOM's 32-bit sizes cannot record", f.Path)
			}
		case fs.ModeDir:
			if len(f.Data) > 0 || f.LinkTarget != "" {
				return nil, fmt.Errorf("pkg: directory %s cannot have data or a link target", f.Path)
			}
		case fs.ModeSymlink:
			if f.LinkTarget == "" || strings.IndexFunc(f.LinkTarget, unicode.IsControl) >= 0 || len(f.Data) > 0 {
				return nil, fmt.Errorf("pkg: symlink %s needs a target without control characters, and no data", f.Path)
			}
		default:
			return nil, fmt.Errorf("pkg: %s is a %v: only regular files, directories and symlinks can be installed", f.Path, f.Mode.Type())
		}
		var err error
		if e.uid, err = account(f.Owner, macUsers, "owner"); err != nil {
			return nil, fmt.Errorf("pkg: %s: %w", f.Path, err)
		}
		if e.gid, err = account(f.Group, macGroups, "group"); err != nil {
			return nil, fmt.Errorf("pkg: %s: %w", f.Path, err)
		}
		byPath[f.Path] = e
	}
	// Add missing parents; refuse a file under a file.
	for _, f := range p.Files {
		for dir := path.Dir(f.Path); dir != "/"; dir = path.Dir(dir) {
			if d, ok := byPath[dir]; ok {
				if !d.mode.IsDir() {
					return nil, fmt.Errorf("pkg: %s is under %s, which is not a directory", f.Path, dir)
				}
				continue
			}
			byPath[dir] = &entry{path: "." + dir, mode: fs.ModeDir | 0o755}
		}
	}
	out := make([]entry, 0, len(byPath)+1)
	out = append(out, entry{path: ".", mode: fs.ModeDir | 0o755})
	for _, e := range byPath {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return pathLess(out[i].path, out[j].path) })
	return out, nil
}

// pathLess orders by components, so a directory's entries follow it
// directly ("./a/b" before "./a-b").
func pathLess(a, b string) bool {
	return strings.ReplaceAll(a, "/", "\x00") < strings.ReplaceAll(b, "/", "\x00")
}

func checkPath(p string) error {
	if err := packaging.CheckUnixPath(p); err != nil {
		return fmt.Errorf("pkg: %w", err)
	}
	return nil
}

// scriptEntries returns the Scripts archive's entries: "." and the
// preinstall and postinstall scripts that wrap the BeforeInstall and
// AfterInstall hooks. macOS runs only those two, on every install or
// upgrade alike, so the hooks get "install" as $1, then the installer's
// own arguments (package path, install location, target volume: $2 to
// $4), and the removal hooks are ignored: a pkg cannot be uninstalled by
// the installer.
func scriptEntries(p *packaging.Package) ([]entry, error) {
	if err := p.Scripts.Check(); err != nil {
		return nil, fmt.Errorf("pkg: %w", err)
	}
	out := []entry{{path: ".", mode: fs.ModeDir | 0o755}}
	for _, s := range []struct{ name, fn, body string }{
		{"postinstall", "after_install", p.Scripts.AfterInstall},
		{"preinstall", "before_install", p.Scripts.BeforeInstall},
	} {
		script := packaging.MaintainerScript("macOS "+s.name, s.fn+` install "$@"`,
			packaging.Hook{Func: s.fn, Body: s.body})
		if script == "" {
			continue
		}
		out = append(out, entry{path: "./" + s.name, mode: 0o755, data: []byte(script)})
	}
	return out, nil
}

// gzipCPIO writes entries as a gzip'd odc cpio. The gzip header carries no
// name and mtime 0, so the bytes depend only on the entries.
func gzipCPIO(entries []entry, p *packaging.Package) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	cw := cpio.NewWriter(zw)
	for _, e := range entries {
		h := &cpio.Header{Name: e.path, Mode: e.mode, UID: e.uid, GID: e.gid, ModTime: p.ModTime, Linkname: e.link}
		if e.mode.IsRegular() {
			h.Size = int64(len(e.data))
		}
		if err := cw.WriteHeader(h); err != nil {
			return nil, err
		}
		if e.mode.IsRegular() {
			if _, err := cw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func bomEntries(entries []entry, p *packaging.Package) []bom.Entry {
	out := make([]bom.Entry, len(entries))
	for i, e := range entries {
		out[i] = bom.Entry{
			Path: e.path, Mode: e.mode, UID: uint32(e.uid), GID: uint32(e.gid),
			ModTime: p.ModTime, Data: e.data, LinkTarget: e.link,
		}
	}
	return out
}
