//go:build linux

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/orbitagent/orbit/fleettest"
)

// orbit's memory under a broken Fleet server (the Fleet faults issue):
// the real orbit polls the Fleet test server every second; first healthy,
// then three rounds of every fault the server knows (500s, slow answers,
// 16 MiB answers, garbage, connection resets), three polls each. RSS is
// sampled after each healthy poll and after each fault.
func init() {
	register(Measurement{Name: "fleet faults", Order: 60, Run: fleetFaults})
}

// memoryLimit is cmd/orbit's soft memory limit for the Go runtime.
const memoryLimit = 64

func fleetFaults(ctx context.Context, env *Env) []Row {
	rows := []Row{
		{Name: "orbit RSS under Fleet faults, 3 rounds of 5 faults", Unit: "MiB", Goal: AtMost(memoryLimit, "<= 64 MiB (its soft memory limit)")},
	}
	const secret = "bench-faults-secret"
	srv := fleettest.New(fleettest.Config{EnrollSecrets: []string{secret}, TLS: true})
	if err := srv.Start(); err != nil {
		return fail(rows, err)
	}
	defer srv.Close()
	o, err := startOrbit(env, []string{"ORBIT_ENROLL_SECRET=" + secret},
		"--fleet-url="+srv.URL(), "--fleet-certificate="+srv.CACertFile(), "--config-interval=1s")
	if err != nil {
		return fail(rows, err)
	}
	defer o.stop()
	if _, err := o.daemon(ctx, 1, time.Minute); err != nil {
		return fail(rows, err)
	}
	configCalls := func() int {
		return len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/config"}))
	}
	polls := func(what string, n int) error {
		start := configCalls()
		return o.poll(ctx, fmt.Sprintf("%d config polls (%s)", n, what), time.Minute, func() bool { return configCalls() >= start+n })
	}
	sample := func(to *[]float64) error {
		r, err := rssMiB(o.pid())
		*to = append(*to, r)
		return err
	}
	if err := polls("settling", 3); err != nil {
		return fail(rows, err)
	}
	var healthy []float64
	for range 10 {
		if err := polls("healthy", 1); err != nil {
			return fail(rows, err)
		}
		if err := sample(&healthy); err != nil {
			return fail(rows, err)
		}
	}
	var all []float64
	for round := 1; round <= 3; round++ {
		var this []float64
		for _, f := range fleettest.EveryFault() {
			srv.SetFault("/api/fleet/orbit/", f.Fault)
			if err := polls(f.Name, 3); err != nil {
				return fail(rows, err)
			}
			if err := sample(&this); err != nil {
				return fail(rows, err)
			}
		}
		all = append(all, this...)
		env.Logf("fleet faults: orbit RSS after round %d: peak %.1f MiB", round, Peak(this).V)
	}
	srv.ClearFaults()
	rows[0].Fig = Peak(all)
	rows[0].Base = &Baseline{Label: "the same orbit against the healthy server, before the faults", Value: Peak(healthy)}
	return rows
}
