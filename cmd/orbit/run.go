package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/orbitagent/orbit/agent"
	"github.com/orbitagent/orbit/osquery"
	"github.com/orbitagent/orbit/supervisor"
)

// exitBadInput is the exit code for refused flags, distinct from runtime
// failures so scripts and service managers can tell them apart.
const exitBadInput = 2

func runAgentCommand(c *cli.Context) error {
	cfg, err := parseConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitBadInput)
	}
	if supervisor.Interactive() {
		return runAgent(c.Context, cfg, true)
	}
	// Under systemd, launchd or the Windows SCM: let kardianos/service
	// translate the manager's stop request into a context cancel. An agent
	// that ends on its own (a refusal at start, orbit's update on Windows)
	// must end the process too: the service manager restarts a process
	// that exits, but would show a wedged one as running forever.
	svc, err := supervisor.NewService(serviceConfig(cfg.Agent.StopGrace, nil), func(ctx context.Context) error {
		err := runAgent(ctx, cfg, false)
		if ctx.Err() == nil {
			exitUnderService(err)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := svc.Run(); err != nil {
		return fmt.Errorf("run as service: %w", err)
	}
	return svc.RunErr()
}

// exitUnderService ends the process with the agent's exit code (1 when it
// stopped without one), so systemd's Restart=always or the SCM's recovery
// actions start orbit again.
func exitUnderService(err error) {
	code := 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orbit:", err)
	}
	os.Exit(code)
}

// runAgent runs the agent with orbit's logger and turns how it ended into
// an exit: a refusal is the bad-input exit code (and, with --log-file, a
// line in the file, where an admin of a service looks), a hand-over to
// another orbit is a re-exec, and a new orbit on trial is run in this
// one's place.
func runAgent(ctx context.Context, cfg *runConfig, interactive bool) error {
	ring := osquery.NewLogRing(osquery.LogRingConfig{})
	log, level, closeLog := newLogger(cfg.Log, os.Stderr, ring)
	defer closeLog.Close()
	deps := agent.Deps{Logger: log, LogLevel: level, Signals: interactive, LogRing: ring}
	if !interactive {
		deps.ServiceName = serviceName()
	}
	out, err := agent.Run(ctx, cfg.Agent, deps)
	var refused *agent.Refusal
	if errors.As(err, &refused) {
		if cfg.Log.File != "" {
			log.Error().Err(refused.Err).Msg("orbit cannot start")
		}
		return cli.Exit(refused.Err.Error(), exitBadInput)
	}
	if out.Reexec != "" {
		closeLog.Close()
		if out.Candidate {
			return runCandidate(ctx, out.Reexec)
		}
		return reexec(out.Reexec)
	}
	return err
}
