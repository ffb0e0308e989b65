//go:build linux

package main

import (
	"errors"
	"fmt"
)

// Row is one line of the report: a figure, its baseline measured in the
// same run, the goal, and whether it is met.
type Row struct {
	Name string
	Unit string
	Fig  Value
	Base *Baseline
	Goal Goal
	// Missing says which tool was not there: the row was not measured
	// (a failure under CI=true).
	Missing string
	// Err says why the measurement failed: always a failure.
	Err error
}

// Baseline is what a figure is set against. A modelled baseline (not the
// real thing, measured) says so in the table.
type Baseline struct {
	Label    string
	Modelled bool
	Value
}

// Goal is what a row must meet.
type Goal struct {
	Text string
	Met  func(Row) bool
}

// Ratio is figure / baseline, or false without a baseline to divide by.
func (r Row) Ratio() (float64, bool) {
	if r.Base == nil || r.Base.V == 0 {
		return 0, false
	}
	return r.Fig.V / r.Base.V, true
}

// Verdict of a row.
type Verdict int

const (
	Met Verdict = iota
	Missed
	NotMeasured
	Failed
)

func (v Verdict) String() string {
	return [...]string{"ok", "MISSED", "NOT MEASURED", "FAILED"}[v]
}

// Verdict checks the row against its goal.
func (r Row) Verdict() Verdict {
	switch {
	case r.Err != nil:
		return Failed
	case r.Missing != "":
		return NotMeasured
	case r.Goal.Met == nil || r.Fig.N == 0 || !r.Goal.Met(r):
		return Missed
	}
	return Met
}

// Fails says whether the row makes make bench exit non-zero: a missed
// goal or a failed measurement always, a row not measured under CI.
func (r Row) Fails(ci bool) bool {
	switch r.Verdict() {
	case Missed, Failed:
		return true
	case NotMeasured:
		return ci
	}
	return false
}

// AtMost: the figure is no more than limit.
func AtMost(limit float64, text string) Goal {
	return Goal{Text: text, Met: func(r Row) bool { return r.Fig.V <= limit }}
}

// Below: the figure is less than limit.
func Below(limit float64, text string) Goal {
	return Goal{Text: text, Met: func(r Row) bool { return r.Fig.V < limit }}
}

// RatioAtMost: figure / baseline is no more than x.
func RatioAtMost(x float64) Goal {
	return Goal{Text: fmt.Sprintf("ratio <= %g", x), Met: func(r Row) bool {
		q, ok := r.Ratio()
		return ok && q <= x
	}}
}

// NotAbove: the figure is no more than its baseline.
func NotAbove() Goal {
	return Goal{Text: "<= baseline", Met: func(r Row) bool { return r.Base != nil && r.Fig.V <= r.Base.V }}
}

// GrowthAtMost: the figure exceeds its baseline by no more than d.
func GrowthAtMost(d float64, text string) Goal {
	return Goal{Text: text, Met: func(r Row) bool { return r.Base != nil && r.Fig.V-r.Base.V <= d }}
}

// missingTool is the error of a measurement that could not run because
// a tool is not installed.
type missingTool struct{ msg string }

func (m missingTool) Error() string { return m.msg }

func toolMissing(name string) error {
	return missingTool{name + " is not installed (make test-deps installs it)"}
}

// fail marks every row of a measurement that did not give figures: not
// measured when a tool was missing, failed otherwise. The rows keep their
// names and goals, so the table still lists them.
func fail(rows []Row, err error) []Row {
	var m missingTool
	for i := range rows {
		if errors.As(err, &m) {
			rows[i].Missing = m.Error()
		} else {
			rows[i].Err = err
		}
	}
	return rows
}
