//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbitagent/orbit/internal/benchrec"
	"github.com/orbitagent/orbit/internal/testbin"
)

// Env is what every measurement shares: the module, a work directory,
// the programs built once, the progress log.
type Env struct {
	Root  string // the module's root
	Work  string // removed at the end
	start time.Time
	log   io.Writer

	mu    sync.Mutex
	dirs  int
	built map[string]string
}

// Logf writes a progress line (stderr), stamped with the time since the
// start, so a reader sees where the run time goes.
func (e *Env) Logf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.log, "[%6.1fs] %s\n", time.Since(e.start).Seconds(), fmt.Sprintf(format, args...))
}

// settle flushes what earlier measurements left to write back (the
// updater's targets, the packages): a later measurement that flushes its
// own file (orbitctl's repository) would otherwise wait for their disk
// writes, which is none of its work.
func (e *Env) settle() {
	t0 := time.Now()
	unix.Sync()
	e.Logf("sync: %s", time.Since(t0).Round(time.Millisecond))
}

// Dir is a new, short directory under Work (a unix socket path under it
// must fit in 108 bytes).
func (e *Env) Dir() (string, error) {
	e.mu.Lock()
	e.dirs++
	d := filepath.Join(e.Work, fmt.Sprint(e.dirs))
	e.mu.Unlock()
	return d, os.MkdirAll(d, 0o755)
}

// programs are the project's programs the measurements run; main builds
// them before anything is measured, so no build falls into a window.
var programs = [][2]string{
	{"./cmd/orbit", "orbit"},
	{"./testdata/osqueryd", "osqueryd"}, // the name orbit's stale-osqueryd check knows
	{"./cmd/desktop", "fleet-desktop"},
	{"./cmd/orbitctl", "orbitctl"},
}

// buildPrograms builds them all; a failure shows again in the rows of the
// measurements that need the program.
func (e *Env) buildPrograms() {
	for _, p := range programs {
		if _, err := e.Program(p[0], p[1]); err != nil {
			e.Logf("%v", err)
		}
	}
}

// Program builds a program of the module once (./cmd/orbit, the stand-in
// ./testdata/osqueryd, ...) with the project's test helper.
func (e *Env) Program(pkg, name string) (string, error) {
	p, err := testbin.BuildProgram(pkg, name, "-X main.version=0.0.0-bench")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return p, nil
}

// Tool finds an external tool; a missing one makes its rows "not
// measured".
func (e *Env) Tool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", toolMissing(name)
	}
	return p, nil
}

// Tools finds several tools, in order.
func (e *Env) Tools(names ...string) ([]string, error) {
	paths := make([]string, len(names))
	for i, n := range names {
		p, err := e.Tool(n)
		if err != nil {
			return nil, err
		}
		paths[i] = p
	}
	return paths, nil
}

// skipped is how go test says a benchmark skipped itself.
var skipped = regexp.MustCompile(`(?m)^\s*\S+\.go:\d+: (.*(not installed|missing).*)$`)

// GoBench runs one of the project's Go benchmarks, iters times (one
// call of a b.Loop benchmark), and returns the samples it recorded with
// package benchrec.
func (e *Env) GoBench(ctx context.Context, pkg, bench string, iters int) (map[string][]float64, error) {
	f, err := os.CreateTemp(e.Work, "samples-*.jsonl")
	if err != nil {
		return nil, err
	}
	f.Close()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^"+bench+"$",
		"-benchtime", fmt.Sprintf("%dx", iters), "-count", "1", "-timeout", "20m", pkg)
	cmd.Dir = e.Root
	cmd.Env = append(os.Environ(), benchrec.Env+"="+f.Name())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %w: %s", bench, pkg, err, tail(out.String(), 12))
	}
	if m := skipped.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "--- SKIP") {
		return nil, missingTool{strings.TrimSpace(m[1])}
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return benchrec.Read(r)
}

// need checks that every metric has samples.
func need(samples map[string][]float64, metrics ...string) error {
	var missing []string
	for _, m := range metrics {
		if len(samples[m]) == 0 {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the benchmark recorded no %s", strings.Join(missing, ", "))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
