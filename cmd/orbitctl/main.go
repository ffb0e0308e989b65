// Command orbitctl is the release owner's tool for orbit: `orbitctl updates`
// maintains the TUF repository the agents update from.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "orbitctl: "+err.Error())
		os.Exit(1)
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "orbitctl",
		Usage:     "manage orbit releases",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands:  []*cli.Command{updatesCommand(newLogger(stderr))},
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
