// Package fleet is orbit's side of Fleet's Orbit API: a Client for the wire
// calls (enroll, config, ping, device token, device mapping, scripts,
// software installs, the device API's token check) and an Agent that
// enrolls the host, polls its config, applies osquery startup flags and
// update channels, runs Fleet's queued scripts and software installs (the
// latter journaled, install.go and journal.go), logs the notifications it
// does not act on, and rotates the device token the tray app uses.
//
// Wire facts follow Fleet's public source (client/orbit_client.go,
// server/fleet/orbit.go, server/fleet/scripts.go, orbit/pkg/scripts,
// orbit/pkg/installer, orbit/pkg/token,
// orbit/pkg/update/flag_runner.go). Secrets (enroll secret, node key, device
// token) never reach a log line.
package fleet
