package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Severities as osquery's status logs number them.
const (
	sevInfo    = 0
	sevWarning = 1
	sevError   = 2
)

// statusLine is one osquery status log entry (what osqueryd.INFO and the
// TLS logger's "status" log_type carry).
type statusLine struct {
	Severity int
	Message  string
	Time     time.Time
	Filename string
	Line     int
}

// logger writes glog-style lines to stderr like osqueryd does, with a static
// message and key=value pairs; status sinks receive every line.
type logger struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	pid     int
	now     func() time.Time
	sinks   []func(statusLine)
}

func newLogger(w io.Writer, verbose bool) *logger {
	return &logger{w: w, verbose: verbose, pid: os.Getpid(), now: time.Now}
}

func (l *logger) addSink(f func(statusLine)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sinks = append(l.sinks, f)
}

func (l *logger) Info(msg string, kv ...any)  { l.log(sevInfo, msg, kv) }
func (l *logger) Warn(msg string, kv ...any)  { l.log(sevWarning, msg, kv) }
func (l *logger) Error(msg string, kv ...any) { l.log(sevError, msg, kv) }

func (l *logger) log(sev int, msg string, kv []any) {
	var sb strings.Builder
	sb.WriteString(msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&sb, " %v=%v", kv[i], kv[i+1])
	}
	text := sb.String()
	_, file, line, _ := runtime.Caller(2)
	file = filepath.Base(file)
	now := l.now()
	l.mu.Lock()
	sinks := append([]func(statusLine){}, l.sinks...)
	if sev > sevInfo || l.verbose {
		fmt.Fprintf(l.w, "%c%s %d %s:%d] %s\n", "IWE"[sev], now.UTC().Format("0102 15:04:05.000000"), l.pid, file, line, text)
	}
	l.mu.Unlock()
	for _, s := range sinks {
		s(statusLine{Severity: sev, Message: text, Time: now, Filename: file, Line: line})
	}
}

// envNames returns the sorted names (never the values) of the environment.
func envNames(env []string) []string {
	names := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
