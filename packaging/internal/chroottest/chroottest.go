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
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
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
	testbin.NeedRoot(t, "chroot tests make device nodes and set file owners")
	for _, tool := range []string{"debootstrap", "tar", "chroot", "unshare"} {
		testbin.NeedTool(t, tool)
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

// Want is what a path must be in the chroot after a step: Missing, or of
// Mode, owned by root, and for a link pointing at Link (if set).
type Want struct {
	Path    string
	Missing bool
	Mode    fs.FileMode
	Link    string
}

// Check reports every path that is not as wanted after step.
func (c *Chroot) Check(t testing.TB, step string, wants []Want) {
	t.Helper()
	for _, w := range wants {
		fi, err := os.Lstat(c.Path(w.Path))
		switch {
		case w.Missing:
			if err == nil {
				t.Errorf("after %s: %s is still there", step, w.Path)
			}
			continue
		case err != nil:
			t.Errorf("after %s: %v", step, err)
			continue
		}
		if fi.Mode() != w.Mode {
			t.Errorf("after %s: %s has mode %v, want %v", step, w.Path, fi.Mode(), w.Mode)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != 0 || st.Gid != 0) {
			t.Errorf("after %s: %s is owned by %d:%d, want root", step, w.Path, st.Uid, st.Gid)
		}
		if w.Link != "" {
			if got, _ := os.Readlink(c.Path(w.Path)); got != w.Link {
				t.Errorf("after %s: %s -> %q, want %q", step, w.Path, got, w.Link)
			}
		}
	}
}

// NodeKey is the content PlantRunState writes into the node key.
const NodeKey = "node-key-from-enrollment\n"

// PlantRunState writes what a running agent leaves under /opt/orbit (the
// node key from enrollment) and what its updater installs next to the
// bundled components (another channel's osqueryd), for a test to check
// that upgrades keep them; it returns them as Wants.
func (c *Chroot) PlantRunState(t testing.TB) []Want {
	t.Helper()
	edge := c.Path("/opt/orbit/bin/osqueryd/linux/edge/osqueryd")
	if err := os.MkdirAll(filepath.Dir(edge), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data string
		mode fs.FileMode
	}{
		{c.Path("/opt/orbit/secret-orbit-node-key.txt"), NodeKey, 0o600},
		{edge, "#!/bin/sh\n", 0o755},
	} {
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return []Want{
		{Path: "/opt/orbit/secret-orbit-node-key.txt", Mode: 0o600},
		{Path: "/opt/orbit/bin/osqueryd/linux/edge/osqueryd", Mode: 0o755},
	}
}

// CheckNodeKey fails the test if the planted node key changed.
func (c *Chroot) CheckNodeKey(t testing.TB, step string) {
	t.Helper()
	if b, _ := os.ReadFile(c.Path("/opt/orbit/secret-orbit-node-key.txt")); string(b) != NodeKey {
		t.Errorf("after %s the node key holds %q", step, b)
	}
}

// FakeRunningSystemd makes the chroot look like a host where systemd runs
// (/run/systemd/system exists, the test the hooks use) and replaces
// systemctl with a script that records its arguments. It returns a
// function that gives the calls made since it was last called, one a line.
func (c *Chroot) FakeRunningSystemd(t testing.TB) func() string {
	t.Helper()
	if err := os.MkdirAll(c.Path("/run/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	record := "#!/bin/sh\necho \"$*\" >>/tmp/systemctl.log\n"
	if err := os.WriteFile(c.Path("/usr/bin/systemctl"), []byte(record), 0o755); err != nil {
		t.Fatal(err)
	}
	return func() string {
		b, _ := os.ReadFile(c.Path("/tmp/systemctl.log"))
		os.Remove(c.Path("/tmp/systemctl.log"))
		return strings.TrimSpace(string(b))
	}
}
