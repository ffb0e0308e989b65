//go:build !windows

package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
)

// reexec replaces this process with the orbit at path, same arguments and
// environment, so the service manager sees one continuous service.
func reexec(path string) error {
	args := append([]string{path}, os.Args[1:]...)
	if err := syscall.Exec(path, args, os.Environ()); err != nil {
		return fmt.Errorf("start updated orbit %s: %w", path, err)
	}
	return nil
}

// runCandidate runs a new orbit on trial in this one's place: the same pid,
// so the service manager sees one service, and when it dies the manager
// restarts the stable path, the known-good orbit, which counts the boot.
func runCandidate(_ context.Context, path string) error { return reexec(path) }
