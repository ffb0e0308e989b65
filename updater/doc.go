// Package updater keeps orbit's components (orbit itself, osqueryd, the tray
// app) current from a signed TUF repository (go-tuf v2), and rolls a bad
// release back.
//
// # Files
//
//	<root>/tuf/                  trusted metadata (root/timestamp/snapshot/targets.json), 0700
//	<root>/tuf/updater-state.json what is installed, failure counts, rollback
//	                             watches and the orbit self-update marker
//	<root>/staging/              downloads in progress (never executed unless verified)
//	<root>/bin/<c>/<p>/<ch>/<file>          installed plain target
//	<root>/bin/<c>/<p>/<ch>/<file>.previous the version it replaced
//	<root>/bin/<c>/<p>/<ch>/<base>.<hash12>/ an extracted .tar.gz target; the
//	                             previous one's directory is kept, older ones removed
//	<root>/bin/orbit/orbit       stable path the service runs: a relative symlink
//	                             to the installed channel file (a copy orbit.exe on Windows)
//
// A plain target is replaced by rename(2) of a verified, exec-checked file, so
// a crash at any moment leaves the old or the new file, never a partial one.
// Archives are extracted into a new directory and the state file (written
// atomically) is the commit point that makes ExecPath point at it.
//
// # Checks
//
// Each check builds a new go-tuf Updater (Refresh works once per Updater),
// seeded with the cached root (it may have rotated) unless the bundled root
// has a higher version. A no-change check costs two small requests: the
// probe for root N+1 (404) and timestamp.json. Targets are streamed into
// staging by this package, never read beyond the signed length + 1, and
// checked against the signed hashes while they arrive.
//
// # Rollback
//
// After a component other than orbit is replaced, it is watched for
// Config.RollbackWindow: if Health reports it crash-looping, the previous
// version is put back, restarted, and the bad target hash is put on a 24 h
// cooldown. Other failures (download, verification, exec check, install) count
// against the target hash: 3 failures, then 24 h of rest. Counts persist in
// the state file, so a restart does not reset them.
//
// Orbit cannot watch itself across its own restart. Before handing over to
// the new binary it writes a pending marker; the new orbit calls CheckBoot
// first thing at start (counting boots) and MarkHealthy once it has run for
// Config.SelfHealthyAfter (Run does that on its own). A binary that boots
// more than MaxSelfBoots times without becoming healthy is replaced by the
// previous one at the next CheckBoot. Limits: a new orbit that crashes before
// it reaches CheckBoot, or whose CheckBoot is itself broken, is not rolled
// back by this mechanism; the pre-install `orbit version` exec check is the
// guard against such binaries.
package updater
