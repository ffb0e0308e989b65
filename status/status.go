// Package status keeps the agent's state file (<root>/state.json): what each
// component is doing, which versions are installed, what the updater did.
// The running agent writes it; `orbit status` reads it, so the CLI needs no
// socket or RPC to report on a running service.
package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/internal/safefile"
)

// Process states, as the process runner reports them in Process.State.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "backoff"
	StateStopping = "stopping"
	StateStopped  = "stopped"
)

// Process is the runtime part of a component's state: what the process
// runner (supervisor.Process) reports after every change.
type Process struct {
	Name  string `json:"name"`
	State string `json:"state"` // one of the State* constants
	// User and Session say whose copy this is, for a program run in each
	// logged-in user's session (the tray app: "desktop/<user>").
	User    string `json:"user,omitempty"`
	Session string `json:"session,omitempty"`
	// PID of the child while running or stopping, else 0.
	PID int `json:"pid,omitempty"`
	// Restarts counts start attempts after the first, failed ones included.
	Restarts int `json:"restarts"`
	// ConsecutiveFailures counts runs (or start attempts) in a row that
	// ended before the backoff's StableAfter.
	ConsecutiveFailures int  `json:"consecutive_failures,omitempty"`
	CrashLoop           bool `json:"crash_loop,omitempty"`
	// LastError describes the last unexpected exit or failed start; it stays
	// after recovery, as history.
	LastError string `json:"last_error,omitempty"`
	// LastExitCode of the last child: -1 if ended by a signal or never started.
	LastExitCode int       `json:"last_exit_code,omitempty"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	// NextStartAt is set while in backoff.
	NextStartAt time.Time `json:"next_start_at,omitzero"`
}

// Component is one supervised program's state: the runner's part, and
// what is installed (from the updater, or the running binary's version).
type Component struct {
	Process
	Version string `json:"version,omitempty"`
	Channel string `json:"channel,omitempty"`
	Path    string `json:"path,omitempty"`
}

// UpdateEvent records one thing the updater did to a component.
type UpdateEvent struct {
	Time      time.Time `json:"time"`
	Component string    `json:"component"`
	Action    string    `json:"action"` // installed, rolled_back, failed, ...
	Version   string    `json:"version,omitempty"`
	Hash      string    `json:"hash,omitempty"`
	Message   string    `json:"message,omitempty"`
}

// Snapshot is the whole state file.
type Snapshot struct {
	OrbitPID     int                  `json:"orbit_pid"`
	OrbitVersion string               `json:"orbit_version"`
	StartedAt    time.Time            `json:"started_at"`
	UpdatedAt    time.Time            `json:"updated_at"`
	Components   map[string]Component `json:"components"`
	// Updates keeps the most recent updater events, newest last.
	Updates []UpdateEvent `json:"updates,omitempty"`
	// Fleet holds the Fleet client's view: server URL, enrollment, My device URL.
	Fleet *Fleet `json:"fleet,omitempty"`
}

// Fleet is the Fleet connection as shown by `orbit status`. The URL embeds
// the device token, which is meant for the logged-in user (it is in the
// world-readable identifier file too), so it may be shown but never logged.
type Fleet struct {
	URL          string    `json:"url"`
	Enrolled     bool      `json:"enrolled"`
	LastConfigAt time.Time `json:"last_config_at,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	MyDeviceURL  string    `json:"my_device_url,omitempty"`
	// EnrollRefused says why the server refuses to enroll this host while
	// orbit keeps trying (EnrollRefused* values), for `orbit status` and
	// the tray app; "" when it is not refused.
	EnrollRefused string `json:"enroll_refused,omitempty"`
}

// Values of Fleet.EnrollRefused.
const (
	// EnrollRefusedEndUserAuth: the host's team requires the end user to
	// sign in first (Fleet's END_USER_AUTH_REQUIRED), which orbit does not
	// implement; orbit retries slowly.
	EnrollRefusedEndUserAuth = "end_user_auth_required"
	// EnrollRefusedNoEndpoint: the server has no Orbit enroll endpoint
	// (404); orbit stopped trying until it is restarted.
	EnrollRefusedNoEndpoint = "enroll_endpoint_not_found"
)

// SortedComponents returns the components ordered by name, for stable output.
func (s Snapshot) SortedComponents() []Component {
	out := make([]Component, 0, len(s.Components))
	for _, c := range s.Components {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

const maxUpdateEvents = 50

// Store holds the snapshot in memory and writes it atomically on change.
type Store struct {
	path  string
	clock clock.Clock

	mu   sync.Mutex
	snap Snapshot
}

// NewStore starts a fresh snapshot for this run of the agent. Update history
// from an earlier run is kept, so a rollback stays visible after a restart.
// clk stamps the snapshot; nil is the real clock.
func NewStore(path, orbitVersion string, clk clock.Clock) *Store {
	if clk == nil {
		clk = clock.Real()
	}
	s := &Store{path: path, clock: clk}
	s.snap = Snapshot{
		OrbitPID:     os.Getpid(),
		OrbitVersion: orbitVersion,
		StartedAt:    clk.Now().UTC(),
		Components:   map[string]Component{},
	}
	if old, err := Read(path); err == nil {
		s.snap.Updates = old.Updates
	}
	return s
}

// UpdateComponent edits a component in place (creating it if needed).
func (s *Store) UpdateComponent(name string, fn func(*Component)) error {
	return s.update(func(snap *Snapshot) {
		c := snap.Components[name]
		c.Name = name
		fn(&c)
		snap.Components[name] = c
	})
}

// RemoveComponent drops a component (one that no longer exists, such as
// the tray app of a user who logged out).
func (s *Store) RemoveComponent(name string) error {
	return s.update(func(snap *Snapshot) { delete(snap.Components, name) })
}

// AddUpdateEvent appends an updater event, keeping the newest ones.
func (s *Store) AddUpdateEvent(ev UpdateEvent) error {
	if ev.Time.IsZero() {
		ev.Time = s.clock.Now().UTC()
	}
	return s.update(func(snap *Snapshot) {
		snap.Updates = append(snap.Updates, ev)
		if n := len(snap.Updates); n > maxUpdateEvents {
			snap.Updates = append([]UpdateEvent(nil), snap.Updates[n-maxUpdateEvents:]...)
		}
	})
}

// SetFleet replaces the Fleet section.
func (s *Store) SetFleet(f Fleet) error {
	return s.update(func(snap *Snapshot) { snap.Fleet = &f })
}

// Snapshot returns a copy of the current state.
func (s *Store) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap.clone()
}

func (s Snapshot) clone() Snapshot {
	c := s
	c.Components = make(map[string]Component, len(s.Components))
	for k, v := range s.Components {
		c.Components[k] = v
	}
	c.Updates = append([]UpdateEvent(nil), s.Updates...)
	if s.Fleet != nil {
		f := *s.Fleet
		c.Fleet = &f
	}
	return c
}

func (s *Store) update(fn func(*Snapshot)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.snap)
	s.snap.UpdatedAt = s.clock.Now().UTC()
	data, err := json.MarshalIndent(s.snap, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	// 0644: `orbit status` may be run by any user to see the agent's health.
	if err := safefile.WriteAtomic(s.path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return nil
}

// ErrNoState means the agent has not written a state file yet.
var ErrNoState = errors.New("no state file: orbit has not run with this root directory yet")

// Read loads a state file written by a running (or past) agent.
func Read(path string) (Snapshot, error) {
	data, err := safefile.ReadLimited(path, safefile.MaxState)
	if errors.Is(err, os.ErrNotExist) {
		return Snapshot{}, fmt.Errorf("%s: %w", path, ErrNoState)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("read state file: %w", err)
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return Snapshot{}, fmt.Errorf("state file %s is corrupt: %w", path, err)
	}
	if s.Components == nil {
		s.Components = map[string]Component{}
	}
	return s, nil
}
