package main

import "github.com/urfave/cli/v2"

// exitForRestart is non-zero so the SCM's recovery actions start the
// service again, now from the updated binary at the stable path.
const exitForRestart = 3

// reexec cannot replace a running service process on Windows: exit and let
// the service manager start the new binary.
func reexec(string) error {
	return cli.Exit("orbit was updated; exiting so the service manager starts the new version", exitForRestart)
}
