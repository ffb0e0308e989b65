//go:build unix

package supervisor

import (
	"context"
	"io"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/orbitagent/orbit/backoff"
	"github.com/orbitagent/orbit/internal/benchrec"
	"github.com/orbitagent/orbit/status"
)

// BenchmarkFirstRestart measures the time from a child's death (SIGKILL) to
// its replacement being started, for the first restart after a healthy run.
func BenchmarkFirstRestart(b *testing.B) {
	clk := newFakeClock() // each run looks healthy (>= StableAfter) to the backoff
	starts := make(chan time.Time, 1)
	p, err := NewProcess(ProcessConfig{
		Name:   "bench",
		Spec:   childSpec(b, childModeEnv+"=sleep"),
		Logger: zerolog.New(io.Discard),
		Clock:  clk,
		OnStatus: func(s status.Process) {
			if s.State == status.StateRunning && s.PID > 0 {
				starts <- time.Now()
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-starts
	var samples []time.Duration
	for b.Loop() {
		clk.Advance(backoff.DefaultStableAfter)
		pid := p.Status().PID
		if pid <= 0 {
			b.Fatalf("status %+v has no pid to kill", p.Status())
		}
		killed := time.Now()
		if err := unix.Kill(pid, unix.SIGKILL); err != nil {
			b.Fatal(err)
		}
		d := (<-starts).Sub(killed)
		samples = append(samples, d)
		benchrec.RecordDuration(b, "runner_restart_ms", d)
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "median-restart-ms")
	cancel()
	<-done
	if st := p.Status(); st.Restarts != b.N || st.ConsecutiveFailures != 0 {
		b.Fatalf("status %+v after %d restarts", st, b.N)
	}
	// The baseline, as many times: the least a Go supervisor can do, Wait
	// then Start of the same child with os/exec, from kill to started.
	spec, err := childSpec(b, childModeEnv+"=sleep")(ctx)
	if err != nil {
		b.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(spec.Path, spec.Args...)
		cmd.Env = spec.Env
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	for range b.N {
		killed := time.Now()
		if err := cmd.Process.Kill(); err != nil {
			b.Fatal(err)
		}
		_ = cmd.Wait()
		cmd = start()
		benchrec.RecordDuration(b, "bare_restart_ms", time.Since(killed))
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// BenchmarkStop measures how long Run takes to return after ctx is cancelled,
// with a child that honours SIGTERM.
func BenchmarkStop(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		running := make(chan struct{}, 1)
		p, err := NewProcess(ProcessConfig{
			Name:   "bench",
			Spec:   childSpec(b, childModeEnv+"=sleep"),
			Logger: zerolog.New(io.Discard),
			OnStatus: func(s status.Process) {
				if s.State == status.StateRunning && s.PID > 0 {
					running <- struct{}{}
				}
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		<-running
		start := time.Now()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		total += d
		benchrec.RecordDuration(b, "runner_stop_ms", d)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "stop-ms")
	// The baseline: SIGTERM to the same child started with os/exec, as
	// soon as it is started (as above), until it is reaped.
	spec, err := childSpec(b, childModeEnv+"=sleep")(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		cmd := exec.Command(spec.Path, spec.Args...)
		cmd.Env = spec.Env
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Process.Signal(unix.SIGTERM); err != nil {
			b.Fatal(err)
		}
		_ = cmd.Wait()
		benchrec.RecordDuration(b, "bare_stop_ms", time.Since(start))
	}
}
