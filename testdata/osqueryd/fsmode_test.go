package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testdir"
)

// writeAtomic replaces a file by rename so the daemon never reads half.
func writeAtomic(t *testing.T, path string, v any) {
	t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []resultLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []resultLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l resultLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func findLine(lines []resultLine, match func(resultLine) bool) (resultLine, bool) {
	for _, l := range lines {
		if match(l) {
			return l, true
		}
	}
	return resultLine{}, false
}

func fsConfig(tlsPeriod int, packFile string) map[string]any {
	return map[string]any{
		"options": map[string]any{"logger_tls_period": tlsPeriod},
		"schedule": map[string]any{
			"flagwatch": map[string]any{"query": "select value from osquery_flags where name = 'logger_tls_period'", "interval": 1},
		},
		"packs": map[string]any{
			"inline": map[string]any{"queries": map[string]any{
				"ver": map[string]any{"query": "select version from osquery_info", "interval": "1", "snapshot": true},
			}},
			"fromfile": packFile,
			"nodisc": map[string]any{
				"discovery": []string{"select * from osquery_info where version = '0.0.0'"},
				"queries":   map[string]any{"x": map[string]any{"query": "select 1", "interval": 1}},
			},
		},
	}
}

func TestFilesystemModeScheduleAndPacks(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	logDir := filepath.Join(dir, "log")
	packFile := filepath.Join(dir, "pack.json")
	writeAtomic(t, packFile, map[string]any{"queries": map[string]any{
		"sys": map[string]any{"query": "select hostname from system_info", "interval": 1},
	}})
	cfgPath := filepath.Join(dir, "osquery.conf")
	writeAtomic(t, cfgPath, fsConfig(5, packFile))

	p := startDaemon(t, standin, []string{"OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"},
		"--config_plugin=filesystem", "--config_path="+cfgPath, "--config_refresh=1",
		"--logger_plugin=filesystem", "--logger_path="+logDir, "--pidfile="+filepath.Join(dir, "osquery.pid"),
		"--database_path="+filepath.Join(dir, "osquery.db"))
	results := filepath.Join(logDir, "osqueryd.results.log")
	snapshots := filepath.Join(logDir, "osqueryd.snapshots.log")
	hostname, _ := os.Hostname()

	waitFor(t, p, "first differential and pack results", func() bool {
		lines := readLines(t, results)
		_, a := findLine(lines, func(l resultLine) bool {
			return l.Name == "flagwatch" && l.Action == "added" && l.Columns["value"] == "5"
		})
		_, b := findLine(lines, func(l resultLine) bool {
			return l.Name == "pack_fromfile_sys" && l.Action == "added" && l.Columns["hostname"] == hostname
		})
		return a && b
	})
	lines := readLines(t, results)
	first, _ := findLine(lines, func(l resultLine) bool { return l.Name == "flagwatch" })
	if first.Counter != 0 || first.HostIdentifier != hostname || first.UnixTime <= 0 || first.Epoch != 0 || first.Numerics {
		t.Fatalf("first differential line = %+v", first)
	}
	if _, err := time.Parse("Mon Jan _2 15:04:05 2006 UTC", first.CalendarTime); err != nil {
		t.Fatalf("calendarTime %q: %v", first.CalendarTime, err)
	}
	waitFor(t, p, "snapshot results", func() bool {
		_, ok := findLine(readLines(t, snapshots), func(l resultLine) bool {
			return l.Name == "pack_inline_ver" && l.Action == "snapshot" && len(l.Snapshot) == 1 && l.Snapshot[0]["version"] == "5.12.1"
		})
		return ok
	})

	// A broken config is reported and the previous one keeps running.
	writeAtomic(t, cfgPath, "{ this is not json")
	waitFor(t, p, "config error report", func() bool { return strings.Contains(p.stderr.String(), "error reading config") })
	before := len(readLines(t, snapshots))
	waitFor(t, p, "snapshots to continue under the previous config", func() bool { return len(readLines(t, snapshots)) > before+1 })

	// A new config: the differential query sees its value change.
	writeAtomic(t, cfgPath, fsConfig(6, packFile))
	waitFor(t, p, "removed and added rows", func() bool {
		lines := readLines(t, results)
		_, rm := findLine(lines, func(l resultLine) bool {
			return l.Name == "flagwatch" && l.Action == "removed" && l.Columns["value"] == "5" && l.Counter > 0
		})
		_, add := findLine(lines, func(l resultLine) bool {
			return l.Name == "flagwatch" && l.Action == "added" && l.Columns["value"] == "6" && l.Counter > 0
		})
		return rm && add
	})

	// Unchanged differential results log nothing: "added 5" appears once.
	n := 0
	for _, l := range readLines(t, results) {
		if l.Name == "flagwatch" && l.Columns["value"] == "5" && l.Action == "added" {
			n++
		}
		if strings.Contains(l.Name, "nodisc") {
			t.Fatalf("pack with failing discovery ran: %+v", l)
		}
	}
	if n != 1 {
		t.Fatalf("'added 5' logged %d times, want once", n)
	}
	if !fileExists(filepath.Join(logDir, "osqueryd.INFO")) {
		t.Fatalf("no osqueryd.INFO status log")
	}
	p.stop(t)

	// A restart on the same database remembers differential results: the
	// query keeps running (its counter grows) but logs no new "added" rows.
	statePath := filepath.Join(dir, "osquery.db", "standin_queries", configHash([]byte("flagwatch"))+".json")
	counter := func() int64 {
		var st savedState
		b, _ := os.ReadFile(statePath)
		_ = json.Unmarshal(b, &st)
		return st.Counter
	}
	before = len(readLines(t, results))
	c0 := counter()
	if c0 < 2 {
		t.Fatalf("saved counter %d, want >= 2", c0)
	}
	p2 := startDaemon(t, standin, []string{"OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"}, p.cmd.Args[1:]...)
	waitFor(t, p2, "the differential query to run after restart", func() bool { return counter() > c0+1 })
	p2.stop(t)
	if after := len(readLines(t, results)); after != before {
		t.Fatalf("restart logged %d new differential lines, want 0", after-before)
	}
}

func TestFilesystemModeMissingConfigKeepsRunning(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	pidfile := filepath.Join(dir, "osquery.pid")
	p := startDaemon(t, standin, nil, "--config_plugin=filesystem", "--config_path="+filepath.Join(dir, "missing.conf"), "--pidfile="+pidfile)
	waitFor(t, p, "config error", func() bool { return strings.Contains(p.stderr.String(), "error reading config file") })
	if p.exited() {
		t.Fatalf("daemon exited on a missing config")
	}
	p.stop(t)
}

// With --logger_rotate the result logs rotate as osquery's LogRotate does:
// at --logger_rotate_size, into <log>.1, <log>.2, ..., keeping at most
// --logger_rotate_max_files of them, so results never fill the disk.
func TestFilesystemLoggerRotates(t *testing.T) {
	t.Parallel()
	dir := testdir.Short(t)
	logDir := filepath.Join(dir, "log")
	cfgPath := filepath.Join(dir, "osquery.conf")
	writeAtomic(t, cfgPath, map[string]any{"schedule": map[string]any{
		"info": map[string]any{"query": "select * from osquery_info", "interval": 1, "snapshot": true},
	}})
	const size, keep = 4096, 3
	p := startDaemon(t, standin, []string{"OSQUERYD_STANDIN_INTERVAL_SCALE=0.01"},
		"--config_plugin=filesystem", "--config_path="+cfgPath,
		"--logger_plugin=filesystem", "--logger_path="+logDir, "--pidfile="+filepath.Join(dir, "osquery.pid"),
		"--logger_rotate=true", fmt.Sprintf("--logger_rotate_size=%d", size), fmt.Sprintf("--logger_rotate_max_files=%d", keep),
		"--database_path="+filepath.Join(dir, "osquery.db"))
	log := filepath.Join(logDir, "osqueryd.snapshots.log")
	// More rotations than files kept: the oldest file kept no longer
	// starts with the first snapshot (counter 0), which was dropped.
	waitFor(t, p, "more rotations than files kept", func() bool {
		lines := readLines(t, log+fmt.Sprint(".", keep))
		return len(lines) > 0 && lines[0].Counter > 0
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	entries, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "osqueryd.snapshots.log") {
			names = append(names, e.Name())
		}
	}
	want := []string{"osqueryd.snapshots.log", "osqueryd.snapshots.log.1", "osqueryd.snapshots.log.2", "osqueryd.snapshots.log.3"}
	if strings.Join(names, " ") != strings.Join(want, " ") && strings.Join(names, " ") != strings.Join(want[1:], " ") {
		t.Fatalf("log files %v, want %v (the current one may be between rotations)", names, want)
	}
	for _, n := range names[len(names)-keep:] {
		st, err := os.Stat(filepath.Join(logDir, n))
		if err != nil || st.Size() < size || st.Size() > 2*size {
			t.Fatalf("%s: %v %v, want a file rotated at %d bytes", n, st.Size(), err, size)
		}
	}
	// Oldest last: .3 holds earlier snapshots than .1.
	if logCounter(t, filepath.Join(logDir, want[3])) >= logCounter(t, filepath.Join(logDir, want[1])) {
		t.Fatal("rotated files are not in age order")
	}
}

// logCounter is the snapshot counter of a log's last line.
func logCounter(t *testing.T, path string) int64 {
	t.Helper()
	lines := readLines(t, path)
	if len(lines) == 0 {
		return -1
	}
	return lines[len(lines)-1].Counter
}
