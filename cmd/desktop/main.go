//go:build !darwin || cgo

package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/desktop"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "0.0.0-dev"

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1
	exitBadInput = 2
)

// memoryLimit is a soft limit for the Go runtime: the tray idles at a few
// MB and runs once per logged-in user.
const memoryLimit = 32 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout io.Writer, stderr *os.File) int {
	if len(args) > 0 {
		switch strings.TrimLeft(args[0], "-") {
		case "version":
			fmt.Fprintln(stdout, "fleet-desktop", version)
			return exitOK
		case "help", "h":
			fmt.Fprintln(stdout, "Fleet Desktop tray app: orbit runs it for each logged-in user; settings come from FLEET_DESKTOP_* environment variables.")
			return exitOK
		}
		fmt.Fprintf(stderr, "desktop: unknown argument %q (see desktop --help)\n", args[0])
		return exitBadInput
	}
	logger := newLogger(stderr)
	// systray reports through the standard logger.
	log.SetFlags(0)
	log.SetOutput(stdLogWriter{logger})
	logger.Info().Str("version", version).Int("pid", os.Getpid()).Msg("tray app starting")

	settings, err := desktop.SettingsFromEnv(os.Getenv)
	if err != nil {
		logger.Error().Err(err).Msg("cannot start the tray app")
		return exitBadInput
	}
	hc, err := newHTTPClient(settings, logger)
	if err != nil {
		logger.Error().Err(err).Msg("cannot start the tray app")
		return exitBadInput
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx = untilParentGone(ctx, logger)

	clk := clock.Real()
	menu := newTrayMenu(logger, desktop.BuildMenu(version, desktop.State{}))
	app, err := desktop.New(desktop.Config{
		Settings:   settings,
		HTTPClient: hc,
		Opener:     desktop.BrowserOpener{Logger: logger},
		Menu:       menu,
		Version:    version,
		Clock:      clk,
		Logger:     logger,
	})
	if err != nil {
		logger.Error().Err(err).Msg("cannot start the tray app")
		return exitBadInput
	}
	code := runTray(ctx, tray{log: logger, clk: clk, menu: menu, app: app})
	logger.Info().Int("exit_code", code).Msg("tray app stopped")
	return code
}

// untilParentGone returns a context that ends when the parent (orbit) is
// gone, so the tray never outlives the agent as an orphan.
func untilParentGone(ctx context.Context, logger zerolog.Logger) context.Context {
	alive, err := desktop.ParentAlive()
	if err != nil {
		logger.Warn().Err(err).Msg("cannot watch the parent process; the tray will not notice orbit exiting")
		return ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		if desktop.WatchParent(ctx, clock.Real(), desktop.DefaultParentCheckInterval, alive) == nil {
			logger.Info().Msg("the parent process is gone; stopping")
		}
	}()
	return ctx
}

// newLogger logs human-readable lines on a terminal and JSON otherwise
// (orbit collects the tray's stderr).
func newLogger(stderr *os.File) zerolog.Logger {
	var w io.Writer = stderr
	if isatty.IsTerminal(stderr.Fd()) || isatty.IsCygwinTerminal(stderr.Fd()) {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.DateTime}
	}
	return zerolog.New(w).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// stdLogWriter turns the standard logger's lines (systray's messages) into
// warnings of ours.
type stdLogWriter struct{ log zerolog.Logger }

func (w stdLogWriter) Write(p []byte) (int, error) {
	w.log.Warn().Str("detail", strings.TrimSpace(string(p))).Msg("systray library message")
	return len(p), nil
}
