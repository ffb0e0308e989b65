// Package updater keeps orbit's components (orbit itself, osqueryd, the tray
// app) current from a signed TUF repository (go-tuf v2), and rolls a bad
// release back.
//
// # Files
//
//	<root>/tuf/                  trusted metadata (root/timestamp/snapshot/targets.json), 0700
//	<root>/tuf/updater-state.json what is installed, failure counts, rollback
//	                             watches and the orbit on trial
//	<root>/staging/dl-*/         one private directory (0700) per download in progress
//	<root>/bin/<c>/<p>/<ch>/<file>          installed plain target
//	<root>/bin/<c>/<p>/<ch>/<file>.previous the version it replaced
//	<root>/bin/orbit/<p>/<ch>/orbit.candidate a new orbit on trial
//	<root>/bin/<c>/<p>/<ch>/<base>.<hash12>/ an extracted .tar.gz target; the
//	                             previous one's directory is kept, older ones removed
//	<root>/bin/orbit/orbit       stable path the service runs: a relative symlink
//	                             to the known-good orbit (a copy orbit.exe on Windows)
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
// probe for root N+1 (404) and timestamp.json. Each target is then looked
// up in a trusted metadata set of its own, loaded from what the refresh
// verified on disk, so a delegated role is verified against the delegator
// that led to it (go-tuf keeps one role per name per Updater). Targets are
// streamed into a private directory under staging, never read beyond the
// signed length + 1, checked against the signed length and hashes on the
// descriptor of what was written, exec-checked and installed from there;
// staging (and tuf/) must be closed to other users (checkDir, on rootdir.Layout.CheckWritableDir).
//
// # Failures
//
// Only the release's own failure counts against its hash: a verified file
// that fails its exec check, a verified archive that may not be installed,
// a crash loop in its rollback window. A full disk, a permission, the
// network or a server answering wrongly (classify) is retried from 10 s,
// doubling up to the interval, and never rests the release. 3 counted
// failures rest a hash for 24 h; a rolled-back hash is bad for good. Rests
// and windows are measured on the monotonic clock; their persisted wall
// times are capped at their nominal length when read back.
//
// # Rollback
//
// After a component other than orbit is replaced, it is watched for
// Config.RollbackWindow: if Health reports it crash-looping, the previous
// version is put back, restarted, and the bad hash is never tried again.
//
// Orbit cannot watch itself across its own restart, and a new orbit may die
// before any of its code runs, so the old one judges it (selfupdate.go):
// the new orbit is installed as a candidate on trial, the known-good orbit
// the service runs starts it from CheckBoot and counts its boots, and after
// MaxSelfBoots boots that never reached SelfHealthyAfter it marks the hash
// bad and runs on itself. A healthy candidate promotes itself (MarkHealthy)
// and becomes what the service runs. The first orbit install, with no
// known-good orbit recorded, has nothing to fall back on and is run at once.
package updater
