package fleet

import (
	"context"
)

// scriptWorker runs pending scripts one batch at a time, off the poll loop
// so a long script does not stop config polling. It remembers which
// executions it finished, so an id the server lists again (until it has
// stored the result) never runs twice, and keeps results it could not post
// to post them again instead of re-running.
func (a *Agent) scriptWorker(ctx context.Context) {
	done := map[string]bool{}
	var doneOrder []string
	unposted := map[string]ScriptResult{}
	markDone := func(id string) {
		delete(unposted, id)
		if done[id] {
			return
		}
		done[id] = true
		doneOrder = append(doneOrder, id)
		if len(doneOrder) > maxRememberedScripts {
			delete(done, doneOrder[0])
			doneOrder = doneOrder[1:]
		}
	}
	post := func(r ScriptResult) bool {
		err := a.client.PostScriptResult(ctx, r)
		a.noteAuth(err)
		if err != nil {
			a.log.Warn().Err(err).Str("execution_id", r.ExecutionID).Msg("script result not posted, will retry")
			unposted[r.ExecutionID] = r
			return false
		}
		markDone(r.ExecutionID)
		return true
	}
	for {
		var job scriptJob
		select {
		case <-ctx.Done():
			return
		case job = <-a.scriptJobs:
		}
		for _, id := range job.ids {
			if ctx.Err() != nil {
				return
			}
			if done[id] {
				continue
			}
			if r, ok := unposted[id]; ok {
				if !post(r) {
					break
				}
				continue
			}
			if !a.cfg.ScriptsEnabled {
				a.log.Info().Str("execution_id", id).Msg("script execution disabled, reporting it to fleet")
				if !post(ScriptResult{ExecutionID: id, Output: ScriptsDisabledOutput, ExitCode: ScriptsDisabledExitCode}) {
					break
				}
				continue
			}
			script, err := a.client.GetScript(ctx, id)
			a.noteAuth(err)
			if err != nil {
				// Stop here to keep the server's order, as Fleet's orbit does.
				a.log.Warn().Err(err).Str("execution_id", id).Msg("cannot fetch script, will retry")
				break
			}
			if script.ExitCode != nil {
				markDone(id) // the server already has a result
				continue
			}
			a.log.Info().Str("execution_id", id).Dur("timeout_ms", job.timeout).Msg("running script from fleet")
			out := runScript(ctx, a.cfg.ScriptsDir, script.ScriptContents, job.timeout)
			if ctx.Err() != nil {
				return // interrupted by shutdown: not a result to report
			}
			a.log.Info().Str("execution_id", id).Int("exit_code", out.exitCode).Msg("script finished")
			if !post(ScriptResult{
				HostID:      script.HostID,
				ExecutionID: id,
				Output:      out.output,
				Runtime:     int(out.runtime.Seconds()),
				ExitCode:    out.exitCode,
				Timeout:     int(job.timeout.Seconds()),
			}) {
				break
			}
		}
	}
}
