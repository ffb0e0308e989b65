package updater

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/rootdir"
)

const (
	stateFileName = "updater-state.json"
	// maxTries failures of one target hash put it on a cooldown.
	maxTries = 3
	cooldown = 24 * time.Hour
)

// installed is one installed target.
type installed struct {
	Target   string `json:"target"`
	Channel  string `json:"channel"`
	Platform string `json:"platform"`
	// Path is the executable to run (inside the extracted directory for archives).
	Path    string `json:"path"`
	Dir     string `json:"dir,omitempty"` // extracted directory, archives only
	Version string `json:"version,omitempty"`
	Hash    string `json:"hash"` // "<alg>:<hex>"
	Length  int64  `json:"length"`
	// Previous is what this install replaced, kept for rollback.
	Previous *installed `json:"previous,omitempty"`
}

type failure struct {
	Target string    `json:"target"`
	Count  int       `json:"count"`
	Last   time.Time `json:"last"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// Bad marks a hash that was installed and then rolled back: it is
	// never tried again; only a new release (a new hash) is.
	Bad bool `json:"bad,omitempty"`
}

type watch struct {
	// Since is the wall time of the install, kept for a restart; within a
	// run the window is measured from mono, on the monotonic clock.
	Since time.Time `json:"since"`
	Hash  string    `json:"hash"`
	mono  time.Duration
}

// selfUpdate is a new orbit on trial (see selfupdate.go).
type selfUpdate struct {
	// Component is orbit's component name (empty in markers written before
	// it was recorded: orbit).
	Component component.Name `json:"component,omitempty"`
	Hash      string         `json:"hash"`
	Version   string         `json:"version,omitempty"`
	// Path is the candidate's executable; empty in markers written by an
	// orbit that repointed the service at once.
	Path  string    `json:"path,omitempty"`
	Since time.Time `json:"since"`
	// Boots counts the known-good orbit's starts of the candidate.
	Boots int `json:"boots"`
}

type state struct {
	Components map[component.Name]*installed `json:"components"`
	// Failures is keyed by target hash.
	Failures   map[string]*failure       `json:"failures"`
	Watches    map[component.Name]*watch `json:"watches"`
	SelfUpdate *selfUpdate               `json:"self_update,omitempty"`

	// restEnds is when each rest ends on the monotonic clock (see
	// clock.Clock.Mono): the persisted Until is a wall time, which a step
	// of the wall clock would stall or cut short.
	restEnds map[string]time.Duration
}

func statePath(l rootdir.Layout) string { return filepath.Join(l.TUF(), stateFileName) }

func newState() *state {
	return &state{
		Components: map[component.Name]*installed{},
		Failures:   map[string]*failure{},
		Watches:    map[component.Name]*watch{},
		restEnds:   map[string]time.Duration{},
	}
}

// loadState reads the state file; a missing file is an empty state. A corrupt
// file is reported so the caller can start over rather than stop the agent.
func loadState(l rootdir.Layout) (*state, error) {
	s := newState()
	data, err := safefile.ReadLimited(statePath(l), safefile.MaxState)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read updater state: %w", err)
	}
	if err := json.Unmarshal(data, s); err != nil {
		return newState(), fmt.Errorf("updater state %s is corrupt, starting over: %w", statePath(l), err)
	}
	if s.Components == nil {
		s.Components = map[component.Name]*installed{}
	}
	if s.Failures == nil {
		s.Failures = map[string]*failure{}
	}
	if s.Watches == nil {
		s.Watches = map[component.Name]*watch{}
	}
	s.restEnds = map[string]time.Duration{}
	return s, nil
}

// anchor ties the persisted wall times of a loaded state to this run's
// monotonic clock. Across a restart only the wall clock is left, so a rest
// or window is judged by it once, here, capped at its nominal length from
// now: a wall clock stepped back a year must not rest a release for a year
// and a day, nor watch it for that long.
func (s *state) anchor(now time.Time, mono, window time.Duration) {
	for hash, f := range s.Failures {
		if f.Until.IsZero() {
			continue
		}
		left := f.Until.Sub(now)
		if left > cooldown {
			left = cooldown
			f.Until = now.Add(cooldown)
		}
		s.restEnds[hash] = mono + max(left, 0)
	}
	for _, w := range s.Watches {
		w.mono = mono - min(max(now.Sub(w.Since), 0), window)
	}
}

func (s *state) save(l rootdir.Layout) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode updater state: %w", err)
	}
	if err := os.MkdirAll(l.TUF(), 0o700); err != nil {
		return fmt.Errorf("create %s: %w (check that the disk is writable)", l.TUF(), err)
	}
	if err := safefile.WriteAtomic(statePath(l), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write updater state: %w", err)
	}
	return nil
}

// blocked reports whether hash is resting after repeated failures, and
// until when (wall time, for logs). The rest is measured on the monotonic
// clock (mono is clock.Clock.Mono).
func (s *state) blocked(hash string, now time.Time, mono time.Duration) (bool, time.Time) {
	f := s.Failures[hash]
	if f != nil && f.Bad {
		return true, time.Time{}
	}
	if f == nil || f.Until.IsZero() {
		return false, time.Time{}
	}
	if end, ok := s.restEnds[hash]; ok && mono < end {
		return true, now.Add(end - mono)
	}
	// Cooldown over: the target gets a fresh set of tries.
	delete(s.Failures, hash)
	delete(s.restEnds, hash)
	return false, time.Time{}
}

// fail counts a failure of hash at wall time now and monotonic reading
// mono. bad marks a release that was rolled back: it is never retried.
// Other failures of the release itself (its exec check, its archive) get
// 3 tries, then 24 h of rest, then a fresh set of tries.
func (s *state) fail(target, hash, reason string, now time.Time, mono time.Duration, bad bool) *failure {
	f := s.Failures[hash]
	if f == nil {
		f = &failure{Target: target}
		s.Failures[hash] = f
	}
	f.Count++
	f.Last = now
	f.Reason = reason
	if bad {
		f.Bad = true
	}
	if f.Count >= maxTries {
		f.Until = now.Add(cooldown)
		s.restEnds[hash] = mono + cooldown
	}
	return f
}
