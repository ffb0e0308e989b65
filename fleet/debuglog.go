package fleet

// LevelSetter switches orbit's log level between info and debug
// (internal/loglevel.Level is orbit's). SetDebug reports whether the level
// in effect changed: an orbit started with --debug stays at debug.
type LevelSetter interface {
	SetDebug(on bool) (changed bool)
}

// applyDebugLogging applies the config's debug_logging as Fleet's agent
// does (orbit/pkg/update/debug_log_runner.go): true switches orbit to
// debug, false or absent back to info, and --debug is a floor the server
// cannot lower. Absent counts as false because Fleet's server omits the
// field whenever no debug period runs for the host, also right after one
// ended: Fleet enforces the period itself (orbit_debug_until), so its end
// reaches the agent only as the field's absence. A server that never sends
// the field leaves the level where it started.
//
// Only a live answer is applied, never the cached config: after a restart
// orbit logs at its --debug level until Fleet answers, as Fleet's agent
// (which keeps its config in memory only), so a period that ended while
// orbit was down cannot outlive it.
func (a *Agent) applyDebugLogging(cfg *OrbitConfig) {
	if a.cfg.LogLevel == nil {
		return
	}
	on := cfg.DebugLogging != nil && *cfg.DebugLogging
	if !a.cfg.LogLevel.SetDebug(on) {
		return
	}
	sent := "absent"
	if cfg.DebugLogging != nil {
		sent = "false"
		if *cfg.DebugLogging {
			sent = "true"
		}
	}
	from, to := "debug", "info"
	if on {
		from, to = "info", "debug"
	}
	a.log.Info().Str("from", from).Str("to", to).Str("debug_logging", sent).Msg("orbit log level changed by fleet")
}
