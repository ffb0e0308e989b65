package updater

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/rootdir"
	"github.com/orbitagent/orbit/status"
)

// How orbit updates itself without trusting the new binary to roll itself
// back:
//
//  1. The service runs the stable path bin/orbit/orbit, which points at the
//     last known-good orbit. Installing a new orbit puts it next to its
//     channel file as a candidate (orbit.candidate) and records it as a
//     pending self-update; the stable path is left alone.
//  2. The running orbit hands over by re-executing the stable path, the
//     known-good orbit. Its CheckBoot (old, trusted code) counts a boot of
//     the candidate and asks to run it in its place (exec on Unix; a child
//     on Windows).
//  3. The candidate's own CheckBoot sees that it is the candidate and counts
//     nothing. After SelfHealthyAfter of running, MarkHealthy promotes it:
//     it becomes the channel file, the stable path points at it, and the
//     pending state is cleared.
//  4. A candidate that dies (at start, before any code of its own can act,
//     or later) is restarted by the service manager through the stable
//     path, that is by the known-good orbit, which counts the next boot.
//     After MaxSelfBoots boots that never became healthy, the known-good
//     orbit marks the candidate's hash bad (it is never tried again),
//     removes it and runs on itself.

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

// candidateMark names an orbit on trial next to its channel file.
const candidateMark = ".candidate"

// candidatePath is where a new orbit waits for its trial next to final,
// the channel file it becomes once healthy: orbit.candidate,
// orbit.candidate.exe.
func candidatePath(final string) string {
	ext := filepath.Ext(final)
	if ext != ".exe" {
		ext = ""
	}
	return strings.TrimSuffix(final, ext) + candidateMark + ext
}

// finalPath is the inverse of candidatePath.
func finalPath(candidate string) string {
	ext := filepath.Ext(candidate)
	if ext != ".exe" {
		ext = ""
	}
	return strings.TrimSuffix(strings.TrimSuffix(candidate, ext), candidateMark) + ext
}

// BootConfig configures CheckBoot. Zero values take the defaults in
// brackets.
type BootConfig struct {
	// MaxBoots is how many boots a candidate gets before it is rolled
	// back [3].
	MaxBoots int
	// Executable is this process's executable [os.Executable()].
	Executable string
	Clock      clock.Clock // [clock.Real()]
	Logger     zerolog.Logger
}

// BootResult says what CheckBoot found and did.
type BootResult struct {
	// RunCandidate is a pending new orbit to run in this one's place: this
	// boot was counted for it.
	RunCandidate string
	// Candidate means this process is the pending new orbit on trial.
	Candidate bool
	// RolledBack means the pending orbit failed MaxBoots boots: its hash
	// is marked bad, it was removed, and this orbit runs on.
	RolledBack bool
	// Boots are the boots counted for the pending orbit.
	Boots int
	// Version and Hash name the pending orbit.
	Version, Hash string
}

// CheckBoot must be called first thing when orbit starts, before New, with
// the root directory locked. It decides whether this orbit runs, or hands
// over to (or rolls back) a pending self-update; see the top of this file.
func CheckBoot(l rootdir.Layout, cfg BootConfig) (BootResult, error) {
	if cfg.MaxBoots <= 0 {
		cfg.MaxBoots = 3
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return BootResult{}, fmt.Errorf("find orbit's own executable: %w", err)
		}
		cfg.Executable = exe
	}
	st, err := loadState(l)
	if err != nil {
		return BootResult{}, fmt.Errorf("check pending self-update: %w", err)
	}
	su := st.SelfUpdate
	if su == nil {
		return BootResult{}, nil
	}
	res := BootResult{Boots: su.Boots, Version: su.Version, Hash: su.Hash}
	log := cfg.Logger.With().Str("candidate", su.Path).Str("candidate_version", su.Version).Logger()
	name := su.Component
	if name == "" {
		name = component.Orbit
	}
	rec := st.Components[name]
	if su.Path == "" || rec == nil || rec.Path != su.Path {
		// Written by an older orbit, which had already pointed the
		// service at the new one: nothing to run on trial.
		st.SelfUpdate = nil
		log.Warn().Msg("dropping a pending self-update without a candidate")
		return res, st.save(l)
	}
	if safefile.SameFile(cfg.Executable, su.Path) {
		res.Candidate = true
		return res, nil
	}
	if !exists(su.Path) {
		return res, finishOrDrop(l, st, name, log)
	}
	if su.Boots < cfg.MaxBoots {
		su.Boots++
		if err := st.save(l); err != nil {
			return res, fmt.Errorf("count a boot of the new orbit: %w", err)
		}
		res.Boots, res.RunCandidate = su.Boots, su.Path
		log.Info().Int("boots", su.Boots).Msg("starting the new orbit on trial")
		return res, nil
	}
	// The candidate had its boots and never became healthy: this orbit,
	// the known-good one, takes over for good.
	if rec.Previous == nil {
		return res, errors.New("pending orbit has no previous version recorded: keeping the running one")
	}
	restored := *rec.Previous
	restored.Previous = nil
	st.fail(rec.Target, rec.Hash, fmt.Sprintf("orbit %s did not become healthy in %d boots", su.Version, su.Boots), cfg.Clock.Now(), cfg.Clock.Mono(), true)
	st.Components[name] = &restored
	st.SelfUpdate = nil
	if err := st.save(l); err != nil {
		return res, fmt.Errorf("record the rollback of the new orbit: %w", err)
	}
	if err := os.Remove(su.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn().Err(err).Msg("cannot remove the rolled-back orbit")
	}
	log.Warn().Str("bad_hash", su.Hash).Int("boots", su.Boots).Str("version", restored.Version).
		Msg("new orbit did not become healthy, keeping the previous one; its hash is never tried again")
	res.RolledBack = true
	return res, nil
}

// finishOrDrop handles a pending orbit whose candidate file is gone: a
// promotion that was interrupted after the rename (the channel file is the
// candidate) is completed; anything else is dropped.
func finishOrDrop(l rootdir.Layout, st *state, name component.Name, log zerolog.Logger) error {
	su, rec := st.SelfUpdate, st.Components[name]
	final := finalPath(su.Path)
	st.SelfUpdate = nil
	if ti, err := hashTarget(rec); err == nil && fileMatches(final, ti) {
		done := *rec
		done.Path = final
		if done.Previous != nil && done.Previous.Path == final {
			done.Previous.Path = final + ".previous"
		}
		st.Components[name] = &done
		if err := pointStable(StableOrbitPath(l), final); err != nil {
			return fmt.Errorf("point the service at the promoted orbit: %w", err)
		}
		log.Info().Msg("finished promoting the new orbit")
		return st.save(l)
	}
	if rec.Previous != nil {
		p := *rec.Previous
		p.Previous = nil
		st.Components[name] = &p
	}
	log.Warn().Msg("the pending new orbit is gone, keeping the running one")
	return st.save(l)
}

// hashTarget rebuilds what fileMatches needs from an install record.
func hashTarget(rec *installed) (targetInfo, error) {
	alg, hexHash, ok := strings.Cut(rec.Hash, ":")
	if !ok {
		return targetInfo{}, fmt.Errorf("install record hash %q is not <alg>:<hex>", rec.Hash)
	}
	h, err := hex.DecodeString(hexHash)
	if err != nil {
		return targetInfo{}, fmt.Errorf("install record hash %q: %w", rec.Hash, err)
	}
	return targetInfo{Name: rec.Target, Length: rec.Length, Hashes: metadata.Hashes{alg: h}, Hash: rec.Hash}, nil
}

// MarkHealthy promotes a pending new orbit once it has run for
// SelfHealthyAfter, when this process is that orbit: it becomes its
// channel file, the stable path points at it, and the pending state is
// cleared. Run calls it; calling it again is harmless.
func (u *Updater) MarkHealthy() error {
	u.checkMu.Lock()
	defer u.checkMu.Unlock()
	u.stMu.Lock()
	var su selfUpdate
	var rec installed
	if u.st.SelfUpdate != nil {
		su = *u.st.SelfUpdate
	}
	name := su.Component
	if name == "" {
		name = component.Orbit
	}
	if r := u.st.Components[name]; r != nil {
		rec = *r
	}
	u.stMu.Unlock()
	if su.Path == "" || rec.Path != su.Path || !safefile.SameFile(u.cfg.Executable, su.Path) {
		return nil // nothing on trial, or not this process
	}
	final := finalPath(su.Path)
	kept, err := replaceFile(su.Path, final, nil)
	if err != nil {
		return fmt.Errorf("promote the new orbit to %s: %w", final, err)
	}
	rec.Path = final
	if rec.Previous != nil && rec.Previous.Path == final {
		p := *rec.Previous
		p.Path = final + ".previous"
		rec.Previous = &p
		if !kept {
			rec.Previous = nil
		}
	}
	// The state is written last: a promotion interrupted before it is
	// finished by the next CheckBoot (the candidate file is gone, its
	// channel file has its hash).
	if err := pointStable(StableOrbitPath(u.cfg.Layout), final); err != nil {
		return fmt.Errorf("point the service at the new orbit: %w", err)
	}
	u.stMu.Lock()
	u.st.Components[name] = &rec
	u.st.SelfUpdate = nil
	err = u.st.save(u.cfg.Layout)
	u.stMu.Unlock()
	if err != nil {
		return fmt.Errorf("record the new orbit as healthy: %w", err)
	}
	u.log.Info().Str("version", su.Version).Int("boots", su.Boots).Str("path", final).Msg("updated orbit is healthy; the service now runs it")
	if u.cfg.Status != nil {
		_ = u.cfg.Status.UpdateComponent(string(name), func(sc *status.Component) { sc.Path = final })
	}
	u.event(status.UpdateEvent{Component: string(name), Action: "healthy", Version: su.Version, Hash: su.Hash})
	return nil
}
