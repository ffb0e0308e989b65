package packager

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/updater/repo"
)

// Bad input is one line naming what to change, and no file at --output,
// nor any temporary one beside it: whether it is caught before anything
// is fetched, after the download, or by the format's writer at the end.
func TestBadInput(t *testing.T) {
	t.Parallel()
	write := func(dir, name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name   string
		typ    string
		modify func(o *Options, dir string)
		want   string
	}{
		{"unknown type", "deb", func(o *Options, _ string) { o.Type = "apk" }, `unknown package type "apk": use --type deb, rpm, pkg or msi`},
		{"unknown arch", "deb", func(o *Options, _ string) { o.Arch = "riscv64" }, `unknown arch "riscv64": use --arch amd64 or arm64`},
		{"windows binary in a deb", "deb", func(o *Options, dir string) {
			o.OrbitPath = write(dir, "orbit.exe", prog(t, "windows", "amd64"))
		}, "orbit.exe is a Windows PE, not a Linux ELF executable: a deb for amd64 needs Linux amd64 programs"},
		{"linux binary in an msi", "msi", func(o *Options, dir string) {
			o.OsquerydPath = write(dir, "osqueryd", prog(t, "linux", "amd64"))
		}, "osqueryd is a Linux ELF, not a Windows PE executable: a msi for amd64 needs Windows amd64 programs"},
		{"arm64 binary in an amd64 rpm", "rpm", func(o *Options, dir string) {
			o.OrbitPath = write(dir, "orbit", prog(t, "linux", "arm64"))
		}, "is a Linux arm64 executable (ELFCLASS64), not amd64"},
		{"linux program in the macOS archive", "pkg", func(o *Options, dir string) {
			o.OsquerydPath = write(dir, "osqueryd.app.tar.gz", testbin.TarGz(t, map[string][]byte{"osquery.app/Contents/MacOS/osqueryd": prog(t, "linux", "arm64")}))
		}, "has osquery.app/Contents/MacOS/osqueryd, which is a Linux ELF, not a macOS Mach-O executable"},
		{"tray archive without the program", "deb", func(o *Options, dir string) {
			o.FleetDesktop = true
			o.DesktopPath = write(dir, "desktop.tar.gz", testbin.TarGz(t, map[string][]byte{"other/fleet-desktop": prog(t, "linux", "amd64")}))
		}, "has no fleet-desktop/fleet-desktop, where the updater runs the component from"},
		{"fleet url without a secret", "deb", func(o *Options, _ string) { o.EnrollSecretPath = "" }, "--fleet-url needs an enroll secret"},
		{"secret without fleet", "deb", func(o *Options, _ string) { o.FleetURL = "" }, "--enroll-secret-path needs --fleet-url"},
		{"empty secret file", "deb", func(o *Options, dir string) { o.EnrollSecretPath = write(dir, "empty", []byte("\n")) }, "is empty"},
		{"certificate missing", "deb", func(o *Options, dir string) { o.FleetCertificate = filepath.Join(dir, "nope.pem") }, "--fleet-certificate: "},
		{"certificate not PEM", "rpm", func(o *Options, dir string) { o.FleetCertificate = write(dir, "ca.pem", []byte("not a cert")) }, "holds no PEM certificate"},
		{"certificate a directory", "rpm", func(o *Options, dir string) { o.FleetCertificate = dir }, "--fleet-certificate: "},
		{"insecure with a certificate", "deb", func(o *Options, dir string) {
			o.Insecure, o.FleetCertificate = true, write(dir, "ca.pem", testCertPEM(t))
		}, "--insecure with --fleet-certificate"},
		{"no arm64 targets in the repository", "deb", func(o *Options, _ string) { o.Arch = "arm64" },
			"has no target orbit/linux-arm64/stable/orbit (no orbit build for linux-arm64 on channel stable): publish one with `orbitctl updates add`, or give the file with --orbit-path"},
		{"no such channel", "rpm", func(o *Options, _ string) { o.OsquerydChannel = "edge" },
			"has no target osqueryd/linux/edge/osqueryd"},
		{"no tray app for windows", "msi", func(o *Options, _ string) { o.FleetDesktop = true }, "has no target desktop/windows/stable/fleet-desktop.exe"},
		{"another repository's root", "deb", func(o *Options, dir string) {
			other := filepath.Join(dir, "other")
			pass := repo.MapPassphrases{"root": "r", "targets": "t", "snapshot": "s", "timestamp": "ts"}
			if err := repo.Init(other, repo.InitOptions{Passphrases: pass, ScryptLogN: 4}); err != nil {
				t.Fatal(err)
			}
			o.UpdateRoots = filepath.Join(repo.RepositoryPath(other), "root.json")
		}, "refresh TUF metadata"},
		{"not a repository", "deb", func(o *Options, dir string) { o.LocalRepo = dir }, "holds no root.json"},
		{"output directory missing", "deb", func(o *Options, dir string) { o.Output = filepath.Join(dir, "no", "orbit.deb") }, "does not exist: create it first"},
		{"output is a directory", "deb", func(o *Options, dir string) { o.Output = dir }, "is a directory"},
		{"bad identifier", "pkg", func(o *Options, _ string) { o.Identifier = "orbit" }, "--identifier \"orbit\" must be reverse-DNS"},
		{"bad version", "deb", func(o *Options, _ string) { o.Version = "1.2-3" }, "--version \"1.2-3\" must be X.Y.Z"},
		{"bad channel", "deb", func(o *Options, _ string) { o.OrbitChannel = "../x" }, "--orbit-channel"},
		{"short interval", "deb", func(o *Options, _ string) { o.UpdateInterval = 1 }, "--update-interval"},
		{"standalone with fleet", "deb", func(o *Options, dir string) { o.OsqueryConfig = write(dir, "osquery.conf", []byte("{}")) }, "--osquery-config is standalone mode"},
		{"unknown osquery flag", "deb", func(o *Options, dir string) {
			o.OsqueryFlagfile = write(dir, "flags", []byte("--verbose\n# ok\n--no_such_flag=1\n"))
		}, "line 3: osqueryd defines no flag \"no_such_flag\""},
		{"gpg key for an msi", "msi", func(o *Options, _ string) { o.SignKey = "key.asc" }, "--sign-key signs deb and rpm packages"},
		{"unreadable gpg key", "deb", func(o *Options, dir string) { o.SignKey = filepath.Join(dir, "none.asc") }, "--sign-key: "},
		{"authenticode for a deb", "deb", func(o *Options, _ string) { o.AuthenticodeCert, o.AuthenticodeKey = "c", "k" }, "--authenticode-cert signs Windows programs"},
		{"authenticode key missing", "msi", func(o *Options, dir string) {
			o.AuthenticodeCert, o.AuthenticodeKey = write(dir, "c.pem", testCertPEM(t)), filepath.Join(dir, "none.key")
		}, "authenticode: read key"},
		{"updates off on macOS", "pkg", func(o *Options, _ string) { o.DisableUpdates = true }, "the bundled macOS osqueryd (osqueryd.app.tar.gz) is an archive the updater unpacks"},
		{"updates off with the linux tray", "deb", func(o *Options, _ string) { o.DisableUpdates, o.FleetDesktop = true, true }, "tray app (desktop.tar.gz) is an archive"},
		{"a value the msi cannot carry", "msi", func(o *Options, _ string) { o.FleetURL = "https://fleet.example.com/$x" }, "contains '$'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			arch := "amd64"
			if tt.typ == "pkg" {
				arch = "arm64"
			}
			o := fleetOptions(t, tt.typ, arch, dir)
			out := t.TempDir()
			o.Output = filepath.Join(out, "orbit.pkgfile")
			tt.modify(&o, dir)
			before := entries(t, out)
			_, err := Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want one about %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error spans lines: %q", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret: %q", err)
			}
			if after := entries(t, out); len(after) != len(before) {
				t.Errorf("a refused build left %v in the output directory", after)
			}
			if _, err := os.Stat(o.Output); err == nil && !strings.HasSuffix(tt.name, "directory") {
				t.Errorf("a refused build wrote %s", o.Output)
			}
		})
	}
}
