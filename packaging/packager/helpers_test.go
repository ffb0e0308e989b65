package packager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/updater/repo"
)

func TestMain(m *testing.M) {
	os.Setenv("CGO_ENABLED", "0")
	code := testbin.Main(m)
	if shared != "" {
		os.RemoveAll(shared)
	}
	os.Exit(code)
}

// stamp is the tests' SOURCE_DATE_EPOCH.
var stamp = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

const secret = "packager-enroll-secret-77c3"

// prog is a small real program for goos/goarch (the packager never runs
// it, it checks its format): packaging/testdata/winhello.
func prog(t testing.TB, goos, arch string) []byte {
	t.Helper()
	b, err := os.ReadFile(testbin.BuildFor(t, "./packaging/testdata/winhello", "hello-"+goos+"-"+arch, goos, arch))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// published is one target of the test repository.
type published struct {
	name, platform, file, version string
	data                          func(t testing.TB) []byte
}

// components are the targets of every platform the tests package for.
var components = []published{
	{"orbit", "linux", "orbit", "1.2.3", func(t testing.TB) []byte { return prog(t, "linux", "amd64") }},
	{"osqueryd", "linux", "osqueryd", "5.12.1", func(t testing.TB) []byte { return append(prog(t, "linux", "amd64"), "osqueryd"...) }},
	{"desktop", "linux", "desktop.tar.gz", "1.30.0", func(t testing.TB) []byte {
		return testbin.TarGz(t, map[string][]byte{"fleet-desktop/fleet-desktop": prog(t, "linux", "amd64")})
	}},
	{"orbit", "macos", "orbit", "1.2.3", func(t testing.TB) []byte { return prog(t, "darwin", "arm64") }},
	{"osqueryd", "macos-app", "osqueryd.app.tar.gz", "5.12.1", func(t testing.TB) []byte {
		return testbin.TarGz(t, map[string][]byte{"osquery.app/Contents/MacOS/osqueryd": prog(t, "darwin", "arm64")})
	}},
	{"orbit", "windows", "orbit.exe", "1.2.3", func(t testing.TB) []byte { return prog(t, "windows", "amd64") }},
	{"osqueryd", "windows", "osqueryd.exe", "5.12.1", func(t testing.TB) []byte { return append(prog(t, "windows", "amd64"), "osqueryd"...) }},
}

var (
	repoOnce sync.Once
	shared   string // a directory the test binary removes at the end
	repoDir  string
	repoErr  error
)

// testRepo is a repository made by the release tool's own code, as
// `orbitctl updates` makes it, with the components of every platform on
// the stable channel; built once per test binary. Do not change it.
func testRepo(t testing.TB) string {
	t.Helper()
	repoOnce.Do(func() {
		if shared, repoErr = os.MkdirTemp("", "orbit-packager-test-"); repoErr != nil {
			return
		}
		repoDir = filepath.Join(shared, "tuf")
		pass := repo.MapPassphrases{"root": "r", "targets": "t", "snapshot": "s", "timestamp": "ts"}
		clk := clocktest.New(time.Now())
		if repoErr = repo.Init(repoDir, repo.InitOptions{Passphrases: pass, ScryptLogN: 4, Clock: clk}); repoErr != nil {
			return
		}
		r, err := repo.Open(repoDir, repo.OpenOptions{Passphrases: pass, ScryptLogN: 4, Clock: clk})
		if err != nil {
			repoErr = err
			return
		}
		defer r.Close()
		for i, c := range components {
			src := filepath.Join(shared, fmt.Sprintf("target-%d", i))
			if repoErr = os.WriteFile(src, c.data(t), 0o644); repoErr != nil {
				return
			}
			if repoErr = r.AddTarget(context.Background(), repo.AddTarget{File: src, Name: c.name, Platform: c.platform,
				Version: c.version, Tags: []string{"stable"}, FileName: c.file}); repoErr != nil {
				return
			}
		}
	})
	if repoErr != nil {
		t.Fatalf("make the test repository: %v", repoErr)
	}
	return repoDir
}

// serve serves the test repository over HTTP on 127.0.0.1.
func serve(t testing.TB) string {
	srv := httptest.NewServer(repo.Handler(testRepo(t)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fleetOptions are the options of a Fleet package of typ from the local
// test repository, written under dir.
func fleetOptions(t testing.TB, typ, arch, dir string) Options {
	t.Helper()
	secretFile := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Options{
		Type: typ, Arch: arch, Identifier: "com.example.orbit",
		FleetURL: "https://fleet.example.com:8443", EnrollSecretPath: secretFile,
		UpdateURL: "https://updates.example.com", LocalRepo: testRepo(t),
		Output: filepath.Join(dir, "orbit."+typ), ModTime: stamp,
	}
}

// entries lists a directory's names.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// testCertPEM is a self-signed CA certificate in PEM.
func testCertPEM(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: stamp, NotAfter: stamp.Add(24 * time.Hour * 3650), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
