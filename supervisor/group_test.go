package supervisor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestGroupRestartsFailedActorWithoutStoppingOthers(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	g := NewGroup(zerolog.Nop(), clk)
	var failing, steady atomic.Int32
	steadyStarted := make(chan struct{})
	g.Add("failing", ActorFunc(func(ctx context.Context) error {
		if failing.Add(1) == 1 {
			return errors.New("boom")
		}
		panic("bug in an actor") // second run: a panic is contained too
	}))
	g.Add("steady", ActorFunc(func(ctx context.Context) error {
		if steady.Add(1) == 1 {
			close(steadyStarted)
		}
		<-ctx.Done()
		return nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-steadyStarted

	// Backoff doubles: 1s after the error, 2s after the panic.
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if d := clk.WaitTimer(t); d != want {
			t.Fatalf("backoff %d = %s, want %s", i, d, want)
		}
		clk.Advance(want)
	}
	clk.WaitTimer(t) // the third run has failed and waits again
	if n := failing.Load(); n != 3 {
		t.Fatalf("failing actor ran %d times, want 3", n)
	}
	if n := steady.Load(); n != 1 {
		t.Fatalf("steady actor ran %d times, want 1 (never restarted)", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

func TestGroupBackoffStartsOverAfterALongRun(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	g := NewGroup(zerolog.Nop(), clk)
	third, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	g.Add("flaky", ActorFunc(func(ctx context.Context) error {
		if runs.Add(1) == 3 {
			close(third)
			<-release // the third run lasts as long as the test says
		}
		return errors.New("boom")
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if d := clk.WaitTimer(t); d != want {
			t.Fatalf("backoff %d = %s, want %s", i, d, want)
		}
		clk.Advance(want)
	}
	<-third
	clk.Advance(2 * time.Minute) // the third run lasts two minutes
	close(release)
	if d := clk.WaitTimer(t); d != time.Second {
		t.Fatalf("backoff after a long run = %s, want 1s", d)
	}
	cancel()
	<-done
}

func TestGroupShutdownStopsEveryActor(t *testing.T) {
	t.Parallel()
	g := NewGroup(zerolog.Nop(), nil)
	stopped := make(chan string, 2)
	for _, name := range []string{"a", "b"} {
		g.Add(name, ActorFunc(func(ctx context.Context) error {
			<-ctx.Done()
			stopped <- name
			return nil
		}))
	}
	g.Add("updater", ActorFunc(func(ctx context.Context) error {
		return errors.Join(ErrShutdown, errors.New("orbit updated itself"))
	}))
	err := g.Run(context.Background())
	if !errors.Is(err, ErrShutdown) {
		t.Fatalf("Run = %v, want ErrShutdown", err)
	}
	if len(stopped) != 2 {
		t.Fatalf("%d actors saw the stop, want 2", len(stopped))
	}
}

func TestLockIsExclusive(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/orbit.lock"
	l, err := AcquireLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}
