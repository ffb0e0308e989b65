package osquery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/rs/zerolog"
)

func TestLogRingKeepsZerologEvents(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	ring := NewLogRing(LogRingConfig{Clock: clk})
	log := zerolog.New(ring).With().Timestamp().Logger()
	log.Warn().Err(errors.New("disk full")).Str("path", "/opt/orbit").Int("attempt", 2).Msg("cannot write state")
	log.Info().Msg("no fields")
	bare := zerolog.New(ring)
	bare.Error().Str("enroll_secret", "s3cret").Str("device_auth_token", "tok").Msg("oops")
	_, _ = ring.Write([]byte("not json\n"))

	got := ring.Entries()
	if len(got) != 4 {
		t.Fatalf("%d entries, want 4: %+v", len(got), got)
	}
	e := got[0]
	if e.Level != "warn" || e.Message != "cannot write state" || e.Error != "disk full" ||
		e.Payload != `{"attempt":2,"path":"/opt/orbit"}` {
		t.Fatalf("first entry = %+v", e)
	}
	if _, err := time.Parse(logTimeFormat, e.Time); err != nil {
		t.Fatalf("time %q is not in fleetd_logs' format: %v", e.Time, err)
	}
	if got[1].Payload != "" || got[1].Message != "no fields" || got[1].Level != "info" {
		t.Fatalf("second entry = %+v", got[1])
	}
	// No time field: the clock's time.
	if got[2].Time != clk.Now().UTC().Format(logTimeFormat) {
		t.Fatalf("entry without time: %q", got[2].Time)
	}
	if strings.Contains(got[2].Payload, "s3cret") || strings.Contains(got[2].Payload, "tok\"") ||
		!strings.Contains(got[2].Payload, `"enroll_secret":"[redacted]"`) {
		t.Fatalf("secrets not redacted: %q", got[2].Payload)
	}
	if got[3].Message != "not json" {
		t.Fatalf("non-JSON write = %+v", got[3])
	}
}

func TestLogRingIsBounded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		cfg       LogRingConfig
		writes    int
		wantFirst int // index of the oldest kept message
		wantN     int
	}{
		{"entries", LogRingConfig{MaxEntries: 5}, 12, 7, 5},
		{"bytes", LogRingConfig{MaxBytes: 300}, 50, 50 - 300/40, 300 / 40},
		{"under both", LogRingConfig{MaxEntries: 100}, 10, 0, 10},
		{"wraps many times", LogRingConfig{MaxEntries: 7}, 1000, 993, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Clock = newFakeClock()
			ring := NewLogRing(tc.cfg)
			log := zerolog.New(ring)
			for i := range tc.writes {
				// Each entry is 40 bytes: 16 of message, 5 of level, 19 of time.
				log.Error().Msg(fmt.Sprintf("message %8d", i))
			}
			got := ring.Entries()
			if len(got) != tc.wantN {
				t.Fatalf("%d entries, want %d", len(got), tc.wantN)
			}
			for i, e := range got {
				if want := fmt.Sprintf("message %8d", tc.wantFirst+i); e.Message != want {
					t.Fatalf("entry %d = %q, want %q (oldest first)", i, e.Message, want)
				}
			}
		})
	}
	ring := NewLogRing(LogRingConfig{MaxFieldBytes: 10})
	long := zerolog.New(ring)
	long.Info().Msg(strings.Repeat("é", 20))
	if m := ring.Entries()[0].Message; !strings.HasSuffix(m, "...(truncated)") || len(m) > 10+len("...(truncated)") {
		t.Fatalf("long message kept as %q", m)
	}
}

func TestLogTable(t *testing.T) {
	t.Parallel()
	ring := NewLogRing(LogRingConfig{Clock: newFakeClock()})
	log := zerolog.New(ring)
	log.Info().Str("k", "v").Msg("m")
	tbl := LogTable(ring)
	var names []string
	for _, r := range tbl.Routes() {
		names = append(names, r["name"]+" "+r["type"])
	}
	if strings.Join(names, ",") != "time TEXT,level TEXT,payload TEXT,message TEXT,error TEXT" {
		t.Fatalf("columns %v, want Fleet's fleetd_logs columns", names)
	}
	resp := tbl.Call(context.Background(), gen.ExtensionPluginRequest{"action": "generate", "context": "{}"})
	if resp.Status.Code != 0 || len(resp.Response) != 1 || resp.Response[0]["payload"] != `{"k":"v"}` || resp.Response[0]["message"] != "m" {
		t.Fatalf("generate = %+v", resp)
	}
}
