// Package peruser runs one copy of a program in each logged-in user's
// graphical session, as that user (the tray app): it polls the sessions,
// starts a supervisor.Process for each new one (restarted with its backoff
// when it dies, its tree reaped and killed), restarts a copy whose
// session's environment changed, and stops the copy of a session that
// ended. It knows nothing of what it runs: the program, its own
// environment and its exit codes come from the caller.
package peruser

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/supervisor"
	"github.com/orbitagent/orbit/supervisor/session"
)

// DefaultPollInterval is how often sessions are listed: a user who logs
// in sees the tray within about this long.
const DefaultPollInterval = 10 * time.Second

// Sessions lists the graphical sessions logged in now.
type Sessions interface {
	Sessions(ctx context.Context) ([]session.Session, error)
}

// Config configures a Runner. Name, Sessions and Spec are required.
type Config struct {
	// Name is the program's component name ("desktop"). Each copy is
	// named Name/<user>, or Name/<user>@<session> for a user's second
	// session at the same time: in logs and in the state file.
	Name     string
	Sessions Sessions
	// Spec returns what to run, asked before every start of every copy:
	// path, arguments and the program's own environment, which is added
	// to (and wins over) the session's. User and Dir are the runner's.
	Spec func(ctx context.Context) (supervisor.Spec, error)
	// Process is the template of every copy's process runner (StopGrace,
	// Backoff, FatalExitCodes, Logger, Clock, Starter, OnStatus...); Name
	// and Spec are set per copy. Its OnStatus gets the copy's name, user
	// and session.
	Process supervisor.ProcessConfig
	// PollInterval is DefaultPollInterval when zero.
	PollInterval time.Duration
	// OnGone, if set, is called with a copy's name once it has stopped
	// because its session ended (to drop it from the state file).
	OnGone func(name string)
}

// Validate checks cfg.
func (cfg Config) Validate() error {
	switch {
	case cfg.Name == "":
		return errors.New("peruser: the runner needs a Name (the component name)")
	case cfg.Sessions == nil:
		return fmt.Errorf("peruser: %s runner needs a Sessions lister", cfg.Name)
	case cfg.Spec == nil:
		return fmt.Errorf("peruser: %s runner needs a Spec function that returns what to run", cfg.Name)
	case cfg.PollInterval < 0:
		return fmt.Errorf("peruser: %s runner: PollInterval %s must not be negative", cfg.Name, cfg.PollInterval)
	}
	tmpl := cfg.Process
	tmpl.Name, tmpl.Spec = cfg.Name, cfg.Spec
	return tmpl.Validate()
}

// Runner keeps one copy of the program running in each session.
type Runner struct {
	cfg Config
	log zerolog.Logger

	mu     sync.Mutex
	copies map[string]*instance // live copies, by session key
	names  map[string]*instance // every copy holding a name, stopping ones included
	wg     sync.WaitGroup       // copies' goroutines

	// Owned by Run.
	lastErr string
}

// instance is one session's program.
type instance struct {
	name string
	key  string
	proc *supervisor.Process
	// prev is the copy that held this name before; this one starts once
	// it is gone, so their statuses never interleave.
	prev *instance
	done chan struct{} // closed when stopped (and OnGone called)

	mu   sync.Mutex
	sess session.Session
	stop context.CancelFunc
	gone bool // its session ended
}

// New validates cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Process.Clock == nil {
		cfg.Process.Clock = clock.Real()
	}
	return &Runner{
		cfg:    cfg,
		log:    cfg.Process.Logger.With().Str("component", cfg.Name).Logger(),
		copies: map[string]*instance{},
		names:  map[string]*instance{},
	}, nil
}

// Run polls the sessions and keeps their copies running until ctx is
// done; then it stops every copy and returns once all are gone.
func (r *Runner) Run(ctx context.Context) error {
	defer r.wg.Wait()
	for {
		r.poll(ctx)
		if !clock.Sleep(ctx, r.cfg.Process.Clock, r.cfg.PollInterval) {
			return nil
		}
	}
}

// Restart restarts every copy (a new release of the program is
// installed); it never blocks.
func (r *Runner) Restart() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.copies {
		c.proc.Restart()
	}
}

// CrashLooping reports whether every running copy is crash-looping: a
// release that fails for everyone, not one user's odd session.
func (r *Runner) CrashLooping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.copies) == 0 {
		return false
	}
	for _, c := range r.copies {
		if !c.proc.Status().CrashLoop {
			return false
		}
	}
	return true
}

// Statuses returns every live copy's status, by name.
func (r *Runner) Statuses() []status.Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]status.Process, 0, len(r.copies))
	for _, c := range r.copies {
		out = append(out, c.status(c.proc.Status()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// poll brings the copies in line with the sessions logged in now. A
// failed listing changes nothing: the copies keep running.
func (r *Runner) poll(ctx context.Context) {
	sessions, err := r.cfg.Sessions.Sessions(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if msg := err.Error(); msg != r.lastErr {
			r.log.Warn().Err(err).Msg("cannot list the graphical sessions; the running copies are kept")
			r.lastErr = msg
		}
		return
	}
	if r.lastErr != "" {
		r.log.Info().Msg("listing the graphical sessions works again")
		r.lastErr = ""
	}
	seen := map[string]bool{}
	for _, s := range sessions {
		if isRoot(s.User) {
			r.log.Warn().Str("session", s.ID).Msg("a session of root is skipped: the program never runs as root")
			continue
		}
		key := s.Key()
		if seen[key] {
			continue
		}
		seen[key] = true
		r.mu.Lock()
		c := r.copies[key]
		r.mu.Unlock()
		if c == nil {
			r.start(ctx, s)
			continue
		}
		if c.update(s) {
			r.log.Info().Str("name", c.name).Str("session", s.ID).Msg("the session's environment changed; restarting its copy")
			c.proc.Restart()
		}
	}
	r.mu.Lock()
	var ended []*instance
	for key, c := range r.copies {
		if !seen[key] {
			ended = append(ended, c)
			delete(r.copies, key)
		}
	}
	r.mu.Unlock()
	for _, c := range ended {
		r.log.Info().Str("name", c.name).Str("session", c.session().ID).Msg("session ended; stopping its copy")
		c.end()
	}
}

// isRoot: the program is for users, never root (on Windows every
// session's uid is 0, and session 0 is the services').
func isRoot(u supervisor.User) bool {
	if runtime.GOOS == "windows" {
		return u.Session == 0
	}
	return u.UID == 0
}

// start runs a copy for a new session.
func (r *Runner) start(ctx context.Context, s session.Session) {
	r.mu.Lock()
	name, prev := r.nameFor(s)
	c := &instance{name: name, key: s.Key(), sess: s, prev: prev, done: make(chan struct{})}
	r.names[name] = c
	r.mu.Unlock()

	pc := r.cfg.Process
	pc.Name = name
	pc.Spec = c.spec(r.cfg.Spec)
	pc.Logger = r.cfg.Process.Logger.With().Str("user", s.User.Name).Str("session", s.ID).Logger()
	onStatus := r.cfg.Process.OnStatus
	pc.OnStatus = func(p status.Process) {
		if onStatus != nil {
			onStatus(c.status(p))
		}
	}
	proc, err := supervisor.NewProcess(pc)
	if err != nil {
		// Config was validated with the same template: only a bug gets here.
		r.log.Error().Err(err).Str("name", name).Msg("cannot set up the session's copy")
		r.mu.Lock()
		delete(r.names, name)
		r.mu.Unlock()
		return
	}
	c.proc = proc
	cctx, cancel := context.WithCancel(ctx)
	c.stop = cancel
	r.mu.Lock()
	r.copies[c.key] = c
	r.mu.Unlock()
	r.log.Info().Str("name", name).Str("user", s.User.Name).Str("session", s.ID).Str("type", s.Type).
		Msg("new graphical session; starting its copy")

	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		if c.prev != nil {
			select {
			case <-c.prev.done:
			case <-cctx.Done():
			}
		}
		if cctx.Err() == nil {
			_ = proc.Run(cctx) // returns once the copy's tree is gone
		}
		c.mu.Lock()
		gone := c.gone
		c.mu.Unlock()
		if gone && r.cfg.OnGone != nil {
			r.cfg.OnGone(name)
		}
		r.mu.Lock()
		if r.names[name] == c {
			delete(r.names, name)
		}
		r.mu.Unlock()
		close(c.done)
	}()
}

// nameFor picks a copy's name: Name/<user>, unless a live copy of
// another session of the same user has it. A copy that is still stopping
// hands its name on: it is returned, to be waited for.
func (r *Runner) nameFor(s session.Session) (string, *instance) {
	user := s.User.Name
	if user == "" {
		user = "unknown"
	}
	base := r.cfg.Name + "/" + user
	for _, name := range []string{base, base + "@" + s.ID} {
		holder := r.names[name]
		if holder == nil {
			return name, nil
		}
		if r.copies[holder.key] != holder {
			return name, holder // stopping: take over its name after it
		}
	}
	// Same user, same session id, another key: cannot happen with
	// logind's unique ids; keep the names apart anyway.
	return fmt.Sprintf("%s@%s-%d", base, s.ID, len(r.names)), nil
}

// spec is a copy's Spec: the program's, in the session's environment,
// as the session's user, from their home directory.
func (c *instance) spec(program func(context.Context) (supervisor.Spec, error)) func(context.Context) (supervisor.Spec, error) {
	return func(ctx context.Context) (supervisor.Spec, error) {
		spec, err := program(ctx)
		if err != nil {
			return supervisor.Spec{}, err
		}
		s := c.session()
		spec.Env = mergeEnv(s.Env, spec.Env)
		u := s.User
		u.Groups = append([]uint32(nil), s.User.Groups...)
		spec.User = &u
		spec.Dir = s.Home
		if spec.Dir == "" && runtime.GOOS != "windows" {
			spec.Dir = "/"
		}
		return spec, nil
	}
}

// mergeEnv is base with over's variables set on top.
func mergeEnv(base, over []string) []string {
	out := make([]string, 0, len(base)+len(over))
	idx := map[string]int{}
	for _, list := range [][]string{base, over} {
		for _, kv := range list {
			name, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[name]; ok {
				out[i] = kv
				continue
			}
			idx[name] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

func (c *instance) session() session.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// update records a new snapshot of the session and reports whether the
// copy must restart to see it.
func (c *instance) update(s session.Session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess.Equal(s) {
		return false
	}
	c.sess = s
	return true
}

// end stops the copy of a session that ended.
func (c *instance) end() {
	c.mu.Lock()
	c.gone = true
	c.mu.Unlock()
	c.stop()
}

// status adds the copy's user and session to its process status.
func (c *instance) status(p status.Process) status.Process {
	s := c.session()
	p.User, p.Session = s.User.Name, s.ID
	return p
}
