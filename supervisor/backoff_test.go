package supervisor

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
		cfg    BackoffConfig
		ranFor []time.Duration
		want   []time.Duration
		fails  int // Failures() after the sequence
	}{
		{
			name:   "defaults double from 1s and cap at 5m",
			cfg:    BackoffConfig{Jitter: -1},
			ranFor: []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			want:   []time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 300 * s, 300 * s},
			fails:  11,
		},
		{
			name:   "first restart after a long healthy run is immediate",
			cfg:    BackoffConfig{Jitter: -1},
			ranFor: []time.Duration{10 * time.Minute, 0, 0},
			want:   []time.Duration{0, 1 * s, 2 * s},
			fails:  2,
		},
		{
			name:   "a run of exactly StableAfter resets the schedule",
			cfg:    BackoffConfig{Jitter: -1},
			ranFor: []time.Duration{0, 0, 0, time.Minute, 0},
			want:   []time.Duration{1 * s, 2 * s, 4 * s, 0, 1 * s},
			fails:  1,
		},
		{
			name:   "a run just short of StableAfter is a failure",
			cfg:    BackoffConfig{Jitter: -1},
			ranFor: []time.Duration{0, 59 * s, 59*s + 999*time.Millisecond},
			want:   []time.Duration{1 * s, 2 * s, 4 * s},
			fails:  3,
		},
		{
			name:   "custom multiplier, initial, max and stable period",
			cfg:    BackoffConfig{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3, Jitter: -1, StableAfter: 5 * s},
			ranFor: []time.Duration{0, 0, 0, 0, 5 * s, 4 * s},
			want:   []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, time.Second, 0, 100 * time.Millisecond},
			fails:  1,
		},
		{
			name:   "multiplier 1 is a constant delay",
			cfg:    BackoffConfig{Initial: 2 * s, Multiplier: 1, Jitter: -1},
			ranFor: []time.Duration{0, 0, 0},
			want:   []time.Duration{2 * s, 2 * s, 2 * s},
			fails:  3,
		},
		{
			name:   "jitter at its low bound",
			cfg:    BackoffConfig{Jitter: 0.5, Rand: constRand(0)},
			ranFor: []time.Duration{0, 0, 0},
			want:   []time.Duration{500 * time.Millisecond, 1 * s, 2 * s},
			fails:  3,
		},
		{
			name:   "jitter at the middle is the plain delay",
			cfg:    BackoffConfig{Jitter: 0.5, Rand: constRand(0.5)},
			ranFor: []time.Duration{0, 0},
			want:   []time.Duration{1 * s, 2 * s},
			fails:  2,
		},
		{
			name:   "jitter near its high bound",
			cfg:    BackoffConfig{Jitter: 0.5, Rand: constRand(0.75)},
			ranFor: []time.Duration{0, 0},
			want:   []time.Duration{1250 * time.Millisecond, 2500 * time.Millisecond},
			fails:  2,
		},
		{
			name:   "jitter never exceeds the cap",
			cfg:    BackoffConfig{Initial: s, Max: 4 * s, Jitter: 0.5, Rand: constRand(0.99)},
			ranFor: []time.Duration{0, 0, 0, 0},
			want:   []time.Duration{1490 * time.Millisecond, 2980 * time.Millisecond, 4 * s, 4 * s},
			fails:  4,
		},
		{
			name:   "default jitter is 20 percent",
			cfg:    BackoffConfig{Rand: constRand(0)},
			ranFor: []time.Duration{0, 0},
			want:   []time.Duration{800 * time.Millisecond, 1600 * time.Millisecond},
			fails:  2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := NewBackoff(tc.cfg)
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
	b, err := NewBackoff(BackoffConfig{Jitter: jitter, Rand: rng.Float64})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := NewBackoff(BackoffConfig{Jitter: -1})
	seen := map[time.Duration]bool{}
	for i := 0; i < 2000; i++ {
		if i%15 == 14 {
			b.Next(time.Hour)
			plain.Next(time.Hour)
			continue
		}
		got, base := b.Next(0), plain.Next(0)
		lo := time.Duration(float64(base) * (1 - jitter))
		hi := min(time.Duration(float64(base)*(1+jitter)), DefaultBackoffMax)
		if got < lo || got > hi {
			t.Fatalf("draw %d: delay %s outside [%s, %s] around %s", i, got, lo, hi, base)
		}
		seen[got] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays in 2000 draws: jitter is not applied", len(seen))
	}
}

func TestBackoffConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  BackoffConfig
		want string
	}{
		{"initial above max", BackoffConfig{Initial: time.Hour, Max: time.Minute}, "larger than the maximum"},
		{"multiplier below 1", BackoffConfig{Multiplier: 0.5}, "multiplier"},
		{"jitter above 1", BackoffConfig{Jitter: 1.5}, "jitter"},
		{"negative initial", BackoffConfig{Initial: -time.Second}, "negative"},
		{"negative stable period", BackoffConfig{StableAfter: -time.Second}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewBackoff(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewBackoff(%+v) error = %v, want it to mention %q", tc.cfg, err, tc.want)
			}
		})
	}
}
