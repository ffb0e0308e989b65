package updater

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

// StableOrbitPath is the path the service runs: <root>/bin/orbit/orbit
// (orbit.exe on Windows).
func StableOrbitPath(l rootdir.Layout) string {
	return filepath.Join(l.Root, "bin", string(component.Orbit), stableOrbitName)
}

// InstallStableOrbit points the stable path at target atomically: a
// relative symlink on Unix, a copy on Windows (the running copy is renamed
// aside). Packages call it at install time; the updater after a self-update.
func InstallStableOrbit(l rootdir.Layout, target string) error {
	return pointStable(StableOrbitPath(l), target)
}

// BootResult says what CheckBoot did.
type BootResult struct {
	// RolledBack means the new orbit failed to become healthy too often and
	// the previous one was restored: exec ExecPath (or exit on Windows so
	// the service manager starts it).
	RolledBack bool
	ExecPath   string
	Boots      int // boots counted for a pending self-update
}

// CheckBoot must be called first thing when orbit starts, before New. If a
// self-update is pending it counts this boot; after maxBoots boots without
// MarkHealthy (0 means 3), it restores the previous orbit, rests the bad
// hash for 24 h and asks the caller to re-exec.
func CheckBoot(l rootdir.Layout, maxBoots int, logger zerolog.Logger) (BootResult, error) {
	if maxBoots <= 0 {
		maxBoots = 3
	}
	res := BootResult{ExecPath: StableOrbitPath(l)}
	st, err := loadState(l)
	if err != nil {
		return res, fmt.Errorf("check pending self-update: %w", err)
	}
	if st.SelfUpdate == nil {
		return res, nil
	}
	st.SelfUpdate.Boots++
	res.Boots = st.SelfUpdate.Boots
	if st.SelfUpdate.Boots <= maxBoots {
		if err := st.save(l); err != nil {
			return res, err
		}
		return res, nil
	}
	name := st.SelfUpdate.Component
	if name == "" {
		name = component.Orbit
	}
	rec := st.Components[name]
	restored, err := restorePrevious(rec)
	if err != nil {
		// Nothing to go back to: keep running what we have.
		st.SelfUpdate = nil
		_ = st.save(l)
		return res, fmt.Errorf("new orbit did not become healthy and cannot be rolled back: %w", err)
	}
	if err := pointStable(StableOrbitPath(l), restored.Path); err != nil {
		return res, fmt.Errorf("point the service back at the previous orbit: %w", err)
	}
	st.fail(rec.Target, rec.Hash, "orbit did not become healthy after update", time.Now(), 0, true)
	st.Components[name] = restored
	st.SelfUpdate = nil
	if err := st.save(l); err != nil {
		return res, err
	}
	logger.Warn().Str("bad_version", rec.Version).Str("bad_hash", rec.Hash).Str("version", restored.Version).
		Int("boots", res.Boots).Msg("new orbit did not become healthy, restored the previous one")
	res.RolledBack = true
	return res, nil
}

// MarkHealthy clears a pending orbit self-update: this orbit runs fine.
// Run calls it after SelfHealthyAfter; calling it again is harmless.
func (u *Updater) MarkHealthy() error {
	u.checkMu.Lock()
	defer u.checkMu.Unlock()
	u.stMu.Lock()
	su := u.st.SelfUpdate
	u.stMu.Unlock()
	if su == nil {
		return nil
	}
	u.commit(func(s *state) { s.SelfUpdate = nil })
	u.log.Info().Str("version", su.Version).Int("boots", su.Boots).Msg("updated orbit is healthy")
	name := su.Component
	if name == "" {
		name = component.Orbit
	}
	u.event(status.UpdateEvent{Component: string(name), Action: "healthy", Version: su.Version, Hash: su.Hash})
	return nil
}
