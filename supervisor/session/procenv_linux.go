package session

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/orbitagent/orbit/supervisor"
)

const (
	// maxEnviron bounds what is read of one process's environment, and
	// maxProcFile of its cgroup or status file: a user controls both.
	maxEnviron  = 256 << 10
	maxProcFile = 16 << 10
	// maxEnvValue bounds one variable taken from a user's process.
	maxEnvValue = 4096
	// envSessionID is pam_systemd's name of the session a process is in.
	envSessionID = "XDG_SESSION_ID"
)

// sessionVars are the variables taken from a session's process for the
// programs started in it: what a tray needs to reach the session bus and
// the display, and what xdg-open needs to find the user's browser.
var sessionVars = []string{
	EnvDisplay, EnvWaylandDisplay, EnvXAuthority, EnvRuntimeDir, EnvSessionBus,
	"XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP", "XDG_DATA_DIRS", "PATH", "LANG", "HOME",
}

// procInfo is what one process tells about its session.
type procInfo struct {
	pid int
	// env holds sessionVars and XDG_SESSION_ID, when set.
	env map[string]string
	// scope is the logind session whose scope holds the process
	// (cgroup ".../session-<id>.scope"), or "".
	scope string
}

// scanProcs reads, for every process whose owner is one of uids, the
// session variables of its environment and its session scope, ordered by
// pid. Processes that exit meanwhile are skipped.
func (l *Linux) scanProcs(uids map[uint32]bool) map[uint32][]procInfo {
	procDir := l.cfg.ProcDir
	out := map[uint32][]procInfo{}
	if len(uids) == 0 {
		return out
	}
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		dir := filepath.Join(procDir, e.Name())
		uid, _, ok := l.statOwner(dir, false)
		if !ok || !uids[uid] {
			continue
		}
		raw, err := readCapped(filepath.Join(dir, "environ"), maxEnviron)
		if err != nil {
			continue
		}
		p := procInfo{pid: pid, env: parseEnviron(raw)}
		if cg, err := readCapped(filepath.Join(dir, "cgroup"), maxProcFile); err == nil {
			p.scope = sessionScope(cg)
		}
		out[uid] = append(out[uid], p)
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i].pid < ps[j].pid })
	}
	return out
}

// parseEnviron keeps the session variables of a NUL-separated environ.
func parseEnviron(raw []byte) map[string]string {
	env := map[string]string{}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok || len(v) > maxEnvValue || (k != envSessionID && !slices.Contains(sessionVars, k)) {
			continue
		}
		env[k] = v
	}
	return env
}

// sessionScope finds "session-<id>.scope" in a /proc/<pid>/cgroup file.
func sessionScope(cgroup []byte) string {
	for _, line := range strings.Split(string(cgroup), "\n") {
		for _, part := range strings.Split(line, "/") {
			if id, ok := strings.CutPrefix(part, "session-"); ok {
				if id, ok = strings.CutSuffix(id, ".scope"); ok && validSessionID(id) {
					return id
				}
			}
		}
	}
	return ""
}

// pickProcess chooses the process whose environment best describes the
// session: one in the session itself (its scope or XDG_SESSION_ID) over
// one of the same user's other processes (GNOME and KDE start their
// shells from the user's systemd, outside the session scope), one with a
// display over one without, then a bus; the oldest on ties. A process of
// another session of the same user never counts. Processes with neither
// a display nor a bus say nothing useful.
func pickProcess(c candidate, procs []procInfo) (procInfo, bool) {
	best, bestScore := procInfo{}, 0
	for _, p := range procs {
		if c.id != "" {
			if sid := p.env[envSessionID]; sid != "" && sid != c.id {
				continue
			}
			if p.scope != "" && p.scope != c.id {
				continue
			}
		}
		score := 0
		if p.env[EnvDisplay] != "" || p.env[EnvWaylandDisplay] != "" {
			score += 4
		}
		if c.display != "" && p.env[EnvDisplay] == c.display {
			score += 2
		}
		if p.env[EnvSessionBus] != "" {
			score += 2
		}
		if score == 0 {
			continue
		}
		if c.id != "" && (p.scope == c.id || p.env[envSessionID] == c.id) {
			score += 8
		}
		if score > bestScore {
			best, bestScore = p, score
		}
	}
	return best, bestScore > 0
}

// sessionEnv is the session's variables: its chosen process's, then what
// logind and the user's runtime directory (its own, checked to belong to
// the user) show. A display is never guessed.
func (l *Linux) sessionEnv(c candidate, procs []procInfo, runtimeDir string) map[string]string {
	env := map[string]string{}
	if p, ok := pickProcess(c, procs); ok {
		for k, v := range p.env {
			if k != envSessionID {
				env[k] = v
			}
		}
	}
	if c.display != "" {
		// logind's Display is the X server of this very session.
		env[EnvDisplay] = c.display
	}
	if c.typ != "" && env["XDG_SESSION_TYPE"] == "" {
		env["XDG_SESSION_TYPE"] = c.typ
	}
	if uid, mode, ok := l.statOwner(runtimeDir, false); !ok || uid != c.uid || !mode.IsDir() {
		return env
	}
	if env[EnvRuntimeDir] == "" {
		env[EnvRuntimeDir] = runtimeDir
	}
	if env[EnvSessionBus] == "" {
		bus := filepath.Join(runtimeDir, "bus")
		if uid, mode, ok := l.statOwner(bus, false); ok && uid == c.uid && mode&fs.ModeSocket != 0 {
			env[EnvSessionBus] = "unix:path=" + bus
		}
	}
	if env[EnvWaylandDisplay] == "" && (c.typ == "wayland" || c.typ == "") {
		env[EnvWaylandDisplay] = l.waylandSocket(runtimeDir, c.uid)
	}
	if env[EnvXAuthority] == "" && env[EnvDisplay] != "" {
		// GDM keeps the X cookie of the user's session there.
		xauth := filepath.Join(runtimeDir, "gdm", "Xauthority")
		if uid, mode, ok := l.statOwner(xauth, false); ok && uid == c.uid && mode.IsRegular() {
			env[EnvXAuthority] = xauth
		}
	}
	return env
}

// waylandSocket is the first compositor socket (wayland-N) in the user's
// runtime directory, or "".
func (l *Linux) waylandSocket(runtimeDir string, uid uint32) string {
	matches, _ := filepath.Glob(filepath.Join(runtimeDir, "wayland-*"))
	sort.Strings(matches)
	for _, m := range matches {
		if strings.HasSuffix(m, ".lock") {
			continue
		}
		if owner, mode, ok := l.statOwner(m, false); ok && owner == uid && mode&fs.ModeSocket != 0 {
			return filepath.Base(m)
		}
	}
	return ""
}

// credsFromProcs takes a user's gid and groups from the kernel's view of
// their oldest process (/proc/<pid>/status), for accounts the local
// databases do not know.
func credsFromProcs(procDir string, uid uint32, procs []procInfo) (supervisor.User, bool) {
	for _, p := range procs {
		raw, err := readCapped(filepath.Join(procDir, strconv.Itoa(p.pid), "status"), maxProcFile)
		if err != nil {
			continue
		}
		u := supervisor.User{UID: uid}
		uidOK, gidOK := false, false
		for _, line := range strings.Split(string(raw), "\n") {
			switch {
			case strings.HasPrefix(line, "Uid:"):
				f := strings.Fields(strings.TrimPrefix(line, "Uid:"))
				uidOK = len(f) > 0 && f[0] == strconv.FormatUint(uint64(uid), 10)
			case strings.HasPrefix(line, "Gid:"):
				f := strings.Fields(strings.TrimPrefix(line, "Gid:"))
				if len(f) > 0 {
					if v, err := strconv.ParseUint(f[0], 10, 32); err == nil {
						u.GID, gidOK = uint32(v), true
					}
				}
			case strings.HasPrefix(line, "Groups:"):
				for _, f := range strings.Fields(strings.TrimPrefix(line, "Groups:")) {
					if v, err := strconv.ParseUint(f, 10, 32); err == nil {
						u.Groups = append(u.Groups, uint32(v))
					}
				}
			}
		}
		if uidOK && gidOK {
			slices.Sort(u.Groups)
			return u, true
		}
	}
	return supervisor.User{}, false
}

// statOwner returns the owner and mode of path (following a final symlink
// only when follow is set).
func (l *Linux) statOwner(path string, follow bool) (uint32, fs.FileMode, bool) {
	if path == "" {
		return 0, 0, false
	}
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(path)
	if err != nil {
		return 0, 0, false
	}
	uid, ok := l.owner(path, fi)
	return uid, fi.Mode(), ok
}

// fileOwner is the owner of a file as the kernel reports it.
func fileOwner(_ string, fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}

// ownerOf returns the owner of a directory (following symlinks: a home
// may be reached through one).
func (l *Linux) ownerOf(path string, follow bool) (uint32, bool) {
	uid, mode, ok := l.statOwner(path, follow)
	if !ok || !mode.IsDir() {
		return 0, false
	}
	return uid, true
}

// readCapped reads at most limit bytes of a file.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}
