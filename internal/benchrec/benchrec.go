// Package benchrec carries a Go benchmark's samples to make bench's
// report (bench/report): one JSON line per sample, appended to the file
// that ORBIT_BENCH_SAMPLES names. With the variable unset Record does
// nothing, so `go test -bench` alone prints its usual metrics only.
//
// A benchmark's ReportMetric gives one mean per run; the report needs
// every sample, to show a median with its min and max.
package benchrec

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

// Env names the file samples are appended to.
const Env = "ORBIT_BENCH_SAMPLES"

// Sample is one line of the file.
type Sample struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// Record appends one sample of metric (a name such as "apply_orbit_ms")
// when ORBIT_BENCH_SAMPLES is set.
func Record(tb testing.TB, metric string, value float64) {
	tb.Helper()
	path := os.Getenv(Env)
	if path == "" {
		return
	}
	b, err := json.Marshal(Sample{Metric: metric, Value: value})
	if err != nil {
		tb.Fatalf("benchrec: %v", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatalf("benchrec: open %s=%s: %v", Env, path, err)
	}
	defer f.Close()
	// One write per line: lines of parallel benchmarks never interleave.
	if _, err := f.Write(append(b, '\n')); err != nil {
		tb.Fatalf("benchrec: write %s: %v", path, err)
	}
}

// RecordDuration records d in milliseconds (name such metrics *_ms).
func RecordDuration(tb testing.TB, metric string, d time.Duration) {
	tb.Helper()
	Record(tb, metric, float64(d)/float64(time.Millisecond))
}

// Read returns the samples of r by metric, in the order they were recorded.
func Read(r io.Reader) (map[string][]float64, error) {
	out := map[string][]float64{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		var s Sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil || s.Metric == "" {
			return nil, fmt.Errorf("benchrec: line %d is not a sample: %q", n, sc.Text())
		}
		out[s.Metric] = append(out[s.Metric], s.Value)
	}
	return out, sc.Err()
}
