// Package linuxtest builds the Package the deb and rpm tests check: the
// agent as orbitctl package will lay it out, with real programs in it.
package linuxtest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/internal/formattest"
	"github.com/orbitagent/orbit/packaging/internal/gpgtest"
	"github.com/orbitagent/orbit/packaging/internal/nfpmbuild"
	"github.com/orbitagent/orbit/updater/repo"
)

// Main runs a test binary that uses the fixture: programs are built static
// (CGO_ENABLED=0), as orbit's releases are, and they and the packages
// Fixture keeps are removed at the end.
func Main(m *testing.M) int {
	os.Setenv("CGO_ENABLED", "0")
	defer func() {
		if shared != "" {
			os.RemoveAll(shared)
		}
	}()
	return testbin.Main(m)
}

var (
	builtMu sync.Mutex
	shared  string
	built   = map[string]*builtPkg{}
)

type builtPkg struct {
	once sync.Once
	path string
	err  error
}

// Build builds p with f, failing the test if it cannot.
func Build(t testing.TB, f packaging.Format, p *packaging.Package) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Build(context.Background(), p, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Fixture returns the file of the unchanged fixture package of f's type
// ("deb" or "rpm") for arch and version, named as the distribution names
// it, built once per test binary: tests that only read or install a
// package share it, since every build costs seconds of compression. Do not
// change the file.
func Fixture(t testing.TB, f packaging.Format, arch, version string) string {
	t.Helper()
	name := f.Name() + "-" + arch + "-" + version
	switch f.Name() {
	case "deb":
		name = "orbit_" + version + "_" + arch + ".deb"
	case "rpm":
		name = "orbit-" + version + "-1." + arch + ".rpm"
	}
	p := Package(t, f.Name(), arch, version)
	builtMu.Lock()
	if shared == "" {
		d, err := os.MkdirTemp("", "orbit-linuxtest-")
		if err != nil {
			builtMu.Unlock()
			t.Fatal(err)
		}
		shared = d
	}
	b, ok := built[name]
	if !ok {
		b = &builtPkg{path: filepath.Join(shared, name)}
		built[name] = b
	}
	builtMu.Unlock()
	b.once.Do(func() {
		var buf bytes.Buffer
		if b.err = f.Build(context.Background(), p, &buf); b.err == nil {
			b.err = os.WriteFile(b.path, buf.Bytes(), 0o644)
		}
	})
	if b.err != nil {
		t.Fatalf("build %s: %v", name, b.err)
	}
	return b.path
}

// CheckReproducible builds the fixture twice with the format newFormat
// makes, unsigned and signed (a gpg key without a passphrase), each time
// from a fresh Package (the same inputs, not the same memory), and wants
// the same bytes; and other bytes for another ModTime.
func CheckReproducible(t *testing.T, newFormat func(nfpmbuild.Config) (*nfpmbuild.Format, error)) {
	t.Helper()
	plain, err := newFormat(nfpmbuild.Config{})
	if err != nil {
		t.Fatal(err)
	}
	key := gpgtest.New(t, "")
	signed, err := newFormat(nfpmbuild.Config{SignKeyFile: key.Secret, PassphraseEnv: "ORBIT_TEST_UNSET_PASSPHRASE"})
	if err != nil {
		t.Fatal(err)
	}
	name := plain.Name()
	a := Build(t, plain, Package(t, name, "amd64", "1.2.3"))
	if !bytes.Equal(a, Build(t, plain, Package(t, name, "amd64", "1.2.3"))) {
		t.Error("two unsigned builds of the same Package differ")
	}
	s := Build(t, signed, Package(t, name, "amd64", "1.2.3"))
	if !bytes.Equal(s, Build(t, signed, Package(t, name, "amd64", "1.2.3"))) {
		t.Error("two signed builds of the same Package differ")
	}
	p := Package(t, name, "amd64", "1.2.3")
	p.ModTime = p.ModTime.Add(time.Hour)
	if bytes.Equal(a, Build(t, plain, p)) {
		t.Error("a different ModTime gave the same bytes")
	}
}

// BenchmarkBuild builds the amd64 fixture with f in memory, and reports the
// package's size against the programs in it.
func BenchmarkBuild(b *testing.B, f packaging.Format) {
	p := Package(b, f.Name(), "amd64", "1.2.3")
	var size int
	for b.Loop() {
		var buf bytes.Buffer
		if err := f.Build(context.Background(), p, &buf); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "bytes/pkg")
	b.ReportMetric(float64(BinaryBytes(p)), "binary_bytes")
}

// BadInput is a change to the fixture that the format must refuse with an
// error containing Want.
type BadInput struct {
	Name   string
	Modify func(*packaging.Package)
	Want   string
}

// Bad is a BadInput.
func Bad(name string, modify func(*packaging.Package), want string) BadInput {
	return BadInput{Name: name, Modify: modify, Want: want}
}

// OrbitPath is the bundled orbit in the amd64 fixture.
const OrbitPath = "/opt/orbit/bin/orbit/linux/stable/orbit"

// SetFile returns a BadInput.Modify that changes the fixture's file at path.
func SetFile(path string, change func(*packaging.File)) func(*packaging.Package) {
	return func(p *packaging.Package) {
		for i := range p.Files {
			if p.Files[i].Path == path {
				change(&p.Files[i])
				return
			}
		}
		panic("the fixture has no " + path)
	}
}

// CommonBadInput is what every Linux format refuses: an unknown arch, and
// binaries for another platform (a Windows PE, an arm64 ELF) as orbit.
func CommonBadInput(t testing.TB) []BadInput {
	t.Helper()
	exe, err := os.ReadFile(testbin.BuildFor(t, "./testdata/osqueryd", "osqueryd.exe", "windows", "amd64"))
	if err != nil {
		t.Fatal(err)
	}
	_, arm64 := Programs(t, "arm64")
	return []BadInput{
		Bad("unknown arch", func(p *packaging.Package) { p.Arch = "riscv64" }, "unknown arch"),
		Bad("windows binary as orbit", SetFile(OrbitPath, func(f *packaging.File) { f.Data = exe }), "is a Windows PE, not a Linux ELF executable"),
		Bad("arm64 binary in an amd64 package", SetFile(OrbitPath, func(f *packaging.File) { f.Data = arm64 }), "Linux arm64 executable"),
	}
}

// CheckBadInput wants each case refused with one line of error and no
// bytes written, and so for a nil Package and a cancelled context.
func CheckBadInput(t *testing.T, f packaging.Format, cases []BadInput) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			p := Package(t, f.Name(), "amd64", "1.2.3")
			tt.Modify(p)
			formattest.Refused(t, f, p, tt.Want)
		})
	}
	formattest.RefusesNilAndCancelled(t, f, Package(t, f.Name(), "amd64", "1.2.3"))
}

// Stamp is the fixture's ModTime (SOURCE_DATE_EPOCH).
var Stamp = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// Secret is the fixture's enroll secret: tests look for it where it must
// not be.
const Secret = "fixture-enroll-secret-5f2c"

// Copyright is a machine-readable debian/copyright for the fixture.
const Copyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: orbit
Source: https://github.com/orbitagent/orbit

Files: *
Copyright: 2024 The orbit authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0.
`

var (
	rootOnce sync.Once
	rootJSON []byte
	rootErr  error
)

// trustedRoot is a TUF root.json made by the release tool's own code, as
// orbitctl updates init makes it.
func trustedRoot(t testing.TB) []byte {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orbit-linuxtest-repo-")
		if err != nil {
			rootErr = err
			return
		}
		defer os.RemoveAll(dir)
		pass := repo.MapPassphrases{"root": "r", "targets": "t", "snapshot": "s", "timestamp": "ts"}
		clk := clocktest.New(Stamp)
		if rootErr = repo.Init(filepath.Join(dir, "r"), repo.InitOptions{Passphrases: pass, ScryptLogN: 4, Clock: clk}); rootErr != nil {
			return
		}
		r, err := repo.Open(filepath.Join(dir, "r"), repo.OpenOptions{Passphrases: pass, ScryptLogN: 4, Clock: clk})
		if err != nil {
			rootErr = err
			return
		}
		defer r.Close()
		rootJSON, rootErr = r.RootJSON()
	})
	if rootErr != nil {
		t.Fatalf("make a TUF root: %v", rootErr)
	}
	return rootJSON
}

// Programs returns orbit and osqueryd binaries for arch: on amd64 a real
// build of ./cmd/orbit and the stand-in osqueryd; on arm64 (checked only
// for the arch mapping and the ELF check) the small stand-in serves as
// both, to spare a second cross-build of orbit.
func Programs(t testing.TB, arch string) (orbit, osqueryd []byte) {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	osqueryd = read(testbin.BuildFor(t, "./testdata/osqueryd", "osqueryd", "linux", arch))
	if arch != "amd64" {
		return osqueryd, osqueryd
	}
	return read(testbin.BuildFor(t, "./cmd/orbit", "orbit", "linux", arch)), osqueryd
}

// Agent is the agent as a package installs it: orbit and osqueryd on the
// stable channel, the trusted root, and Fleet settings with the secret.
func Agent(t testing.TB, arch string) packaging.LinuxAgent {
	t.Helper()
	platform, err := packaging.LinuxPlatform(arch)
	if err != nil {
		t.Fatal(err)
	}
	orbit, osqueryd := Programs(t, arch)
	return packaging.LinuxAgent{
		Name:        "orbit",
		Description: "Orbit osquery",
		Root:        "/opt/orbit",
		StopGrace:   10 * time.Second,
		Settings: map[string]string{
			"ORBIT_FLEET_URL":        "https://fleet.example.com:8443",
			"ORBIT_ENROLL_SECRET":    Secret,
			"ORBIT_UPDATE_URL":       "https://updates.example.com",
			"ORBIT_UPDATE_ROOTS":     "/opt/orbit/tuf/root.json",
			"ORBIT_ORBIT_CHANNEL":    "stable",
			"ORBIT_OSQUERYD_CHANNEL": "stable",
		},
		TrustedRoot: trustedRoot(t),
		Targets: []packaging.Target{
			{Component: "orbit", Platform: platform, Channel: "stable", File: "orbit", Data: orbit},
			{Component: "osqueryd", Platform: platform, Channel: "stable", File: "osqueryd", Data: osqueryd},
		},
		Copyright: []byte(Copyright),
	}
}

// Package is the fixture Package of format ("deb" or "rpm") at version.
func Package(t testing.TB, format, arch, version string) *packaging.Package {
	t.Helper()
	a := Agent(t, arch)
	files, err := a.Files(format)
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := a.Scripts()
	if err != nil {
		t.Fatal(err)
	}
	return &packaging.Package{
		Name: "orbit", Identifier: "com.example.orbit", Version: version, Arch: arch,
		Description: "Osquery runtime and autoupdater for Fleet\nRuns osqueryd, keeps it and itself updated from a TUF repository,\nand enrolls the host into Fleet.",
		Maintainer:  "Orbit Maintainers <orbit@example.com>",
		Vendor:      "Example Corp",
		Homepage:    "https://github.com/orbitagent/orbit",
		License:     "Apache-2.0",
		ModTime:     Stamp,
		Files:       files,
		Scripts:     scripts,
	}
}

// BinaryBytes is the size of the programs in p, to set a package's size
// against.
func BinaryBytes(p *packaging.Package) int {
	n := 0
	for _, f := range p.Files {
		if f.Mode.IsRegular() && f.Mode.Perm()&0o111 != 0 {
			n += len(f.Data)
		}
	}
	return n
}
