package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbitagent/orbit/osquery"
)

func TestLogFileIsJSONAndRotates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := logConfig{File: filepath.Join(dir, "orbit.log"), MaxSize: 1, MaxBackups: 2, MaxAge: 1}
	log, _, closer := newLogger(cfg, os.Stderr, nil)
	line := strings.Repeat("x", 1000)
	for range 2500 { // about 2.5 MB: two rotations at 1 MB
		log.Info().Str("filler", line).Msg("rotation test")
	}
	closer.Close()

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Two rotations; lumberjack names backups by millisecond, so two in the
	// same millisecond may share a name: at least one backup, at most two.
	if len(entries) < 2 || len(entries) > 3 {
		t.Fatalf("want the log and 1-2 rotated files, got %d: %v", len(entries), entries)
	}
	data, err := os.ReadFile(cfg.File)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(data), "\n", 2)[0]
	var ev map[string]any
	if err := json.Unmarshal([]byte(first), &ev); err != nil || ev["message"] != "rotation test" {
		t.Fatalf("log file line is not a JSON event: %q (%v)", first, err)
	}
}

func TestLogToPipeIsJSON(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	log, _, _ := newLogger(logConfig{}, w, nil)
	log.Info().Str("key_name", "v").Msg("not a terminal")
	w.Close()
	buf := make([]byte, 4096)
	n, _ := r.Read(buf)
	var ev map[string]any
	if err := json.Unmarshal(buf[:n], &ev); err != nil || ev["key_name"] != "v" {
		t.Fatalf("stderr that is not a terminal should get JSON, got %q", buf[:n])
	}
}

// Every line orbit logs is kept for the fleetd_logs table too.
func TestLogLinesReachTheRing(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go io.Copy(io.Discard, r)
	ring := osquery.NewLogRing(osquery.LogRingConfig{})
	log, _, _ := newLogger(logConfig{}, w, ring)
	log.Warn().Str("component", "fleet").Msg("fleet config poll failed")
	log.Debug().Msg("not at info level: dropped everywhere")
	w.Close()
	got := ring.Entries()
	if len(got) != 1 || got[0].Message != "fleet config poll failed" || got[0].Level != "warn" || !strings.Contains(got[0].Payload, `"component":"fleet"`) {
		t.Fatalf("ring %+v, want the one warning with its fields", got)
	}
}

// The level newLogger returns switches the file's lines while orbit runs,
// and --debug is its floor.
func TestLogLevelSwitchesAtRunTime(t *testing.T) {
	t.Parallel()
	for _, debugFlag := range []bool{false, true} {
		cfg := logConfig{File: filepath.Join(t.TempDir(), "orbit.log"), Debug: debugFlag}
		log, level, closer := newLogger(cfg, os.Stderr, nil)
		log.Debug().Msg("debug one")
		level.SetDebug(true)
		log.Debug().Msg("debug two")
		level.SetDebug(false)
		log.Debug().Msg("debug three")
		log.Info().Msg("info line")
		closer.Close()
		data, err := os.ReadFile(cfg.File)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		for msg, want := range map[string]bool{"debug one": debugFlag, "debug two": true, "debug three": debugFlag, "info line": true} {
			if got := strings.Contains(s, `"message":"`+msg+`"`); got != want {
				t.Errorf("--debug=%v: %q written %v, want %v:\n%s", debugFlag, msg, got, want, s)
			}
		}
	}
}
