//go:build linux

package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestVerdicts(t *testing.T) {
	t.Parallel()
	fig := func(v float64) Value { return Median([]float64{v}) }
	base := func(v float64) *Baseline { return &Baseline{Label: "b", Value: fig(v)} }
	tests := []struct {
		name      string
		row       Row
		want      Verdict
		fails, ci bool // fails without CI, with CI=true
	}{
		{"met", Row{Fig: fig(40), Goal: AtMost(50, "")}, Met, false, false},
		{"at the limit", Row{Fig: fig(50), Goal: AtMost(50, "")}, Met, false, false},
		{"missed", Row{Fig: fig(51), Goal: AtMost(50, "")}, Missed, true, true},
		{"below is strict", Row{Fig: fig(0.1), Goal: Below(0.1, "")}, Missed, true, true},
		{"ratio met", Row{Fig: fig(13), Base: base(10), Goal: RatioAtMost(1.3)}, Met, false, false},
		{"ratio missed", Row{Fig: fig(14), Base: base(10), Goal: RatioAtMost(1.3)}, Missed, true, true},
		{"ratio without a baseline", Row{Fig: fig(1), Goal: RatioAtMost(1.3)}, Missed, true, true},
		{"not above", Row{Fig: fig(10), Base: base(10), Goal: NotAbove()}, Met, false, false},
		{"above", Row{Fig: fig(11), Base: base(10), Goal: NotAbove()}, Missed, true, true},
		{"flat", Row{Fig: fig(12), Base: base(10), Goal: GrowthAtMost(2, "")}, Met, false, false},
		{"grew", Row{Fig: fig(12.1), Base: base(10), Goal: GrowthAtMost(2, "")}, Missed, true, true},
		{"no samples", Row{Goal: AtMost(50, "")}, Missed, true, true},
		{"no goal", Row{Fig: fig(1)}, Missed, true, true},
		{"tool missing", fail([]Row{{Goal: AtMost(50, "")}}, toolMissing("wixl"))[0], NotMeasured, false, true},
		{"failed", fail([]Row{{Goal: AtMost(50, "")}}, errors.New("boom"))[0], Failed, true, true},
	}
	for _, tt := range tests {
		if got := tt.row.Verdict(); got != tt.want {
			t.Errorf("%s: verdict %v, want %v", tt.name, got, tt.want)
		}
		if got := tt.row.Fails(false); got != tt.fails {
			t.Errorf("%s: Fails(CI unset) = %v", tt.name, got)
		}
		if got := tt.row.Fails(true); got != tt.ci {
			t.Errorf("%s: Fails(CI=true) = %v", tt.name, got)
		}
	}
}

func TestPrintMarksEveryRow(t *testing.T) {
	t.Parallel()
	rows := []Row{
		{Name: "restart", Unit: "ms", Fig: Median([]float64{3, 1, 2}), Goal: AtMost(50, "<= 50 ms"),
			Base: &Baseline{Label: "replay", Modelled: true, Value: Median([]float64{1, 1})}},
		{Name: "slow", Unit: "ms", Fig: Median([]float64{60}), Goal: AtMost(50, "<= 50 ms")},
		fail([]Row{{Name: "msi", Goal: AtMost(1, "x")}}, toolMissing("wixl"))[0],
	}
	var out bytes.Buffer
	Print(&out, rows)
	s := out.String()
	for _, want := range []string{
		"2 ms", "median of 3 [1, 3]", "ratio", "2  ", "MODELLED", "replay",
		"MISSED", "NOT MEASURED", "wixl is not installed",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}

func TestFailuresSayWhich(t *testing.T) {
	t.Parallel()
	rows := []Row{
		{Name: "fast", Unit: "ms", Fig: Median([]float64{1}), Goal: AtMost(50, "<= 50 ms")},
		{Name: "add", Unit: "ms", Fig: Median([]float64{16}), Base: &Baseline{Label: "hash", Value: Median([]float64{10})}, Goal: RatioAtMost(1.3)},
		fail([]Row{{Name: "msi", Goal: AtMost(1, "x")}}, toolMissing("wixl"))[0],
		fail([]Row{{Name: "broken", Goal: AtMost(1, "x")}}, errors.New("boom"))[0],
	}
	got := strings.Join(failures(rows, false), "\n")
	want := "MISSED: row 2, add: 16 ms against 10 ms, ratio 1.60; goal ratio <= 1.3\nFAILED: row 4, broken: boom"
	if got != want {
		t.Errorf("failures without CI:\n%s\nwant:\n%s", got, want)
	}
	if got := failures(rows, true); len(got) != 3 || !strings.Contains(got[1], "NOT MEASURED: row 3, msi: wixl is not installed") {
		t.Errorf("failures under CI=true: %q", got)
	}
}
