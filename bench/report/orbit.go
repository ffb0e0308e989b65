//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// orbitProc is a real orbit (./cmd/orbit) supervising the stand-in
// osqueryd, which records each of its starts.
type orbitProc struct {
	cmd     *exec.Cmd
	dir     string
	root    string
	logFile string
	records string
	exited  chan struct{}
	waitErr error
}

// startOrbit runs orbit with its root under a new directory, updates off,
// and the stand-in as osqueryd; args follow (osqueryd's after "--").
func startOrbit(env *Env, extraEnv []string, args ...string) (*orbitProc, error) {
	bin, err := env.Program("./cmd/orbit", "orbit")
	if err != nil {
		return nil, err
	}
	// Named osqueryd: orbit only stops a stale osqueryd by that name.
	standin, err := env.Program("./testdata/osqueryd", "osqueryd")
	if err != nil {
		return nil, err
	}
	dir, err := env.Dir()
	if err != nil {
		return nil, err
	}
	o := &orbitProc{dir: dir, root: filepath.Join(dir, "r"), logFile: filepath.Join(dir, "orbit.log"),
		records: filepath.Join(dir, "starts.jsonl"), exited: make(chan struct{})}
	all := append([]string{"--root-dir", o.root, "--disable-updates", "--osqueryd-path", standin, "--log-file", o.logFile}, args...)
	o.cmd = exec.Command(bin, all...)
	o.cmd.Env = append(append(os.Environ(), "OSQUERYD_STANDIN_RECORD="+o.records), extraEnv...)
	out, err := os.Create(filepath.Join(dir, "orbit.out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	o.cmd.Stdout, o.cmd.Stderr = out, out
	if err := o.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start orbit: %w", err)
	}
	go func() { o.waitErr = o.cmd.Wait(); close(o.exited) }()
	return o, nil
}

func (o *orbitProc) pid() int { return o.cmd.Process.Pid }

// poll calls ok every 10 ms until it is true, orbit exits, or timeout.
func (o *orbitProc) poll(ctx context.Context, what string, timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		select {
		case <-o.exited:
			return fmt.Errorf("orbit exited (%v) before %s: %s", o.waitErr, what, tail(o.log(), 5))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s within %s: %s", what, timeout, tail(o.log(), 5))
		}
	}
	return nil
}

// daemon waits for the n-th daemon start of osqueryd (1 is the first).
func (o *orbitProc) daemon(ctx context.Context, n int, timeout time.Duration) (standinStart, error) {
	var starts []standinStart
	err := o.poll(ctx, fmt.Sprintf("osqueryd start #%d", n), timeout, func() bool {
		starts, _ = daemonStarts(o.records)
		return len(starts) >= n
	})
	if err != nil {
		return standinStart{}, err
	}
	return starts[n-1], nil
}

// logged waits for a log message.
func (o *orbitProc) logged(ctx context.Context, msg string, timeout time.Duration) error {
	return o.poll(ctx, "log line "+msg, timeout, func() bool { return strings.Contains(o.log(), `"message":"`+msg+`"`) })
}

func (o *orbitProc) log() string {
	b, _ := os.ReadFile(o.logFile)
	return string(b)
}

// stop ends orbit: SIGTERM, then SIGKILL (its children get SIGKILL with
// it: Linux's parent-death signal) if it does not stop in time.
func (o *orbitProc) stop() {
	select {
	case <-o.exited:
		return
	default:
	}
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.exited:
	case <-time.After(20 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.exited
	}
}
