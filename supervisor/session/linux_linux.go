package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/capped"
	"github.com/orbitagent/orbit/supervisor"
)

// Defaults of LinuxConfig.
const (
	DefaultProcDir    = "/proc"
	DefaultRunUserDir = "/run/user"
	// DefaultLogindSessionsDir is where logind keeps one state file per
	// session (elogind too): there only while logind runs, and changed
	// (a file renamed into place) whenever a session comes, goes or
	// changes state.
	DefaultLogindSessionsDir = "/run/systemd/sessions"
	// logindRefreshPolls: loginctl is asked again after this many polls
	// even when logind's state directory looks the same.
	logindRefreshPolls = 6
	// DefaultMinUID is the lowest uid the /run/user fallback takes (the
	// first regular user of login.defs): below it are system accounts,
	// such as a display manager's greeter, which logind would have called
	// a "greeter" session.
	DefaultMinUID = 1000
	// loginctlTimeout bounds one loginctl call.
	loginctlTimeout = 10 * time.Second
	// maxLoginctlOutput bounds what a loginctl call may print.
	maxLoginctlOutput = 1 << 20
)

// defaultPath is PATH for a session whose processes do not say.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// LinuxConfig configures a Linux lister; zero fields take the defaults.
type LinuxConfig struct {
	// Loginctl runs loginctl with args and returns what it printed on
	// stdout; an error means logind did not answer. Default: loginctl
	// from PATH, bounded in time and output.
	Loginctl func(ctx context.Context, args ...string) ([]byte, error)
	// ProcDir is procfs (DefaultProcDir).
	ProcDir string
	// RunUserDir holds the users' runtime directories (DefaultRunUserDir).
	RunUserDir string
	// RunUserOnly skips logind: sessions come from RunUserDir alone.
	RunUserOnly bool
	// LogindSessionsDir is logind's state directory
	// (DefaultLogindSessionsDir): without it logind is not running and
	// loginctl is not run; while it does not change, loginctl's last
	// answer is reused, so an idle host costs no process per poll.
	LogindSessionsDir string
	// LookupUser finds an account by uid: name, gid, supplementary groups
	// and home. Default: the passwd and group databases (os/user).
	LookupUser func(uid uint32) (supervisor.User, string, error)
	// MinUID is the lowest uid the /run/user fallback takes (DefaultMinUID).
	MinUID uint32
	Logger zerolog.Logger
}

// Linux lists graphical sessions from logind, or from the users' runtime
// directories when logind does not answer (no systemd as PID 1, a
// container). A session's variables come from its own processes.
type Linux struct {
	cfg LinuxConfig
	// owner reads a file's owner (tests fake it: their fixtures cannot
	// belong to other users without root).
	owner func(path string, fi fs.FileInfo) (uint32, bool)

	mu         sync.Mutex
	lastSource string // for one log line when the source changes

	// loginctl's last answer (or failure), and the state of logind's
	// directory then.
	cacheKey   string
	cache      []candidate
	cacheErr   error
	sincePolls int
}

// NewLinux returns a lister with cfg's defaults applied.
func NewLinux(cfg LinuxConfig) *Linux {
	if cfg.Loginctl == nil {
		cfg.Loginctl = runLoginctl
	}
	if cfg.ProcDir == "" {
		cfg.ProcDir = DefaultProcDir
	}
	if cfg.RunUserDir == "" {
		cfg.RunUserDir = DefaultRunUserDir
	}
	if cfg.LogindSessionsDir == "" {
		cfg.LogindSessionsDir = DefaultLogindSessionsDir
	}
	if cfg.LookupUser == nil {
		cfg.LookupUser = lookupUser
	}
	if cfg.MinUID == 0 {
		cfg.MinUID = DefaultMinUID
	}
	return &Linux{cfg: cfg, owner: fileOwner}
}

// candidate is a graphical session before its environment is known.
type candidate struct {
	id      string // logind's id; "" for a /run/user one
	uid     uint32
	name    string // logind's user name
	typ     string
	display string // logind's X display
}

// Sessions lists the graphical sessions of users other than root.
func (l *Linux) Sessions(ctx context.Context) ([]Session, error) {
	source := "logind"
	var cands []candidate
	var logindErr error
	if !l.cfg.RunUserOnly {
		cands, logindErr = l.logindCached(ctx)
	}
	if l.cfg.RunUserOnly || logindErr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		source = "run_user"
		var err error
		if cands, err = l.runUser(); err != nil {
			return nil, err
		}
	}
	l.noteSource(source, logindErr)

	uids := map[uint32]bool{}
	for _, c := range cands {
		uids[c.uid] = true
	}
	procs := l.scanProcs(uids)
	var out []Session
	for _, c := range cands {
		s, ok := l.session(c, procs[c.uid])
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

func (l *Linux) noteSource(source string, logindErr error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if source == l.lastSource {
		return
	}
	l.lastSource = source
	ev := l.cfg.Logger.Info().Str("source", source)
	if logindErr != nil {
		ev = ev.AnErr("logind_error", logindErr)
	}
	ev.Str("run_user_dir", l.cfg.RunUserDir).Msg("finding graphical sessions")
}

// errNoLogind: logind's state directory is not there.
var errNoLogind = errors.New("logind is not running (no state directory)")

// logindCached is logind's sessions, from loginctl when logind's state
// directory changed since the last answer (or every logindRefreshPolls
// polls), else the last answer. A failure is kept as long: a directory
// left over in an image without a running logind costs one loginctl a
// minute.
func (l *Linux) logindCached(ctx context.Context) ([]candidate, error) {
	key, ok := l.logindState()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		l.cacheKey = ""
		return nil, fmt.Errorf("%w: %s", errNoLogind, l.cfg.LogindSessionsDir)
	}
	l.sincePolls++
	if key == l.cacheKey && l.sincePolls < logindRefreshPolls {
		return l.cache, l.cacheErr
	}
	cands, err := l.logind(ctx)
	if ctx.Err() != nil {
		l.cacheKey = "" // not logind's answer: ask again next time
		return nil, err
	}
	l.cacheKey, l.cache, l.cacheErr, l.sincePolls = key, cands, err, 0
	return cands, err
}

// logindState sums up logind's state directory: its mtime and entries.
func (l *Linux) logindState() (string, bool) {
	fi, err := os.Stat(l.cfg.LogindSessionsDir)
	if err != nil || !fi.IsDir() {
		return "", false
	}
	ents, err := os.ReadDir(l.cfg.LogindSessionsDir)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	b.WriteString(strconv.FormatInt(fi.ModTime().UnixNano(), 10))
	for _, e := range ents {
		b.WriteString("/" + e.Name())
	}
	return b.String(), true
}

// logind lists the graphical user sessions logind knows.
func (l *Linux) logind(ctx context.Context) ([]candidate, error) {
	out, err := l.cfg.Loginctl(ctx, "list-sessions", "--no-legend", "--no-pager")
	if err != nil {
		return nil, fmt.Errorf("loginctl list-sessions: %w", err)
	}
	ids := parseSessionList(out)
	if len(ids) == 0 {
		return nil, nil
	}
	args := []string{"show-session", "--no-pager"}
	for _, p := range []string{"Id", "Name", "User", "Type", "Class", "State", "Display"} {
		args = append(args, "-p", p)
	}
	out, err = l.cfg.Loginctl(ctx, append(args, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("loginctl show-session: %w", err)
	}
	var cands []candidate
	for _, props := range parseProperties(out) {
		if c, ok := graphical(props); ok {
			cands = append(cands, c)
		}
	}
	return cands, nil
}

// parseSessionList returns the session ids of `loginctl list-sessions
// --no-legend`: the first column, whatever columns this systemd prints.
func parseSessionList(out []byte) []string {
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !validSessionID(f[0]) || slices.Contains(ids, f[0]) {
			continue
		}
		ids = append(ids, f[0])
	}
	return ids
}

// validSessionID: logind's ids are short alphanumeric strings ("2",
// "c1"); anything else (a legend, "No sessions.") is not one, and could
// not be passed on as an argument safely.
func validSessionID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// parseProperties splits `loginctl show-session -p ... id...` output into
// one map per session (blocks separated by blank lines).
func parseProperties(out []byte) []map[string]string {
	var all []map[string]string
	cur := map[string]string{}
	flush := func() {
		if len(cur) > 0 {
			all = append(all, cur)
			cur = map[string]string{}
		}
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			flush()
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			if _, seen := cur[k]; seen {
				flush() // a new block without a blank line before it
			}
			cur[k] = v
		}
	}
	flush()
	return all
}

// graphical turns a session's properties into a candidate when it is a
// user's live graphical session: not a greeter or a lock screen, not
// closing, not a tty or ssh login, not root.
func graphical(p map[string]string) (candidate, bool) {
	uid, err := strconv.ParseUint(p["User"], 10, 32)
	switch {
	case err != nil || uid == 0 || !validSessionID(p["Id"]):
		return candidate{}, false
	case p["Class"] != "user":
		return candidate{}, false
	case p["State"] == "closing":
		return candidate{}, false
	}
	switch p["Type"] {
	case "x11", "wayland", "mir":
	default:
		return candidate{}, false
	}
	return candidate{id: p["Id"], uid: uint32(uid), name: p["Name"], typ: p["Type"], display: p["Display"]}, true
}

// runUser lists one candidate per runtime directory of a regular user.
// Which of them are graphical is decided once their variables are known.
func (l *Linux) runUser() ([]candidate, error) {
	ents, err := os.ReadDir(l.cfg.RunUserDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the users' runtime directories in %s: %w", l.cfg.RunUserDir, err)
	}
	var cands []candidate
	for _, e := range ents {
		uid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil || uint32(uid) < l.cfg.MinUID || strconv.FormatUint(uid, 10) != e.Name() {
			continue
		}
		// The directory must be the user's own (logind and pam_systemd
		// make it so); anyone else's would not be a session of theirs.
		if owner, ok := l.ownerOf(filepath.Join(l.cfg.RunUserDir, e.Name()), false); !ok || owner != uint32(uid) {
			continue
		}
		cands = append(cands, candidate{uid: uint32(uid)})
	}
	return cands, nil
}

// session completes a candidate with its account and environment; false
// when it is not usable (an unknown account, or, from /run/user, no
// display at all: an ssh or tty login).
func (l *Linux) session(c candidate, procs []procInfo) (Session, bool) {
	runtimeDir := filepath.Join(l.cfg.RunUserDir, strconv.FormatUint(uint64(c.uid), 10))
	env := l.sessionEnv(c, procs, runtimeDir)
	if c.id == "" && env[EnvDisplay] == "" && env[EnvWaylandDisplay] == "" {
		return Session{}, false
	}
	u, home, err := l.cfg.LookupUser(c.uid)
	if err != nil {
		// Not in the local databases (a directory service without cgo's
		// NSS): take the credentials the kernel shows for their processes.
		var ok bool
		if u, ok = credsFromProcs(l.cfg.ProcDir, c.uid, procs); !ok {
			l.cfg.Logger.Warn().Err(err).Uint32("uid", c.uid).Msg("cannot find the account of a session's user; skipping the session")
			return Session{}, false
		}
		u.Name = c.name
		home = env["HOME"]
	}
	if u.Name == "" {
		u.Name = strconv.FormatUint(uint64(c.uid), 10)
	}
	if owner, ok := l.ownerOf(home, true); !ok || owner != c.uid {
		home = ""
	}
	id := c.id
	if id == "" {
		id = "uid-" + strconv.FormatUint(uint64(c.uid), 10)
	}
	base := map[string]string{"USER": u.Name, "LOGNAME": u.Name, "HOME": home, "PATH": defaultPath}
	for k, v := range env {
		base[k] = v
	}
	if home != "" {
		base["HOME"] = home
	} else {
		delete(base, "HOME")
	}
	typ := c.typ
	switch {
	case typ != "":
	case env["XDG_SESSION_TYPE"] != "":
		typ = env["XDG_SESSION_TYPE"]
	case env[EnvWaylandDisplay] != "":
		typ = "wayland"
	case env[EnvDisplay] != "":
		typ = "x11"
	}
	return Session{ID: id, User: u, Home: home, Type: typ, Env: envList(base)}, true
}

// lookupUser reads the passwd and group databases.
func lookupUser(uid uint32) (supervisor.User, string, error) {
	acct, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return supervisor.User{}, "", fmt.Errorf("look up uid %d: %w", uid, err)
	}
	gid, err := strconv.ParseUint(acct.Gid, 10, 32)
	if err != nil {
		return supervisor.User{}, "", fmt.Errorf("uid %d has a bad group id %q", uid, acct.Gid)
	}
	u := supervisor.User{Name: acct.Username, UID: uid, GID: uint32(gid)}
	ids, err := acct.GroupIds()
	if err != nil {
		return supervisor.User{}, "", fmt.Errorf("list the groups of %s: %w", acct.Username, err)
	}
	for _, s := range ids {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil && !slices.Contains(u.Groups, uint32(g)) {
			u.Groups = append(u.Groups, uint32(g))
		}
	}
	slices.Sort(u.Groups)
	return u, acct.HomeDir, nil
}

// runLoginctl runs loginctl, bounded in time and output.
func runLoginctl(ctx context.Context, args ...string) ([]byte, error) {
	path, err := exec.LookPath("loginctl")
	if err != nil {
		return nil, fmt.Errorf("logind's loginctl is not installed: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, loginctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	stdout := &capped.Buffer{Max: maxLoginctlOutput}
	stderr := &capped.Buffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", err, strings.ReplaceAll(msg, "\n", "; "))
	}
	return bytes.Clone(stdout.Bytes()), nil
}

// Default is the platform's lister: logind, or /run/user without it.
func Default(o Options) Lister {
	cfg := LinuxConfig{Logger: o.Logger}
	if o.RunUserDir != "" {
		cfg.RunUserDir, cfg.RunUserOnly = o.RunUserDir, true
	}
	return NewLinux(cfg)
}
