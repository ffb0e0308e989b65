// Command osqueryd is a stand-in for osquery's daemon, for tests on machines
// where osquery is not installed. It behaves like osqueryd where orbit
// depends on it: gflags-style flags and flagfiles (osquery's flag table;
// unknown flags fail on the command line, are ignored in a flagfile),
// --version, "-S --json" queries against a few real tables, the pidfile,
// the extension manager over Thrift (register, ping, query routed to
// extension tables), the host UUID kept in its database, signals, the TLS
// remote API (enroll, config, distributed, log) and the filesystem config
// with scheduled queries and packs. OSQUERYD_STANDIN_* environment switches
// make it crash, hang, wedge, start slowly, ignore SIGTERM, lose its
// hardware UUID or record how it was started.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Set at build time: -ldflags "-X main.version=5.13.1 -X main.crashAtStart=1".
var (
	version      = "5.12.1"
	crashAtStart = ""
)

// Exit codes osquery uses.
const (
	exitSuccess      = 0
	exitFailure      = 1
	exitCatastrophic = 78
)

func main() {
	os.Exit(run(os.Args, os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}

// switches are the OSQUERYD_STANDIN_* environment controls, read at start.
type switches struct {
	crashAfter    time.Duration // 0: never
	exitCode      int
	exitCodeSet   bool
	hang          bool
	ignoreSIGTERM bool
	record        string
	intervalScale float64
	// noHardwareUUID pretends the host has no hardware UUID (no DMI
	// product_uuid), so the host UUID is a random one kept in the database.
	noHardwareUUID bool
	// hardwareUUID replaces the hardware UUID (e.g. a placeholder such as
	// 03000200-0400-0500-0006-000700080009).
	hardwareUUID string
	// socketDelay postpones the extension socket: a daemon slow to start.
	socketDelay time.Duration
	// wedged starts the extension manager wedged (see wedge.go).
	wedged        bool
	exitCodeErr   error
	crashAfterErr error
	intervalErr   error
	delayErr      error
}

func readSwitches(env []string) switches {
	m := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OSQUERYD_STANDIN_") {
			m[k] = v
		}
	}
	sw := switches{exitCode: exitFailure, intervalScale: 1, record: m["OSQUERYD_STANDIN_RECORD"]}
	if v, ok := m["OSQUERYD_STANDIN_EXIT_CODE"]; ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			sw.exitCodeErr = fmt.Errorf("OSQUERYD_STANDIN_EXIT_CODE=%q is not an integer: set it to an exit code such as 3", v)
		} else {
			sw.exitCode, sw.exitCodeSet = n, true
		}
	}
	if v := m["OSQUERYD_STANDIN_CRASH_AFTER_MS"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			sw.crashAfterErr = fmt.Errorf("OSQUERYD_STANDIN_CRASH_AFTER_MS=%q is not a non-negative integer: set milliseconds such as 500", v)
		} else {
			sw.crashAfter = time.Duration(n) * time.Millisecond
			if n == 0 {
				sw.crashAfter = time.Nanosecond
			}
		}
	}
	if v := m["OSQUERYD_STANDIN_INTERVAL_SCALE"]; v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			sw.intervalErr = fmt.Errorf("OSQUERYD_STANDIN_INTERVAL_SCALE=%q is not a positive number: use e.g. 0.01", v)
		} else {
			sw.intervalScale = f
		}
	}
	if v := m["OSQUERYD_STANDIN_SOCKET_DELAY_MS"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			sw.delayErr = fmt.Errorf("OSQUERYD_STANDIN_SOCKET_DELAY_MS=%q is not a non-negative integer: set milliseconds such as 2000", v)
		} else {
			sw.socketDelay = time.Duration(n) * time.Millisecond
		}
	}
	sw.hang = m["OSQUERYD_STANDIN_HANG"] == "1"
	sw.noHardwareUUID = m["OSQUERYD_STANDIN_NO_HARDWARE_UUID"] == "1"
	sw.hardwareUUID = strings.TrimSpace(m["OSQUERYD_STANDIN_HARDWARE_UUID"])
	sw.wedged = m["OSQUERYD_STANDIN_WEDGED"] == "1"
	sw.ignoreSIGTERM = m["OSQUERYD_STANDIN_IGNORE_SIGTERM"] == "1"
	return sw
}

// startRecord is one line of OSQUERYD_STANDIN_RECORD: how we were started.
// Only the names of environment variables are kept: values hold secrets.
type startRecord struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Pid  int      `json:"pid"`
	Ppid int      `json:"ppid"`
	Time string   `json:"time"`
}

func writeRecord(path string, argv, env []string) error {
	rec := startRecord{Argv: argv, Env: envNames(env), Pid: os.Getpid(), Ppid: os.Getppid(), Time: time.Now().UTC().Format(time.RFC3339Nano)}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open OSQUERYD_STANDIN_RECORD file: %w", err)
	}
	// One write per line keeps concurrent starts from interleaving.
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write OSQUERYD_STANDIN_RECORD file: %w", err)
	}
	return f.Close()
}

func binaryName(argv0 string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if strings.HasPrefix(base, "osqueryi") {
		return "osqueryi"
	}
	return "osqueryd"
}

func run(argv, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		argv = []string{"osqueryd"}
	}
	sw := readSwitches(env)
	if sw.record != "" {
		if err := writeRecord(sw.record, argv, env); err != nil {
			fmt.Fprintf(stderr, "osqueryd stand-in: %v\n", err)
		}
	}
	fs := newFlagSet()
	fs.argv0, fs.env = argv[0], env
	if err := fs.parseArgs(argv[1:]); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	name := binaryName(argv[0])
	if fs.Bool("version") {
		fmt.Fprintf(stdout, "%s version %s\n", name, version)
		return exitSuccess
	}
	if fs.Bool("help") || fs.Bool("helpshort") || fs.Bool("helpfull") {
		printUsage(stdout, name)
		return exitSuccess
	}
	if crashAtStart == "1" {
		fmt.Fprintln(stderr, "osqueryd stand-in built with crashAtStart=1: exiting at start")
		return exitFailure
	}
	for _, err := range []error{sw.exitCodeErr, sw.crashAfterErr, sw.intervalErr, sw.delayErr} {
		if err != nil {
			fmt.Fprintf(stderr, "osqueryd stand-in: %v\n", err)
			return exitFailure
		}
	}
	if fs.Bool("S") || name == "osqueryi" {
		return runShell(fs, sw, stdin, stdout, stderr)
	}
	return runDaemon(fs, sw, stderr)
}

func printUsage(w io.Writer, name string) {
	fmt.Fprintf(w, "osquery %s (stand-in), your OS as a high-performance relational database\n", version)
	fmt.Fprintf(w, "Usage: %s [OPTION]... [SQL STATEMENT]\n\n", name)
	for _, n := range sortedNames() {
		d := knownFlags[n]
		fmt.Fprintf(w, "    --%s (%s, default %q)\n", n, d.kind, d.def)
	}
}
