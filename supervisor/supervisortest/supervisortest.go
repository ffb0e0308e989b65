// Package supervisortest is a fake of the process runner's starter and
// children (supervisor.Starter, supervisor.Child): a test receives each
// child as it is started and says when it exits.
//
// It does not import supervisor, so that package's own tests can use it
// too (they cannot import a package that imports supervisor): it is
// generic in the spec type, and a test package adds the Start method that
// supervisor.Starter asks for:
//
//	type fakeStarter struct{ *supervisortest.Starter[supervisor.Spec] }
//
//	func (s fakeStarter) Start(spec supervisor.Spec, _, _ *os.File) (supervisor.Child, error) {
//		return s.Launch(spec), nil
//	}
package supervisortest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testwait"
)

// Child is a started child: it runs until the test calls Exit or the
// runner terminates (unless it ignores that) or kills it.
type Child[S any] struct {
	// Spec is what it was started with.
	Spec S
	// Terms receives a value for each Terminate.
	Terms chan struct{}

	pid        int
	exit       chan int // capacity 1: the first exit wins
	kills      atomic.Int32
	termCode   int
	ignoreTerm bool
}

// PID is the child's fake process id.
func (c *Child[S]) PID() int { return c.pid }

// Wait returns the exit code, with an error for a non-zero one, as
// exec.Cmd.Wait does.
func (c *Child[S]) Wait() (int, error) {
	code := <-c.exit
	if code != 0 {
		return code, fmt.Errorf("exit status %d", code)
	}
	return 0, nil
}

// Exit ends the child with code, unless it has ended already.
func (c *Child[S]) Exit(code int) {
	select {
	case c.exit <- code:
	default:
	}
}

// Terminate is signalled on Terms; the child then exits with its
// starter's TermCode, unless it ignores Terminate.
func (c *Child[S]) Terminate() error {
	c.Terms <- struct{}{}
	if !c.ignoreTerm {
		c.Exit(c.termCode)
	}
	return nil
}

// Kill ends the child with -1 and is counted.
func (c *Child[S]) Kill() error {
	c.kills.Add(1)
	c.Exit(-1)
	return nil
}

// Kills is how often Kill was called.
func (c *Child[S]) Kills() int { return int(c.kills.Load()) }

// Starter records the starts and hands each child to Next.
type Starter[S any] struct {
	// TermCode is what a child exits with on Terminate. Set it before the
	// first start.
	TermCode int

	mu         sync.Mutex
	specs      []S
	ignoreTerm func(S) bool
	started    chan *Child[S]
}

// NewStarter returns a Starter whose children exit with 0 on Terminate.
func NewStarter[S any]() *Starter[S] {
	return &Starter[S]{started: make(chan *Child[S], 100)}
}

// SetIgnoreTerm makes the children started from now on whose spec ignore
// reports true ignore Terminate (nil: none does).
func (s *Starter[S]) SetIgnoreTerm(ignore func(S) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ignoreTerm = ignore
}

// Launch records a start of spec and returns its child, which Next also
// hands out. Child pids are 1001, 1002, ... in the order of the starts.
func (s *Starter[S]) Launch(spec S) *Child[S] {
	s.mu.Lock()
	s.specs = append(s.specs, spec)
	c := &Child[S]{
		Spec: spec, Terms: make(chan struct{}, 100),
		pid: 1000 + len(s.specs), exit: make(chan int, 1), termCode: s.TermCode,
		ignoreTerm: s.ignoreTerm != nil && s.ignoreTerm(spec),
	}
	s.mu.Unlock()
	s.started <- c
	return c
}

// Next is the next child started, waiting for it as long as
// testwait.Limit.
func (s *Starter[S]) Next(t testing.TB) *Child[S] {
	t.Helper()
	return testwait.Recv(t, s.started, "a child's start")
}

// None fails the test if a child was started that Next has not handed out.
func (s *Starter[S]) None(t testing.TB) {
	t.Helper()
	select {
	case c := <-s.started:
		t.Fatalf("unexpected start of %+v", c.Spec)
	default:
	}
}

// Specs are the specs of every start so far, in order.
func (s *Starter[S]) Specs() []S {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]S(nil), s.specs...)
}

// Starts is how many children were started.
func (s *Starter[S]) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.specs)
}

// Stop cancels a runner and moves its fake clock on an hour at a time
// until the runner has returned on done: after a failed test a child may
// ignore Terminate, and only the grace periods running out end it.
func Stop[T any](cancel context.CancelFunc, clk interface{ Advance(time.Duration) }, done <-chan T) {
	cancel()
	for {
		select {
		case <-done:
			return
		case <-time.After(time.Millisecond):
			clk.Advance(time.Hour)
		}
	}
}
