package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Software installs, as Fleet's agent does them (orbit/pkg/installer): the
// details, the pre-install query through osqueryd, the package download,
// the install script with INSTALLER_PATH, the post-install script and, when
// it fails, the uninstall script; then the result. Each script runs through
// runScriptFile, as scripts from Fleet do. See journal.go for how an
// install survives orbit's own death.

// Querier runs a query in the supervised osqueryd (osquery.Client through
// its extension socket implements it).
type Querier interface {
	Query(ctx context.Context, sql string) ([]map[string]string, error)
}

// Defaults of the software install options of Config.
const (
	// DefaultInstallTimeout bounds each install, post-install and
	// uninstall script (Fleet: MaxHostSoftwareInstallExecutionTime, 1 h).
	DefaultInstallTimeout = time.Hour
	// DefaultMaxPackageBytes is the largest package accepted (Fleet's
	// server accepts installers up to 10 GiB by default).
	DefaultMaxPackageBytes = 10 << 30
	// DefaultDownloadTimeout bounds one package download.
	DefaultDownloadTimeout = time.Hour
)

// Outputs Fleet's agent reports, word for word.
const (
	rollbackHeader    = "\nAttempting rollback by running uninstall script...\n"
	uninstallExitLine = "Uninstall script exit code: %d\n"
)

// installScriptNames are the files the scripts get next to the package
// (Fleet's names).
var installScriptNames = []string{"install-script" + scriptExt, "post-install-script" + scriptExt, "rollback-script" + scriptExt}

// installOutcome is how handling one install id ended.
type installOutcome int

const (
	installRetryLater installOutcome = iota // nothing reported; the next poll tries again
	installDelivered                        // the server has the result
	installKept                             // the result is in the journal, not delivered yet
)

// install handles one install id from the config.
func (w *work) install(ctx context.Context, id string) installOutcome {
	a := w.a
	if w.doneInstalls.has[id] {
		return installDelivered
	}
	if e := w.journal.get(id); e != nil {
		// Its result is waiting for delivery: flushResults retries it.
		return installKept
	}
	log := a.log.With().Str("install_id", id).Logger()
	details, err := a.client.GetInstallDetails(ctx, id)
	a.noteAuth(err)
	if err != nil {
		// Fleet's agent reports nothing either: there is no result to
		// give for an install it knows nothing about.
		log.Warn().Err(err).Msg("cannot fetch software install details, will retry")
		return installRetryLater
	}
	res := InstallResult{InstallUUID: id}
	log = log.With().Uint("installer_id", details.InstallerID).Logger()
	log.Info().Bool("pre_install_condition", details.PreInstallCondition != "").Msg("software install from fleet")

	if details.PreInstallCondition != "" {
		out, met, err := w.preInstallCheck(ctx, details.PreInstallCondition)
		if err != nil && osqueryUnreachable(err) {
			w.logOsquery(err)
			return installRetryLater
		}
		res.PreInstallConditionOutput = &out
		switch {
		case err != nil:
			// Fleet's agent reports an empty output: Fleet's status for
			// it is failed ("Query didn't return result or failed").
			log.Warn().Err(err).Msg("pre-install query failed, reporting the install as failed")
			return w.deliver(ctx, res, log)
		case !met:
			log.Info().Msg("pre-install condition not met, nothing installed")
			return w.deliver(ctx, res, log)
		}
	}
	if !a.cfg.ScriptsEnabled {
		code := ScriptsDisabledExitCode
		res.InstallScriptExitCode, res.InstallScriptOutput = &code, ptr(ScriptsDisabledOutput)
		log.Info().Msg("script execution disabled (--enable-scripts), reporting the install to fleet")
		return w.deliver(ctx, res, log)
	}

	dir, err := w.installDir()
	if err != nil {
		log.Error().Err(err).Msg("cannot create the install's directory")
		return w.failBeforeRun(ctx, res, "Installer download failed: "+err.Error(), log)
	}
	defer os.RemoveAll(dir)
	pkg, err := a.client.DownloadPackage(ctx, details.InstallerID, dir, DownloadOptions{
		MaxBytes: a.cfg.MaxPackageBytes, Timeout: a.cfg.DownloadTimeout, SHA256: details.SHA256, Reserved: installScriptNames,
	})
	a.noteAuth(err)
	if err != nil {
		if ctx.Err() != nil {
			return installRetryLater // shutting down: nothing ran
		}
		// As Fleet's newest agent: a failed download fails the install
		// (older ones left it pending, retried forever).
		log.Warn().Err(err).Msg("software package download failed, reporting the install as failed")
		return w.failBeforeRun(ctx, res, "Installer download failed: "+err.Error(), log)
	}

	// From here on the host changes: journal first, so that orbit's death
	// can never lead to a second run.
	entry := journalEntry{InstallUUID: id, State: journalRunning, Step: stepInstall, StartedAt: a.clock.Now().UTC(), Result: res}
	if err := w.journal.put(entry); err != nil {
		log.Error().Err(err).Msg("cannot record the install in the journal, not running it")
		return w.failBeforeRun(ctx, res, "orbit could not record the install in its journal, so it did not run it: "+err.Error(), log)
	}
	env := []string{"INSTALLER_PATH=" + pkg}
	run := func(name, contents string) scriptOutcome {
		return runScriptFile(ctx, scriptRun{dir: dir, name: name, contents: contents, timeout: a.cfg.InstallTimeout, env: env})
	}
	out := run(installScriptNames[0], details.InstallScript)
	if ctx.Err() != nil {
		return installKept // shutdown: reported as interrupted at the next start
	}
	res.InstallScriptExitCode, res.InstallScriptOutput = &out.exitCode, &out.output
	log.Info().Int("exit_code", out.exitCode).Msg("install script finished")

	if out.exitCode == 0 && out.execErr == nil && details.PostInstallScript != "" {
		w.step(&entry, stepPostInstall, res, log)
		post := run(installScriptNames[1], details.PostInstallScript)
		if ctx.Err() != nil {
			return installKept
		}
		res.PostInstallScriptExitCode, res.PostInstallScriptOutput = &post.exitCode, &post.output
		log.Info().Int("exit_code", post.exitCode).Msg("post-install script finished")
		if post.exitCode != 0 || post.execErr != nil {
			// Fleet's rollback: the uninstall script's outcome goes into
			// the post-install output; its exit code stays the post's.
			text := post.output + rollbackHeader
			res.PostInstallScriptOutput = &text
			w.step(&entry, stepUninstall, res, log)
			un := scriptOutcome{exitCode: scriptTimeoutExitCode, output: "the server sent no uninstall script: nothing was rolled back\n"}
			if details.UninstallScript != "" {
				un = run(installScriptNames[2], details.UninstallScript)
				if ctx.Err() != nil {
					return installKept
				}
			}
			log.Info().Int("exit_code", un.exitCode).Msg("post-install script failed, uninstall script finished")
			text += fmt.Sprintf(uninstallExitLine, un.exitCode) + un.output
			res.PostInstallScriptOutput = ptr(lastRunes(text, MaxScriptOutputRunes))
		}
	}
	entry.State, entry.Step, entry.Result = journalResult, "", res
	if err := w.journal.put(entry); err != nil {
		// The file still says "running" (so a restart reports the install
		// interrupted, never reruns it); this run keeps the result in
		// memory and delivers it from there.
		log.Error().Err(err).Msg("cannot record the install's result in the journal; keeping it in memory")
		w.journal.entries[id] = &entry
	}
	return w.deliver(ctx, res, log)
}

// step records in the journal that the next step of a running install
// starts, with the steps done so far. A failed write is logged: the entry
// that says "running" is already there, which is what prevents a rerun.
func (w *work) step(e *journalEntry, step string, res InstallResult, log zerolog.Logger) {
	e.Step, e.Result = step, res
	if err := w.journal.put(*e); err != nil {
		log.Warn().Err(err).Str("step", step).Msg("cannot record the install's progress in the journal")
	}
}

// failBeforeRun reports an install that failed before any script ran, with
// Fleet's "install script failed" shape so that Fleet marks it failed.
func (w *work) failBeforeRun(ctx context.Context, res InstallResult, output string, log zerolog.Logger) installOutcome {
	code := scriptTimeoutExitCode
	res.InstallScriptExitCode, res.InstallScriptOutput = &code, ptr(lastRunes(output, MaxScriptOutputRunes))
	return w.deliver(ctx, res, log)
}

// deliver posts a result. A result that reached the journal stays there
// until the server accepted it (flushResults retries it on later polls and
// after a restart); one the server refuses for good is dropped.
func (w *work) deliver(ctx context.Context, res InstallResult, log zerolog.Logger) installOutcome {
	a := w.a
	err := a.client.PostInstallResult(ctx, res)
	a.noteAuth(err)
	switch {
	case err == nil:
		log.Info().Msg("software install result delivered to fleet")
	case refusedForGood(err):
		log.Warn().Err(err).Msg("fleet refused the software install result, dropping it")
	default:
		if w.journal.get(res.InstallUUID) == nil {
			// Nothing ran (a pre-install outcome, scripts disabled, a
			// failed download): the next poll simply does it again.
			log.Warn().Err(err).Msg("software install result not delivered, will retry")
			return installRetryLater
		}
		log.Warn().Err(err).Msg("software install result not delivered, kept in the journal for a retry")
		return installKept
	}
	if jerr := w.journal.remove(res.InstallUUID); jerr != nil {
		log.Warn().Err(jerr).Msg("cannot remove the delivered result from the journal")
	}
	w.markInstallDone(res.InstallUUID)
	if err == nil {
		a.pollSoon()
	}
	return installDelivered
}

// flushResults delivers the journal's pending results, oldest first; it
// stops at the first one the server cannot take now.
func (w *work) flushResults(ctx context.Context) {
	for _, id := range w.journal.ids() {
		e := w.journal.get(id)
		if e == nil || e.State != journalResult {
			continue
		}
		log := w.a.log.With().Str("install_id", id).Logger()
		if w.deliver(ctx, e.Result, log) != installDelivered {
			return
		}
	}
}

// recoverJournal reports installs that were running when orbit died as
// interrupted (never running them again), and removes the working
// directories such deaths left behind.
func (w *work) recoverJournal() {
	for _, id := range w.journal.ids() {
		e := *w.journal.get(id)
		if e.State != journalRunning {
			continue
		}
		w.a.log.Warn().Str("install_id", id).Str("step", e.Step).
			Msg("a software install was running when orbit stopped; reporting it as failed instead of running it again")
		e.State, e.Result = journalResult, interrupted(e)
		e.Step = ""
		if err := w.journal.put(e); err != nil {
			w.a.log.Error().Err(err).Str("install_id", id).Msg("cannot record the interrupted install in the journal")
		}
	}
	base := w.a.cfg.Layout.SoftwareInstalls()
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, en := range entries {
		// Any directory here belongs to an install that is over: a
		// script orphaned by orbit's death loses its working directory
		// (an open package file stays readable to it on Unix).
		if err := os.RemoveAll(filepath.Join(base, en.Name())); err != nil {
			w.a.log.Warn().Err(err).Str("path", en.Name()).Msg("cannot remove a leftover software install directory")
		}
	}
}

// installDir makes the install's private working directory under the
// root's software-installs directory (0700, created per install).
func (w *work) installDir() (string, error) {
	base := w.a.cfg.Layout.SoftwareInstalls()
	if err := os.Mkdir(base, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create %s: %w", base, err)
	}
	st, err := os.Lstat(base)
	if err != nil {
		return "", fmt.Errorf("check %s: %w", base, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory: remove it so orbit can recreate it", base)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o700 {
		// Under the root-owned root directory only root could have
		// changed it; put it back rather than work in a readable place.
		if err := os.Chmod(base, 0o700); err != nil {
			return "", fmt.Errorf("set mode of %s: %w", base, err)
		}
	}
	dir, err := os.MkdirTemp(base, "install-")
	if err != nil {
		return "", fmt.Errorf("create install directory: %w", err)
	}
	return dir, nil
}

// preInstallCheck runs the pre-install query: rows mean the condition is
// met and their JSON is the output; no rows mean not met, output "".
func (w *work) preInstallCheck(ctx context.Context, sql string) (output string, met bool, err error) {
	if w.a.cfg.Querier == nil {
		return "", false, errNoQuerier
	}
	rows, err := w.a.cfg.Querier.Query(ctx, sql)
	if err != nil {
		return "", false, fmt.Errorf("pre-install query: %w", err)
	}
	if len(rows) == 0 {
		return "", false, nil
	}
	data, err := json.Marshal(rows)
	if err != nil {
		return "", false, fmt.Errorf("encode pre-install query rows: %w", err)
	}
	return lastRunes(string(data), MaxScriptOutputRunes), true, nil
}

var errNoQuerier = fmt.Errorf("no osqueryd to run the pre-install query: %w", fs.ErrNotExist)

// osqueryUnreachable tells osqueryd not (yet) listening on its extension
// socket from a query it answered with a failure: like Fleet's agent, which
// only processes installs once connected to osqueryd, orbit waits for it
// instead of failing the install.
func osqueryUnreachable(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
}

// logOsquery logs osqueryd's absence at a limited rate.
func (w *work) logOsquery(err error) {
	now := w.a.clock.Now()
	if w.lastOsqueryLog.IsZero() || now.Sub(w.lastOsqueryLog) >= quietLogEvery {
		w.lastOsqueryLog = now
		w.a.log.Warn().Err(err).Msg("osqueryd is not reachable for a pre-install query yet; the install waits for it")
	}
}

// refusedForGood reports a 4xx answer other than 401 (the node key, which a
// re-enroll fixes), 408 and 429: a result the server will never take.
func refusedForGood(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.StatusCode {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return se.StatusCode >= 400 && se.StatusCode < 500
}
