//go:build linux

package main

import "context"

// The updater (issue 5), from updater's benchmarks against a local TUF
// repository served over HTTP on 127.0.0.1.
func init() {
	register(Measurement{Name: "updater", Order: 70, Run: updater})
}

func updater(ctx context.Context, env *Env) []Row {
	rows := []Row{
		{Name: "update check, nothing changed: requests", Unit: "req", Goal: NotAbove()},
		{Name: "update check, nothing changed: bytes received", Unit: "B", Goal: NotAbove()},
		{Name: "apply a 50 MB osqueryd (download, verify, install)", Unit: "ms", Goal: RatioAtMost(1.3)},
		{Name: "peak RSS applying a 200 MB target (each in a fresh process)", Unit: "MiB", Goal: GrowthAtMost(2, "flat: <= baseline + 2 MiB")},
	}
	if _, err := env.Tool("curl"); err != nil {
		return fail(rows, err)
	}
	s, err := env.GoBench(ctx, "./updater/", "BenchmarkNoChangeCheck", 10)
	if err == nil {
		err = need(s, "nochange_requests", "nochange_bytes", "nochange_minimal_requests", "nochange_minimal_bytes")
	}
	if err != nil {
		fail(rows[:2], err)
	} else {
		const label = "plain GETs of the two files any TUF client needs (next root: a 404; timestamp.json)"
		rows[0].Fig, rows[0].Base = Single(s["nochange_requests"]), &Baseline{Label: label, Value: Single(s["nochange_minimal_requests"])}
		rows[1].Fig, rows[1].Base = Single(s["nochange_bytes"]), &Baseline{Label: label + " (bodies)", Value: Single(s["nochange_minimal_bytes"])}
	}
	s, err = env.GoBench(ctx, "./updater/", "BenchmarkApply50MB", 10)
	if err == nil {
		err = need(s, "apply_orbit_ms", "apply_curl_ms")
	}
	if err != nil {
		fail(rows[2:3], err)
	} else {
		rows[2].Fig = Median(s["apply_orbit_ms"])
		rows[2].Base = &Baseline{Label: "curl + sha512sum + mv of the same file from the same server, in the same iterations", Value: Median(s["apply_curl_ms"])}
	}
	s, err = env.GoBench(ctx, "./updater/", "BenchmarkApplyPeakRSS", 10)
	if err == nil {
		err = need(s, "apply_rss_20MB_KiB", "apply_rss_200MB_KiB")
	}
	if err != nil {
		fail(rows[3:], err)
	} else {
		rows[3].Fig = Peak(mib(s["apply_rss_200MB_KiB"]))
		rows[3].Base = &Baseline{Label: "the same, applying a 20 MB target", Value: Peak(mib(s["apply_rss_20MB_KiB"]))}
	}
	return rows
}

func mib(kib []float64) []float64 {
	out := make([]float64, len(kib))
	for i, k := range kib {
		out[i] = k / 1024
	}
	return out
}
