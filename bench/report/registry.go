//go:build linux

package main

import (
	"context"
	"slices"
)

// Measurement gives one or more rows. Each lives in a file of its own
// and registers itself from init, so a new row is a new file.
type Measurement struct {
	Name string
	// Order places its rows in the table and its run among the
	// sequential ones.
	Order int
	// Idle measurements run together, before the sequential ones: each
	// watches idle processes by their own CPU clock and resident memory,
	// which other idle processes do not change.
	Idle bool
	// Run measures (Idle or sequential).
	Run func(ctx context.Context, env *Env) []Row
	// Start, instead of Run, begins a measurement whose processes must
	// run a while first: they warm up, idle themselves, while the Idle
	// measurements run, and the returned func finishes the measurement
	// alone once those are done.
	Start func(ctx context.Context, env *Env) (finish func() []Row)
}

var measurements []Measurement

func register(m Measurement) { measurements = append(measurements, m) }

// ordered is the registered measurements by Order.
func ordered() []Measurement {
	ms := slices.Clone(measurements)
	slices.SortStableFunc(ms, func(a, b Measurement) int { return a.Order - b.Order })
	return ms
}
