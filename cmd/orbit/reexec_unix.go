//go:build !windows

package main

import (
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
