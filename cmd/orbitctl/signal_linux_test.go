package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbitagent/orbit/internal/testbin"
)

// hangLimit only detects a hang (the defect these tests are about): a
// command that works returns in well under a second.
const hangLimit = 60 * time.Second

// waitExit waits for cmd and returns its exit code, failing the test if it
// does not end within hangLimit.
func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(hangLimit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("orbitctl %v still running after %s: killed", cmd.Args[1:], hangLimit)
		return -1
	}
}

// oneLine returns the only line of stderr that is not a JSON log line.
func oneLine(t *testing.T, stderr string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "orbitctl: ") {
		t.Fatalf("stderr has %d message lines, want one starting with \"orbitctl: \":\n%s", len(lines), stderr)
	}
	return lines[0]
}

// TestCLIAddRefusesSpecialFiles: a FIFO (no writer), a device or a
// directory as --target is refused at once with the reason, and the
// repository lock is released: the next add succeeds.
func TestCLIAddRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	bin := orbitctl(t)
	e := env("ORBIT_", nil)
	dir := filepath.Join(t.TempDir(), "tuf")
	mustRun(t, e, "updates", "init", "--path", dir)
	tmp := t.TempDir()
	fifo := filepath.Join(tmp, "osqueryd")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(tmp, "link")
	os.Symlink(fifo, link)
	before := tree(t, dir)
	// A slice, not a map: the FIFO goes first every run (a hang on it is
	// the defect this test pins).
	for _, c := range []struct{ target, kind string }{{fifo, "is a FIFO"}, {link, "is a FIFO"}, {"/dev/zero", "is a device"}, {tmp, "is a directory"}} {
		target, kind := c.target, c.kind
		cmd := exec.Command(bin, "updates", "add", "--path", dir, "--target", target, "--name", "osqueryd", "--platform", "linux", "--version", "1.0.0", "-t", "stable")
		cmd.Env = e
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, cmd); code != 1 {
			t.Fatalf("add %s: exit %d, want 1; stderr %s", target, code, stderr.String())
		}
		if line := oneLine(t, stderr.String()); !strings.Contains(line, kind) || !strings.Contains(line, "not a regular file") {
			t.Fatalf("add %s: %q, want %q", target, line, kind)
		}
	}
	sameTree(t, dir, before, "refused adds")
	file := filepath.Join(tmp, "osqueryd-file")
	os.WriteFile(file, []byte("#!/bin/sh\n"), 0o755)
	mustRun(t, e, "updates", "add", "--path", dir, "--target", file, "--name", "osqueryd", "--platform", "linux", "--version", "1.0.0", "-t", "stable")
}

// TestCLISignalStopsPublish: SIGTERM while an upload waits on a server
// that never answers ends orbitctl with 128+15 and one line, and releases
// the repository lock.
func TestCLISignalStopsPublish(t *testing.T) {
	t.Parallel()
	bin := orbitctl(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		var held []net.Conn // never answered, closed with the test
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
			go io.Copy(io.Discard, c)
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	e := append(env("ORBIT_", nil),
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(t.TempDir(), "none"))
	dir := filepath.Join(t.TempDir(), "tuf")
	mustRun(t, e, "updates", "init", "--path", dir)

	cmd := exec.Command(bin, "updates", "publish", "--path", dir, "--to", "s3://bucket/p", "--endpoint", "http://"+ln.Addr().String())
	cmd.Env = e
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
	case <-time.After(hangLimit):
		cmd.Process.Kill()
		t.Fatalf("publish never reached the server: %s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %d after SIGTERM, want %d; stderr %s", code, 128+int(syscall.SIGTERM), stderr.String())
	}
	if line := oneLine(t, stderr.String()); !strings.Contains(line, "stopped by signal (terminated)") {
		t.Fatalf("message %q", line)
	}
	mustRun(t, e, "updates", "timestamp", "--path", dir) // the lock is free
}

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testbin.Unavailable(t, "no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestCLISignalStopsPassphrasePrompt: SIGTERM while orbitctl waits at a
// passphrase prompt on a terminal ends it with one line, gives the
// terminal its echo back and releases the repository lock.
func TestCLISignalStopsPassphrasePrompt(t *testing.T) {
	t.Parallel()
	bin := orbitctl(t)
	_, tty := openPTY(t)
	e := env("ORBIT_", nil)
	dir := filepath.Join(t.TempDir(), "tuf")
	mustRun(t, e, "updates", "init", "--path", dir)
	file := filepath.Join(t.TempDir(), "osqueryd")
	os.WriteFile(file, []byte("#!/bin/sh\n"), 0o755)
	args := []string{"updates", "add", "--path", dir, "--target", file, "--name", "osqueryd", "--platform", "linux", "--version", "1.0.0", "-t", "stable"}

	cmd := exec.Command(bin, args...)
	cmd.Env = env("NONE_", nil) // no passphrase in the environment: orbitctl asks
	cmd.Stdin = tty
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	prompted := make(chan bool, 1)
	go func() {
		r := bufio.NewReader(io.TeeReader(stderr, &seen))
		for {
			s, err := r.ReadString(':')
			if strings.Contains(s, "passphrase for the") {
				prompted <- true
				io.Copy(io.Discard, r)
				return
			}
			if err != nil {
				prompted <- false
				return
			}
		}
	}()
	select {
	case ok := <-prompted:
		if !ok {
			t.Fatalf("no prompt: %s", seen.String())
		}
	case <-time.After(hangLimit):
		cmd.Process.Kill()
		t.Fatal("no prompt")
	}
	// The prompt is written just before echo goes off: wait for that, so
	// the signal comes while the terminal is in the prompt's state.
	for deadline := time.Now().Add(hangLimit); ; time.Sleep(10 * time.Millisecond) {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the prompt never turned echo off")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	code := waitExit(t, cmd)
	if code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %d after SIGTERM at the prompt; stderr %s", code, seen.String())
	}
	var rest []string // stderr without the prompt's line
	for _, l := range strings.Split(seen.String(), "\n") {
		if !strings.Contains(l, "passphrase for the") {
			rest = append(rest, l)
		}
	}
	if line := oneLine(t, strings.Join(rest, "\n")); !strings.Contains(line, "stopped by signal (terminated)") {
		t.Fatalf("message %q", line)
	}
	if tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err != nil || tio.Lflag&unix.ECHO == 0 {
		t.Fatalf("echo not restored after the signal (%v)", err)
	}
	mustRun(t, e, args...) // the lock is free, nothing half-added
}
