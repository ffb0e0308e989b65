//go:build linux

// Package chroottest gives tests a Debian bookworm system to install
// packages into: a debootstrap chroot (--variant=minbase, with systemd for
// systemctl and systemd-analyze, and rpm and rpmlint), built once and
// cached as a tarball (about 85 MB) under $ORBIT_TEST_CACHE, then
// extracted afresh for every test into its own temporary directory. The
// first build needs Debian's mirror (about 70 s here); a cached test pays
// only the extraction (3 to 10 s, with the machine's load).
//
// Commands run with chroot(8) in a private mount namespace with /proc
// mounted, so nothing stays mounted on the host when they end, however
// they end.
package chroottest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/packaging/internal/tooltest"
)

// Version names the cached tarball; bump it when the package list or the
// pruning changes, so stale caches are not used.
const Version = "bookworm-minbase-systemd-rpm-rpmlint-v1"

// Mirror is the Debian mirror debootstrap fetches from (the one apt uses
// here).
var Mirror = "http://deb.debian.org/debian"

// Packages are installed on top of minbase. python3-cffi-backend is listed
// because debootstrap cannot resolve the virtual package rpmlint's
// python3-zstandard depends on.
var Packages = []string{"systemd", "rpm", "rpmlint", "python3-cffi-backend"}

// Chroot is one extracted system.
type Chroot struct {
	Dir string
}

// CacheDir is $ORBIT_TEST_CACHE, or ~/.cache/orbit-test.
func CacheDir() (string, error) {
	if d := os.Getenv("ORBIT_TEST_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no ORBIT_TEST_CACHE and no home directory: %w", err)
	}
	return filepath.Join(home, ".cache", "orbit-test"), nil
}

// New extracts the cached system into a new temporary directory, building
// the cache first if it is missing. It needs root (chroot, device nodes,
// file owners): without it the test skips on a laptop and fails under
// CI=true.
func New(t testing.TB) *Chroot {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("chroot tests need root under CI=true")
		}
		t.Skip("chroot tests need root")
	}
	for _, tool := range []string{"debootstrap", "tar", "chroot", "unshare"} {
		tooltest.Need(t, tool)
	}
	tarball, err := Tarball(t)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := time.Now()
	if out, err := exec.Command("tar", "-xzf", tarball, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", tarball, err, out)
	}
	t.Logf("chroot extracted in %v", time.Since(start).Round(time.Millisecond))
	return &Chroot{Dir: dir}
}

// Tarball returns the cached system's tarball, building it under an
// exclusive lock if it is missing (the deb and rpm tests may ask at once).
func Tarball(t testing.TB) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "chroot")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the chroot cache %s: %w", dir, err)
	}
	tarball := filepath.Join(dir, Version+".tar.gz")
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock the chroot cache: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(tarball); err == nil {
		return tarball, nil
	}
	start := time.Now()
	if err := build(dir, tarball); err != nil {
		return "", err
	}
	fi, _ := os.Stat(tarball)
	t.Logf("chroot cache built in %v (%d MB): %s", time.Since(start).Round(time.Second), fi.Size()>>20, tarball)
	return tarball, nil
}

func build(cacheDir, tarball string) error {
	root, err := os.MkdirTemp(cacheDir, "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase",
		"--include="+strings.Join(Packages, ","), "bookworm", root, Mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("debootstrap bookworm from %s: %v (it needs Debian's mirror)\n%s", Mirror, err, tail(out))
	}
	// What a test never reads: downloaded .debs, package lists, docs,
	// translations. About a third of the tree.
	for _, glob := range []string{
		"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*",
		"usr/share/man/*", "usr/share/locale/*", "usr/share/info/*",
	} {
		matches, _ := filepath.Glob(filepath.Join(root, glob))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	tmp := tarball + ".tmp"
	if out, err := exec.CommandContext(ctx, "tar", "-czf", tmp, "-C", root, ".").CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pack the chroot: %v\n%s", err, out)
	}
	return os.Rename(tmp, tarball)
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// Path is p inside the chroot, as seen from the host.
func (c *Chroot) Path(p string) string { return filepath.Join(c.Dir, p) }

// Command returns name and args run inside the chroot, in a private mount
// namespace with /proc mounted, with a clean environment.
func (c *Chroot) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	script := `mount -t proc proc "$0/proc" && exec chroot "$0" "$@"`
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script, c.Dir, name}, args...)...)
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive", "HOME=/root",
	}
	return cmd
}

// Run runs a command in the chroot and returns its combined output,
// failing the test when it exits non-zero.
func (c *Chroot) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := c.Try(name, args...)
	if err != nil {
		t.Fatalf("in the chroot: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs a command in the chroot and returns its combined output and
// its error, for commands expected to fail.
func (c *Chroot) Try(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := c.Command(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Copy puts a host file into the chroot at p.
func (c *Chroot) Copy(t testing.TB, hostPath, p string) {
	t.Helper()
	data, err := os.ReadFile(hostPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.Path(p), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
