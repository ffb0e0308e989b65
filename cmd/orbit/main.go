// Command orbit is the agent: it runs osqueryd (and the tray app), keeps
// them current from a TUF repository and talks to Fleet.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "0.0.0-dev"

// memoryLimit is a soft limit for the Go runtime: orbit idles at about
// 13 MB, and a burst of large answers from a broken server should make the
// GC work harder and hand memory back, not grow the agent on every host.
const memoryLimit = 64 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	app := newApp()
	if err := app.RunContext(context.Background(), os.Args); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "orbit:", err)
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "orbit:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:            "orbit",
		Usage:           "run osqueryd, keep it updated, and connect it to Fleet",
		Version:         version,
		HideVersion:     false,
		Flags:           agentFlags(),
		ArgsUsage:       "[-- extra osqueryd flags]",
		Action:          runAgentCommand,
		Commands:        []*cli.Command{versionCommand(), serviceCommand(), statusCommand()},
		ExitErrHandler:  func(*cli.Context, error) {}, // main prints errors once
		HideHelpCommand: true,
		// Errors about flags are printed by main as one line.
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit(fmt.Sprintf("%v (see orbit --help)", err), exitBadInput)
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print orbit's version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "orbit %s\n", version)
			return nil
		},
	}
}
