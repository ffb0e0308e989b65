package osquery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/osquery/osquery-go/plugin/table"
	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/clock"
)

// Defaults of LogRingConfig. Fleet's agent keeps 10000 entries.
const (
	DefaultLogEntries    = 10_000
	DefaultLogBytes      = 4 << 20
	DefaultLogFieldBytes = 4 << 10
)

// logTimeFormat is how fleetd_logs shows time: UTC, a form SQLite's date
// functions parse (as Fleet's agent does).
const logTimeFormat = "2006-01-02 15:04:05.999999999"

// LogRingConfig bounds a LogRing; zero fields take the defaults.
type LogRingConfig struct {
	// MaxEntries is how many log lines are kept (default 10000).
	MaxEntries int
	// MaxBytes bounds the text kept over all entries (default 4 MiB).
	MaxBytes int
	// MaxFieldBytes truncates a message, error or payload (default 4 KiB).
	MaxFieldBytes int
	// Clock stamps lines that carry no time (default the real clock).
	Clock clock.Clock
}

// LogEntry is one line of fleetd_logs.
type LogEntry struct {
	Time    string // UTC, logTimeFormat
	Level   string
	Message string
	Error   string
	Payload string // the other fields, as JSON
}

func (e LogEntry) size() int {
	return len(e.Time) + len(e.Level) + len(e.Message) + len(e.Error) + len(e.Payload)
}

// LogRing keeps orbit's most recent log lines for the fleetd_logs table.
// It is a zerolog writer: add it to orbit's logger with
// zerolog.MultiLevelWriter. It never fails a write, so logging never stops
// because of it. orbit never logs secrets; as a second line of defence,
// fields whose name says secret, token, password or node_key are redacted.
type LogRing struct {
	cfg LogRingConfig

	mu    sync.Mutex
	buf   []LogEntry // ring: n lines from head, wrapping
	head  int
	n     int
	bytes int
}

var _ zerolog.LevelWriter = (*LogRing)(nil)

// NewLogRing returns an empty ring.
func NewLogRing(cfg LogRingConfig) *LogRing {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultLogEntries
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultLogBytes
	}
	if cfg.MaxFieldBytes <= 0 {
		cfg.MaxFieldBytes = DefaultLogFieldBytes
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	return &LogRing{cfg: cfg}
}

// Write takes one or more zerolog JSON events.
func (r *LogRing) Write(p []byte) (int, error) { return r.WriteLevel(zerolog.NoLevel, p) }

// WriteLevel is zerolog's LevelWriter; the event's own "level" wins.
func (r *LogRing) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	for {
		var ev map[string]any
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// Not JSON (a console writer?): keep the text as the message.
			r.add(LogEntry{Time: r.now(), Level: levelName(level), Message: r.truncate(strings.TrimSpace(string(p)))})
			break
		}
		r.add(r.entry(level, ev))
	}
	return len(p), nil
}

func (r *LogRing) now() string { return r.cfg.Clock.Now().UTC().Format(logTimeFormat) }

func levelName(l zerolog.Level) string {
	if l == zerolog.NoLevel {
		return ""
	}
	return l.String()
}

func (r *LogRing) entry(level zerolog.Level, ev map[string]any) LogEntry {
	e := LogEntry{Level: levelName(level), Time: r.now()}
	if s, ok := ev[zerolog.LevelFieldName].(string); ok {
		e.Level = s
		delete(ev, zerolog.LevelFieldName)
	}
	if t, ok := ev[zerolog.TimestampFieldName]; ok {
		if ts, ok := parseLogTime(t); ok {
			e.Time = ts.UTC().Format(logTimeFormat)
		}
		delete(ev, zerolog.TimestampFieldName)
	}
	if s, ok := ev[zerolog.MessageFieldName].(string); ok {
		e.Message = r.truncate(s)
		delete(ev, zerolog.MessageFieldName)
	}
	if s, ok := ev[zerolog.ErrorFieldName].(string); ok {
		e.Error = r.truncate(s)
		delete(ev, zerolog.ErrorFieldName)
	}
	for k := range ev {
		if isSecretKey(k) {
			ev[k] = "[redacted]"
		}
	}
	if len(ev) > 0 {
		if b, err := json.Marshal(ev); err == nil {
			e.Payload = r.truncate(string(b))
		}
	}
	return e
}

func parseLogTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case string:
		ts, err := time.Parse(time.RFC3339Nano, t)
		return ts, err == nil
	case json.Number:
		// zerolog.TimeFormatUnix*: seconds, or ms/µs/ns by magnitude.
		n, err := strconv.ParseInt(t.String(), 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		switch {
		case n > 1e17:
			return time.Unix(0, n), true
		case n > 1e14:
			return time.UnixMicro(n), true
		case n > 1e11:
			return time.UnixMilli(n), true
		}
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"secret", "token", "password", "node_key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func (r *LogRing) truncate(s string) string {
	if len(s) <= r.cfg.MaxFieldBytes {
		return s
	}
	cut := r.cfg.MaxFieldBytes
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "...(truncated)"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// add appends e, dropping the oldest lines to stay within both bounds. The
// ring grows up to MaxEntries slots and then reuses them.
func (r *LogRing) add(e LogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && (r.n >= r.cfg.MaxEntries || r.bytes+e.size() > r.cfg.MaxBytes) {
		r.bytes -= r.buf[r.head].size()
		r.buf[r.head] = LogEntry{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
	if r.n == len(r.buf) {
		grown := make([]LogEntry, r.n, min(max(2*r.n, 64), r.cfg.MaxEntries))
		r.copyTo(grown)
		r.buf, r.head = grown[:cap(grown)], 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	r.bytes += e.size()
}

// copyTo copies the kept lines, oldest first, into dst (len >= r.n).
func (r *LogRing) copyTo(dst []LogEntry) {
	k := copy(dst[:r.n], r.buf[r.head:min(r.head+r.n, len(r.buf))])
	copy(dst[k:r.n], r.buf[:r.n-k])
}

// Entries returns a copy of the kept lines, oldest first.
func (r *LogRing) Entries() []LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]LogEntry, r.n)
	r.copyTo(out)
	return out
}

// LogTable is the fleetd_logs table over ring, with Fleet's columns.
func LogTable(ring *LogRing) *table.Plugin {
	cols := []table.ColumnDefinition{
		table.TextColumn("time"),
		table.TextColumn("level"),
		table.TextColumn("payload"),
		table.TextColumn("message"),
		table.TextColumn("error"),
	}
	return table.NewPlugin("fleetd_logs", cols, func(context.Context, table.QueryContext) ([]map[string]string, error) {
		entries := ring.Entries()
		rows := make([]map[string]string, len(entries))
		for i, e := range entries {
			rows[i] = map[string]string{"time": e.Time, "level": e.Level, "payload": e.Payload, "message": e.Message, "error": e.Error}
		}
		return rows, nil
	})
}
