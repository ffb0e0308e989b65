package loglevel

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// logAll writes one line at each level through l and returns the messages
// that reached the output.
func logAll(l *Level) string {
	var out bytes.Buffer
	log := zerolog.New(l.Writer(&out)).Level(zerolog.TraceLevel)
	log.Trace().Msg("trace")
	log.Debug().Msg("debug")
	log.Info().Msg("info")
	log.Warn().Msg("warn")
	log.Log().Msg("nolevel")
	var got []string
	for _, m := range []string{"trace", "debug", "info", "warn", "nolevel"} {
		if strings.Contains(out.String(), `"message":"`+m+`"`) {
			got = append(got, m)
		}
	}
	return strings.Join(got, ",")
}

func TestLevelFiltersAndSwitches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		floor   bool
		steps   []bool // SetDebug arguments, in order
		changed []bool // what each returned
		want    string // what is written afterwards
	}{
		{name: "info by default", want: "info,warn,nolevel"},
		{name: "floor starts at debug", floor: true, want: "debug,info,warn,nolevel"},
		{name: "on", steps: []bool{true}, changed: []bool{true}, want: "debug,info,warn,nolevel"},
		{name: "on then off", steps: []bool{true, false}, changed: []bool{true, true}, want: "info,warn,nolevel"},
		{name: "repeats change nothing", steps: []bool{true, true, false, false}, changed: []bool{true, false, true, false}, want: "info,warn,nolevel"},
		{name: "off at info changes nothing", steps: []bool{false}, changed: []bool{false}, want: "info,warn,nolevel"},
		{name: "floor cannot be lowered", floor: true, steps: []bool{false, true, false}, changed: []bool{false, false, false}, want: "debug,info,warn,nolevel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := New(tc.floor)
			for i, on := range tc.steps {
				if got := l.SetDebug(on); got != tc.changed[i] {
					t.Errorf("SetDebug(%v) #%d = %v, want %v", on, i, got, tc.changed[i])
				}
			}
			if got := logAll(l); got != tc.want {
				t.Errorf("written %q, want %q", got, tc.want)
			}
			if wantDebug := strings.HasPrefix(tc.want, "debug"); l.Debug() != wantDebug || (l.Threshold() == zerolog.DebugLevel) != wantDebug {
				t.Errorf("Debug() = %v, Threshold() = %v, want debug %v", l.Debug(), l.Threshold(), wantDebug)
			}
		})
	}
}

// A child logger made before the switch follows it: the level lives in the
// writer they share, not in each logger's copy.
func TestChildLoggersFollowTheSwitch(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	l := New(false)
	root := zerolog.New(l.Writer(&out)).Level(zerolog.DebugLevel)
	child := root.With().Str("component", "fleet").Logger()
	child.Debug().Msg("before")
	l.SetDebug(true)
	child.Debug().Msg("during")
	l.SetDebug(false)
	child.Debug().Msg("after")
	if s := out.String(); strings.Contains(s, "before") || !strings.Contains(s, "during") || strings.Contains(s, "after") {
		t.Errorf("child logger did not follow the level: %q", s)
	}
}

// The writer behind the filter keeps getting the level (ConsoleWriter and
// other LevelWriters format by it).
type levelRecorder struct{ levels []zerolog.Level }

func (r *levelRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *levelRecorder) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	r.levels = append(r.levels, l)
	return len(p), nil
}

func TestInnerLevelWriterGetsTheLevel(t *testing.T) {
	t.Parallel()
	rec := &levelRecorder{}
	log := zerolog.New(New(true).Writer(rec))
	log.Debug().Msg("x")
	log.Warn().Msg("y")
	if len(rec.levels) != 2 || rec.levels[0] != zerolog.DebugLevel || rec.levels[1] != zerolog.WarnLevel {
		t.Errorf("inner writer got levels %v, want [debug warn]", rec.levels)
	}
}

func BenchmarkDroppedDebugLine(b *testing.B) {
	var out bytes.Buffer
	log := zerolog.New(New(false).Writer(&out)).Level(zerolog.DebugLevel)
	b.ReportAllocs()
	for b.Loop() {
		log.Debug().Str("key", "value").Msg("dropped")
	}
	if out.Len() != 0 {
		b.Fatal("a debug line was written at info")
	}
}
