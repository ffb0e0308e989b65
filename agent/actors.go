package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/supervisor"
)

// processes maps component names to their runners (a process, or the
// tray app's runner of one copy per user), for the updater's restarts and
// health questions; an installed extension goes to extensions, which
// restarts osqueryd.
type processes struct {
	procs map[component.Name]supervised
	exts  *extensions // nil without Fleet or updates
}

// supervised is what the updater asks of a component's runner.
type supervised interface {
	Restart()
	CrashLooping() bool
}

func (p *processes) Restart(c component.Name) {
	if proc := p.procs[c]; proc != nil {
		proc.Restart()
		return
	}
	if p.exts != nil {
		p.exts.installed(c) // ignores what is not a wanted extension
	}
}

func (p *processes) CrashLooping(c component.Name) bool {
	if proc := p.procs[c]; proc != nil {
		return proc.CrashLooping()
	}
	return false
}

// selfUpdate carries orbit's own update from the updater to Run: the
// updater calls Trigger, the actor turns it into a group shutdown, and Run
// returns the new binary to exec once every child has stopped.
type selfUpdate struct {
	once sync.Once
	ch   chan string
	path string // set by Run before it returns
}

func newSelfUpdate() *selfUpdate { return &selfUpdate{ch: make(chan string, 1)} }

// Trigger is the updater's SelfUpdated hook: it only signals.
func (s *selfUpdate) Trigger(path string) {
	s.once.Do(func() { s.ch <- path })
}

func (s *selfUpdate) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case p := <-s.ch:
		s.path = p
		return fmt.Errorf("%w: orbit was updated", supervisor.ErrShutdown)
	}
}

// gate blocks until something osqueryd needs is in place; false means ctx
// ended first.
type gate func(ctx context.Context) bool

// gated runs actor once every gate has opened.
func gated(actor supervisor.Actor, gates ...gate) supervisor.Actor {
	return supervisor.ActorFunc(func(ctx context.Context) error {
		for _, g := range gates {
			if !g(ctx) {
				return nil
			}
		}
		return actor.Run(ctx)
	})
}

// allOnce opens once every gate has opened, for every actor that waits
// on it: the first caller waits through the gates (and logs what it waits
// for), the others wait for it. All of them run on the group's context.
func allOnce(gates ...gate) gate {
	var mu sync.Mutex
	passed := false
	return func(ctx context.Context) bool {
		mu.Lock()
		defer mu.Unlock()
		if passed {
			return true
		}
		for _, g := range gates {
			if !g(ctx) {
				return false
			}
		}
		passed = true
		return true
	}
}

// fleetReadyWait bounds how long osqueryd waits for Fleet's first config.
const fleetReadyWait = 30 * time.Second

// fleetReadyGate opens when the Fleet agent has applied the server's
// startup flags (ready is closed), or has given up reaching the server for
// now, or after fleetReadyWait.
func fleetReadyGate(clk clock.Clock, ready <-chan struct{}, log zerolog.Logger) gate {
	return func(ctx context.Context) bool {
		t := clk.NewTimer(fleetReadyWait)
		defer t.Stop()
		select {
		case <-ready:
		case <-t.C():
			log.Warn().Dur("waited_ms", fleetReadyWait).Msg("no config from Fleet yet; starting osqueryd with the flags on disk")
		case <-ctx.Done():
			return false
		}
		return true
	}
}

// installedPoll is how often installedGate looks for osqueryd: a file's
// existence, which costs nothing next to the download it waits for.
const installedPoll = 500 * time.Millisecond

// installedGate opens once the updater has installed a component (what
// names it in the log).
func installedGate(clk clock.Clock, path func() (string, error), what string, log zerolog.Logger) gate {
	return func(ctx context.Context) bool {
		if _, err := path(); err == nil {
			return true
		}
		log.Info().Str("waiting_for", what).Msg("waiting for the updater to install a component")
		for clock.Sleep(ctx, clk, installedPoll) {
			if _, err := path(); err == nil {
				return true
			}
		}
		return false
	}
}
