package packager

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/packaging/binfmt"
	"github.com/orbitagent/orbit/updater"
	"github.com/orbitagent/orbit/updater/repo"
)

// Read limits of the files a package bundles.
const (
	maxProgram  = 1 << 30 // orbit, osqueryd, the tray app (or their archives)
	maxConfig   = 16 << 20
	maxFlagfile = 1 << 20
	maxPEM      = 4 << 20
	maxSecret   = 64 << 10
	// An archive's executable is read to check its format, up to this.
	maxArchivedExec = 1 << 30
	maxArchiveItems = 100_000
)

// part is one component the package bundles.
type part struct {
	comp   updater.Component
	target string // its target name in the repository
	flag   string // the --*-path flag that replaces it
	file   string // the file given with flag, or ""
	data   []byte
	// bundled is the bundle manifest's entry: the signed hashes of a
	// target from the repository, the bytes' own for a given file.
	bundled updater.BundledTarget
}

func (p *part) source() string {
	if p.file != "" {
		return "--" + p.flag + " " + p.file
	}
	return "target " + p.target + " from the repository"
}

// gather fetches or reads every component and checks it is a program for
// the package's platform.
func (j *job) gather(ctx context.Context) error {
	o := j.o
	j.parts = []*part{
		{comp: updater.OrbitComponentFor(j.goos, o.OrbitChannel), flag: "orbit-path", file: o.OrbitPath},
		{comp: updater.OsquerydComponentFor(j.goos, o.OsquerydChannel), flag: "osqueryd-path", file: o.OsquerydPath},
	}
	if o.FleetDesktop {
		j.parts = append(j.parts, &part{comp: updater.DesktopComponentFor(j.goos, o.DesktopChannel), flag: "desktop-path", file: o.DesktopPath})
	}
	var names []string
	for _, p := range j.parts {
		p.target = p.comp.TargetName(j.platform)
		if p.file == "" {
			names = append(names, p.target)
			continue
		}
		data, err := safefile.ReadLimited(p.file, maxProgram)
		if err != nil {
			return fmt.Errorf("--%s: %w", p.flag, err)
		}
		p.data = data
		p.bundled = updater.BundledFile(p.target, "", data)
	}
	if len(names) > 0 {
		fetched, err := j.fetch(ctx, names)
		if err != nil {
			return err
		}
		for _, p := range j.parts {
			if f, ok := fetched[p.target]; ok {
				p.data = f.data
				p.bundled = updater.BundledTarget{Name: f.Name, Version: f.Version, Length: f.Length, Hashes: f.Hashes}
			}
		}
	}
	for _, p := range j.parts {
		if err := j.check(p); err != nil {
			return err
		}
	}
	return nil
}

type fetchedData struct {
	updater.Fetched
	data []byte
}

// fetch downloads the named targets through the updater's verified
// downloads, from the update URL or from the local repository served on a
// loopback port for the time of the fetch.
func (j *job) fetch(ctx context.Context, names []string) (map[string]fetchedData, error) {
	url, via := j.o.UpdateURL, "--update-url "+j.o.UpdateURL
	if j.o.LocalRepo != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("--local-repo: serve the repository on a loopback port: %w", err)
		}
		srv := &http.Server{Handler: repo.Handler(j.o.LocalRepo), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		url, via = "http://"+ln.Addr().String(), "--local-repo "+j.o.LocalRepo
	}
	dir, err := os.MkdirTemp("", "orbit-package-")
	if err != nil {
		return nil, fmt.Errorf("create a download directory: %w (check TMPDIR)", err)
	}
	defer os.RemoveAll(dir)
	got, err := updater.Fetch(ctx, updater.FetchConfig{UpdateURL: url, RootJSON: j.root, Progress: j.o.Progress}, dir, names...)
	var missing *updater.MissingTargetError
	if errors.As(err, &missing) {
		for _, p := range j.parts {
			if p.target == missing.Target {
				return nil, fmt.Errorf("%s has no target %s (no %s build for %s on channel %s): publish one with `orbitctl updates add`, or give the file with --%s",
					via, missing.Target, p.comp.Name, j.platform, p.comp.Channel, p.flag)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", via, err)
	}
	out := map[string]fetchedData{}
	for _, f := range got {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, err
		}
		out[f.Name] = fetchedData{f, data}
	}
	return out, nil
}

// check refuses a component that is not a program for the package's
// platform: a plain executable of the right format and architecture, or an
// archive with one where the updater looks for it.
func (j *job) check(p *part) error {
	data := p.data
	what := "is"
	if p.comp.IsArchive() {
		exe, err := archivedExec(data, p.comp.ExecInArchive)
		if err != nil {
			return fmt.Errorf("%s: %w", p.source(), err)
		}
		data, what = exe, "has "+p.comp.ExecInArchive+", which is"
	}
	if err := checkProgram(j.goos, j.o.Arch, data); err != nil {
		return fmt.Errorf("%s %s %w: a %s for %s needs %s %s programs", p.source(), what, trimIs(err), j.o.Type, j.o.Arch, osName[j.goos], j.o.Arch)
	}
	return nil
}

var osName = map[string]string{"linux": "Linux", "darwin": "macOS", "windows": "Windows"}

// trimIs drops binfmt's leading "is " so the message reads on from what.
func trimIs(err error) error {
	if s, ok := strings.CutPrefix(err.Error(), "is "); ok {
		return errors.New(s)
	}
	return err
}

func checkProgram(goos, arch string, data []byte) error {
	switch goos {
	case "linux":
		return binfmt.CheckELF(data, arch)
	case "darwin":
		return binfmt.CheckMachO(data, arch)
	default:
		return binfmt.CheckPE(data, arch)
	}
}

// archivedExec returns the file at name in a .tar.gz, as the updater would
// find it after extracting.
func archivedExec(data []byte, name string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("is not a .tar.gz archive: %v", err)
	}
	tr := tar.NewReader(zr)
	for i := 0; i < maxArchiveItems; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("is not a readable .tar.gz archive: %v", err)
		}
		if path.Clean(strings.TrimPrefix(h.Name, "./")) != name {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("has %s, but not as a regular file", name)
		}
		exe, err := io.ReadAll(io.LimitReader(tr, maxArchivedExec))
		if err != nil {
			return nil, fmt.Errorf("is not a readable .tar.gz archive: %v", err)
		}
		return exe, nil
	}
	return nil, fmt.Errorf("has no %s, where the updater runs the component from", name)
}

// readInputs reads and checks the files the settings bundle.
func (j *job) readInputs() error {
	o := j.o
	s := &j.settings
	s.FleetURL, s.Insecure, s.UpdateURL = strings.TrimRight(o.FleetURL, "/"), o.Insecure, o.UpdateURL
	s.OrbitChannel, s.OsquerydChannel, s.DesktopChannel = o.OrbitChannel, o.OsquerydChannel, o.DesktopChannel
	s.DisableUpdates, s.UpdateInterval = o.DisableUpdates, o.UpdateInterval
	s.FleetDesktop, s.EnableScripts, s.UpdateRoots = o.FleetDesktop, o.EnableScripts, true
	s.EnrollSecret = o.EnrollSecret
	if o.EnrollSecretPath != "" {
		b, err := safefile.ReadLimited(o.EnrollSecretPath, maxSecret)
		if err != nil {
			return fmt.Errorf("--enroll-secret-path: %w", err)
		}
		if s.EnrollSecret = strings.TrimSpace(string(b)); s.EnrollSecret == "" {
			return fmt.Errorf("--enroll-secret-path %s is empty: put the enroll secret from Fleet's Add hosts page in it", o.EnrollSecretPath)
		}
		if strings.ContainsAny(s.EnrollSecret, "\r\n\x00") {
			return fmt.Errorf("--enroll-secret-path %s holds more than one line: give a file with the secret alone", o.EnrollSecretPath)
		}
	}
	if o.FleetCertificate != "" {
		b, err := safefile.ReadLimited(o.FleetCertificate, maxPEM)
		if err != nil {
			return fmt.Errorf("--fleet-certificate: %w", err)
		}
		if err := checkPEM(b); err != nil {
			return fmt.Errorf("--fleet-certificate %s %w", o.FleetCertificate, err)
		}
		s.FleetCertificate = b
	}
	if o.OsqueryFlagfile != "" {
		b, err := safefile.ReadLimited(o.OsqueryFlagfile, maxFlagfile)
		if err != nil {
			return fmt.Errorf("--osquery-flagfile: %w", err)
		}
		if err := checkFlagfile(b); err != nil {
			return fmt.Errorf("--osquery-flagfile %s %w", o.OsqueryFlagfile, err)
		}
		s.OsqueryFlagfile = b
	}
	if o.OsqueryConfig != "" {
		b, err := safefile.ReadLimited(o.OsqueryConfig, maxConfig)
		if err != nil {
			return fmt.Errorf("--osquery-config: %w", err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return fmt.Errorf("--osquery-config %s is empty", o.OsqueryConfig)
		}
		s.OsqueryConfig = b
	}
	return j.readRoot()
}

// readRoot reads the trusted root: --update-roots, or the local
// repository's own root.json.
func (j *job) readRoot() error {
	v, flag := j.o.UpdateRoots, "--update-roots"
	if j.o.LocalRepo != "" {
		local := filepath.Join(repo.RepositoryPath(j.o.LocalRepo), "root.json")
		if _, err := os.Stat(local); err != nil {
			return fmt.Errorf("--local-repo %s holds no root.json: give a directory made by `orbitctl updates init` (or its repository/)", j.o.LocalRepo)
		}
		if v == "" {
			v, flag = local, "--local-repo"
		}
	}
	root, err := updater.ParseRoots(v)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	j.root = root
	return nil
}

// checkPEM wants at least one certificate, and nothing unparsable.
func checkPEM(b []byte) error {
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("holds a certificate that does not parse: %v", err)
		}
		n++
	}
	if n == 0 {
		return errors.New("holds no PEM certificate: give the CA bundle (PEM) that signs the Fleet server's certificate")
	}
	return nil
}

// checkFlagfile wants lines osqueryd reads as flags: --name=value (or a
// bare --name for a boolean) of flags it defines, blank lines and #
// comments.
func checkFlagfile(b []byte) error {
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "-") {
			return fmt.Errorf("line %d is not a flag (--name=value)", i+1)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(line, "-"), "=")
		if !hasValue {
			def, ok := osquery.LookupFlag(name)
			if !ok {
				return fmt.Errorf("line %d: osqueryd defines no flag %q", i+1, name)
			}
			if def.Type != osquery.FlagBool {
				return fmt.Errorf("line %d: flag %q needs a value (--%s=...)", i+1, name, name)
			}
			continue
		}
		if err := osquery.CheckFlagValue(name, value); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}
