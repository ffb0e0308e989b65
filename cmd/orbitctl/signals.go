package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"
)

// shutdownGrace is how long a command has, after a signal, to stop on its
// own (abort its transaction, release the repository lock); a wait it
// cannot leave (a blocking system call) then ends with the process.
const shutdownGrace = 10 * time.Second

// notifySignals returns a context cancelled by the first SIGINT or SIGTERM
// and a function that returns that signal (nil before). A second signal
// takes the default action and ends the process at once.
func notifySignals(parent context.Context) (ctx context.Context, received func() os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(parent)
	var got atomic.Value
	go func() {
		select {
		case s := <-ch:
			got.Store(s)
			signal.Stop(ch)
			cancel()
		case <-ctx.Done():
		}
	}()
	received = func() os.Signal {
		s, _ := got.Load().(os.Signal)
		return s
	}
	return ctx, received, func() { signal.Stop(ch); cancel() }
}

// saveTerminal returns a function that puts f's terminal back as it is now
// (a passphrase prompt turns echo off), or a no-op when f is no terminal.
func saveTerminal(f *os.File) func() {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return func() {}
	}
	state, err := term.GetState(fd)
	if err != nil {
		return func() {}
	}
	return func() { _ = term.Restore(fd, state) }
}

// report prints err on one line and returns the exit code: 0 when the
// command succeeded (even if a signal came late), 128+signal when a signal
// stopped it, 1 otherwise.
func report(w io.Writer, err error, sig os.Signal) int {
	if err == nil {
		return 0
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if sig == nil {
		fmt.Fprintln(w, "orbitctl: "+msg)
		return 1
	}
	fmt.Fprintf(w, "orbitctl: stopped by signal (%s): %s\n", sig, msg)
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
