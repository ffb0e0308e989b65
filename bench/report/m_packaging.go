//go:build linux

package main

import (
	"context"
	"fmt"
)

// Installers (issue 8), from packaging/bench's BenchmarkFourPackages: the
// deb, rpm, pkg and msi of one agent (orbit and the stand-in osqueryd,
// built for each platform), built in memory by the project's formats; in
// each iteration dpkg-deb --build packs the deb's own tree (gzip, as our
// debs are), the distribution's tool doing the same job.
//
// Goals: a format should be no slower than dpkg-deb at the same tree
// (within the 1.3 the project allows a tool of its own against the
// standard one doing the same work), so all four within 4x one dpkg-deb;
// and each package compressed about as well as dpkg-deb's (its size over
// the programs inside within 10 % of dpkg-deb's).
func init() {
	register(Measurement{Name: "packaging", Order: 90, Run: packagingRows})
}

var formats = []string{"deb", "rpm", "pkg", "msi"}

func packagingRows(ctx context.Context, env *Env) []Row {
	rows := []Row{
		{Name: "build the deb", Unit: "ms", Goal: RatioAtMost(1.3)},
		{Name: "build all four: deb, rpm, pkg, msi", Unit: "ms", Goal: RatioAtMost(4)},
	}
	for _, f := range formats {
		rows = append(rows, Row{Name: f + " size against the programs inside", Unit: "MB"})
	}
	if _, err := env.Tools("dpkg-deb", "wixl", "msibuild"); err != nil {
		return fail(rows, err)
	}
	s, err := env.GoBench(ctx, "./packaging/bench/", "BenchmarkFourPackages", 10)
	metrics := []string{"build_all_ms", "build_dpkg-deb_ms", "size_dpkg-deb_bytes"}
	for _, f := range formats {
		metrics = append(metrics, "build_"+f+"_ms", "size_"+f+"_bytes", "programs_"+f+"_bytes")
	}
	if err == nil {
		err = need(s, metrics...)
	}
	if err != nil {
		return fail(rows, err)
	}
	dpkg := &Baseline{Label: "dpkg-deb --build of the deb's own tree, in the same iterations", Value: Median(s["build_dpkg-deb_ms"])}
	rows[0].Fig, rows[0].Base = Median(s["build_deb_ms"]), dpkg
	rows[1].Fig, rows[1].Base = Median(s["build_all_ms"]), dpkg
	mb := func(xs []float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = x / 1e6
		}
		return out
	}
	// dpkg-deb's package against the same programs as our deb.
	ref := Single(s["size_dpkg-deb_bytes"]).V / Single(s["programs_deb_bytes"]).V
	for i, f := range formats {
		r := &rows[2+i]
		r.Fig = Single(mb(s["size_"+f+"_bytes"]))
		r.Base = &Baseline{Label: "the programs inside (orbit, osqueryd" + map[bool]string{true: ", orbit.exe's stable copy", false: ""}[f == "msi"] + ")",
			Value: Single(mb(s["programs_"+f+"_bytes"]))}
		limit := ref * 1.1
		r.Goal = Goal{Text: fmt.Sprintf("ratio <= %.3f (dpkg-deb's %.3f + 10 %%)", limit, ref), Met: func(r Row) bool {
			q, ok := r.Ratio()
			return ok && q <= limit
		}}
	}
	return rows
}
