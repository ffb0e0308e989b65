//go:build linux

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// `orbitctl updates add` of a 100 MB file (issue 5's release tool). Its
// work is to read the file once, computing the sha256 and sha512 the
// metadata carries, copy it into the repository (flushed to disk), and
// decrypt three keys (scrypt) to sign targets, snapshot and timestamp.
// The baseline is the hashing alone: sha256sum then sha512sum of the same
// file, from the page cache (warmed first). Each sample adds to a fresh
// repository (made outside the timing); the order of the two alternates
// from sample to sample. A second row gives the CPU time of both (user
// and system, every thread, from wait4), which the machine's other load
// changes much less than the wall time: when the wall time misses and the
// CPU time does not, the miss is the machine's, not orbitctl's.
func init() {
	register(Measurement{Name: "orbitctl updates add", Order: 80, Run: orbitctlAdd})
}

const addSizeMB = 100

func orbitctlAdd(ctx context.Context, env *Env) []Row {
	rows := []Row{
		{Name: "orbitctl updates add, 100 MB target", Unit: "ms", Goal: RatioAtMost(1.3)},
		{Name: "orbitctl updates add, 100 MB target: CPU time", Unit: "ms", Goal: RatioAtMost(1.3)},
	}
	tools, err := env.Tools("sha256sum", "sha512sum")
	if err != nil {
		return fail(rows, err)
	}
	orbitctl, err := env.Program("./cmd/orbitctl", "orbitctl")
	if err != nil {
		return fail(rows, err)
	}
	dir, err := env.Dir()
	if err != nil {
		return fail(rows, err)
	}
	target := filepath.Join(dir, "orbit")
	data := make([]byte, addSizeMB<<20)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(data)
	if err := os.WriteFile(target, data, 0o644); err != nil {
		return fail(rows, err)
	}
	data = nil
	penv := orbitctlEnv()
	var cpu time.Duration // of the last run
	run := func(name string, args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = penv
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(t0)
		if err != nil {
			return 0, fmt.Errorf("%s %v: %w: %s", filepath.Base(name), args, err, tail(string(out), 3))
		}
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return d, nil
	}
	if _, err := run("cat", target); err != nil { // into the page cache
		return fail(rows, err)
	}
	var adds, hashes, addsCPU, hashesCPU []float64
	for i := range 10 {
		repo := filepath.Join(dir, fmt.Sprint("tuf", i))
		if _, err := run(orbitctl, "updates", "init", "--path", repo); err != nil {
			return fail(rows, err)
		}
		hash := func() error {
			a, err := run(tools[0], target)
			if err != nil {
				return err
			}
			aCPU := cpu
			b, err := run(tools[1], target)
			hashes = append(hashes, ms(a+b))
			hashesCPU = append(hashesCPU, ms(aCPU+cpu))
			return err
		}
		add := func() error {
			d, err := run(orbitctl, "updates", "add", "--path", repo, "--target", target, "--name", "orbit",
				"--platform", "linux", "--version", "1.0.0", "-t", "stable")
			adds = append(adds, ms(d))
			addsCPU = append(addsCPU, ms(cpu))
			return err
		}
		first, second := hash, add
		if i%2 == 1 {
			first, second = add, hash
		}
		if err := first(); err != nil {
			return fail(rows, err)
		}
		if err := second(); err != nil {
			return fail(rows, err)
		}
		if err := os.RemoveAll(repo); err != nil {
			return fail(rows, err)
		}
	}
	rows[0].Fig = Median(adds)
	rows[0].Base = &Baseline{Label: "sha256sum + sha512sum of the same file (the hashing add must do)", Value: Median(hashes)}
	rows[1].Fig = Median(addsCPU)
	rows[1].Base = &Baseline{Label: "the CPU time of sha256sum + sha512sum, in the same samples", Value: Median(hashesCPU)}
	return rows
}

// orbitctlEnv is the environment orbitctl runs with here: the
// passphrases of the repository's keys (no terminal to ask on).
func orbitctlEnv(extra ...string) []string {
	return append(append(os.Environ(), "ORBIT_ROOT_PASSPHRASE=bench-root", "ORBIT_TARGETS_PASSPHRASE=bench-targets",
		"ORBIT_SNAPSHOT_PASSPHRASE=bench-snapshot", "ORBIT_TIMESTAMP_PASSPHRASE=bench-timestamp"), extra...)
}
