package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/fleettest"
	"github.com/orbitagent/orbit/internal/testwait"
)

// logLines are the JSON events of orbit's --log-file, in order.
func logLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(string(data), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(l), &ev) == nil {
			out = append(out, ev)
		}
	}
	return out
}

// Fleet's debug_logging switches the real orbit's log level while it runs:
// the agent's debug line of each config poll is in --log-file only between
// the switch to debug and the switch back, each one info line.
func TestFleetDebugLoggingEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "debuglog-enroll-secret-5e1"
	srv := fleetServer(t, secret)
	root := shortRoot(t)
	logFile := filepath.Join(t.TempDir(), "orbit.log")
	startFleetOrbit(t, srv, root, secret, "--log-file="+logFile)
	hw := enrolledHost(t, srv).HardwareUUID

	configCalls := func() int {
		return len(srv.CallsMatching(fleettest.CallFilter{Method: "POST", Path: "/api/fleet/orbit/config"}))
	}
	// waitPolls waits for two more config polls: the first of them is then
	// fully handled (the agent polls from one goroutine), its lines written.
	waitPolls := func(what string) {
		t.Helper()
		n := configCalls()
		testwait.For(t, what, func() bool { return configCalls() >= n+2 })
	}
	// find is the index of the first line from start with this message and
	// "to" (any "to" when ""), or -1.
	find := func(lines []map[string]any, start int, msg, to string) int {
		for i := start; i < len(lines); i++ {
			if lines[i]["message"] == msg && (to == "" || lines[i]["to"] == to) {
				return i
			}
		}
		return -1
	}
	const changed, pollDebug = "orbit log level changed by fleet", "fleet config received"

	waitPolls("config polls at info")
	if i := find(logLines(t, logFile), 0, pollDebug, ""); i >= 0 {
		t.Fatalf("a debug line before Fleet asked for debug logging: %v", logLines(t, logFile)[i])
	}

	on := true
	if err := srv.SetDebugLogging(hw, fleettest.DebugLogging{Value: &on}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "orbit at debug", func() bool { return find(logLines(t, logFile), 0, changed, "debug") >= 0 })
	waitPolls("config polls at debug")

	// Fleet ends the period by no longer sending the field.
	if err := srv.SetDebugLogging(hw, fleettest.DebugLogging{}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "orbit back at info", func() bool { return find(logLines(t, logFile), 0, changed, "info") >= 0 })
	waitPolls("config polls back at info")

	lines := logLines(t, logFile)
	up, down := find(lines, 0, changed, "debug"), find(lines, 0, changed, "info")
	if up < 0 || down < up {
		t.Fatalf("level changes out of order: to debug at line %d, to info at line %d", up, down)
	}
	for _, i := range []int{up, down} {
		if lines[i]["level"] != "info" || lines[i]["component"] != "fleet" {
			t.Errorf("level change line: %v", lines[i])
		}
	}
	if n := strings.Count(string(mustReadFile(t, logFile)), changed); n != 2 {
		t.Errorf("%d level-change lines, want 2", n)
	}
	if i := find(lines, up, pollDebug, ""); i < 0 || i > down {
		t.Errorf("no debug line while Fleet sent true (first at %d, window %d-%d)", i, up, down)
	}
	for i, ev := range lines {
		if ev["message"] == pollDebug && (i < up || i > down) {
			t.Errorf("debug line %d outside the debug period (%d-%d): %v", i, up, down, ev)
		}
	}
}
