//go:build linux

package main

import (
	"fmt"
	"slices"
)

// Value is a figure or a baseline: the number a goal is checked against,
// how it was drawn from its samples, and their spread.
type Value struct {
	V        float64
	How      string // "median of 10", "max of 10", "over 30 s", "1 run"
	Min, Max float64
	N        int
	Samples  []float64
}

// Median is the figure of a timing: the middle of the samples (the mean
// of the two middle ones for an even count), with min and max.
func Median(xs []float64) Value {
	v := spread(xs)
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	switch {
	case n == 0:
	case n%2 == 1:
		v.V = s[n/2]
	default:
		v.V = (s[n/2-1] + s[n/2]) / 2
	}
	v.How = fmt.Sprintf("median of %d", n)
	return v
}

// Peak is the figure of a peak (memory): the largest sample.
func Peak(xs []float64) Value {
	v := spread(xs)
	v.V = v.Max
	v.How = fmt.Sprintf("max of %d", len(xs))
	return v
}

// Single is a figure that is one exact count (requests, bytes, sizes of
// deterministic builds): samples that must all agree. When they do not,
// the largest is taken and the spread is shown.
func Single(xs []float64) Value {
	v := Peak(xs)
	if v.Min == v.Max {
		v.How = "1 run, an exact count"
		if len(xs) > 1 {
			v.How = fmt.Sprintf("same in %d runs", len(xs))
		}
	}
	return v
}

// Over is a figure measured over a whole window (CPU over 30 s), with the
// spread of the shorter windows it is made of.
func Over(total float64, how string, windows []float64) Value {
	v := spread(windows)
	v.V = total
	v.How = how
	return v
}

func spread(xs []float64) Value {
	v := Value{N: len(xs), Samples: xs}
	if len(xs) > 0 {
		v.Min, v.Max = slices.Min(xs), slices.Max(xs)
	}
	return v
}
