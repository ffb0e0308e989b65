package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testwait"
)

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestFleetFaultsLeaveOsquerydRunning puts the real orbit through a Fleet
// server that fails in every way the test server knows (errors, slow and
// oversized answers, garbage, connection resets). osqueryd keeps running
// untouched, orbit's memory stays within a fixed bound however many bad
// answers come,
// and the first poll after the server heals succeeds.
func TestFleetFaultsLeaveOsquerydRunning(t *testing.T) {
	t.Parallel()
	const secret = "faults-enroll-secret"
	srv := fleetServer(t, secret)
	root := filepath.Join(t.TempDir(), "orbit")
	p := startOrbit(t, root, []string{"ORBIT_ENROLL_SECRET=" + secret},
		"--fleet-url="+srv.URL(), "--fleet-certificate="+srv.CACertFile(), "--config-interval=1s")
	testwait.For(t, "orbit enrolled", func() bool { return len(srv.OrbitHosts()) == 1 })
	osq := waitOsquerydRunning(t, root, 0)

	configCalls := func() int {
		return len(srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/config"}))
	}
	// polls waits until orbit has made n more config calls under the fault.
	polls := func(what string, n int) {
		t.Helper()
		start := configCalls()
		testwait.Within(t, 60*time.Second, what, func() bool { return configCalls() >= start+n })
	}
	var warm, peak int
	for round := 0; round < 3; round++ {
		for _, f := range fleettest.EveryFault() {
			srv.SetFault("/api/fleet/orbit/", f.Fault)
			polls(f.Name, 3)
			if rss := rssKiB(t, p.cmd.Process.Pid); rss > peak {
				peak = rss
			}
		}
		if round == 0 {
			// Memory after one of each bad answer: the runtime has grown
			// to hold one oversized body; it must not grow further.
			warm = rssKiB(t, p.cmd.Process.Pid)
		}
	}
	// Each oversized answer makes orbit read (and drop) up to 10 MiB in
	// fixed chunks; with the Go runtime's soft memory limit that stays
	// well inside 64 MiB, however many bad answers come.
	t.Logf("orbit RSS: %d KiB after the first round of faults, peak %d KiB over three", warm, peak)
	if limit := memoryLimit >> 10; peak > limit {
		t.Fatalf("orbit RSS peaked at %d KiB under faults, above the %d KiB bound", peak, limit)
	}
	if c := osquerydState(t, root); c.PID != osq || c.Restarts != 0 || !alive(osq) {
		t.Fatalf("osqueryd disturbed by Fleet faults: pid %d (was %d), restarts %d", c.PID, osq, c.Restarts)
	}

	// Recovery within one poll: the first config call after the server
	// heals succeeds.
	srv.ClearFaults()
	healed := configCalls()
	testwait.Within(t, 30*time.Second, "a poll after healing", func() bool { return configCalls() > healed })
	first := srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/config"})[healed]
	if first.Status != 200 {
		t.Fatalf("first poll after healing got %d, want 200", first.Status)
	}
	if n := len(srv.OrbitHosts()); n != 1 || srv.OrbitHosts()[0].Enrollments != 1 {
		t.Fatalf("faults caused a re-enroll: %+v", srv.OrbitHosts())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	if strings.Contains(p.log.String(), secret) {
		t.Fatal("enroll secret in orbit's log")
	}
}
