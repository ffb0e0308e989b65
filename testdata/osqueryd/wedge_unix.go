//go:build unix

package main

import (
	"os"
	"syscall"
)

// wedgeSignal wedges a running daemon's extension manager (SIGUSR2).
func wedgeSignal() os.Signal { return syscall.SIGUSR2 }
