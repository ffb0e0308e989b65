//go:build unix

package supervisor

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/orbitagent/orbit/backoff"
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
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clk.Advance(backoff.DefaultStableAfter)
		pid := p.Status().PID
		if pid <= 0 {
			b.Fatalf("status %+v has no pid to kill", p.Status())
		}
		killed := time.Now()
		if err := unix.Kill(pid, unix.SIGKILL); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, (<-starts).Sub(killed))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "median-restart-ms")
	cancel()
	<-done
	if st := p.Status(); st.Restarts != b.N || st.ConsecutiveFailures != 0 {
		b.Fatalf("status %+v after %d restarts", st, b.N)
	}
}

// BenchmarkStop measures how long Run takes to return after ctx is cancelled,
// with a child that honours SIGTERM.
func BenchmarkStop(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
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
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "stop-ms")
}
