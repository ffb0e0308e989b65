package backoff

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func constRand(v float64) func() float64 { return func() float64 { return v } }

func TestBackoffSchedule(t *testing.T) {
	t.Parallel()
	s := time.Second
	tests := []struct {
		name   string
		cfg    Config
		ranFor []time.Duration
		want   []time.Duration
		fails  int // Failures() after the sequence
	}{
		{
			name:   "defaults double from 1s and cap at 5m",
			cfg:    Config{Jitter: -1},
			ranFor: []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			want:   []time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 300 * s, 300 * s},
			fails:  11,
		},
		{
			name:   "first restart after a long healthy run is immediate",
			cfg:    Config{Jitter: -1},
			ranFor: []time.Duration{10 * time.Minute, 0, 0},
			want:   []time.Duration{0, 1 * s, 2 * s},
			fails:  2,
		},
		{
			name:   "a run of exactly StableAfter resets the schedule",
			cfg:    Config{Jitter: -1},
			ranFor: []time.Duration{0, 0, 0, time.Minute, 0},
			want:   []time.Duration{1 * s, 2 * s, 4 * s, 0, 1 * s},
			fails:  1,
		},
		{
			name:   "a run just short of StableAfter is a failure",
			cfg:    Config{Jitter: -1},
			ranFor: []time.Duration{0, 59 * s, 59*s + 999*time.Millisecond},
			want:   []time.Duration{1 * s, 2 * s, 4 * s},
			fails:  3,
		},
		{
			name:   "custom multiplier, initial, max and stable period",
			cfg:    Config{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3, Jitter: -1, StableAfter: 5 * s},
			ranFor: []time.Duration{0, 0, 0, 0, 5 * s, 4 * s},
			want:   []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, time.Second, 0, 100 * time.Millisecond},
			fails:  1,
		},
		{
			name:   "multiplier 1 is a constant delay",
			cfg:    Config{Initial: 2 * s, Multiplier: 1, Jitter: -1},
			ranFor: []time.Duration{0, 0, 0},
			want:   []time.Duration{2 * s, 2 * s, 2 * s},
			fails:  3,
		},
		{
			name:   "jitter at its low bound",
			cfg:    Config{Jitter: 0.5, Rand: constRand(0)},
			ranFor: []time.Duration{0, 0, 0},
			want:   []time.Duration{500 * time.Millisecond, 1 * s, 2 * s},
			fails:  3,
		},
		{
			name:   "jitter at the middle is the plain delay",
			cfg:    Config{Jitter: 0.5, Rand: constRand(0.5)},
			ranFor: []time.Duration{0, 0},
			want:   []time.Duration{1 * s, 2 * s},
			fails:  2,
		},
		{
			name:   "jitter near its high bound",
			cfg:    Config{Jitter: 0.5, Rand: constRand(0.75)},
			ranFor: []time.Duration{0, 0},
			want:   []time.Duration{1250 * time.Millisecond, 2500 * time.Millisecond},
			fails:  2,
		},
		{
			name:   "jitter never exceeds the cap",
			cfg:    Config{Initial: s, Max: 4 * s, Jitter: 0.5, Rand: constRand(0.99)},
			ranFor: []time.Duration{0, 0, 0, 0},
			want:   []time.Duration{1490 * time.Millisecond, 2980 * time.Millisecond, 4 * s, 4 * s},
			fails:  4,
		},
		{
			name:   "extend adds jitter after the cap and never shortens",
			cfg:    Config{Initial: 10 * s, Max: 5 * time.Minute, Jitter: 0.1, Mode: Extend, Rand: constRand(0.5)},
			ranFor: []time.Duration{0, 0, 0, 0, 0, 0, 0},
			want:   []time.Duration{10500 * time.Millisecond, 21 * s, 42 * s, 84 * s, 168 * s, 315 * s, 315 * s},
			fails:  7,
		},
		{
			name:   "extend at its low bound is the plain schedule",
			cfg:    Config{Initial: 10 * s, Max: 5 * time.Minute, Jitter: 0.1, Mode: Extend, Rand: constRand(0)},
			ranFor: []time.Duration{0, 0, 0, 0, 0, 0},
			want:   []time.Duration{10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s},
			fails:  6,
		},
		{
			name:   "delay after stable restarts the schedule at its first step",
			cfg:    Config{Initial: s, Max: time.Minute, Jitter: -1, StableAfter: time.Minute, DelayAfterStable: true},
			ranFor: []time.Duration{0, 0, 0, 2 * time.Minute, 0},
			want:   []time.Duration{1 * s, 2 * s, 4 * s, 1 * s, 2 * s},
			fails:  2,
		},
		{
			name:   "default jitter is 20 percent",
			cfg:    Config{Rand: constRand(0)},
			ranFor: []time.Duration{0, 0},
			want:   []time.Duration{800 * time.Millisecond, 1600 * time.Millisecond},
			fails:  2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range tc.ranFor {
				if got := b.Next(r); got != tc.want[i] {
					t.Errorf("step %d: Next(%s) = %s, want %s", i, r, got, tc.want[i])
				}
			}
			if b.Failures() != tc.fails {
				t.Errorf("Failures() = %d, want %d", b.Failures(), tc.fails)
			}
			b.Reset()
			if b.Failures() != 0 {
				t.Errorf("Failures() after Reset = %d", b.Failures())
			}
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	const jitter = 0.3
	b, err := New(Config{Jitter: jitter, Rand: rng.Float64})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := New(Config{Jitter: -1})
	seen := map[time.Duration]bool{}
	for i := 0; i < 2000; i++ {
		if i%15 == 14 {
			b.Next(time.Hour)
			plain.Next(time.Hour)
			continue
		}
		got, base := b.Next(0), plain.Next(0)
		lo := time.Duration(float64(base) * (1 - jitter))
		hi := min(time.Duration(float64(base)*(1+jitter)), DefaultMax)
		if got < lo || got > hi {
			t.Fatalf("draw %d: delay %s outside [%s, %s] around %s", i, got, lo, hi, base)
		}
		seen[got] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays in 2000 draws: jitter is not applied", len(seen))
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"initial above max", Config{Initial: time.Hour, Max: time.Minute}, "larger than the maximum"},
		{"multiplier below 1", Config{Multiplier: 0.5}, "multiplier"},
		{"jitter above 1", Config{Jitter: 1.5}, "jitter"},
		{"negative initial", Config{Initial: -time.Second}, "negative"},
		{"negative stable period", Config{StableAfter: -time.Second}, "negative"},
		{"unknown jitter mode", Config{Mode: JitterMode(7)}, "jitter mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) error = %v, want it to mention %q", tc.cfg, err, tc.want)
			}
		})
	}
}
