package supervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/logcapture"
)

// logBuffer is a goroutine-safe sink for zerolog that parses its events.
type logBuffer struct{ logcapture.Buffer }

func (b *logBuffer) events(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split([]byte(b.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// withMessage returns the events whose message is msg.
func (b *logBuffer) withMessage(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range b.events(t) {
		if ev["message"] == msg {
			out = append(out, ev)
		}
	}
	return out
}

func droppedTotal(evs []map[string]any) int {
	n := 0
	for _, ev := range evs {
		n += int(ev["dropped_lines"].(float64))
	}
	return n
}

func numberedLines(prefix string, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "%s %d\n", prefix, i)
	}
	return sb.String()
}

func TestChildLogRateLimitReportsDropsWhenAllowedAgain(t *testing.T) {
	t.Parallel()
	var buf logBuffer
	clk := newFakeClock()
	c := newChildLog(zerolog.New(&buf), clk, 5) // 5 lines/s, burst 10
	c.readLines(strings.NewReader(numberedLines("a", 30)), "stdout")
	clk.Advance(time.Second) // refills 5 tokens
	c.readLines(strings.NewReader("after pause\n"), "stderr")
	c.close()

	evs := buf.events(t)
	var lines []string
	for _, ev := range evs {
		if ev["message"] == "child output" {
			lines = append(lines, ev["line"].(string))
		}
	}
	if len(lines) != 11 {
		t.Fatalf("got %d output lines, want 10 of the burst and 1 after the pause: %q", len(lines), lines)
	}
	for i := 0; i < 10; i++ {
		if want := fmt.Sprintf("a %d", i); lines[i] != want {
			t.Fatalf("line %d = %q, want %q", i, lines[i], want)
		}
	}
	// The drop report comes right before the first line let through again.
	if len(evs) != 12 || evs[10]["dropped_lines"] != float64(20) || evs[11]["line"] != "after pause" || evs[11]["stream"] != "stderr" {
		t.Fatalf("want 10 lines, a report of 20 dropped lines, then the stderr line; got %v", evs)
	}
	if evs[10]["level"] != "warn" {
		t.Fatalf("drop report level = %v, want warn", evs[10]["level"])
	}
}

func TestChildLogReportsDropsAtClose(t *testing.T) {
	t.Parallel()
	var buf logBuffer
	c := newChildLog(zerolog.New(&buf), newFakeClock(), 1) // burst 2
	c.readLines(strings.NewReader(numberedLines("x", 7)), "stdout")
	c.close()
	if got := len(buf.withMessage(t, "child output")); got != 2 {
		t.Fatalf("got %d lines through, want the burst of 2", got)
	}
	if got := droppedTotal(buf.withMessage(t, "child output lines dropped by the log rate limit")); got != 5 {
		t.Fatalf("dropped lines reported = %d, want 5", got)
	}
}

func TestChildLogLineSplitting(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 3*MaxOutputLineBytes+17)
	tests := []struct {
		name      string
		in        string
		want      []string
		truncated []bool
	}{
		{"plain lines", "one\ntwo\n", []string{"one", "two"}, []bool{false, false}},
		{"crlf and missing final newline", "one\r\ntwo", []string{"one", "two"}, []bool{false, false}},
		{"empty line kept", "one\n\nthree\n", []string{"one", "", "three"}, []bool{false, false, false}},
		{"over-long line cut, rest skipped", "x\n" + long + "\nnext\n", []string{"x", long[:MaxOutputLineBytes], "next"}, []bool{false, true, false}},
		{"over-long line at EOF", long, []string{long[:MaxOutputLineBytes]}, []bool{true}},
		{"line of exactly the limit with newline", strings.Repeat("b", MaxOutputLineBytes-1) + "\nz\n", []string{strings.Repeat("b", MaxOutputLineBytes-1), "z"}, []bool{false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf logBuffer
			c := newChildLog(zerolog.New(&buf), newFakeClock(), -1)
			c.readLines(strings.NewReader(tc.in), "stdout")
			c.close()
			evs := buf.withMessage(t, "child output")
			if len(evs) != len(tc.want) {
				t.Fatalf("got %d events, want %d: %v", len(evs), len(tc.want), evs)
			}
			for i, ev := range evs {
				if ev["line"] != tc.want[i] {
					t.Errorf("event %d line has %d bytes, want %d", i, len(ev["line"].(string)), len(tc.want[i]))
				}
				if tr, _ := ev["truncated"].(bool); tr != tc.truncated[i] {
					t.Errorf("event %d truncated = %v, want %v", i, tr, tc.truncated[i])
				}
			}
		})
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	release chan struct{}
	buf     logBuffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.buf.Write(p)
}

func TestChildLogNeverBlocksOnSlowWriter(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{release: make(chan struct{})}
	c := newChildLog(zerolog.New(w), newFakeClock(), -1)
	const n = 1000
	done := make(chan struct{})
	go func() {
		c.readLines(strings.NewReader(numberedLines("l", n)), "stdout")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reading the child's output blocked on a stuck log writer")
	}
	close(w.release)
	c.close()
	logged := len(w.buf.withMessage(t, "child output"))
	dropped := droppedTotal(w.buf.withMessage(t, "child output lines dropped by the log rate limit"))
	if logged+dropped != n {
		t.Fatalf("logged %d + dropped %d != %d lines", logged, dropped, n)
	}
	if logged > logQueueLen+1 || dropped == 0 {
		t.Fatalf("logged %d, dropped %d: want at most the queue (%d+1) logged and the rest dropped", logged, dropped, logQueueLen)
	}
}

func TestChildLogAttachReadsPipes(t *testing.T) {
	t.Parallel()
	var buf logBuffer
	c := newChildLog(zerolog.New(&buf).With().Str("component", "comp").Logger(), newFakeClock(), -1)
	s, err := c.attach()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(s.outW, "to stdout\n")
	io.WriteString(s.errW, "to stderr\n")
	s.detach()
	c.close()
	evs := buf.withMessage(t, "child output")
	got := map[string]string{}
	for _, ev := range evs {
		if ev["component"] != "comp" {
			t.Errorf("event without component field: %v", ev)
		}
		got[ev["stream"].(string)] = ev["line"].(string)
	}
	if got["stdout"] != "to stdout" || got["stderr"] != "to stderr" || len(evs) != 2 {
		t.Fatalf("events = %v", evs)
	}
}
