// Package msi builds the Windows installer of the agent from WiX source with
// Debian's wixl (msitools 0.101), natively on Linux: no WiX, no Wine.
//
// What the msi holds:
//   - the files under ProgramFiles64Folder\<Vendor or Name>\ (paths in
//     Package.Files are relative to that folder), one component per file,
//     with component GUIDs derived from the identifier and the path;
//   - the service (ServiceInstall: LocalSystem, automatic start, error
//     control normal, the Service's executable and arguments; ServiceControl:
//     start on install, stop on install and uninstall, delete on uninstall);
//   - a stable UpgradeCode derived from Package.Identifier, a ProductCode and
//     PackageCode derived from every input, and an Upgrade table that
//     removes any installed version (older, newer or another build of the
//     same one) before installing;
//   - an owner-only ACL (MsiLockPermissionsEx) on every file and directory
//     whose mode gives nothing to group and others, such as the file with the
//     enroll secret.
//
// Package.Scripts, File.Owner/Group and File.Config do not apply: Windows
// Installer has no shell scripts, files belong to the installer (SYSTEM),
// and an upgrade removes the old product first, so the new package's files,
// settings included, replace the old ones. Files orbit writes itself (node
// key, osquery database, logs) belong to no package and stay on uninstall.
//
// wixl 0.101 gaps and how this package works around them:
//   - Permission/PermissionEx crash wixl: the MsiLockPermissionsEx table is
//     added afterwards with msibuild (msitools).
//   - util:ServiceConfig crashes wixl, so restart-on-failure cannot come from
//     the msi: orbit sets its own recovery actions at start
//     (supervisor.SetRecoveryActions).
//   - SetProperty and Environment crash wixl: no custom actions and no
//     environment variables; everything the service needs is on its
//     command line (never a secret) or in files.
//   - AllowDowngrades is dropped: the Upgrade table is written by hand.
//   - An empty Property value fails the build: none is ever emitted.
//   - Package/@Id is ignored (the package code is random) and the summary
//     information carries the build time: both are rewritten after the
//     build from the inputs and Package.ModTime, so builds are reproducible.
//   - "$" is eaten by wixl's preprocessor: values holding one are refused.
//   - No arm64 target (-a knows x86, x64, ia64): an arm64 msi is built as x64
//     and its summary Template is set to "Arm64;1033" (Windows Installer 5.0,
//     as WiX's -arch arm64 does); components stay 64-bit.
package msi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/binfmt"
	"github.com/orbitagent/orbit/rootdir"
)

// Format writes msi installers. The zero value looks for wixl and msibuild
// on PATH.
type Format struct {
	// Wixl and Msibuild are the tools' paths; empty means look on PATH.
	Wixl, Msibuild string
}

var _ packaging.Format = (*Format)(nil)

// Name is the --type value.
func (*Format) Name() string { return "msi" }

// installHint is how to get the tools on the machines we support.
const installHint = "install them with `apt-get install wixl msitools` (Debian, Ubuntu) or `dnf install msitools` (Fedora)"

// ownerOnlyFile and ownerOnlyDir are the ACLs of files and directories whose
// mode is 0600/0700-like: SYSTEM and Administrators only, not inherited
// from Program Files (where Users can read everything).
const (
	ownerOnlyFile = rootdir.OwnerOnlySDDL
	ownerOnlyDir  = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
)

// Build writes the msi for p to w.
func (f *Format) Build(ctx context.Context, p *packaging.Package, w io.Writer) error {
	plan, err := newPlan(p)
	if err != nil {
		return fmt.Errorf("msi: %w", err)
	}
	wixl, msibuild, err := f.tools()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "orbit-msi-")
	if err != nil {
		return fmt.Errorf("msi: work directory: %w", err)
	}
	defer os.RemoveAll(dir)

	if err := plan.writeSources(dir); err != nil {
		return fmt.Errorf("msi: %w", err)
	}
	out := filepath.Join(dir, "out.msi")
	if err := run(ctx, dir, wixl, "-a", "x64", "-o", out, "product.wxs"); err != nil {
		return fmt.Errorf("msi: wixl: %w", err)
	}
	if len(plan.locks) > 0 {
		if err := run(ctx, dir, msibuild, append([]string{out}, plan.lockQueries()...)...); err != nil {
			return fmt.Errorf("msi: msibuild (permissions): %w", err)
		}
	}
	template := ""
	if p.Arch == "arm64" {
		template = "Arm64;1033"
	}
	if err := patchSummary(out, summaryEdits{PackageCode: plan.packageCode, Time: plan.modTime, Template: template}); err != nil {
		return fmt.Errorf("msi: %w", err)
	}
	msi, err := os.Open(out)
	if err != nil {
		return fmt.Errorf("msi: %w", err)
	}
	defer msi.Close()
	if _, err := io.Copy(w, msi); err != nil {
		return fmt.Errorf("msi: write output: %w", err)
	}
	return nil
}

func (f *Format) tools() (wixl, msibuild string, err error) {
	find := func(given, name string) (string, error) {
		if given != "" {
			name = given
		}
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("msi: %s not found (%v): %s", name, err, installHint)
		}
		return p, nil
	}
	if wixl, err = find(f.Wixl, "wixl"); err != nil {
		return "", "", err
	}
	if msibuild, err = find(f.Msibuild, "msibuild"); err != nil {
		return "", "", err
	}
	return wixl, msibuild, nil
}

// run runs a tool in dir with a fixed timezone and locale: gcab stamps the
// cabinet with the files' mtimes in local time.
func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TZ=UTC", "LC_ALL=C", "HOME=" + dir}
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		// One line: the tool's messages joined, the end kept if long.
		msg := strings.Join(strings.Fields(strings.ReplaceAll(stderr.String(), "\n", " | ")), " ")
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%v: %s", err, msg)
	}
	return nil
}

// plan is everything decided before the tools run.
type plan struct {
	wxs         *wxsRoot
	sources     map[string][]byte // Source name in the work dir -> content
	locks       []lock
	packageCode string
	modTime     time.Time
}

type lock struct {
	id, object, table, sddl string
}

func (pl *plan) lockQueries() []string {
	q := []string{"-q", "CREATE TABLE `MsiLockPermissionsEx` (`MsiLockPermissionsEx` CHAR(72) NOT NULL, " +
		"`LockObject` CHAR(72) NOT NULL, `Table` CHAR(32) NOT NULL, `SDDLText` CHAR(0) NOT NULL, " +
		"`Condition` CHAR(255) PRIMARY KEY `MsiLockPermissionsEx`)"}
	for _, l := range pl.locks {
		q = append(q, "-q", fmt.Sprintf("INSERT INTO `MsiLockPermissionsEx` "+
			"(`MsiLockPermissionsEx`, `LockObject`, `Table`, `SDDLText`) VALUES ('%s', '%s', '%s', '%s')",
			l.id, l.object, l.table, l.sddl))
	}
	return q
}

func (pl *plan) writeSources(dir string) error {
	src, err := pl.wxs.marshal()
	if err != nil {
		return fmt.Errorf("WiX source: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "product.wxs"), src, 0o600); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "files"), 0o700); err != nil {
		return err
	}
	names := make([]string, 0, len(pl.sources))
	for n := range pl.sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.WriteFile(p, pl.sources[n], 0o600); err != nil {
			return err
		}
		// The cabinet records each file's mtime.
		if err := os.Chtimes(p, pl.modTime, pl.modTime); err != nil {
			return err
		}
	}
	return nil
}

// clampTime keeps t inside what a cabinet (DOS date) can hold.
func clampTime(t time.Time) time.Time {
	lo := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	t = t.UTC().Truncate(2 * time.Second)
	if t.Before(lo) {
		return lo
	}
	if t.After(hi) {
		return hi
	}
	return t
}

// checkValue refuses what wixl would silently change or choke on.
func checkValue(what, v string) error {
	if strings.Contains(v, "$") {
		return fmt.Errorf("%s %q contains '$', which wixl's preprocessor rewrites: remove it", what, v)
	}
	for _, r := range v {
		if r < 0x20 && r != '\t' {
			return fmt.Errorf("%s %q contains a control character", what, v)
		}
	}
	return nil
}

// checkName refuses a path element Windows cannot hold.
func checkName(p, elem string) error {
	if elem == "" || elem == "." || elem == ".." {
		return fmt.Errorf("file %q: empty, \".\" or \"..\" path element", p)
	}
	if strings.ContainsAny(elem, `<>:"\|?*`) || strings.HasSuffix(elem, ".") || strings.HasSuffix(elem, " ") {
		return fmt.Errorf("file %q: %q is not a valid Windows file name", p, elem)
	}
	base := strings.ToUpper(strings.SplitN(elem, ".", 2)[0])
	switch base {
	case "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return fmt.Errorf("file %q: %q is a reserved device name on Windows", p, elem)
	}
	return checkValue("file", p)
}

// newPlan validates p and lays out the WiX source.
func newPlan(p *packaging.Package) (*plan, error) {
	if p.Name == "" || p.Identifier == "" {
		return nil, errors.New("package needs a name and an identifier")
	}
	if p.Arch != "amd64" && p.Arch != "arm64" {
		return nil, fmt.Errorf("architecture %q: an msi is amd64 or arm64", p.Arch)
	}
	version, err := productVersion(p.Version)
	if err != nil {
		return nil, err
	}
	for _, f := range [][2]string{
		{"name", p.Name}, {"identifier", p.Identifier}, {"version", p.Version},
		{"description", oneLine(p.Description)}, {"maintainer", p.Maintainer}, {"vendor", p.Vendor},
		{"homepage", p.Homepage}, {"service name", p.Service.Name}, {"service display name", p.Service.DisplayName},
		{"service description", oneLine(p.Service.Description)}, {"service executable", p.Service.Executable},
	} {
		if err := checkValue(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	for _, a := range p.Service.Args {
		if err := checkValue("service argument", a); err != nil {
			return nil, err
		}
	}

	files, dirs, err := tree(p.Files)
	if err != nil {
		return nil, err
	}
	if p.Service.Name == "" || p.Service.Executable == "" {
		return nil, errors.New("an msi registers a service: give Service.Name and Service.Executable")
	}
	exe := path.Clean(p.Service.Executable)
	if _, ok := files[exe]; !ok {
		return nil, fmt.Errorf("service executable %q is not one of the package's files", p.Service.Executable)
	}
	for _, fp := range sortedKeys(files) {
		if ext := strings.ToLower(path.Ext(fp)); ext == ".exe" || ext == ".dll" || fp == exe {
			if err := binfmt.CheckPE(files[fp].Data, p.Arch); err != nil {
				return nil, fmt.Errorf("%s %w", fp, err)
			}
		}
	}

	up := upgradeCode(p.Identifier)
	digest := inputDigest(p)
	pl := &plan{
		sources:     map[string][]byte{},
		packageCode: guid(up, "PackageCode\x00"+digest),
		modTime:     clampTime(p.ModTime),
	}
	installName := p.Vendor
	if installName == "" {
		installName = p.Name
	}
	if err := checkName(installName, installName); err != nil {
		return nil, fmt.Errorf("install folder: %w", err)
	}
	productName := p.Service.DisplayName
	if productName == "" {
		productName = p.Name
	}
	manufacturer := p.Vendor
	if manufacturer == "" {
		manufacturer = p.Name
	}

	// Every directory that holds something or is listed, parents first in
	// sorted order, so the source is the same whatever order Files came in.
	allDirs := map[string]bool{}
	for d := range dirs {
		for x := d; x != ""; x = parentDir(x) {
			allDirs[x] = true
		}
	}
	for fp := range files {
		for x := parentDir(fp); x != ""; x = parentDir(x) {
			allDirs[x] = true
		}
	}
	ordered := sortedKeys(allDirs)
	sort.SliceStable(ordered, func(i, j int) bool { return depth(ordered[i]) < depth(ordered[j]) })
	type node struct {
		d        wxsDirectory
		children []string
	}
	nodes := map[string]*node{"": {d: wxsDirectory{ID: "INSTALLDIR", Name: msiName(installName)}}}
	for _, d := range ordered {
		nodes[d] = &node{d: wxsDirectory{ID: id("D_", d), Name: msiName(d)}}
		nodes[parentDir(d)].children = append(nodes[parentDir(d)].children, d)
	}

	var refs []wxsComponentRef
	addComponent := func(dir string, c wxsComponent) {
		nodes[dir].d.Components = append(nodes[dir].d.Components, c)
		refs = append(refs, wxsComponentRef{ID: c.ID})
	}
	for _, d := range sortedKeys(dirs) {
		c := wxsComponent{ID: id("C_", d+"/"), GUID: guid(up, "Directory\x00"+d), Win64: "yes", CreateFolder: &struct{}{}}
		addComponent(d, c)
		if dirs[d].Perm()&0o077 == 0 {
			pl.locks = append(pl.locks, lock{id: id("L_", d+"/"), object: nodes[d].d.ID, table: "CreateFolder", sddl: ownerOnlyDir})
		}
	}
	for _, fp := range sortedKeys(files) {
		f := files[fp]
		src := "files/" + id("S_", fp)
		pl.sources[src] = f.Data
		c := wxsComponent{
			ID:    id("C_", fp),
			GUID:  guid(up, "File\x00"+fp),
			Win64: "yes",
			File:  &wxsFile{ID: id("F_", fp), Name: msiName(fp), Source: src, KeyPath: "yes"},
		}
		if fp == exe {
			svc := p.Service
			c.Service = &wxsServiceInstall{
				ID: "ServiceInstall", Name: svc.Name, DisplayName: svc.DisplayName,
				Description: oneLine(svc.Description), Type: "ownProcess", Start: "auto",
				ErrorControl: "normal", Account: "LocalSystem",
				Arguments: serviceArguments(svc.Args), Vital: "yes",
			}
			c.Control = &wxsServiceControl{ID: "ServiceControl", Name: svc.Name,
				Start: "install", Stop: "both", Remove: "uninstall", Wait: "yes"}
		}
		addComponent(parentDir(fp), c)
		if f.Mode.Perm()&0o077 == 0 {
			pl.locks = append(pl.locks, lock{id: id("L_", fp), object: c.File.ID, table: "File", sddl: ownerOnlyFile})
		}
	}
	// The WiX tree nests directories by value.
	var assemble func(d string) wxsDirectory
	assemble = func(d string) wxsDirectory {
		n := nodes[d]
		out := n.d
		for _, c := range n.children {
			out.Directories = append(out.Directories, assemble(c))
		}
		return out
	}
	installDir := assemble("")

	props := []wxsProperty{{"ARPNOMODIFY", "1"}, {"ARPNOREPAIR", "1"}}
	if p.Homepage != "" {
		props = append(props, wxsProperty{"ARPURLINFOABOUT", p.Homepage})
	}
	if p.Maintainer != "" {
		props = append(props, wxsProperty{"ARPCONTACT", p.Maintainer})
	}
	if p.Description != "" {
		props = append(props, wxsProperty{"ARPCOMMENTS", oneLine(p.Description)})
	}
	pl.wxs = &wxsRoot{
		NS: "http://schemas.microsoft.com/wix/2006/wi",
		Product: wxsProduct{
			ID:           guid(up, "ProductCode\x00"+digest),
			Name:         productName,
			Language:     "1033",
			Version:      version,
			Manufacturer: manufacturer,
			UpgradeCode:  "{" + strings.ToUpper(up.String()) + "}",
			Package: wxsPackage{
				Description:      oneLine(firstNonEmpty(p.Description, productName)),
				Comments:         productName + " " + p.Version + " (" + p.Arch + ")",
				Manufacturer:     manufacturer,
				Keywords:         "Installer",
				InstallerVersion: "500",
				Compressed:       "yes",
				InstallScope:     "perMachine",
				Languages:        "1033",
			},
			Upgrade: wxsUpgrade{
				ID:      "{" + strings.ToUpper(up.String()) + "}",
				Version: wxsUpgradeVersion{Minimum: "0.0.0", IncludeMinimum: "yes", Property: "WIX_UPGRADE_DETECTED"},
			},
			Sequence:   wxsSequence{RemoveExistingProducts: wxsAction{After: "InstallValidate"}},
			Properties: props,
			Media:      wxsMedia{ID: "1", Cabinet: "payload.cab", EmbedCab: "yes"},
			Directory: wxsDirectory{ID: "TARGETDIR", Name: "SourceDir", Directories: []wxsDirectory{
				{ID: "ProgramFiles64Folder", Directories: []wxsDirectory{installDir}},
			}},
			Feature: wxsFeature{ID: "Agent", Title: productName, Level: "1", Display: "hidden", Refs: refs},
		},
	}
	return pl, nil
}

// tree checks the entries and returns the regular files and the explicit
// directories by cleaned path.
func tree(entries []packaging.File) (map[string]packaging.File, map[string]fs.FileMode, error) {
	files := map[string]packaging.File{}
	dirs := map[string]fs.FileMode{}
	seen := map[string]string{}
	for _, f := range entries {
		p := f.Path
		if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
			return nil, nil, fmt.Errorf("file %q: msi paths are relative to the install folder, slash-separated", f.Path)
		}
		for _, elem := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
			if err := checkName(p, elem); err != nil {
				return nil, nil, err
			}
		}
		p = path.Clean(p)
		// Windows file names are case-insensitive.
		key := strings.ToLower(p)
		if prev, dup := seen[key]; dup {
			return nil, nil, fmt.Errorf("file %q: same path as %q on Windows (names are case-insensitive)", f.Path, prev)
		}
		seen[key] = f.Path
		switch {
		case f.Mode&fs.ModeSymlink != 0:
			return nil, nil, fmt.Errorf("file %q: an msi cannot carry a symlink: give a copy of %q", f.Path, f.LinkTarget)
		case f.Mode.IsDir():
			dirs[p] = f.Mode
		case f.Mode.IsRegular():
			files[p] = f
		default:
			return nil, nil, fmt.Errorf("file %q: mode %v is neither a file nor a directory", f.Path, f.Mode)
		}
	}
	for fp := range files {
		for d := parentDir(fp); d != ""; d = parentDir(d) {
			if _, ok := files[d]; ok {
				return nil, nil, fmt.Errorf("file %q: its parent %q is a file", fp, d)
			}
		}
	}
	return files, dirs, nil
}

// inputDigest hashes everything the msi is made of, so the product and
// package codes change when anything does, and only then.
func inputDigest(p *packaging.Package) string {
	h := sha256.New()
	field := func(s string) {
		_ = binary.Write(h, binary.LittleEndian, uint64(len(s)))
		h.Write([]byte(s))
	}
	for _, s := range []string{p.Name, p.Identifier, p.Version, p.Arch, p.Description, p.Maintainer,
		p.Vendor, p.Homepage, p.License, clampTime(p.ModTime).Format(time.RFC3339),
		p.Service.Name, p.Service.DisplayName, p.Service.Description, p.Service.Executable} {
		field(s)
	}
	for _, a := range p.Service.Args {
		field(a)
	}
	sorted := append([]packaging.File(nil), p.Files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, f := range sorted {
		sum := sha256.Sum256(f.Data)
		field(f.Path)
		field(f.Mode.String())
		field(string(sum[:]))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func parentDir(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

func depth(p string) int { return strings.Count(p, "/") }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// UpgradeCode is the stable UpgradeCode of an identifier, for documentation
// and for admins who target the product with group policy or an MDM.
func UpgradeCode(identifier string) string {
	return "{" + strings.ToUpper(upgradeCode(identifier).String()) + "}"
}
