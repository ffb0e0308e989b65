//go:build linux

package main

import (
	"context"
	"time"
)

// MB is the goals' megabyte (10^6 bytes) in the table's unit, MiB.
const MB = 1e6 / (1 << 20)

// Orbit idle (issues 1-4) and the health check's cost (issue 10): two
// orbits side by side, each with its own stand-in osqueryd. One in its
// default setup (extension registered on osqueryd's socket: a
// registration check every 5 s, a health ping every 60 s); the other with
// osqueryd run with --disable_extensions, so there is nothing to register
// with (orbit retries its connect every second and the pings fail).
func init() {
	register(Measurement{Name: "orbit idle and health check", Order: 10, Idle: true, Run: orbitIdle})
}

func orbitIdle(ctx context.Context, env *Env) []Row {
	rows := []Row{
		{Name: "orbit idle RSS, 30 s (stand-in osqueryd, extension registered)", Unit: "MiB", Goal: AtMost(20*MB, "<= 20 MB (19.07 MiB)")},
		{Name: "orbit idle CPU, 30 s (same orbit)", Unit: "% core", Goal: Below(0.1, "< 0.1 % of a core")},
		{Name: "health check cost: orbit idle CPU, extension registered", Unit: "% core", Goal: GrowthAtMost(0.02, "<= baseline + 0.02 % core")},
		{Name: "health check cost: orbit idle RSS, extension registered", Unit: "MiB", Goal: GrowthAtMost(2, "<= baseline + 2 MiB")},
	}
	with, err := startOrbit(env, nil)
	if err != nil {
		return fail(rows, err)
	}
	defer with.stop()
	without, err := startOrbit(env, nil, "--", "--disable_extensions=true")
	if err != nil {
		return fail(rows, err)
	}
	defer without.stop()
	if err := with.logged(ctx, "osquery extension registered", time.Minute); err != nil {
		return fail(rows, err)
	}
	if _, err := without.daemon(ctx, 1, time.Minute); err != nil {
		return fail(rows, err)
	}
	type res struct {
		f   idleFigures
		err error
	}
	other := make(chan res, 1)
	go func() {
		f, err := watchIdle(ctx, without.pid(), exitedErr(without.exited, "orbit"))
		other <- res{f, err}
	}()
	w, err := watchIdle(ctx, with.pid(), exitedErr(with.exited, "orbit"))
	wo := <-other
	if err == nil {
		err = wo.err
	}
	if err != nil {
		return fail(rows, err)
	}
	const label = "the same orbit, osqueryd run with --disable_extensions (no socket: connect retried each 1 s)"
	rows[0].Fig, rows[1].Fig = w.rss, w.cpu
	rows[2].Fig, rows[2].Base = w.cpu, &Baseline{Label: label, Value: wo.f.cpu}
	rows[3].Fig, rows[3].Base = w.rss, &Baseline{Label: label, Value: wo.f.rss}
	return rows
}
