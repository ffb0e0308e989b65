// Command orbitctl is the release owner's tool for orbit: `orbitctl updates`
// maintains the TUF repository the agents update from, and `orbitctl
// package` builds the agent's installers (packaging/packager).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	// SIGINT and SIGTERM cancel the context every command runs under.
	ctx, received, stop := notifySignals(context.Background())
	defer stop()
	restoreTerminal := saveTerminal(os.Stdin)
	done := make(chan error, 1)
	go func() { done <- newApp(os.Stdout, os.Stderr).RunContext(ctx, os.Args) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		case <-time.After(shutdownGrace):
			restoreTerminal()
			err = fmt.Errorf("gave up waiting %s for the command to stop", shutdownGrace)
		}
	}
	if code := report(os.Stderr, err, received()); code != 0 {
		stop()
		os.Exit(code)
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "orbitctl",
		Usage:     "manage orbit releases",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  []*cli.Command{updatesCommand(newLogger(stderr)), packageCommand()},
		// Errors are printed once, by main.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// newLogger logs human-readable lines on a terminal and JSON otherwise.
func newLogger(w io.Writer) zerolog.Logger {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).With().Timestamp().Logger()
}
