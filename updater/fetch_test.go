//go:build !windows

package updater

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
)

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Fetch downloads the named targets of another platform (a Windows build
// from Linux: no exec check could run it) into dir, verified, and says
// what it fetched.
func TestFetchDownloadsVerifiedTargets(t *testing.T) {
	t.Parallel()
	for _, consistent := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "consistent"}[consistent], func(t *testing.T) {
			t.Parallel()
			repo := newTestRepo(t, consistent)
			exe := append([]byte("MZ not runnable here "), bytes.Repeat([]byte{7}, 300<<10)...)
			desk := testbin.TarGz(t, map[string][]byte{"fleet-desktop/fleet-desktop": []byte("#!/bin/sh\n")})
			repo.addTarget("orbit/windows/stable/orbit.exe", exe, "1.4.0")
			repo.addTarget("desktop/linux/edge/desktop.tar.gz", desk, "1.2.0")
			repo.publish()
			srv := newTestServer(t, repo.dir)
			dir := t.TempDir()
			var progress bytes.Buffer
			got, err := Fetch(context.Background(), FetchConfig{UpdateURL: srv.srv.URL, RootJSON: repo.bundled, Progress: &progress},
				dir, "orbit/windows/stable/orbit.exe", "desktop/linux/edge/desktop.tar.gz")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("fetched %d targets, want 2", len(got))
			}
			for i, want := range []struct {
				name, version string
				data          []byte
			}{{"orbit/windows/stable/orbit.exe", "1.4.0", exe}, {"desktop/linux/edge/desktop.tar.gz", "1.2.0", desk}} {
				f := got[i]
				if f.Name != want.name || f.Version != want.version || f.Length != int64(len(want.data)) {
					t.Errorf("fetched %+v, want %s %s of %d bytes", f, want.name, want.version, len(want.data))
				}
				if f.Path != filepath.Join(dir, filepath.FromSlash(want.name)) {
					t.Errorf("%s fetched to %s", want.name, f.Path)
				}
				if !bytes.Equal(mustRead(t, f.Path), want.data) {
					t.Errorf("%s: the file differs from the target", want.name)
				}
				sum := sha512.Sum512(want.data)
				if f.Hashes["sha512"] != hex.EncodeToString(sum[:]) || f.Hashes["sha256"] == "" {
					t.Errorf("%s hashes %v", want.name, f.Hashes)
				}
				if !strings.Contains(progress.String(), "fetching "+want.name+" "+want.version+", ") {
					t.Errorf("no progress line for %s in:\n%s", want.name, progress.String())
				}
			}
			if n := strings.Count(progress.String(), "\n"); n != 2 {
				t.Errorf("%d progress lines, want one per download:\n%s", n, progress.String())
			}
			if files := listFiles(t, dir); len(files) != 2 {
				t.Errorf("dir holds %v, want the two targets only", files)
			}
		})
	}
}

// Whatever goes wrong, the error says what and dir keeps nothing: not the
// targets fetched before the failure, not a partial download.
func TestFetchRefusesAndLeavesNothing(t *testing.T) {
	t.Parallel()
	good := bytes.Repeat([]byte("osqueryd"), 1000)
	for _, tt := range []struct {
		name  string
		setup func(r *testRepo, s *testServer) (root []byte)
		want  string
	}{
		{"missing target", func(r *testRepo, s *testServer) []byte { return r.bundled },
			"has no target osqueryd/linux/edge/osqueryd: publish it"},
		{"tampered target", func(r *testRepo, s *testServer) []byte {
			r.addTarget("osqueryd/linux/edge/osqueryd", good, "5.1.0")
			r.publish()
			bad := bytes.Clone(good)
			bad[10] ^= 1
			s.serveBytes("/targets/osqueryd/linux/edge/osqueryd", bad)
			return r.bundled
		}, "hash does not match the signed metadata"},
		{"longer than signed", func(r *testRepo, s *testServer) []byte {
			r.addTarget("osqueryd/linux/edge/osqueryd", good, "5.1.0")
			r.publish()
			s.set("/targets/osqueryd/linux/edge/osqueryd", endless)
			return r.bundled
		}, "the signed length is"},
		{"another repository's root", func(r *testRepo, s *testServer) []byte {
			return newTestRepo(t, false).bundled
		}, "refresh TUF metadata"},
		{"server down", func(r *testRepo, s *testServer) []byte {
			s.set("/timestamp.json", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
			return r.bundled
		}, "refresh TUF metadata"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo := newTestRepo(t, false)
			repo.addTarget("orbit/linux/stable/orbit", []byte("orbit build"), "1.0.0")
			repo.publish()
			srv := newTestServer(t, repo.dir)
			root := tt.setup(repo, srv)
			dir := t.TempDir()
			_, err := Fetch(context.Background(), FetchConfig{UpdateURL: srv.srv.URL, RootJSON: root},
				dir, "orbit/linux/stable/orbit", "osqueryd/linux/edge/osqueryd")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Fetch error = %v, want one about %q", err, tt.want)
			}
			if tt.name == "missing target" {
				var m *MissingTargetError
				if !errors.As(err, &m) || m.Target != "osqueryd/linux/edge/osqueryd" {
					t.Errorf("error %v is not a MissingTargetError naming the target", err)
				}
			}
			if files := listFiles(t, dir); len(files) != 0 {
				t.Errorf("a failed fetch left %v", files)
			}
		})
	}
}

func TestFetchRefusesBadNames(t *testing.T) {
	t.Parallel()
	repo := newTestRepo(t, false)
	for _, name := range []string{"../x", "/etc/passwd", "a//b", `a\b`, ""} {
		if _, err := Fetch(context.Background(), FetchConfig{UpdateURL: "http://127.0.0.1:1", RootJSON: repo.bundled}, t.TempDir(), name); err == nil {
			t.Errorf("Fetch accepted target name %q", name)
		}
	}
}

func TestPlatformFor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ goos, goarch, want string }{
		{"linux", "amd64", "linux"}, {"linux", "arm64", "linux-arm64"}, {"darwin", "amd64", "macos"},
		{"darwin", "arm64", "macos"}, {"windows", "amd64", "windows"}, {"windows", "arm64", "windows-arm64"},
		{"linux", "riscv64", ""}, {"freebsd", "amd64", ""}, {"windows", "386", ""},
	} {
		got, err := PlatformFor(tt.goos, tt.goarch)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("PlatformFor(%s, %s) = %q, %v; want %q", tt.goos, tt.goarch, got, err, tt.want)
		}
	}
	if got := OsquerydComponentFor("darwin", "edge").TargetName("macos"); got != "osqueryd/macos-app/edge/osqueryd.app.tar.gz" {
		t.Errorf("macOS osqueryd target %q", got)
	}
	if got := OrbitComponentFor("windows", "stable").TargetName("windows-arm64"); got != "orbit/windows-arm64/stable/orbit.exe" {
		t.Errorf("Windows orbit target %q", got)
	}
	if !DesktopComponentFor("linux", "stable").IsArchive() || OsquerydComponentFor("linux", "stable").IsArchive() {
		t.Error("IsArchive: the Linux tray app is an archive, Linux osqueryd is not")
	}
}
