//go:build linux

package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// num prints a figure with three significant digits, whole numbers in full.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || v == math.Trunc(v) && a >= 1:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func withUnit(v float64, unit string) string {
	if unit == "" {
		return num(v)
	}
	return num(v) + " " + unit
}

// detail is how a value was drawn: "median of 10 [1.2, 3.4]".
func detail(v Value) string {
	if v.N > 1 && v.Min != v.Max {
		return fmt.Sprintf("%s [%s, %s]", v.How, num(v.Min), num(v.Max))
	}
	return v.How
}

// cells is the row's main line.
func (r Row) cells(i int) []string {
	c := []string{strconv.Itoa(i), r.Name, "-", "-", "-", r.Goal.Text, r.Verdict().String()}
	if r.Verdict() == Met || r.Verdict() == Missed {
		c[2] = withUnit(r.Fig.V, r.Unit)
		if r.Base != nil {
			c[3] = withUnit(r.Base.V, r.Unit)
		}
		if q, ok := r.Ratio(); ok {
			c[4] = num(q)
		}
	}
	return c
}

// notes are the row's second line: the spread of its samples, what its
// baseline is, and why it has no figure.
func (r Row) notes() string {
	switch r.Verdict() {
	case Failed:
		return "failed: " + oneLine(r.Err.Error())
	case NotMeasured:
		return "not measured: " + r.Missing
	}
	s := detail(r.Fig)
	if r.Base != nil {
		kind := "measured"
		if r.Base.Modelled {
			kind = "MODELLED, not measured on the real thing"
		}
		s += "; baseline (" + kind + "): " + r.Base.Label + ", " + detail(r.Base.Value)
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// Print writes the table: one main line per row, aligned, each followed
// by its notes.
func Print(w io.Writer, rows []Row) {
	head := []string{"#", "measure", "figure", "baseline", "ratio", "goal", "met"}
	lines := [][]string{head}
	for i, r := range rows {
		lines = append(lines, r.cells(i+1))
	}
	width := make([]int, len(head))
	for _, l := range lines {
		for j, c := range l {
			width[j] = max(width[j], utf8.RuneCountInString(c))
		}
	}
	pad := func(l []string) string {
		var b strings.Builder
		for j, c := range l {
			b.WriteString(c)
			if j < len(l)-1 {
				b.WriteString(strings.Repeat(" ", width[j]-utf8.RuneCountInString(c)+2))
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	fmt.Fprintln(w, pad(head))
	indent := strings.Repeat(" ", width[0]+2)
	for i, r := range rows {
		fmt.Fprintln(w, pad(lines[i+1]))
		fmt.Fprintln(w, indent+"  "+r.notes())
	}
}

// failures names each row that makes the run fail, with its verdict and
// why, so the end of the output says which.
func failures(rows []Row, ci bool) []string {
	var out []string
	for i, r := range rows {
		if !r.Fails(ci) {
			continue
		}
		line := fmt.Sprintf("%s: row %d, %s: ", r.Verdict(), i+1, r.Name)
		switch r.Verdict() {
		case Failed:
			line += oneLine(r.Err.Error())
		case NotMeasured:
			line += r.Missing
		default:
			c := r.cells(i + 1)
			line += c[2]
			if r.Base != nil {
				line += " against " + c[3] + ", ratio " + c[4]
			}
			line += "; goal " + r.Goal.Text
		}
		out = append(out, line)
	}
	return out
}
