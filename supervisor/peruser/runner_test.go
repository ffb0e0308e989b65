package peruser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/internal/testwait"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/session"
	"github.com/orbitagent/orbit/supervisor/supervisortest"
)

// fakeSessions is a lister whose answer the test sets; every call is
// signalled on polled.
type fakeSessions struct {
	mu     sync.Mutex
	list   []session.Session
	err    error
	polled chan struct{}
}

func newFakeSessions(list ...session.Session) *fakeSessions {
	return &fakeSessions{list: list, polled: make(chan struct{}, 100)}
}

func (f *fakeSessions) Sessions(context.Context) ([]session.Session, error) {
	f.mu.Lock()
	defer func() { f.polled <- struct{}{} }()
	defer f.mu.Unlock()
	return append([]session.Session(nil), f.list...), f.err
}

func (f *fakeSessions) set(err error, list ...session.Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list, f.err = list, err
}

// fakeChild exits when the test says, or on Terminate (-1) unless it
// ignores it.
type fakeChild = supervisortest.Child[supervisor.Spec]

type fakeStarter struct {
	*supervisortest.Starter[supervisor.Spec]
}

func (s fakeStarter) Start(spec supervisor.Spec, _, _ *os.File) (supervisor.Child, error) {
	return s.Launch(spec), nil
}

// harness runs a Runner on a fake clock with fake sessions and children.
type harness struct {
	r        *Runner
	clk      *clocktest.Fake
	sessions *fakeSessions
	starter  fakeStarter
	log      *logcapture.Buffer
	cancel   context.CancelFunc
	done     chan error

	mu     sync.Mutex
	events []string // "status <name> <session> <state>" and "gone <name>", in order
}

const (
	poll      = 10 * time.Second
	stopGrace = 25 * time.Second // not a multiple of poll: a test tells them apart
)

func newHarness(t *testing.T, sessions ...session.Session) *harness {
	t.Helper()
	return newHarnessIgnoring(t, nil, sessions...)
}

// newHarnessIgnoring is newHarness whose copies of these users ignore
// SIGTERM.
func newHarnessIgnoring(t *testing.T, ignoreTerm []string, sessions ...session.Session) *harness {
	t.Helper()
	h := &harness{
		clk:      clocktest.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)),
		sessions: newFakeSessions(sessions...),
		starter:  fakeStarter{supervisortest.NewStarter[supervisor.Spec]()},
		log:      &logcapture.Buffer{},
		done:     make(chan error, 1),
	}
	r, err := New(Config{
		Name:     "desktop",
		Sessions: h.sessions,
		Spec: func(context.Context) (supervisor.Spec, error) {
			return supervisor.Spec{Path: "/opt/orbit/bin/tray", Args: []string{"--x"},
				Env: []string{"FLEET_DESKTOP_FLEET_URL=https://fleet.example", "PATH=/program/wins"}}, nil
		},
		Process: supervisor.ProcessConfig{
			Backoff:        backoff.Config{Jitter: -1},
			StopGrace:      stopGrace,
			FatalExitCodes: []int{2},
			Logger:         zerolog.New(h.log),
			Clock:          h.clk,
			Starter:        h.starter,
			OnStatus: func(p status.Process) {
				h.record(fmt.Sprintf("status %s %s %s", p.Name, p.Session, p.State))
				if p.User == "" || !strings.HasSuffix(strings.SplitN(p.Name, "@", 2)[0], "/"+p.User) {
					t.Errorf("status %+v: the name is desktop/<user>", p)
				}
			},
		},
		PollInterval: poll,
		OnGone:       func(name string) { h.record("gone " + name) },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	h.starter.TermCode = -1
	h.starter.SetIgnoreTerm(func(spec supervisor.Spec) bool {
		return spec.User != nil && slices.Contains(ignoreTerm, spec.User.Name)
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- r.Run(ctx) }()
	t.Cleanup(func() { supervisortest.Stop(cancel, h.clk, h.done) })
	return h
}

func (h *harness) record(ev string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *harness) eventsSince(n int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events[n:]...)
}

func (h *harness) eventCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

// nextPoll moves the clock to the next poll, once the runner waits for
// it (pending timers: the poll's and extra others), and waits for it.
func (h *harness) nextPoll(t *testing.T, extra int) {
	t.Helper()
	h.clk.BlockUntil(t, 1+extra)
	h.clk.Advance(poll)
	testwait.Recv(t, h.sessions.polled, "the next poll")
}

// stop cancels Run and waits for it.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		h.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
}

func alice(id string, env ...string) session.Session {
	return session.Session{ID: id, Type: "wayland", Home: "/home/alice",
		User: supervisor.User{Name: "alice", UID: 1000, GID: 1000, Groups: []uint32{1000, 27}},
		Env:  append([]string{"HOME=/home/alice", "PATH=/usr/bin", "USER=alice"}, env...)}
}

func bob(id string) session.Session {
	return session.Session{ID: id, Type: "x11",
		User: supervisor.User{Name: "bob", UID: 1001, GID: 1001},
		Env:  []string{"DISPLAY=:1", "USER=bob"}}
}

func TestRunnerStartsOneCopyPerSessionAsItsUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, alice("2", "WAYLAND_DISPLAY=wayland-0"), bob("5"),
		session.Session{ID: "9", User: supervisor.User{Name: "root"}, Env: []string{"DISPLAY=:2"}})
	testwait.Recv(t, h.sessions.polled, "the first poll")
	byUser := map[string]*fakeChild{}
	for range 2 {
		c := h.starter.Next(t)
		byUser[c.Spec.User.Name] = c
	}
	h.starter.None(t) // never root
	a, b := byUser["alice"], byUser["bob"]
	if a == nil || b == nil {
		t.Fatalf("started %v, want alice's and bob's copies", byUser)
	}
	wantA := supervisor.Spec{Path: "/opt/orbit/bin/tray", Args: []string{"--x"}, Dir: "/home/alice",
		Env: []string{"HOME=/home/alice", "PATH=/program/wins", "USER=alice", "WAYLAND_DISPLAY=wayland-0",
			"FLEET_DESKTOP_FLEET_URL=https://fleet.example"},
		User: &supervisor.User{Name: "alice", UID: 1000, GID: 1000, Groups: []uint32{1000, 27}}}
	checkSpec(t, a.Spec, wantA)
	// No home: the copy starts from /.
	if b.Spec.Dir != "/" || b.Spec.User.UID != 1001 || !slices.Contains(b.Spec.Env, "DISPLAY=:1") {
		t.Errorf("bob's spec %+v", b.Spec)
	}
	if st := h.r.Statuses(); len(st) != 2 || st[0].Name != "desktop/alice" || st[1].Name != "desktop/bob" ||
		st[0].User != "alice" || st[0].Session != "2" {
		t.Errorf("statuses %+v", st)
	}
	if !strings.Contains(h.log.String(), "a session of root is skipped") {
		t.Errorf("no log line about root's session:\n%s", h.log)
	}

	// alice's session bus comes up: her copy restarts to see it; bob's
	// stays.
	h.sessions.set(nil, alice("2", "WAYLAND_DISPLAY=wayland-0", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"), bob("5"))
	h.nextPoll(t, 0)
	testwait.Recv(t, a.Terms, "alice's copy terminated")
	a2 := h.starter.Next(t)
	if !slices.Contains(a2.Spec.Env, "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus") {
		t.Errorf("restarted copy's environment %q lacks the new bus", a2.Spec.Env)
	}
	select {
	case <-b.Terms:
		t.Error("bob's copy was stopped though his session did not change")
	default:
	}

	// A new release: every copy restarts.
	h.r.Restart()
	testwait.Recv(t, a2.Terms, "alice's copy terminated for the restart")
	testwait.Recv(t, b.Terms, "bob's copy terminated for the restart")
	a3, b2 := h.starter.Next(t), h.starter.Next(t)
	if a3.Spec.User.Name == b2.Spec.User.Name {
		t.Errorf("restarted %s twice", a3.Spec.User.Name)
	}

	// bob logs out: his copy stops and leaves the state file.
	n := h.eventCount()
	h.sessions.set(nil, alice("2", "WAYLAND_DISPLAY=wayland-0", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"))
	h.nextPoll(t, 0)
	bobNow := b2
	if b2.Spec.User.Name != "bob" {
		bobNow = a3
	}
	testwait.Recv(t, bobNow.Terms, "bob's copy terminated at logout")
	testwait.For(t, "bob's copy gone", func() bool { return slices.Contains(h.eventsSince(n), "gone desktop/bob") })
	if evs := h.eventsSince(n); slices.Index(evs, "status desktop/bob 5 stopped") > slices.Index(evs, "gone desktop/bob") {
		t.Errorf("events %q: bob's last status came after he was forgotten", evs)
	}
	if st := h.r.Statuses(); len(st) != 1 || st[0].Name != "desktop/alice" {
		t.Errorf("statuses after bob left: %+v", st)
	}

	// Orbit stops: every copy is stopped before Run returns.
	h.stop(t)
	for _, st := range h.r.Statuses() {
		if st.State != status.StateStopped {
			t.Errorf("after Run: %+v", st)
		}
	}
}

func checkSpec(t *testing.T, got, want supervisor.Spec) {
	t.Helper()
	if got.Path != want.Path || !slices.Equal(got.Args, want.Args) || got.Dir != want.Dir {
		t.Errorf("spec %+v, want %+v", got, want)
	}
	g, w := slices.Clone(got.Env), slices.Clone(want.Env)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("environment %q, want %q (the program's PATH wins over the session's)", got.Env, want.Env)
	}
	if got.User == nil || got.User.Name != want.User.Name || got.User.UID != want.User.UID ||
		got.User.GID != want.User.GID || !slices.Equal(got.User.Groups, want.User.Groups) {
		t.Errorf("user %+v, want %+v", got.User, want.User)
	}
}

// A failed listing keeps the copies running, with one log line however
// long it lasts.
func TestRunnerKeepsCopiesWhenListingFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, alice("2"))
	testwait.Recv(t, h.sessions.polled, "the first poll")
	a := h.starter.Next(t)
	h.sessions.set(errors.New("loginctl: timed out"))
	for range 3 {
		h.nextPoll(t, 0)
	}
	select {
	case <-a.Terms:
		t.Fatal("alice's copy was stopped because listing failed")
	default:
	}
	if n := strings.Count(h.log.String(), "cannot list the graphical sessions"); n != 1 {
		t.Errorf("%d log lines about the failed listing, want 1:\n%s", n, h.log)
	}
	h.sessions.set(nil, alice("2"))
	h.nextPoll(t, 0)
	h.starter.None(t)
	if !strings.Contains(h.log.String(), "listing the graphical sessions works again") {
		t.Errorf("no log line about the recovery:\n%s", h.log)
	}
}

// A second session of the same user gets a name of its own; a user who
// logs in again while their old copy is still stopping gets their name
// back once the old copy is gone, never two statuses under one name.
func TestRunnerNamesCopies(t *testing.T) {
	t.Parallel()
	h := newHarnessIgnoring(t, []string{"bob"}, bob("5"))
	testwait.Recv(t, h.sessions.polled, "the first poll")
	b := h.starter.Next(t)
	h.sessions.set(nil, bob("5"), bob("6"))
	h.nextPoll(t, 0)
	b6 := h.starter.Next(t)
	testwait.For(t, "two copies", func() bool { return len(h.r.Statuses()) == 2 })
	if st := h.r.Statuses(); st[0].Name != "desktop/bob" || st[1].Name != "desktop/bob@6" || st[1].Session != "6" {
		t.Fatalf("statuses %+v", st)
	}

	// Both sessions end; bob's first copy ignores SIGTERM, so it is
	// killed after the grace; meanwhile he logs in again (session 7).
	n := h.eventCount()
	h.sessions.set(nil)
	h.nextPoll(t, 0)
	testwait.Recv(t, b.Terms, "the first copy terminated")
	testwait.Recv(t, b6.Terms, "the second copy terminated")
	h.sessions.set(nil, bob("7"))
	h.nextPoll(t, 2) // the two grace timers
	h.starter.None(t)
	h.clk.Advance(stopGrace - poll)
	b7 := h.starter.Next(t)
	if b7.Spec.User.Name != "bob" {
		t.Fatalf("started %+v", b7.Spec.User)
	}
	testwait.For(t, "bob's new copy running", func() bool {
		st := h.r.Statuses()
		return len(st) == 1 && st[0].Name == "desktop/bob" && st[0].Session == "7" && st[0].State == status.StateRunning
	})
	testwait.For(t, "the second session's copy forgotten", func() bool { return slices.Contains(h.eventsSince(n), "gone desktop/bob@6") })
	evs := h.eventsSince(n)
	gone := slices.Index(evs, "gone desktop/bob")
	first7 := slices.IndexFunc(evs, func(e string) bool { return strings.HasPrefix(e, "status desktop/bob 7 ") })
	if gone < 0 || first7 < gone {
		t.Errorf("events %q: the old copy must be gone before the new one reports", evs)
	}
}

// The updater rolls a release back when it crash-loops for everyone,
// not when one user's copy does.
func TestRunnerCrashLoopingMeansEveryCopy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, alice("2"), bob("5"))
	testwait.Recv(t, h.sessions.polled, "the first poll")
	byUser := map[string]*fakeChild{}
	for range 2 {
		c := h.starter.Next(t)
		byUser[c.Spec.User.Name] = c
	}
	if h.r.CrashLooping() {
		t.Fatal("crash-looping at start")
	}
	statusOf := func(user string) status.Process {
		for _, st := range h.r.Statuses() {
			if st.User == user {
				return st
			}
		}
		return status.Process{}
	}
	crash := func(user string) {
		t.Helper()
		for range supervisor.DefaultCrashLoopThreshold {
			byUser[user].Exit(1)
			var st status.Process
			testwait.For(t, user+"'s copy in backoff", func() bool {
				st = statusOf(user)
				return st.State == status.StateBackoff
			})
			h.clk.BlockUntil(t, 2) // the poll and this backoff
			h.clk.Advance(st.NextStartAt.Sub(h.clk.Now()))
			byUser[user] = h.starter.Next(t)
		}
	}
	crash("alice")
	testwait.For(t, "alice crash-looping", func() bool { return statusOf("alice").CrashLoop })
	if h.r.CrashLooping() {
		t.Error("CrashLooping with bob's copy healthy")
	}
	crash("bob")
	testwait.For(t, "every copy crash-looping", h.r.CrashLooping)
}
