package fleettest

import (
	"errors"
	"time"
)

// DebugLogging is a host's debug logging as Fleet's server sends it: the
// top-level debug_logging of the config answer (fleet.OrbitConfig), set by
// an admin with POST /api/v1/fleet/hosts/{id}/debug-logging for a period
// (orbit_debug_until) or by the team's agent options.
type DebugLogging struct {
	// Value is what the answer carries; nil omits the field, which is
	// Fleet's answer when no debug period runs for the host.
	Value *bool
	// Duration ends a true Value: once it has passed (on Config.Clock,
	// from SetDebugLogging), the field is omitted, as Fleet enforces the
	// period itself rather than sending false. 0: no end.
	Duration time.Duration
}

// debugState is a host's DebugLogging with its end.
type debugState struct {
	value bool
	until time.Time // zero: no end
}

// SetDebugLogging sets the debug_logging of a host's config answers.
func (s *Server) SetDebugLogging(hardwareUUID string, d DebugLogging) error {
	if hardwareUUID == "" {
		return errors.New("fleettest: SetDebugLogging needs the host's hardware UUID")
	}
	if d.Duration < 0 {
		return errors.New("fleettest: SetDebugLogging: the duration must not be negative")
	}
	if d.Duration > 0 && (d.Value == nil || !*d.Value) {
		return errors.New("fleettest: SetDebugLogging: a duration ends a period of debug logging: it needs the value true")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Value == nil {
		delete(s.st.debug, hardwareUUID)
		return nil
	}
	st := debugState{value: *d.Value}
	if d.Duration > 0 {
		st.until = s.now().Add(d.Duration)
	}
	s.st.debug[hardwareUUID] = st
	return nil
}

// debugLoggingLocked is the debug_logging to send to a host now (nil:
// omitted). The caller holds s.mu.
func (s *Server) debugLoggingLocked(hardwareUUID string) *bool {
	d, ok := s.st.debug[hardwareUUID]
	if !ok || (!d.until.IsZero() && !s.now().Before(d.until)) {
		return nil
	}
	v := d.value
	return &v
}
