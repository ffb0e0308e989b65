//go:build !windows

package updater

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// runFor starts p as a supervisor would: an exit with an error soon after
// start is a crash; a process still running after the grace is healthy and
// is stopped.
func runFor(p string) error {
	var cmd *exec.Cmd
	err := retryBusy(func() error {
		cmd = exec.Command(p)
		cmd.Dir = os.TempDir()
		return cmd.Start()
	})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Second):
		cmd.Process.Kill()
		<-done
		return nil
	}
}

// versionOf runs the version command of an installed file.
func versionOf(p string, args ...string) (string, error) {
	if len(args) == 0 {
		args = []string{"--version"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []byte
	err := retryBusy(func() error {
		var err error
		out, err = exec.CommandContext(ctx, p, args...).Output()
		return err
	})
	return string(out), err
}

// retryBusy retries a start that failed with "text file busy": a process
// forked by a parallel test may briefly hold a write descriptor of the file
// (golang.org/issue/22315).
func retryBusy(start func() error) error {
	for i := 0; ; i++ {
		err := start()
		if !errors.Is(err, syscall.ETXTBSY) || i == 20 {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
