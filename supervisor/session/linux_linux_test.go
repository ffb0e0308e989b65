package session

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/orbitagent/orbit/internal/testdir"
	"github.com/orbitagent/orbit/supervisor"
)

// host is a fake host: a /proc tree, a /run/user tree and homes under one
// temporary directory, whose files "belong" to the users the test says
// (the owner is faked: making them really belong to other users needs
// root).
type host struct {
	t     *testing.T
	root  string
	mu    sync.Mutex
	owner map[string]uint32 // path -> uid; the rest belongs to root
}

func newHost(t *testing.T) *host {
	// Unix socket paths are short: keep the root short too.
	return &host{t: t, root: testdir.Short(t), owner: map[string]uint32{}}
}

func (h *host) path(elem ...string) string {
	return filepath.Join(append([]string{h.root}, elem...)...)
}

func (h *host) own(path string, uid uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.owner[path] = uid
}

func (h *host) dir(uid uint32, elem ...string) string {
	p := h.path(elem...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		h.t.Fatal(err)
	}
	h.own(p, uid)
	return p
}

func (h *host) file(uid uint32, data string, elem ...string) string {
	p := h.path(elem...)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.own(p, uid)
	return p
}

// socket makes a real unix socket file (a bus, a compositor).
func (h *host) socket(uid uint32, elem ...string) string {
	p := h.path(elem...)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	l, err := net.Listen("unix", p)
	if err != nil {
		h.t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	h.t.Cleanup(func() { l.Close() })
	h.own(p, uid)
	return p
}

// proc adds /proc/<pid> of uid with an environment, a cgroup and a
// status file.
func (h *host) proc(pid int, uid uint32, cgroup string, env ...string) {
	p := strconv.Itoa(pid)
	h.dir(uid, "proc", p)
	h.file(uid, strings.Join(env, "\x00")+"\x00", "proc", p, "environ")
	h.file(uid, cgroup+"\n", "proc", p, "cgroup")
	u := strconv.Itoa(int(uid))
	h.file(uid, "Name:\tx\nUid:\t"+u+"\t"+u+"\t"+u+"\t"+u+"\nGid:\t"+u+"\t"+u+"\t"+u+"\t"+u+"\nGroups:\t27 "+u+" \n", "proc", p, "status")
}

// lister is a Linux lister on this host; loginctl prints the fixtures
// (nil list: loginctl fails as without logind).
func (h *host) lister(list, show string, accounts map[uint32]string) (*Linux, *[][]string) {
	var calls [][]string
	var mu sync.Mutex
	logindDir := h.path("run", "systemd", "sessions")
	if list == "" {
		logindDir = h.path("no-logind") // logind is not running
	} else if err := os.MkdirAll(logindDir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	l := NewLinux(LinuxConfig{
		ProcDir:           h.path("proc"),
		RunUserDir:        h.path("run", "user"),
		LogindSessionsDir: logindDir,
		Loginctl: func(_ context.Context, args ...string) ([]byte, error) {
			mu.Lock()
			calls = append(calls, args)
			mu.Unlock()
			if list == "" || list == "fail" {
				return nil, errors.New("exit status 1: Failed to connect to bus: Host is down")
			}
			name := list
			if args[0] == "show-session" {
				name = show
			}
			return os.ReadFile(filepath.Join("testdata", name))
		},
		LookupUser: func(uid uint32) (supervisor.User, string, error) {
			name, ok := accounts[uid]
			if !ok {
				return supervisor.User{}, "", errors.New("unknown user")
			}
			return supervisor.User{Name: name, UID: uid, GID: uid, Groups: []uint32{uid, 100}}, h.path("home", name), nil
		},
	})
	l.owner = func(path string, _ fs.FileInfo) (uint32, bool) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.owner[path], true
	}
	return l, &calls
}

func TestParseSessionList(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"list-sessions-252.txt", "list-sessions-256.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"2", "c1", "5", "7", "9", "11"}
		if got := parseSessionList(data); !slices.Equal(got, want) {
			t.Errorf("%s: ids %q, want %q (a line starting with an option is no id)", name, got, want)
		}
	}
	if got := parseSessionList(nil); len(got) != 0 {
		t.Errorf("no sessions: %q", got)
	}
}

func TestGraphicalSessionsFromProperties(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "show-session.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var got []candidate
	for _, p := range parseProperties(data) {
		if c, ok := graphical(p); ok {
			got = append(got, c)
		}
	}
	// Not the greeter (c1), the tty login (7), root's session (9) or a
	// closing one (11).
	want := []candidate{
		{id: "2", uid: 1000, name: "alice", typ: "wayland"},
		{id: "5", uid: 1001, name: "bob", typ: "x11", display: ":1"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("graphical sessions %+v, want %+v", got, want)
	}
}

// gnomeHost is alice in a GNOME Wayland session (2; her shell runs from
// her systemd, outside the session scope) with a tty login too (7), bob
// in an X11 session (5), a greeter, and runtime directories that are not
// sessions.
func gnomeHost(t *testing.T, procs bool) *host {
	h := newHost(t)
	h.dir(1000, "run", "user", "1000")
	h.socket(1000, "run", "user", "1000", "bus")
	h.socket(1000, "run", "user", "1000", "wayland-0")
	h.file(1000, "", "run", "user", "1000", "wayland-0.lock")
	h.dir(1001, "run", "user", "1001")
	h.socket(1001, "run", "user", "1001", "bus")
	h.dir(120, "run", "user", "120") // the greeter's
	h.socket(120, "run", "user", "120", "wayland-0")
	h.dir(0, "run", "user", "1002") // not carol's own: not hers
	h.socket(1002, "run", "user", "1002", "wayland-0")
	h.dir(1003, "run", "user", "1003") // an ssh login: no display
	h.dir(1000, "home", "alice")
	h.dir(1001, "home", "bob")
	h.dir(0, "proc")
	if !procs {
		return h
	}
	h.proc(100, 1000, "0::/user.slice/user-1000.slice/session-2.scope", "XDG_SESSION_ID=2", "PATH=/usr/bin", "LANG=C.UTF-8")
	h.proc(200, 1000, "0::/user.slice/user-1000.slice/user@1000.service/session.slice/org.gnome.Shell@wayland.service",
		"WAYLAND_DISPLAY=wayland-0", "DISPLAY=:0", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
		"XDG_RUNTIME_DIR=/run/user/1000", "XDG_CURRENT_DESKTOP=GNOME", "PATH=/home/alice/bin:/usr/bin",
		"LANG=de_DE.UTF-8", "ORBIT_ENROLL_SECRET=not-for-the-tray", "LD_PRELOAD=/tmp/evil.so")
	h.proc(210, 1000, "0::/user.slice/user-1000.slice/session-7.scope", "XDG_SESSION_ID=7", "DISPLAY=:5",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/tmp/other")
	h.proc(300, 1001, "0::/user.slice/user-1001.slice/session-5.scope", "XDG_SESSION_ID=5", "DISPLAY=:1",
		"XAUTHORITY=/home/bob/.Xauthority", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1001/bus", "HOME=/home/bob")
	h.proc(301, 1001, "0::/user.slice/user-1001.slice/session-5.scope", "DISPLAY=:9", "PATH="+strings.Repeat("x", 5000))
	h.proc(400, 0, "0::/system.slice/gdm.service", "DISPLAY=:0", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/gdm/bus")
	return h
}

var accounts = map[uint32]string{1000: "alice", 1001: "bob", 1002: "carol", 1003: "dave", 120: "gdm"}

func TestLinuxSessionsFromLogind(t *testing.T) {
	t.Parallel()
	for _, list := range []string{"list-sessions-252.txt", "list-sessions-256.txt"} {
		t.Run(list, func(t *testing.T) {
			t.Parallel()
			h := gnomeHost(t, true)
			l, calls := h.lister(list, "show-session.txt", accounts)
			got, err := l.Sessions(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := []Session{
				{ID: "2", User: supervisor.User{Name: "alice", UID: 1000, GID: 1000, Groups: []uint32{1000, 100}},
					Home: h.path("home", "alice"), Type: "wayland", Env: []string{
						"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
						"DISPLAY=:0", // Xwayland's, as her shell says: never assumed
						"HOME=" + h.path("home", "alice"),
						"LANG=de_DE.UTF-8",
						"LOGNAME=alice",
						"PATH=/home/alice/bin:/usr/bin",
						"USER=alice",
						"WAYLAND_DISPLAY=wayland-0",
						"XDG_CURRENT_DESKTOP=GNOME",
						"XDG_RUNTIME_DIR=/run/user/1000",
						"XDG_SESSION_TYPE=wayland",
					}},
				{ID: "5", User: supervisor.User{Name: "bob", UID: 1001, GID: 1001, Groups: []uint32{1001, 100}},
					Home: h.path("home", "bob"), Type: "x11", Env: []string{
						"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1001/bus",
						"DISPLAY=:1", // logind's Display of session 5
						"HOME=" + h.path("home", "bob"),
						"LOGNAME=bob",
						"PATH=" + defaultPath,
						"USER=bob",
						"XAUTHORITY=/home/bob/.Xauthority",
						"XDG_RUNTIME_DIR=" + h.path("run", "user", "1001"),
						"XDG_SESSION_TYPE=x11",
					}},
			}
			checkSessions(t, got, want)
			if len(*calls) != 2 {
				t.Fatalf("loginctl calls %q, want list-sessions then one show-session", *calls)
			}
			show := (*calls)[1]
			if show[0] != "show-session" || !slices.Equal(show[len(show)-6:], []string{"2", "c1", "5", "7", "9", "11"}) || slices.Contains(show, "--help") {
				t.Errorf("show-session call %q", show)
			}
		})
	}
}

func checkSessions(t *testing.T, got, want []Session) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d sessions %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("session %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// A session whose processes say nothing yet (just logged in) gets its
// runtime directory's bus and compositor socket, and no DISPLAY.
func TestLinuxSessionEnvFromRuntimeDir(t *testing.T) {
	t.Parallel()
	h := gnomeHost(t, false)
	l, _ := h.lister("list-sessions-252.txt", "show-session.txt", accounts)
	got, err := l.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rd := h.path("run", "user", "1000")
	want := []string{
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + rd + "/bus",
		"HOME=" + h.path("home", "alice"),
		"LOGNAME=alice",
		"PATH=" + defaultPath,
		"USER=alice",
		"WAYLAND_DISPLAY=wayland-0",
		"XDG_RUNTIME_DIR=" + rd,
		"XDG_SESSION_TYPE=wayland",
	}
	if len(got) != 2 || got[0].ID != "2" || !slices.Equal(got[0].Env, want) {
		t.Fatalf("sessions %+v\nwant session 2 with %q", got, want)
	}
	// bob's X11 session: his display from logind, but no cookie: GDM's
	// path is not there.
	if !slices.Contains(got[1].Env, "DISPLAY=:1") || slices.ContainsFunc(got[1].Env, func(s string) bool { return strings.HasPrefix(s, "XAUTHORITY=") }) {
		t.Errorf("bob's environment %q", got[1].Env)
	}
}

// Without logind, each regular user's own runtime directory with a
// display is a session; system users, directories that are not the
// user's own, and logins without a display are not.
func TestLinuxSessionsFromRunUser(t *testing.T) {
	t.Parallel()
	h := gnomeHost(t, true)
	l, _ := h.lister("", "", accounts)
	got, err := l.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "uid-1000" || got[1].ID != "uid-1001" {
		t.Fatalf("sessions %+v, want uid-1000 and uid-1001 only", got)
	}
	if got[0].Type != "wayland" || got[1].Type != "x11" {
		t.Errorf("types %q and %q, want wayland (a compositor's socket) and x11 (a display only)", got[0].Type, got[1].Type)
	}
	for _, want := range []string{"WAYLAND_DISPLAY=wayland-0", "DISPLAY=:0", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"} {
		if !slices.Contains(got[0].Env, want) {
			t.Errorf("alice's environment %q lacks %s", got[0].Env, want)
		}
	}
	if !slices.Contains(got[1].Env, "DISPLAY=:1") {
		t.Errorf("bob's environment %q: want his session's DISPLAY=:1 (not :9 of a later process)", got[1].Env)
	}

	// Without logind's state directory loginctl is not even run.
	if _, calls := h.lister("", "", accounts); len(*calls) != 0 {
		t.Errorf("loginctl run without logind: %q", *calls)
	}
	// With it, a loginctl that fails still leaves /run/user, and is not
	// run again until logind's directory changes (or a minute passes).
	lf, fcalls := h.lister("fail", "", accounts)
	for range 3 {
		if got, err := lf.Sessions(context.Background()); err != nil || len(got) != 2 {
			t.Errorf("a failing loginctl: %d sessions, %v", len(got), err)
		}
	}
	if len(*fcalls) != 1 {
		t.Errorf("a failing loginctl was run %d times in 3 quiet polls, want once", len(*fcalls))
	}

	// RunUserOnly never asks logind.
	l2, calls := h.lister("list-sessions-252.txt", "show-session.txt", accounts)
	l2.cfg.RunUserOnly = true
	if got, err := l2.Sessions(context.Background()); err != nil || len(got) != 2 || len(*calls) != 0 {
		t.Errorf("RunUserOnly: %d sessions, %v, loginctl calls %q", len(got), err, *calls)
	}
}

// logind is authoritative: no sessions there means none, whatever
// /run/user holds.
func TestLinuxNoLogindSessions(t *testing.T) {
	t.Parallel()
	h := gnomeHost(t, true)
	l, _ := h.lister("list-sessions-none.txt", "show-session.txt", accounts)
	if got, err := l.Sessions(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("sessions %+v, %v; want none", got, err)
	}
}

// A user the local databases do not know (a directory service) gets the
// gid and groups the kernel shows for their session's process; a HOME
// that does not exist is not used.
func TestLinuxSessionOfUnknownAccount(t *testing.T) {
	t.Parallel()
	h := gnomeHost(t, true)
	l, _ := h.lister("list-sessions-252.txt", "show-session.txt", map[uint32]string{1000: "alice"})
	got, err := l.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("sessions %+v", got)
	}
	bob := got[1]
	want := supervisor.User{Name: "bob", UID: 1001, GID: 1001, Groups: []uint32{27, 1001}}
	if bob.User.Name != want.Name || bob.User.UID != want.UID || bob.User.GID != want.GID || !slices.Equal(bob.User.Groups, want.Groups) {
		t.Errorf("bob's account %+v, want %+v", bob.User, want)
	}
	if bob.Home != "" || slices.ContainsFunc(bob.Env, func(s string) bool { return strings.HasPrefix(s, "HOME=") }) {
		t.Errorf("bob's home %q, environment %q: his HOME does not exist", bob.Home, bob.Env)
	}
}

func TestPickProcess(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	shell := procInfo{pid: 200, env: env("WAYLAND_DISPLAY", "wayland-0", "DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")}
	tests := []struct {
		name  string
		c     candidate
		procs []procInfo
		want  int // pid; 0 = none
	}{
		{"another session's process never counts, however rich", candidate{id: "2"}, []procInfo{
			{pid: 150, env: env("XDG_SESSION_ID", "7", "DISPLAY", ":5", "WAYLAND_DISPLAY", "wayland-9", "DBUS_SESSION_BUS_ADDRESS", "unix:path=/x")},
			{pid: 160, scope: "7", env: env("DISPLAY", ":5", "DBUS_SESSION_BUS_ADDRESS", "unix:path=/x")},
			shell,
		}, 200},
		{"the session's own process wins over the user's others", candidate{id: "2"}, []procInfo{
			shell,
			{pid: 300, scope: "2", env: env("DISPLAY", ":3")},
		}, 300},
		{"logind's display breaks a tie", candidate{id: "5", display: ":1"}, []procInfo{
			{pid: 10, env: env("DISPLAY", ":9")},
			{pid: 20, env: env("DISPLAY", ":1")},
		}, 20},
		{"the oldest on a tie", candidate{id: "2"}, []procInfo{
			{pid: 10, env: env("DISPLAY", ":1")},
			{pid: 20, env: env("DISPLAY", ":1")},
		}, 10},
		{"a process with neither display nor bus says nothing", candidate{id: "2"}, []procInfo{
			{pid: 10, scope: "2", env: env("XDG_SESSION_ID", "2", "PATH", "/bin")},
		}, 0},
		{"without logind every process of the user counts", candidate{}, []procInfo{
			{pid: 10, env: env("XDG_SESSION_ID", "7", "DISPLAY", ":5")},
		}, 10},
	}
	for _, tt := range tests {
		got, ok := pickProcess(tt.c, tt.procs)
		if !ok {
			got.pid = 0
		}
		if got.pid != tt.want {
			t.Errorf("%s: picked %d, want %d", tt.name, got.pid, tt.want)
		}
	}
}

func TestParseEnvironKeepsSessionVariablesOnly(t *testing.T) {
	t.Parallel()
	raw := []byte("DISPLAY=:1\x00LD_PRELOAD=/tmp/x.so\x00PATH=" + strings.Repeat("p", maxEnvValue+1) + "\x00XDG_SESSION_ID=3\x00garbage\x00WAYLAND_DISPLAY=wayland-1")
	got := parseEnviron(raw)
	want := map[string]string{"DISPLAY": ":1", "XDG_SESSION_ID": "3", "WAYLAND_DISPLAY": "wayland-1"}
	if len(got) != len(want) {
		t.Fatalf("parsed %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestSessionScope(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0::/user.slice/user-1000.slice/session-2.scope\n":                                      "2",
		"12:pids:/user.slice/user-1000.slice/session-c3.scope\n0::/user.slice/session-c3.scope": "c3",
		"0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n":                "",
		"0::/session-../etc.scope\n":                                                            "",
	} {
		if got := sessionScope([]byte(in)); got != want {
			t.Errorf("sessionScope(%q) = %q, want %q", in, got, want)
		}
	}
}

// loginctl runs only when logind's state directory changed (or every
// logindRefreshPolls polls): an idle host costs no process per poll.
func TestLinuxAsksLoginctlOnlyWhenLogindChanges(t *testing.T) {
	t.Parallel()
	h := gnomeHost(t, true)
	l, calls := h.lister("list-sessions-252.txt", "show-session.txt", accounts)
	poll := func() int {
		t.Helper()
		got, err := l.Sessions(context.Background())
		if err != nil || len(got) != 2 {
			t.Fatalf("sessions %+v, %v", got, err)
		}
		return len(*calls)
	}
	if n := poll(); n != 2 {
		t.Fatalf("first poll: %d loginctl calls, want list and show", n)
	}
	if n := poll(); n != 2 {
		t.Fatalf("unchanged logind: %d loginctl calls, want none more", n)
	}
	h.file(0, "UID=1002\n", "run", "systemd", "sessions", "12") // a new session
	if n := poll(); n != 4 {
		t.Fatalf("after a change: %d loginctl calls, want 2 more", n)
	}
	for range logindRefreshPolls - 1 {
		poll()
	}
	if n := poll(); n != 6 {
		t.Fatalf("after %d quiet polls: %d loginctl calls, want a refresh", logindRefreshPolls, n)
	}
}
