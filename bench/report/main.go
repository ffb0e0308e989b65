//go:build linux

// Command report is make bench: it runs every measurement of the project
// (registered by the files of this directory), and prints one table of
// figures, each with its baseline from the same run, the ratio, the goal
// and whether it is met. It exits 1 when a goal is missed or a
// measurement failed, and when a row could not be measured under CI=true.
// bench/README.md says what each row measures and why its goal.
//
// Usage: go run ./bench/report [-only REGEXP] [-samples FILE]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
)

func main() { os.Exit(run()) }

func run() int {
	only := flag.String("only", "", "run only the measurements whose name matches this regexp")
	samplesOut := flag.String("samples", "", "also write every row's samples to this file, one JSON line per row")
	flag.Parse()
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			fmt.Fprintf(os.Stderr, "report: bad -only: %v\n", err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := testbin.ModuleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "report: %v (run it from the orbit module)\n", err)
		return 2
	}
	work, err := os.MkdirTemp("", "ob-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		return 2
	}
	defer os.RemoveAll(work)
	defer testbin.Cleanup()
	env := &Env{Root: root, Work: work, start: time.Now(), log: os.Stderr}
	loadBefore := loadAvg()

	var ms []Measurement
	for _, m := range ordered() {
		if filter == nil || filter.MatchString(m.Name) {
			ms = append(ms, m)
		}
	}
	env.Logf("building the programs")
	env.buildPrograms()
	rows := runAll(ctx, env, ms)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "report: interrupted")
		return 130
	}

	ci := os.Getenv("CI") == "true"
	fmt.Printf("\nmake bench: %d rows, %s run time, %d CPUs, load average %s at the start and %s at the end\n\n",
		len(rows), time.Since(env.start).Round(time.Second), numCPU(), loadBefore, loadAvg())
	Print(os.Stdout, rows)
	counts := map[Verdict]int{}
	failing := 0
	for _, r := range rows {
		counts[r.Verdict()]++
		if r.Fails(ci) {
			failing++
		}
	}
	fmt.Printf("\n%d ok, %d MISSED, %d FAILED, %d NOT MEASURED", counts[Met], counts[Missed], counts[Failed], counts[NotMeasured])
	if counts[NotMeasured] > 0 && !ci {
		fmt.Print(" (not measured fails under CI=true only)")
	}
	fmt.Println()
	for _, line := range failures(rows, ci) {
		fmt.Println(line)
	}
	if *samplesOut != "" {
		if err := writeSamples(*samplesOut, rows); err != nil {
			fmt.Fprintf(os.Stderr, "report: %v\n", err)
			return 1
		}
	}
	if failing > 0 {
		return 1
	}
	return 0
}

// runAll runs the measurements in three steps: those that must warm up
// start, the idle ones run together, then the warm ones finish and the
// rest run one after the other, alone. Rows come back in Order.
func runAll(ctx context.Context, env *Env, ms []Measurement) []Row {
	results := make([][]Row, len(ms))
	finish := make([]func() []Row, len(ms))
	for i, m := range ms {
		if m.Start != nil {
			env.Logf("start: %s", m.Name)
			finish[i] = m.Start(ctx, env)
		}
	}
	env.settle()
	var wg sync.WaitGroup
	for i, m := range ms {
		if m.Idle {
			wg.Go(func() {
				env.Logf("idle, together: %s", m.Name)
				results[i] = m.Run(ctx, env)
			})
		}
	}
	wg.Wait()
	for i, m := range ms {
		if ctx.Err() != nil {
			break
		}
		switch {
		case finish[i] != nil:
			env.Logf("finish: %s", m.Name)
			results[i] = finish[i]()
		case !m.Idle:
			env.settle()
			env.Logf("alone: %s", m.Name)
			results[i] = m.Run(ctx, env)
		}
	}
	var rows []Row
	for _, r := range results {
		rows = append(rows, r...)
	}
	return rows
}

func writeSamples(path string, rows []Row) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range rows {
		line := map[string]any{"row": r.Name, "unit": r.Unit, "verdict": r.Verdict().String(), "figure": r.Fig.V, "samples": r.Fig.Samples}
		if r.Base != nil {
			line["baseline"] = r.Base.V
			line["baseline_samples"] = r.Base.Samples
			line["baseline_label"] = r.Base.Label
		}
		if err := enc.Encode(line); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
