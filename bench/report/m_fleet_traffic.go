//go:build linux

package main

import "context"

// One idle, enrolled host for one simulated hour at default intervals
// (fleet.BenchmarkIdleTraffic): requests and bytes on the TCP connections
// (TLS records included), ours against a replay of the schedule Fleet's
// orbit documents (config every 30 s, ping every 5 min, token every hour)
// sent through our own client to the same test server. The hour runs on
// the fake clock with a seeded jitter: the counts are exact, one run.
func init() {
	register(Measurement{Name: "idle traffic", Order: 50, Run: idleTraffic})
}

func idleTraffic(ctx context.Context, env *Env) []Row {
	rows := []Row{
		{Name: "idle host, 1 simulated hour: requests to Fleet", Unit: "req", Goal: NotAbove()},
		{Name: "idle host, 1 simulated hour: bytes sent", Unit: "B", Goal: NotAbove()},
		{Name: "idle host, 1 simulated hour: bytes received", Unit: "B", Goal: NotAbove()},
	}
	s, err := env.GoBench(ctx, "./fleet/", "BenchmarkIdleTraffic", 1)
	if err != nil {
		return fail(rows, err)
	}
	const label = "Fleet's documented schedule replayed through OUR client (not Fleet's agent)"
	for i, m := range []string{"requests", "sent_bytes", "recv_bytes"} {
		if err := need(s, "idle_ours_"+m, "idle_fleet_"+m); err != nil {
			return fail(rows, err)
		}
		rows[i].Fig = Single(s["idle_ours_"+m])
		rows[i].Base = &Baseline{Label: label, Modelled: true, Value: Single(s["idle_fleet_"+m])}
	}
	return rows
}
