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

// The real orbit's first restart of osqueryd and its stop (issues 1-4).
//
// A first restart is immediate only after a stable run: osqueryd must have
// run a minute (backoff.DefaultStableAfter), or the runner waits a second
// or more. One orbit gives one first restart a minute, so ten orbits start
// at once and warm up, idle, while the idle rows are measured; then, one
// at a time and alone, each gets its osqueryd killed (a sample of death to
// exec); then, once settled again, each gets a SIGTERM (a sample of the
// stop). Samples are a second apart: a process starting or exiting is
// busy for a while, and under load that would spill into the next one.
//
// Death to exec: from just before kill(2) to the instant the new stand-in
// began its main, as it records; the baseline is the same stand-in,
// restarted by a bare os/exec loop (Wait, then Start), timed the same
// way. Stop: from SIGTERM until both orbit and osqueryd have exited, each
// watched through a pidfd; the baseline is SIGTERM to the stand-in alone.
const (
	restartSamples = 10
	stableRun      = 61 * time.Second // backoff.DefaultStableAfter and a margin
	// settleGap separates samples: a process starting or exiting is busy
	// for a while, and each sample must find the machine as it was.
	settleGap = time.Second
)

// pause waits d, or less if ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func init() {
	register(Measurement{Name: "orbit restart and stop", Order: 30, Start: startRestartStop})
}

func restartRows() []Row {
	return []Row{
		{Name: "first restart of osqueryd, real orbit: SIGKILL to the new osqueryd's exec", Unit: "ms", Goal: AtMost(50, "<= 50 ms")},
		{Name: "orbit stop (SIGTERM) until orbit and osqueryd are gone", Unit: "ms", Goal: Below(1000, "< 1 s")},
	}
}

func startRestartStop(ctx context.Context, env *Env) func() []Row {
	var orbits []*orbitProc
	var err error
	for range restartSamples {
		var o *orbitProc
		if o, err = startOrbit(env, nil); err != nil {
			break
		}
		orbits = append(orbits, o)
	}
	return func() []Row {
		defer func() {
			for _, o := range orbits {
				o.stop()
			}
		}()
		if err != nil {
			return fail(restartRows(), err)
		}
		return restartStop(ctx, env, orbits)
	}
}

func restartStop(ctx context.Context, env *Env, orbits []*orbitProc) []Row {
	rows := restartRows()
	first := make([]standinStart, len(orbits))
	for i, o := range orbits {
		s, err := o.daemon(ctx, 1, time.Minute)
		if err != nil {
			return fail(rows, err)
		}
		first[i] = s
	}
	// The baselines first: they need no warm-up.
	bareRestart, bareStop, err := standinAlone(ctx, env, first[0].Argv, orbits[0].root)
	if err != nil {
		return fail(rows, err)
	}
	var restarts, stops []float64
	second := make([]standinStart, len(orbits))
	for i, o := range orbits {
		if err := pause(ctx, time.Until(first[i].Time.Add(stableRun))); err != nil {
			return fail(rows, err)
		}
		killed := time.Now()
		if err := syscall.Kill(first[i].Pid, syscall.SIGKILL); err != nil {
			return fail(rows, fmt.Errorf("kill osqueryd: %w", err))
		}
		next, err := o.daemon(ctx, 2, 30*time.Second)
		if err != nil {
			return fail(rows, err)
		}
		second[i] = next
		restarts = append(restarts, ms(next.Time.Sub(killed)))
		// The new osqueryd's start-up (and orbit's re-registration) must
		// not fall into the next sample.
		if err := pause(ctx, settleGap); err != nil {
			return fail(rows, err)
		}
	}
	// Each stop once its orbit is settled again: the extension registered
	// with the new osqueryd (a check every 5 s notices the restart).
	for i, o := range orbits {
		if err := o.poll(ctx, "re-registration", 30*time.Second, func() bool {
			return strings.Count(o.log(), `"message":"osquery extension registered"`) >= 2
		}); err != nil {
			return fail(rows, err)
		}
		d, err := stopSample(func() error { return o.cmd.Process.Signal(syscall.SIGTERM) }, o.pid(), second[i].Pid)
		if err != nil {
			return fail(rows, fmt.Errorf("orbit stop: %w", err))
		}
		stops = append(stops, d)
		if err := pause(ctx, settleGap); err != nil {
			return fail(rows, err)
		}
	}
	rows[0].Fig = Median(restarts)
	rows[0].Base = &Baseline{Label: "the stand-in restarted by a bare os/exec loop (Wait, then Start)", Value: Median(bareRestart)}
	rows[1].Fig = Median(stops)
	rows[1].Base = &Baseline{Label: "SIGTERM to the stand-in osqueryd alone, until it is gone", Value: Median(bareStop)}
	return rows
}

// stopSample signals and times until every pid has exited (pidfds opened
// before the signal, so no exit is missed and no pid reuse fools it).
func stopSample(signal func() error, pids ...int) (float64, error) {
	var fds []pidfd
	defer func() {
		for _, fd := range fds {
			fd.close()
		}
	}()
	for _, p := range pids {
		fd, err := openPidfd(p)
		if err != nil {
			return 0, err
		}
		fds = append(fds, fd)
	}
	t0 := time.Now()
	if err := signal(); err != nil {
		return 0, err
	}
	for _, fd := range fds {
		if err := fd.wait(30 * time.Second); err != nil {
			return 0, err
		}
	}
	return ms(time.Since(t0)), nil
}

// standinAlone measures the baselines: the stand-in osqueryd with orbit's
// own command line (its paths moved to a root of its own), restarted by
// a bare os/exec loop, and stopped by SIGTERM.
func standinAlone(ctx context.Context, env *Env, argv []string, orbitRoot string) (restarts, stops []float64, err error) {
	dir, err := env.Dir()
	if err != nil {
		return nil, nil, err
	}
	root := filepath.Join(dir, "r")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, nil, err
	}
	for _, f := range []string{"osquery.flags", "extensions.load"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			return nil, nil, err
		}
	}
	args := make([]string, len(argv)-1)
	for i, a := range argv[1:] {
		args[i] = strings.ReplaceAll(a, orbitRoot, root)
	}
	records := filepath.Join(dir, "starts.jsonl")
	n := 0
	socket := filepath.Join(root, "orbit-osquery.em")
	start := func() (*exec.Cmd, standinStart, error) {
		// A SIGKILL leaves the socket behind: its return says this start is up.
		_ = os.Remove(socket)
		cmd := exec.Command(argv[0], args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "OSQUERYD_STANDIN_RECORD="+records)
		if err := cmd.Start(); err != nil {
			return nil, standinStart{}, err
		}
		n++
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if s, _ := daemonStarts(records); len(s) >= n {
				return cmd, s[n-1], nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return nil, standinStart{}, fmt.Errorf("the stand-in did not start")
			}
		}
	}
	up := func() error {
		return waitFile(ctx, socket, 30*time.Second)
	}
	cmd, _, err := start()
	if err != nil {
		return nil, nil, err
	}
	for range restartSamples {
		if err := up(); err != nil {
			return nil, nil, err
		}
		if err := pause(ctx, settleGap); err != nil { // idle, as orbit's osqueryd is
			return nil, nil, err
		}
		killed := time.Now()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		var s standinStart
		if cmd, s, err = start(); err != nil {
			return nil, nil, err
		}
		restarts = append(restarts, ms(s.Time.Sub(killed)))
	}
	for i := range restartSamples {
		if i > 0 {
			if cmd, _, err = start(); err != nil {
				return nil, nil, err
			}
		}
		if err := up(); err != nil {
			return nil, nil, err
		}
		if err := pause(ctx, settleGap); err != nil {
			return nil, nil, err
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		d, err := stopSample(func() error { return cmd.Process.Signal(syscall.SIGTERM) }, cmd.Process.Pid)
		<-exited
		if err != nil {
			return nil, nil, err
		}
		stops = append(stops, d)
	}
	return restarts, stops, nil
}

// ms is d in milliseconds, with its fraction.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// waitFile waits for a path to exist.
func waitFile(ctx context.Context, path string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); ; {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
