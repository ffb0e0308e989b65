//go:build !windows

package updater

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
)

// closedURL is an update URL where nothing listens: the network to the
// update server is closed.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

var bundledDesktop = Component{Name: "desktop", Channel: "stable", FileName: "desktop.tar.gz",
	ExecInArchive: "fleet-desktop/fleet-desktop", ExecCheck: []string{"--help"}}

const desktopName = "desktop/linux/stable/desktop.tar.gz"

// desktopArchive is a tray app archive whose program passes the exec check.
func desktopArchive(t testing.TB, version string) []byte {
	return testbin.TarGz(t, map[string][]byte{"fleet-desktop/fleet-desktop": []byte("#!/bin/sh\necho tray " + version + "\n")})
}

// bundle puts data where a package puts a bundled target, and a manifest
// listing entries.
func (e *env) bundle(name string, data []byte, entries ...BundledTarget) {
	e.t.Helper()
	p := filepath.Join(e.layout.Root, "bin", filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if entries == nil {
		return
	}
	m, err := Bundle{Targets: entries}.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(BundleManifestPath(e.layout), m, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func targetRequests(s *testServer) []string {
	var out []string
	for _, p := range s.requested() {
		if strings.HasPrefix(p, "/targets/") {
			out = append(out, p)
		}
	}
	return out
}

// A packaged tray archive runs with the update server unreachable, and the
// first check that reaches the server downloads nothing: the same target
// and hash are installed.
func TestBundledArchiveAdoptedOffline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	desk := desktopArchive(t, "1.2.0")
	e.repo.addTarget(desktopName, desk, "1.2.0")
	e.repo.publish()
	e.bundle(desktopName, desk, BundledFile(desktopName, "1.2.0", desk))

	cfg := e.config(bundledDesktop)
	cfg.UpdateURL = closedURL(t)
	u := e.updater(cfg)
	if _, err := u.ExecPath("desktop"); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("before the first check ExecPath = %v, want ErrNotInstalled", err)
	}
	if _, err := u.Check(context.Background()); err == nil {
		t.Fatal("a check with the server unreachable succeeded")
	}
	exe, err := u.ExecPath("desktop")
	if err != nil {
		t.Fatalf("the bundled archive was not adopted offline: %v", err)
	}
	if want := filepath.Join(e.layout.Root, "bin", "desktop", "linux", "stable"); !strings.HasPrefix(exe, want+string(filepath.Separator)+"desktop.") ||
		!strings.HasSuffix(exe, filepath.FromSlash("/fleet-desktop/fleet-desktop")) {
		t.Errorf("adopted executable %s is not in an extracted directory under %s", exe, want)
	}
	if !bytes.Contains(mustRead(t, exe), []byte("tray 1.2.0")) {
		t.Errorf("adopted executable holds %q", mustRead(t, exe))
	}
	// The bundled file stays: it is the package's.
	if !bytes.Equal(mustRead(t, filepath.Join(e.layout.Root, "bin", filepath.FromSlash(desktopName))), desk) {
		t.Error("adoption changed the bundled archive")
	}

	// orbit restarts with the network back: nothing to download.
	e.srv.reset()
	u2 := e.updater(e.config(bundledDesktop))
	res, err := u2.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Unchanged, "desktop") || len(res.Installed) != 0 {
		t.Errorf("online check after adoption: %+v, want desktop unchanged", res)
	}
	if got := targetRequests(e.srv); len(got) != 0 {
		t.Errorf("the online check downloaded %v", got)
	}
	if p, _ := u2.ExecPath("desktop"); p != exe {
		t.Errorf("after the online check the tray app is %s, want the adopted %s", p, exe)
	}
}

// A bundled archive is adopted only when it is what the manifest says, for
// the configured channel; otherwise the updater downloads the target.
func TestBundledArchiveRefused(t *testing.T) {
	t.Parallel()
	desk := desktopArchive(t, "1.2.0")
	other := desktopArchive(t, "9.9.9")
	for _, tt := range []struct {
		name    string
		file    []byte
		entries []BundledTarget
	}{
		{"file differs from the manifest", other, []BundledTarget{BundledFile(desktopName, "1.2.0", desk)}},
		{"no manifest", desk, nil},
		{"manifest for another channel", desk, []BundledTarget{BundledFile("desktop/linux/edge/desktop.tar.gz", "1.2.0", desk)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, false)
			e.repo.addTarget(desktopName, desk, "1.2.0")
			e.repo.publish()
			e.bundle(desktopName, tt.file, tt.entries...)
			cfg := e.config(bundledDesktop)
			cfg.UpdateURL = closedURL(t)
			u := e.updater(cfg)
			u.Check(context.Background())
			if p, err := u.ExecPath("desktop"); err == nil {
				t.Fatalf("adopted %s offline", p)
			}
			res, err := e.updater(e.config(bundledDesktop)).Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(res.Installed, "desktop") {
				t.Errorf("online check %+v, want the target downloaded and installed", res)
			}
			if got := targetRequests(e.srv); len(got) != 1 {
				t.Errorf("target requests %v, want one download", got)
			}
		})
	}
}

// The manifest is the same bytes for the same targets, whatever their
// order, and refuses what the updater could not use.
func TestBundleManifest(t *testing.T) {
	t.Parallel()
	a := BundledFile("osqueryd/linux/stable/osqueryd", "5.1.0", []byte("a"))
	b := BundledFile(desktopName, "", []byte("b"))
	m1, err := Bundle{Targets: []BundledTarget{a, b}}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := Bundle{Targets: []BundledTarget{b, a}}.Marshal()
	if !bytes.Equal(m1, m2) {
		t.Error("the manifest depends on the order of its targets")
	}
	if i, j := bytes.Index(m1, []byte(desktopName)), bytes.Index(m1, []byte("osqueryd/linux")); i < 0 || j < i {
		t.Errorf("targets not sorted by name:\n%s", m1)
	}
	for name, bad := range map[string]Bundle{
		"duplicate": {Targets: []BundledTarget{a, a}},
		"no hash":   {Targets: []BundledTarget{{Name: "x/linux/stable/x", Length: 1}}},
		"bad hex":   {Targets: []BundledTarget{{Name: "x/linux/stable/x", Length: 1, Hashes: map[string]string{"sha256": "zz"}}}},
		"no length": {Targets: []BundledTarget{{Name: "x/linux/stable/x", Hashes: a.Hashes}}},
	} {
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("%s: Marshal accepted %+v", name, bad)
		}
	}
}
