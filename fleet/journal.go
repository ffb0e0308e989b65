package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/orbitagent/orbit/internal/safefile"
)

// The install journal (<root>/software-installs.json, 0600) is what makes a
// software install from Fleet neither lost nor run twice across a crash or
// a restart of orbit:
//
//   - just before the install script runs, the install is recorded as
//     running (with the step and the outcome of the steps before it), and
//     again before each later step;
//   - once the last step ran, the whole result is recorded as pending;
//   - the entry is deleted once the server accepted the result (or refused
//     it for good).
//
// An install found running at start was cut short by orbit's death. It is
// not run again: an install script is not known to be safe to repeat, and
// the first run may even still be going on as an orphan. It is reported
// failed, with an output saying what happened, so Fleet's queue moves on
// and an admin can retry it. Nothing is journaled before the install
// script (details, pre-install query, download): those have no effect on
// the host and are simply done again.
//
// Every change is written with safefile.WriteAtomic (temporary file, fsync,
// rename, directory fsync): after a crash the file is the old or the new
// journal, never a mix.

// Journal entry states.
const (
	journalRunning = "running"
	journalResult  = "result"
)

// Steps of a running install.
const (
	stepInstall     = "install"
	stepPostInstall = "post_install"
	stepUninstall   = "uninstall"
)

// maxJournalEntries bounds the journal: a server that never accepts
// results must not grow it (and the writes) without end.
const maxJournalEntries = 50

// maxJournalBytes bounds the journal file orbit reads back: that many
// results of three outputs each, every rune escaped (\uXXXX) at worst,
// and room for the rest of each entry.
const maxJournalBytes = maxJournalEntries*3*6*MaxScriptOutputRunes + 1<<20

// interruptedOutput is the output reported for the step orbit was running
// when it died.
const interruptedOutput = "orbit stopped (killed or restarted) while this script was running, so its outcome is unknown. " +
	"orbit does not run an install twice: check the host, then retry the install from Fleet."

// journalEntry is one install in the journal.
type journalEntry struct {
	InstallUUID string    `json:"install_uuid"`
	State       string    `json:"state"`
	Step        string    `json:"step,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	// Result holds the steps done so far (running) or the whole result.
	Result InstallResult `json:"result"`
}

type journalFile struct {
	Version  int            `json:"version"`
	Installs []journalEntry `json:"installs"`
}

// journal is the on-disk record; only the agent's work goroutine uses it.
type journal struct {
	path    string
	entries map[string]*journalEntry
}

// openJournal reads the journal. A corrupt file is moved aside (its name
// plus ".corrupt") so that the next write does not erase the evidence, and
// an empty journal is returned with the error to log.
func openJournal(path string) (*journal, error) {
	j := &journal{path: path, entries: map[string]*journalEntry{}}
	data, err := safefile.ReadLimited(path, maxJournalBytes)
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return j, fmt.Errorf("read software install journal %s: %w", path, err)
	}
	var f journalFile
	if err := json.Unmarshal(data, &f); err != nil || f.Version != 1 {
		if err == nil {
			err = fmt.Errorf("unknown version %d", f.Version)
		}
		_ = os.Rename(path, path+".corrupt")
		return j, fmt.Errorf("software install journal %s is unreadable (kept as %s.corrupt, starting a new one): %w", path, path, err)
	}
	for i := range f.Installs {
		e := f.Installs[i]
		if !validID(e.InstallUUID) || (e.State != journalRunning && e.State != journalResult) {
			continue
		}
		e.Result.InstallUUID = e.InstallUUID
		j.entries[e.InstallUUID] = &e
	}
	return j, nil
}

func (j *journal) get(id string) *journalEntry { return j.entries[id] }

func (j *journal) len() int { return len(j.entries) }

// ids returns the entries' install ids, oldest first.
func (j *journal) ids() []string {
	out := make([]string, 0, len(j.entries))
	for id := range j.entries {
		out = append(out, id)
	}
	sort.Slice(out, func(a, b int) bool {
		ea, eb := j.entries[out[a]], j.entries[out[b]]
		if !ea.StartedAt.Equal(eb.StartedAt) {
			return ea.StartedAt.Before(eb.StartedAt)
		}
		return out[a] < out[b]
	})
	return out
}

// put records e (replacing the entry of its install) and writes the file.
// It refuses a new entry when the journal is full: the caller then does
// not run the install.
func (j *journal) put(e journalEntry) error {
	if j.entries[e.InstallUUID] == nil && len(j.entries) >= maxJournalEntries {
		return fmt.Errorf("software install journal is full (%d results Fleet has not accepted yet)", maxJournalEntries)
	}
	prev := j.entries[e.InstallUUID]
	j.entries[e.InstallUUID] = &e
	if err := j.save(); err != nil {
		if prev == nil {
			delete(j.entries, e.InstallUUID)
		} else {
			j.entries[e.InstallUUID] = prev
		}
		return err
	}
	return nil
}

// remove deletes an install's entry.
func (j *journal) remove(id string) error {
	prev := j.entries[id]
	if prev == nil {
		return nil
	}
	delete(j.entries, id)
	if err := j.save(); err != nil {
		j.entries[id] = prev
		return err
	}
	return nil
}

func (j *journal) save() error {
	f := journalFile{Version: 1}
	for _, id := range j.ids() {
		f.Installs = append(f.Installs, *j.entries[id])
	}
	if f.Installs == nil {
		f.Installs = []journalEntry{}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode software install journal: %w", err)
	}
	// 0600: outputs of install scripts may hold what only root should read.
	if err := safefile.WriteAtomic(j.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write software install journal: %w", err)
	}
	return nil
}

// interrupted turns an entry that was running into the result to report:
// the step that was running gets exit code -1 and interruptedOutput.
func interrupted(e journalEntry) InstallResult {
	r := e.Result
	code := scriptTimeoutExitCode
	switch e.Step {
	case stepPostInstall:
		r.PostInstallScriptExitCode = &code
		r.PostInstallScriptOutput = ptr(interruptedOutput)
	case stepUninstall:
		// The post-install script failed and its output (with the
		// rollback header) is already in the result.
		out := ""
		if r.PostInstallScriptOutput != nil {
			out = *r.PostInstallScriptOutput
		}
		r.PostInstallScriptOutput = ptr(out + fmt.Sprintf(uninstallExitLine, code) + interruptedOutput)
	default:
		r.InstallScriptExitCode = &code
		r.InstallScriptOutput = ptr(interruptedOutput)
	}
	return r
}

func ptr[T any](v T) *T { return &v }
