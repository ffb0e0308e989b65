package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/urfave/cli/v2"
)

// exitForRestart is non-zero so the SCM's recovery actions start the
// service again, now from the updated binary at the stable path.
const exitForRestart = 3

// reexec cannot replace a running service process on Windows: exit and let
// the service manager start the new binary.
func reexec(string) error {
	return cli.Exit("orbit was updated; exiting so the service manager starts the new version", exitForRestart)
}

// runCandidate runs a new orbit on trial as a child and waits for it:
// Windows has no exec, and exiting would only have the SCM start this
// known-good orbit again. The child gets orbit's arguments, environment and
// output; its exit code becomes this process's, so after a candidate that
// died the SCM's recovery actions restart the service (this orbit), which
// counts the next boot. A stop of the service kills the child: a service
// has no console to send it CTRL_BREAK, and its osqueryd dies with the job
// object the child holds.
func runCandidate(ctx context.Context, path string) error {
	cmd := exec.CommandContext(ctx, path, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil // the service was stopped
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cli.Exit(fmt.Sprintf("orbit on trial %s exited with code %d", path, ee.ExitCode()), ee.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("start orbit on trial %s: %w", path, err)
	}
	return nil
}
