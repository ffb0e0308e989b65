//go:build linux

package main

import "context"

// The process runner alone (supervisor.Process, issue 1): first restart
// and stop with a real child (the test binary itself, sleeping), from
// BenchmarkFirstRestart and BenchmarkStop, each with its os/exec baseline
// measured in the same benchmark.
func init() {
	register(Measurement{Name: "process runner", Order: 40, Run: runner})
}

func runner(ctx context.Context, env *Env) []Row {
	rows := []Row{
		{Name: "first restart, process runner: SIGKILL to the new child started", Unit: "ms", Goal: AtMost(50, "<= 50 ms")},
		{Name: "stop, process runner: cancel until the child's tree is gone", Unit: "ms", Goal: Below(1000, "< 1 s")},
	}
	s, err := env.GoBench(ctx, "./supervisor/", "Benchmark(FirstRestart|Stop)", 10)
	if err == nil {
		err = need(s, "runner_restart_ms", "bare_restart_ms", "runner_stop_ms", "bare_stop_ms")
	}
	if err != nil {
		return fail(rows, err)
	}
	rows[0].Fig = Median(s["runner_restart_ms"])
	rows[0].Base = &Baseline{Label: "the same child restarted by a bare os/exec loop (Wait, then Start)", Value: Median(s["bare_restart_ms"])}
	rows[1].Fig = Median(s["runner_stop_ms"])
	rows[1].Base = &Baseline{Label: "SIGTERM to the same child started by os/exec, until reaped", Value: Median(s["bare_stop_ms"])}
	return rows
}
