package fleet

import (
	"context"
	"time"
)

// workJob is the queued work one config listed.
type workJob struct {
	scripts  []string
	installs []string
	timeout  time.Duration // for scripts
}

// work is the state of the work goroutine: what it finished (Fleet lists
// an item until it has stored the result, so an id listed again must not
// run again), script results it could not post, and the install journal.
type work struct {
	a              *Agent
	done           doneSet
	doneInstalls   doneSet
	unposted       map[string]ScriptResult
	journal        *journal
	lastOsqueryLog time.Time
}

// worker runs Fleet's queued work, one item at a time and in the order
// listed, off the poll loop so that a long script or install does not stop
// config polling. Fleet activates one item of a host's queue at a time, so
// after each result it asks the poll loop for an early poll: the server
// lists the next item in that answer.
func (a *Agent) worker(ctx context.Context) {
	w := &work{a: a, unposted: map[string]ScriptResult{}}
	j, err := openJournal(a.cfg.Layout.SoftwareInstallJournal())
	if err != nil {
		a.log.Error().Err(err).Msg("software install journal")
	}
	w.journal = j
	w.recoverJournal()
	for {
		var job workJob
		select {
		case <-ctx.Done():
			return
		case job = <-a.workJobs:
		}
		w.flushResults(ctx)
		for _, id := range job.installs {
			if ctx.Err() != nil || w.install(ctx, id) != installDelivered {
				// Keep the server's order: a later item waits for this one.
				break
			}
		}
		w.scripts(ctx, job)
	}
}

// doneSet remembers the most recent ids, bounded.
type doneSet struct {
	has   map[string]bool
	order []string
}

func (d *doneSet) add(id string) {
	if d.has == nil {
		d.has = map[string]bool{}
	}
	if d.has[id] {
		return
	}
	d.has[id] = true
	d.order = append(d.order, id)
	if len(d.order) > maxRememberedScripts {
		delete(d.has, d.order[0])
		d.order = d.order[1:]
	}
}

func (w *work) markDone(id string) {
	delete(w.unposted, id)
	w.done.add(id)
}

func (w *work) markInstallDone(id string) { w.doneInstalls.add(id) }

// postScript reports a script's result; one that cannot be posted is kept
// to be posted again instead of running the script again.
func (w *work) postScript(ctx context.Context, r ScriptResult) bool {
	a := w.a
	err := a.client.PostScriptResult(ctx, r)
	a.noteAuth(err)
	if err != nil {
		a.log.Warn().Err(err).Str("execution_id", r.ExecutionID).Msg("script result not posted, will retry")
		w.unposted[r.ExecutionID] = r
		return false
	}
	w.markDone(r.ExecutionID)
	a.pollSoon()
	return true
}

// scripts runs a job's pending scripts in order.
func (w *work) scripts(ctx context.Context, job workJob) {
	a := w.a
	for _, id := range job.scripts {
		if ctx.Err() != nil {
			return
		}
		if w.done.has[id] {
			continue
		}
		if r, ok := w.unposted[id]; ok {
			if !w.postScript(ctx, r) {
				return
			}
			continue
		}
		if !a.cfg.ScriptsEnabled {
			a.log.Info().Str("execution_id", id).Msg("script execution disabled, reporting it to fleet")
			if !w.postScript(ctx, ScriptResult{ExecutionID: id, Output: ScriptsDisabledOutput, ExitCode: ScriptsDisabledExitCode}) {
				return
			}
			continue
		}
		script, err := a.client.GetScript(ctx, id)
		a.noteAuth(err)
		if err != nil {
			// Stop here to keep the server's order, as Fleet's orbit does.
			a.log.Warn().Err(err).Str("execution_id", id).Msg("cannot fetch script, will retry")
			return
		}
		if script.ExitCode != nil {
			w.markDone(id) // the server already has a result
			continue
		}
		a.log.Info().Str("execution_id", id).Dur("timeout_ms", job.timeout).Msg("running script from fleet")
		out := runScript(ctx, a.cfg.ScriptsDir, script.ScriptContents, job.timeout)
		if ctx.Err() != nil {
			return // interrupted by shutdown: not a result to report
		}
		a.log.Info().Str("execution_id", id).Int("exit_code", out.exitCode).Msg("script finished")
		if !w.postScript(ctx, ScriptResult{
			HostID:      script.HostID,
			ExecutionID: id,
			Output:      out.output,
			Runtime:     int(out.runtime.Seconds()),
			ExitCode:    out.exitCode,
			Timeout:     int(job.timeout.Seconds()),
		}) {
			return
		}
	}
}
