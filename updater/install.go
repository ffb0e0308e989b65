package updater

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/orbitagent/orbit/component"
	"github.com/orbitagent/orbit/internal/capped"
	"github.com/orbitagent/orbit/internal/safefile"
	"github.com/orbitagent/orbit/status"
	"github.com/orbitagent/orbit/updater/extract"
)

// install downloads, verifies, exec-checks and moves a target into bin/,
// then commits it to the state. Any error leaves the old version in place.
func (u *Updater) install(ctx context.Context, stats *netStats, c Component, ti targetInfo, old *installed, consistent bool) (*installed, error) {
	platform := u.platform(c)
	binDir := u.cfg.Layout.BinDir(string(c.Name), platform, c.Channel)
	staged, err := u.download(ctx, stats, u.cfg.Layout.Staging(), ti, consistent)
	if err != nil {
		return nil, err
	}
	defer staged.Close()
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w (check disk space and permissions)", binDir, err)
	}
	rec := &installed{Target: ti.Name, Channel: c.Channel, Platform: platform, Version: ti.Version, Hash: ti.Hash, Length: ti.Length}
	if c.archive() {
		if err := u.installArchive(ctx, c, ti, staged.path, binDir, rec); err != nil {
			return nil, err
		}
		if old != nil {
			p := *old
			p.Previous = nil
			rec.Previous = &p
		}
		if err := u.commitInstall(c, rec, false); err != nil {
			os.RemoveAll(rec.Dir)
			return nil, err
		}
		u.cleanArchives(binDir, c, rec)
		return rec, nil
	}

	// The file was verified against the signed hashes and nobody else can
	// replace it in its directory, so the exec check runs signed code, and
	// the file installed is the one that was checked.
	if err := staged.same(staged.path); err != nil {
		return nil, err
	}
	if out, err := u.execCheck(ctx, c, staged.path); err != nil {
		return nil, fmt.Errorf("exec check of %s %s failed: %w (output: %q)", ti.Name, ti.Version, err, out)
	}
	if err := staged.same(staged.path); err != nil {
		return nil, err
	}
	dst := filepath.Join(binDir, c.FileName)
	// A new orbit with a known-good one to fall back on is installed as a
	// candidate next to its channel file, on trial (see selfupdate.go).
	trial := c.SelfUpdate && old != nil && exists(old.Path)
	if trial {
		dst = candidatePath(dst)
		if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove a stale candidate %s: %w", dst, err)
		}
	}
	kept, err := replaceFile(staged.path, dst, staged.f)
	if err != nil {
		return nil, err
	}
	rec.Path = dst
	switch {
	case trial:
		p := *old
		p.Previous = nil
		rec.Previous = &p
	case old != nil && old.Path == dst && kept:
		p := *old
		p.Path, p.Previous = dst+".previous", nil
		rec.Previous = &p
	case old != nil && old.Path != dst:
		p := *old
		p.Previous = nil
		rec.Previous = &p
	case kept:
		rec.Previous = &installed{Target: ti.Name, Channel: c.Channel, Platform: platform, Path: dst + ".previous"}
	}
	if err := u.commitInstall(c, rec, trial); err != nil {
		// The new file is in place but not recorded; put the old one back so
		// state and disk agree.
		switch {
		case trial:
			os.Remove(dst)
		case kept:
			_ = restoreFile(dst+".previous", dst)
		}
		return nil, err
	}
	return rec, nil
}

// installArchive extracts a verified archive into a new directory next to
// the installed ones and exec-checks the executable inside.
func (u *Updater) installArchive(ctx context.Context, c Component, ti targetInfo, staged, binDir string, rec *installed) error {
	tmp, err := os.MkdirTemp(binDir, ".extract-*")
	if err != nil {
		return fmt.Errorf("create extraction directory in %s: %w (check disk space and permissions)", binDir, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if !isWindows {
		_ = os.Chmod(tmp, 0o755)
	}
	// The archive is verified: what it asks of the filesystem that is
	// refused is the release's fault (a full disk while writing it is
	// still the host's: classify looks at the cause first).
	if err := extract.TarGz(ctx, staged, tmp, extract.Limits{}); err != nil {
		return releaseFault(fmt.Errorf("extract %s: %w", ti.Name, err))
	}
	exe, err := extract.Join(tmp, c.ExecInArchive)
	if err != nil {
		return fmt.Errorf("executable path of %s: %w", c.Name, err)
	}
	if st, err := os.Stat(exe); err != nil || !st.Mode().IsRegular() {
		return releaseFault(fmt.Errorf("archive %s has no executable at %s: check the component's archive layout", ti.Name, c.ExecInArchive))
	}
	if out, err := u.execCheck(ctx, c, exe); err != nil {
		return fmt.Errorf("exec check of %s %s failed: %w (output: %q)", ti.Name, ti.Version, err, out)
	}
	_, hexHash, _ := strings.Cut(ti.Hash, ":")
	final := filepath.Join(binDir, archiveBase(c.FileName)+"."+hexHash[:12])
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("remove stale %s: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("move %s into place: %w", final, err)
	}
	safefile.SyncDir(binDir)
	ok = true
	rec.Dir = final
	rec.Path = filepath.Join(final, filepath.FromSlash(c.ExecInArchive))
	return nil
}

func archiveBase(fileName string) string { return strings.TrimSuffix(fileName, ".tar.gz") }

// cleanArchives removes extracted directories that are neither the current
// nor the previous install, and leftovers of interrupted extractions.
func (u *Updater) cleanArchives(binDir string, c Component, rec *installed) {
	keep := map[string]bool{rec.Dir: true}
	if rec.Previous != nil && rec.Previous.Dir != "" {
		keep[rec.Previous.Dir] = true
	}
	entries, err := os.ReadDir(binDir)
	if err != nil {
		return
	}
	prefix := archiveBase(c.FileName) + "."
	for _, e := range entries {
		p := filepath.Join(binDir, e.Name())
		if !e.IsDir() || keep[p] {
			continue
		}
		if strings.HasPrefix(e.Name(), prefix) || strings.HasPrefix(e.Name(), ".extract-") {
			if err := os.RemoveAll(p); err != nil {
				u.log.Warn().Err(err).Str("path", p).Msg("cannot remove old version")
			}
		}
	}
}

// execCheck runs the binary's version command with a timeout: a binary
// that cannot even print its version is never installed.
func (u *Updater) execCheck(ctx context.Context, c Component, exe string) (string, error) {
	args := c.execCheck()
	ctx, cancel := context.WithTimeout(ctx, u.cfg.ExecTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Dir = filepath.Dir(exe)
		cmd.WaitDelay = 2 * time.Second
		out := &capped.Buffer{Max: 4096}
		cmd.Stdout, cmd.Stderr = out, out
		err := cmd.Run()
		// A process forked elsewhere in orbit while the file was still open
		// for writing holds that descriptor until it execs: the kernel says
		// "text file busy" for a moment (golang.org/issue/22315).
		if errors.Is(err, syscall.ETXTBSY) && attempt < 20 {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
				continue
			}
		}
		// The release's own failures: it ran and failed or hung, or it is
		// no program for this machine. A start that failed otherwise (a
		// noexec mount, no memory for a fork) is the host's.
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = releaseFault(fmt.Errorf("no answer within %s", u.cfg.ExecTimeout))
		case errors.As(err, &ee), isNotExecutable(err):
			err = releaseFault(err)
		}
		return strings.TrimSpace(out.String()), err
	}
}

// evaluateWatchesLocked rolls back components that crash-loop within the
// window after their install; caller holds checkMu.
func (u *Updater) evaluateWatchesLocked(_ context.Context, res *CheckResult) {
	mono := u.cfg.Clock.Mono()
	u.stMu.Lock()
	type item struct {
		name component.Name
		w    watch
	}
	var items []item
	for name, w := range u.st.Watches {
		items = append(items, item{name, *w})
	}
	u.stMu.Unlock()
	for _, it := range items {
		// On the monotonic clock: a wall clock stepped forward must not end
		// the watch early, nor one stepped back make it last for good.
		if mono-it.w.mono >= u.cfg.RollbackWindow {
			u.commit(func(s *state) { delete(s.Watches, it.name) })
			u.log.Info().Str("component", string(it.name)).Msg("new version stayed healthy through the rollback window")
			continue
		}
		if u.cfg.Health == nil || !u.cfg.Health.CrashLooping(it.name) {
			continue
		}
		if err := u.rollbackLocked(it.name, "crash-looping after update"); err != nil {
			u.log.Error().Err(err).Str("component", string(it.name)).Msg("rollback failed")
			continue
		}
		res.RolledBack = append(res.RolledBack, string(it.name))
	}
}

// restorePrevious puts rec.Previous back in place and returns its record.
func restorePrevious(rec *installed) (*installed, error) {
	if rec == nil || rec.Previous == nil {
		return nil, errors.New("no previous version is kept")
	}
	restored := *rec.Previous
	restored.Previous = nil
	if rec.Dir == "" && restored.Dir == "" && restored.Path == rec.Path+".previous" {
		if err := restoreFile(restored.Path, rec.Path); err != nil {
			return nil, err
		}
		restored.Path = rec.Path
	} else if !exists(restored.Path) {
		return nil, fmt.Errorf("previous version %s is gone", restored.Path)
	}
	return &restored, nil
}

// rollbackLocked puts the previous version of a component back, restarts
// it and rests the bad target hash for 24 h.
func (u *Updater) rollbackLocked(name component.Name, reason string) error {
	now := u.cfg.Clock.Now()
	c, _ := u.component(name)
	u.stMu.Lock()
	rec := u.st.Components[name]
	u.stMu.Unlock()
	restored, err := restorePrevious(rec)
	if err != nil {
		u.commit(func(s *state) { delete(s.Watches, name) })
		return fmt.Errorf("roll back %s: %w", name, err)
	}
	if c.SelfUpdate {
		if err := pointStable(StableOrbitPath(u.cfg.Layout), restored.Path); err != nil {
			return err
		}
	}
	u.stMu.Lock()
	u.st.fail(rec.Target, rec.Hash, reason, now, u.cfg.Clock.Mono(), true)
	u.st.Components[name] = restored
	delete(u.st.Watches, name)
	err = u.st.save(u.cfg.Layout)
	u.stMu.Unlock()
	if err != nil {
		return err
	}
	u.log.Warn().Str("component", string(name)).Str("bad_version", rec.Version).Str("bad_hash", rec.Hash).
		Str("version", restored.Version).Str("reason", reason).Msg("rolled back to previous version")
	u.event(status.UpdateEvent{Component: string(name), Action: "rolled_back", Version: rec.Version, Hash: rec.Hash, Message: reason})
	if u.cfg.Status != nil {
		_ = u.cfg.Status.UpdateComponent(string(name), func(sc *status.Component) {
			sc.Version, sc.Channel, sc.Path = restored.Version, restored.Channel, restored.Path
		})
	}
	if !c.SelfUpdate && u.cfg.Restarter != nil {
		u.cfg.Restarter.Restart(name)
	}
	return nil
}
