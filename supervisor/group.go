package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/clock"
)

// Actor is one long-running part of the agent: the osqueryd runner, the
// updater, the Fleet client, the desktop runner. Run returns when ctx is
// done. Returning earlier is a failure: the group logs it and runs the
// actor again after a backoff, so one failing part never stops the others.
// To stop the whole agent on purpose (a signal, orbit's own update), return
// an error that wraps ErrShutdown.
type Actor interface {
	Run(ctx context.Context) error
}

// ActorFunc adapts a function to Actor.
type ActorFunc func(ctx context.Context) error

func (f ActorFunc) Run(ctx context.Context) error { return f(ctx) }

// ErrShutdown, wrapped in an actor's error, stops the whole group.
var ErrShutdown = errors.New("agent shutdown requested")

// Group composes actors on an oklog/run group.
type Group struct {
	log    zerolog.Logger
	clock  clock.Clock
	actors []namedActor
}

type namedActor struct {
	name  string
	actor Actor
}

// NewGroup returns an empty group. clock may be nil for the real clock.
func NewGroup(log zerolog.Logger, clk clock.Clock) *Group {
	if clk == nil {
		clk = clock.Real()
	}
	return &Group{log: log, clock: clk}
}

// Add registers an actor under a name used in logs.
func (g *Group) Add(name string, a Actor) {
	g.actors = append(g.actors, namedActor{name: name, actor: a})
}

// Run runs every actor until ctx is done or one asks for shutdown, then
// interrupts all of them and waits for each to return. It returns the
// shutdown error (or ctx's error).
func (g *Group) Run(ctx context.Context) error {
	var rg run.Group
	stop := make(chan struct{})
	rg.Add(func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return nil
		}
	}, func(error) { close(stop) })
	for _, na := range g.actors {
		actx, cancel := context.WithCancel(context.Background())
		rg.Add(func() error { return g.supervise(actx, na) }, func(error) { cancel() })
	}
	return rg.Run()
}

// groupBackoff is the schedule of an actor that returned early: 1 s
// doubling to 1 min, no jitter (actors fail for local reasons, not in
// step with other hosts), and back to 1 s after a run of a minute.
var groupBackoff = backoff.Config{
	Initial: time.Second, Max: time.Minute, Jitter: -1,
	StableAfter: time.Minute, DelayAfterStable: true,
}

// supervise runs one actor, restarting it when it returns early.
func (g *Group) supervise(ctx context.Context, na namedActor) error {
	b, err := backoff.New(groupBackoff)
	if err != nil {
		return err
	}
	for {
		started := g.clock.Now()
		err := runActor(ctx, na.actor)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrShutdown) {
			g.log.Info().Str("actor", na.name).Err(err).Msg("actor requested shutdown")
			return err
		}
		delay := b.Next(g.clock.Now().Sub(started))
		g.log.Error().Str("actor", na.name).Err(err).Dur("retry_in_ms", delay).Msg("actor stopped unexpectedly; restarting it")
		if !clock.Sleep(ctx, g.clock, delay) {
			return nil
		}
	}
}

// runActor turns a panic in an actor into an error, so a bug in one part
// (say, the tray runner) cannot take osqueryd down with the whole agent.
func runActor(ctx context.Context, a Actor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("actor panicked: %v", r)
		}
	}()
	err = a.Run(ctx)
	if err == nil && ctx.Err() == nil {
		err = errors.New("actor returned before shutdown")
	}
	return err
}

// SignalActor returns an actor that asks for shutdown on SIGINT or SIGTERM
// (on Windows, os.Interrupt: Ctrl-C / Ctrl-Break). Signals are caught from
// the moment it is made, so one sent while the group starts still gets an
// orderly stop, and they stay caught during the stop, so a second Ctrl-C
// does not cut the children's grace period short.
func SignalActor(log zerolog.Logger) Actor {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ActorFunc(func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			signal.Stop(ch)
			return nil
		case sig := <-ch:
			log.Info().Str("signal", sig.String()).Msg("received signal, stopping")
			return fmt.Errorf("%w: received %s", ErrShutdown, sig)
		}
	})
}
