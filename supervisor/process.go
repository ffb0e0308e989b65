package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/status"
)

const (
	// DefaultStopGrace is how long a child gets to exit after SIGTERM
	// (CTRL_BREAK on Windows) before its whole tree is killed.
	DefaultStopGrace = 10 * time.Second
	// DefaultCrashLoopThreshold is the number of consecutive short runs after
	// which a component is reported as crash-looping.
	DefaultCrashLoopThreshold = 5
)

// Spec is what to exec. Env nil means the child inherits our environment.
type Spec struct {
	Path string
	Args []string
	Env  []string
	Dir  string
	// User, if set, runs the child as that user instead of orbit's own
	// account (the tray app runs as each logged-in user). Env should then
	// be the user's, not nil: orbit's environment is not theirs.
	User *User
}

// User is the account a child runs as. Which fields count depends on the
// platform: uid, gid and groups on Unix (on macOS in the user's login
// context, through launchctl asuser), the WTS session on Windows (the
// child gets that session's user token and interactive desktop).
type User struct {
	// Name is the login name (logs; sudo -u on macOS).
	Name string
	UID  uint32
	GID  uint32
	// Groups are the supplementary groups, from the user's group list;
	// none at all is valid (root's are never kept).
	Groups []uint32
	// Session is the Windows session id.
	Session uint32
}

// Starter starts a prepared child with stdout and stderr connected to the
// given files. ExecStarter is the real one; tests inject fakes.
type Starter interface {
	Start(spec Spec, stdout, stderr *os.File) (Child, error)
}

// Child is a started process tree.
type Child interface {
	PID() int
	// Wait blocks until the child has exited and must be called exactly once.
	// Before returning it kills whatever is left of the child's tree (process
	// group or job), so nothing the child spawned outlives it. exitCode is -1
	// when the child was ended by a signal; err describes any exit other than
	// a clean exit 0.
	Wait() (exitCode int, err error)
	// Terminate asks the whole tree to exit (SIGTERM to the process group,
	// CTRL_BREAK on Windows).
	Terminate() error
	// Kill ends the whole tree at once (SIGKILL to the group,
	// TerminateJobObject on Windows).
	Kill() error
}

// ProcessConfig configures a Process. Name and Spec are required.
type ProcessConfig struct {
	// Name of the component ("osqueryd", "desktop"), used in logs and status.
	Name string
	// Spec is called before every start, so a binary replaced by the
	// updater or a changed channel path is picked up at the next start.
	Spec func(ctx context.Context) (Spec, error)
	// BeforeStart, if set, runs before each start (e.g. to kill a stale
	// osqueryd); an error counts as a failed start.
	BeforeStart func(ctx context.Context) error
	// StopGrace is the time between SIGTERM and the kill of the whole tree;
	// default DefaultStopGrace.
	StopGrace time.Duration
	// Backoff is the restart schedule; zero fields take the backoff
	// package's defaults (1 s doubling to 5 min, 20% jitter, reset after
	// 1 min of running).
	Backoff backoff.Config
	// CrashLoopThreshold is the number of consecutive runs shorter than
	// Backoff.StableAfter that flag a crash loop; default 5.
	CrashLoopThreshold int
	Logger             zerolog.Logger
	// Clock drives backoff, grace periods and rate limits; default
	// clock.Real().
	Clock clock.Clock
	// Starter defaults to ExecStarter{}.
	Starter Starter
	// OnStatus, if set, is called with a snapshot after every state change,
	// from the goroutine running Run; it must not block for long.
	OnStatus func(status.Process)
	// OutputLinesPerSecond limits the child output lines copied into the
	// log (bursts of twice as many pass); 0 selects
	// DefaultOutputLinesPerSecond, a negative value disables the limit.
	OutputLinesPerSecond int
	// FatalExitCodes are exit codes that a restart will not fix (the tray
	// app's 2: a bad setting): the next start waits the backoff's maximum
	// at once instead of climbing to it.
	FatalExitCodes []int
}

// Process runs one child, restarts it with backoff when it exits, and stops
// its whole process tree when asked.
type Process struct {
	cfg     ProcessConfig
	log     zerolog.Logger
	backoff *backoff.Backoff

	restart chan struct{} // capacity 1: pending Restart requests coalesce
	fail    chan string   // capacity 1: a pending Fail, with its reason
	running atomic.Bool

	mu     sync.Mutex
	status status.Process

	// Owned by the Run goroutine.
	starts          int
	crashLoopLogged bool
}

// MaxStopGrace bounds the stop grace: the service manager's own stop
// timeout is the grace plus a margin, and a stop must not take forever.
const MaxStopGrace = 10 * time.Minute

// ValidateStopGrace is the rule for a stop grace period.
func ValidateStopGrace(d time.Duration) error {
	if d <= 0 || d > MaxStopGrace {
		return fmt.Errorf("--stop-grace %s must be between 0 and 10m (default %s)", d, DefaultStopGrace)
	}
	return nil
}

// Validate checks cfg; zero fields are valid (they take defaults).
func (cfg ProcessConfig) Validate() error {
	if cfg.Name == "" {
		return errors.New("supervisor: process config needs a Name (the component name)")
	}
	if cfg.Spec == nil {
		return fmt.Errorf("supervisor: process %q needs a Spec function that returns what to exec", cfg.Name)
	}
	if cfg.StopGrace != 0 {
		if err := ValidateStopGrace(cfg.StopGrace); err != nil {
			return fmt.Errorf("supervisor: process %q: StopGrace: %w", cfg.Name, err)
		}
	}
	if cfg.CrashLoopThreshold < 0 {
		return fmt.Errorf("supervisor: process %q: CrashLoopThreshold %d must not be negative", cfg.Name, cfg.CrashLoopThreshold)
	}
	if err := cfg.Backoff.Validate(); err != nil {
		return fmt.Errorf("supervisor: process %q: %w", cfg.Name, err)
	}
	return nil
}

// NewProcess validates cfg and returns a stopped Process.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.CrashLoopThreshold == 0 {
		cfg.CrashLoopThreshold = DefaultCrashLoopThreshold
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	b, err := backoff.New(cfg.Backoff)
	if err != nil {
		return nil, fmt.Errorf("supervisor: process %q: %w", cfg.Name, err)
	}
	cfg.Backoff = b.Config() // defaults applied, for logs
	if cfg.Starter == nil {
		cfg.Starter = ExecStarter{}
	}
	return &Process{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", cfg.Name).Logger(),
		backoff: b,
		restart: make(chan struct{}, 1),
		fail:    make(chan string, 1),
		status:  status.Process{Name: cfg.Name, State: status.StateStopped},
	}, nil
}

// Status returns a snapshot of the current state.
func (p *Process) Status() status.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// CrashLooping reports whether the child keeps exiting soon after its
// starts (the updater's rollback question).
func (p *Process) CrashLooping() bool { return p.Status().CrashLoop }

// Restart asks for a graceful stop of the running child followed by an
// immediate start (no backoff); during a backoff wait it starts the child at
// once. It never blocks, and requests made before the next start has read
// its Spec coalesce into that start.
func (p *Process) Restart() {
	select {
	case p.restart <- struct{}{}:
	default:
	}
}

// Fail reports that the running child is alive but not working (a health
// check gave up on it): it is stopped as Restart would, but the run counts
// as a failure with reason as its error, however long it lasted, so the
// backoff grows, the crash-loop detector counts it and the updater's
// rollback watch sees it. The caller logs why; a Fail while no child runs
// (during a backoff wait) is dropped: that child already failed. It never
// blocks; a second Fail before the first is served is dropped.
func (p *Process) Fail(reason string) {
	select {
	case p.fail <- reason:
	default:
	}
}

func (p *Process) drainRequests() {
	select {
	case <-p.restart:
	default:
	}
	select {
	case <-p.fail:
	default:
	}
}

func (p *Process) update(f func(s *status.Process)) {
	p.mu.Lock()
	f(&p.status)
	s := p.status
	p.mu.Unlock()
	if p.cfg.OnStatus != nil {
		p.cfg.OnStatus(s)
	}
}

// Run starts the child and keeps it running until ctx is done, then stops
// its tree and returns nil. A failing child or a failed start never ends Run;
// it only returns early (with an error) if it is already running.
func (p *Process) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return fmt.Errorf("supervisor: process %q is already running; call Run only once at a time", p.cfg.Name)
	}
	defer p.running.Store(false)

	// Every child is forked from this one locked OS thread, which lives until
	// Run returns, i.e. until the child tree is gone. On Linux the child's
	// Pdeathsig fires when the thread that forked it exits, not the process
	// (golang/go#27505); forking from an arbitrary goroutine's thread would
	// let the Go runtime retire that thread and SIGKILL a healthy child.
	thr := newStartThread()
	defer thr.stop()

	out := newChildLog(p.log, p.cfg.Clock, p.cfg.OutputLinesPerSecond)
	defer out.close()

	var delay time.Duration
	for {
		if delay > 0 && !p.waitBackoff(ctx, delay) {
			break
		}
		if ctx.Err() != nil {
			break
		}
		child, streams, startedAt, err := p.start(ctx, thr, out)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.log.Error().Err(err).Msg("child start failed; will retry with backoff")
			delay = p.failed(0, -1, err.Error())
			continue
		}
		res, why := p.supervise(ctx, child)
		streams.detach()
		ranFor := p.cfg.Clock.Now().Sub(startedAt)
		if why == stopCtx {
			p.log.Info().Int("pid", child.PID()).Int("exit_code", res.code).Msg("child stopped")
			break
		}
		if why == stopRestart {
			p.log.Info().Int("pid", child.PID()).Msg("child restarted on request")
			p.resetFailures()
			p.update(func(s *status.Process) { s.PID = 0; s.LastExitCode = res.code })
			delay = 0
			continue
		}
		if why == stopFailed {
			// The run proved nothing, however long it lasted: count it as
			// a short one. The caller logged the reason already.
			delay = p.failed(0, res.code, res.reason)
			p.log.Debug().Int("pid", child.PID()).Dur("ran_for_ms", ranFor).Dur("restart_in_ms", delay).
				Int("consecutive_failures", p.backoff.Failures()).Msg("child stopped after a reported failure; restarting")
			continue
		}
		msg := "child exited: exit status 0"
		if res.err != nil {
			msg = "child exited: " + res.err.Error()
		}
		delay = p.failed(ranFor, res.code, msg)
		p.log.Warn().Int("pid", child.PID()).Int("exit_code", res.code).Dur("ran_for_ms", ranFor).
			Dur("restart_in_ms", delay).Int("consecutive_failures", p.backoff.Failures()).
			Msg("child exited; restarting")
	}
	p.update(func(s *status.Process) {
		s.State = status.StateStopped
		s.PID = 0
		s.NextStartAt = time.Time{}
	})
	return nil
}

// failed records a run that ended (or a start that failed) and returns the
// delay before the next start.
func (p *Process) failed(ranFor time.Duration, code int, msg string) time.Duration {
	delay := p.backoff.Next(ranFor)
	if slices.Contains(p.cfg.FatalExitCodes, code) {
		delay = max(delay, p.cfg.Backoff.Max)
	}
	failures := p.backoff.Failures()
	crash := failures >= p.cfg.CrashLoopThreshold
	if crash && !p.crashLoopLogged {
		p.log.Warn().Int("consecutive_failures", failures).Dur("stable_after_ms", p.cfg.Backoff.StableAfter).
			Str("last_error", msg).Msg("child is crash-looping")
	}
	if !crash && p.crashLoopLogged {
		p.log.Info().Msg("child crash loop cleared")
	}
	p.crashLoopLogged = crash
	next := p.cfg.Clock.Now().Add(delay)
	p.update(func(s *status.Process) {
		s.State = status.StateStarting
		s.NextStartAt = time.Time{}
		if delay > 0 {
			s.State = status.StateBackoff
			s.NextStartAt = next
		}
		s.PID = 0
		s.LastExitCode = code
		s.LastError = msg
		s.ConsecutiveFailures = failures
		s.CrashLoop = crash
	})
	return delay
}

// resetFailures forgets the crash history: a restart on request runs a new
// binary or new flags, and the old one's crash loop must not be blamed on
// it (the updater rolls back a release that crash-loops after install).
func (p *Process) resetFailures() {
	p.backoff.Reset()
	if p.crashLoopLogged {
		p.log.Info().Msg("child crash loop cleared by a requested restart")
	}
	p.crashLoopLogged = false
	p.update(func(s *status.Process) {
		s.ConsecutiveFailures = 0
		s.CrashLoop = false
	})
}

// waitBackoff reports false if ctx ended the wait; a Restart request cuts it
// short. failed has already set the backoff state.
func (p *Process) waitBackoff(ctx context.Context, delay time.Duration) bool {
	t := p.cfg.Clock.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-p.restart:
		p.log.Info().Msg("restart requested during backoff; starting now")
		p.resetFailures()
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Process) start(ctx context.Context, thr *startThread, out *childLog) (Child, *childStreams, time.Time, error) {
	restarts := p.starts
	p.starts++
	p.update(func(s *status.Process) {
		s.State = status.StateStarting
		s.Restarts = restarts
		s.NextStartAt = time.Time{}
	})
	if p.cfg.BeforeStart != nil {
		if err := p.cfg.BeforeStart(ctx); err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("prepare to start %s: %w", p.cfg.Name, err)
		}
	}
	// Requests made until now are served by this start: it reads a fresh Spec.
	p.drainRequests()
	spec, err := p.cfg.Spec(ctx)
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("find what to run for %s: %w", p.cfg.Name, err)
	}
	if spec.Path == "" {
		return nil, nil, time.Time{}, fmt.Errorf("find what to run for %s: the spec has an empty Path; is the component installed?", p.cfg.Name)
	}
	streams, err := out.attach()
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	var child Child
	thr.do(func() { child, err = p.cfg.Starter.Start(spec, streams.outW, streams.errW) })
	streams.closeWriters()
	if err != nil {
		streams.detach()
		return nil, nil, time.Time{}, fmt.Errorf("start %s from %s (check that the file exists and is executable): %w", p.cfg.Name, spec.Path, err)
	}
	startedAt := p.cfg.Clock.Now()
	p.update(func(s *status.Process) {
		s.State = status.StateRunning
		s.PID = child.PID()
		s.StartedAt = startedAt
	})
	p.log.Info().Int("pid", child.PID()).Str("path", spec.Path).Int("restarts", restarts).Msg("child started")
	return child, streams, startedAt, nil
}

type stopReason int

const (
	stopExited stopReason = iota
	stopCtx
	stopRestart
	stopFailed
)

type exitResult struct {
	code int
	err  error
	// reason is Fail's, for stopFailed.
	reason string
}

// supervise waits for the child to exit, for ctx, or for a restart request;
// in the latter two cases it stops the child. It returns once the child's
// tree is gone.
func (p *Process) supervise(ctx context.Context, child Child) (exitResult, stopReason) {
	exited := make(chan exitResult, 1)
	go func() {
		code, err := child.Wait()
		exited <- exitResult{code: code, err: err}
	}()
	select {
	case res := <-exited:
		return res, stopExited
	case <-ctx.Done():
		return p.stop(child, exited), stopCtx
	case <-p.restart:
		return p.stop(child, exited), stopRestart
	case reason := <-p.fail:
		res := p.stop(child, exited)
		res.reason = reason
		return res, stopFailed
	}
}

func (p *Process) stop(child Child, exited <-chan exitResult) exitResult {
	p.update(func(s *status.Process) { s.State = status.StateStopping })
	if err := child.Terminate(); err != nil {
		// Nothing to wait for if the signal could not be delivered (e.g. no
		// console for CTRL_BREAK on Windows): go straight to the kill.
		p.log.Debug().Err(err).Msg("graceful stop signal failed; killing the child tree")
		p.kill(child)
	} else {
		t := p.cfg.Clock.NewTimer(p.cfg.StopGrace)
		select {
		case res := <-exited:
			t.Stop()
			return res
		case <-t.C():
			p.log.Warn().Int("pid", child.PID()).Dur("stop_grace_ms", p.cfg.StopGrace).
				Msg("child did not exit within the stop grace period; killing its process tree")
			p.kill(child)
		}
	}
	t := p.cfg.Clock.NewTimer(p.cfg.StopGrace)
	defer t.Stop()
	select {
	case res := <-exited:
		return res
	case <-t.C():
		// A kill that does not take (e.g. a process stuck in the kernel) is
		// not something we can fix; say so, and keep waiting so that the
		// tree is really gone when Run returns.
		p.log.Error().Int("pid", child.PID()).Msg("child still running after kill; waiting for it to exit")
		return <-exited
	}
}

func (p *Process) kill(child Child) {
	if err := child.Kill(); err != nil {
		p.log.Debug().Err(err).Msg("kill of the child tree failed")
	}
}

// startThread runs functions on one goroutine locked to its OS thread.
type startThread struct {
	reqs chan func()
	done chan struct{}
}

func newStartThread() *startThread {
	t := &startThread{reqs: make(chan func()), done: make(chan struct{})}
	go func() {
		// Never unlocked: when this goroutine returns the runtime terminates
		// the thread instead of reusing it. That happens only after the
		// children forked from it are gone.
		runtime.LockOSThread()
		defer close(t.done)
		for f := range t.reqs {
			f()
		}
	}()
	return t
}

func (t *startThread) do(f func()) {
	done := make(chan struct{})
	t.reqs <- func() { defer close(done); f() }
	<-done
}

func (t *startThread) stop() {
	close(t.reqs)
	<-t.done
}
