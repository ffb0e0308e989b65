//go:build !windows

package rootdir

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// inspect reads the owner and mode bits of p (fi is its Stat).
func inspect(p string, fi os.FileInfo) (verdict, error) {
	v := verdict{ownerOK: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v.ownerOK = trustedUID(int(st.Uid))
		v.owner = fmt.Sprintf("uid %d", st.Uid)
	}
	m := fi.Mode()
	v.why = fmt.Sprintf("mode %#o", m.Perm())
	if m.Perm()&0o022 != 0 {
		v.others = accessWrite
		if fi.IsDir() && m&os.ModeSticky != 0 {
			// Others may add entries, but only an entry's owner (or the
			// directory's, or root) may rename or remove it.
			v.others = accessCreate
			v.why = fmt.Sprintf("mode %#o, sticky", m.Perm())
		}
	}
	return v, nil
}

// inspectLink reads the owner of the link itself (fi is its Lstat): in a
// sticky directory its owner may replace it.
func inspectLink(p string, fi os.FileInfo) (verdict, error) {
	return inspect(p, fi)
}

// trustedUID is root, or the user orbit runs as (tests, a user's own
// orbit): someone who can already do what orbit does.
func trustedUID(uid int) bool { return uid == 0 || uid == os.Geteuid() }

func fixWritable(p string) string { return "run `chmod go-w " + p + "`" }
func fixOwner(p string) string    { return "run `chown root " + p + "`" }

// systemDirs are directories that belong to the system or to other
// software; none of them can be orbit's root.
func systemDirs() []string {
	dirs := []string{
		"/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
		"/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
		"/usr", "/usr/bin", "/usr/lib", "/usr/libexec", "/usr/local", "/usr/local/bin",
		"/usr/local/lib", "/usr/local/sbin", "/usr/sbin", "/usr/share",
		"/var", "/var/cache", "/var/lib", "/var/log", "/var/opt", "/var/run", "/var/tmp",
	}
	if runtime.GOOS == "darwin" {
		dirs = append(dirs, "/Applications", "/Library", "/System", "/Users", "/Volumes", "/cores",
			"/private", "/private/etc", "/private/tmp", "/private/var", "/private/var/tmp",
			"/Library/Application Support")
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, home)
	}
	return append(dirs, os.TempDir())
}

func sameDir(a, b string) bool { return a == b }
