#!/usr/bin/env bash
# make demo: the product's story, told by running it on this machine. Each
# step says what happens, shows the command a user would type, and checks
# the evidence; a missing piece of evidence stops the demo (non-zero exit).
#
#  1. build                      8. a new osqueryd release; a broken one rolled back
#  2. a release owner publishes   9. Fleet queues a software install
#  3. the Fleet (test) server    10. the tray app shows the failing policies
#  4. an admin builds a deb      11. a killed osqueryd, a stopped orbit
#  5. orbit runs from its tree   12. standalone mode with local packs
#  6. a live query, orbit_info   13. nothing left running
#  7. startup flags from Fleet
#
# Everything runs on 127.0.0.1 from a scratch dir /tmp/orbit-demo.XXXXXX
# (kept, its path printed at the end). Every process the demo starts runs
# from there, in a process group of its own: the EXIT trap stops them on
# success, on failure and on Ctrl-C, and then kills anything still running
# from the scratch dir.
#
# Needs Go; dpkg-deb and setpriv (Debian has both by default); dbus-daemon
# for the tray step (installed with apt-get when root; without root that
# step is skipped, as orbit starts the tray as the logged-in user).
set -eEuo pipefail
cd "$(dirname "$0")/.."
repo_dir=$PWD

# Each run keeps its scratch dir to look at (about 250 MB) and removes
# the one the run before it kept, so runs do not pile up in /tmp.
last_file="$repo_dir/build/demo-last-dir"
if [ -f "$last_file" ]; then
  prev=$(cat "$last_file")
  case "$prev" in
    /tmp/orbit-demo.??????) [ -d "$prev" ] && [ -O "$prev" ] && rm -rf -- "$prev" ;;
  esac
fi
work="$(mktemp -d /tmp/orbit-demo.XXXXXX)"
mkdir -p "$repo_dir/build"
printf '%s\n' "$work" >"$last_file"
# The tray app runs as the logged-in user and must reach its files in
# here (the tray binary, the device token, the CA): traverse, not list.
chmod 0711 "$work"
bin="$work/bin"
release="$work/release"
tuf_dir="$work/tuf"
mkdir -p "$bin" "$release"
t0=$SECONDS
t_built=""
bg_pids=()
result=FAILED

orbit_version=1.0.0
tray_version=1.0.0
goarch="$(go env GOARCH)"
case "$goarch" in
  arm64) platform=linux-arm64 ;;
  *) platform=linux ;;
esac

secret="demo-enroll-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

step() { printf '\n== %s [%3ss] %s\n' "$(date +%T)" "$((SECONDS - t0))" "$*"; }
say() { printf '   %s\n' "$*"; }
# typed: the command a user would type (the demo runs the same one).
typed() { printf '   $ %s\n' "$*"; }
ok() { printf '   [ok] %s\n' "$*"; }
indent() { sed 's/^/     | /'; }
fail() {
  printf '   [FAIL] %s\n' "$*" >&2
  for f in "$work"/orbit.log "$work"/fleetserver.log "$work"/tuf-serve.log "$work"/orbitctl.log "$work"/session.log; do
    [ -s "$f" ] || continue
    printf '   last lines of %s:\n' "$f" >&2
    tail -n 15 "$f" | cut -c1-300 | indent >&2
  done
  exit 1
}
# wait_for DESC SECONDS 'SHELL CODE': poll the code (evaluated afresh each
# time) until it succeeds, or fail. The limits are failure bounds for a
# loaded machine, not speed targets.
wait_for() {
  local desc=$1 secs=$2 code=$3
  local end=$((SECONDS + secs))
  until eval "$code" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || fail "$desc: not seen within ${secs}s"
    sleep 0.3
  done
}
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# procs_under PATH: "pid cmdline" of processes whose command line mentions
# PATH (read from /proc: fresh Debian images may lack procps).
procs_under() {
  local d args
  for d in /proc/[0-9]*; do
    [ "${d#/proc/}" = "$$" ] && continue
    mapfile -d '' args 2>/dev/null <"$d/cmdline" || continue
    case "${args[*]}" in *"$1"*) echo "${d#/proc/} ${args[*]}" ;; esac
  done
}
# is_ours PID: the process runs from the scratch dir (a pid of ours that
# ended may have been reused by someone else's process since).
is_ours() {
  local args
  mapfile -d '' args 2>/dev/null <"/proc/$1/cmdline" || return 1
  case "${args[*]}" in *"$work/"*) return 0 ;; esac
  return 1
}
# start_bg LOG CMD...: run CMD in the background in a process group of its
# own (setsid), so that stopping it reaches whatever it started too.
start_bg() {
  local log=$1
  shift
  setsid "$@" </dev/null >>"$log" 2>&1 &
  bg_pids+=($!)
}
# stop_bg PID: SIGTERM to its process group, wait, SIGKILL what is left.
stop_bg() {
  local p=$1
  is_ours "$p" || return 0
  kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 60); do
    alive "$p" || break
    sleep 0.25
  done
  kill -KILL -- "-$p" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - ERR INT TERM
  set +e
  # Stop what we started, gently first (orbit stops osqueryd and the tray),
  # each with its process group.
  local ours=()
  for p in "${bg_pids[@]}"; do is_ours "$p" && ours+=("$p"); done
  for p in "${ours[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 1 60); do
    local up=0
    for p in "${ours[@]}"; do alive "$p" && up=1; done
    [ "$up" = 0 ] && break
    sleep 0.25
  done
  for p in "${ours[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; done
  # Anything still running from the scratch dir is ours (the path is unique).
  procs_under "$work/" | while read -r p _; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  local left
  left=$(procs_under "$work/")
  echo
  if [ -n "$left" ]; then
    echo "== processes from $work could not be stopped:"
    echo "$left" | cut -c1-200 | indent
  fi
  if [ "$rc" = 0 ] && [ "$result" = OK ]; then
    echo "== demo OK in $((SECONDS - t0))s ($((SECONDS - t_built))s after the build); files are in $work"
  else
    echo "== demo FAILED (exit $rc) after $((SECONDS - t0))s; logs and files are in $work"
    [ "$rc" = 0 ] && rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A command that fails outside a check still says which one it was (once:
# command substitutions inherit the trap).
trap '[ "$BASHPID" != "$$" ] || printf "   [FAIL] line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

democtl() { "$bin/democtl" "$@"; }
# The release owner's key passphrases (the demo's throwaway ones; a real
# release owner keeps them safe), given to orbitctl only.
orbitctl() {
  ORBIT_ROOT_PASSPHRASE=demo-root-pass ORBIT_TARGETS_PASSPHRASE=demo-targets-pass \
    ORBIT_SNAPSHOT_PASSPHRASE=demo-snapshot-pass ORBIT_TIMESTAMP_PASSPHRASE=demo-timestamp-pass \
    "$bin/orbitctl" "$@" </dev/null
}
orbit() { "$bin/orbit" "$@"; }
# admin METHOD PATH [BODY]: the Fleet test server's admin endpoint (what a
# Fleet admin would do in Fleet's UI).
admin() { democtl http --ca "$fleet_ca" "$1" "$fleet_url$2" "${@:3}"; }
# st [PATH] [ROOT]: a field of `orbit status --json`.
st() { orbit status --root-dir "${2:-$root}" --json | democtl get "${1:-.}"; }
show_status() { orbit status --root-dir "${1:-$root}" | indent; }
osqueryd_running() { [ "$(st components.osqueryd.state)" = running ] && alive "$(st components.osqueryd.pid)"; }
osqueryd_pid() { st components.osqueryd.pid; }
# osqueryd_restarted OLD_PID: a new osqueryd is up.
osqueryd_restarted() { osqueryd_running && [ "$(osqueryd_pid)" != "$1" ]; }
# running_version PID: what the program behind PID says it is (the
# process's own executable, however it got there).
running_version() { "/proc/$1/exe" --version 2>/dev/null; }
# publish NAME FILE VERSION [FILE-NAME]: the release owner adds a target.
publish() {
  local args=(updates add --path "$tuf_dir" --target "$2" --name "$1" --platform "$platform" --version "$3" --tag stable)
  [ $# -gt 3 ] && args+=(--file-name "$4")
  typed "orbitctl ${args[*]}"
  orbitctl "${args[@]}" 2>>"$work/orbitctl.log"
}

###########################################################################
step "1. Build orbit, orbitctl, the tray app, the Fleet test server and three stand-in osqueryd releases"
command -v go >/dev/null || fail "make demo needs Go (https://go.dev/dl/)"
command -v dpkg-deb >/dev/null || fail "make demo needs dpkg-deb (Debian's dpkg; on Debian: apt-get install dpkg)"
command -v setpriv >/dev/null || fail "make demo needs setpriv (Debian's util-linux)"
tray_step=1
if ! command -v dbus-daemon >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    say "installing dbus (dbus-daemon, for the tray's private session bus): apt-get install dbus"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dbus; } >"$work/apt.log" 2>&1 ||
      fail "apt-get install dbus failed (see $work/apt.log)"
  else
    tray_step=0
    say "dbus-daemon is missing and this is not root: the tray step will be SKIPPED (apt-get install dbus)"
  fi
fi
if [ "$(id -u)" != 0 ]; then
  tray_step=0
  say "not root: the tray step will be SKIPPED (orbit, as root, starts the tray as the logged-in user)"
fi
go build -ldflags "-X main.version=$orbit_version" -o "$bin/" ./cmd/orbit ./cmd/orbitctl ./cmd/fleetserver
go build -o "$bin/democtl" ./testdata/demo/democtl
go build -ldflags "-X main.version=$tray_version" -o "$release/tray/fleet-desktop/fleet-desktop" ./cmd/desktop
for v in 5.12.1 5.13.0; do
  go build -ldflags "-X main.version=$v" -o "$release/$v/osqueryd" ./testdata/osqueryd
done
# 5.14.0 passes the exec check (--version) and then crashes at every start.
go build -ldflags "-X main.version=5.14.0 -X main.crashAtStart=1" -o "$release/5.14.0/osqueryd" ./testdata/osqueryd
for v in 5.12.1 5.13.0 5.14.0; do
  got=$("$release/$v/osqueryd" --version)
  [ "$got" = "osqueryd version $v" ] || fail "stand-in osqueryd $v says '$got'"
done
"$bin/orbit" version | grep -qF "$orbit_version" || fail "orbit version does not say $orbit_version"
ok "built into $bin: $(cd "$bin" && echo *)"
ok "releases: osqueryd 5.12.1, 5.13.0, 5.14.0 (the broken one); tray app $("$release/tray/fleet-desktop/fleet-desktop" --version)"
t_built=$SECONDS

###########################################################################
step "2. Release owner: publish orbit, osqueryd and the tray app in a signed TUF repository"
say "The release owner signs what hosts may run; hosts trust only the repository's root keys."
typed "orbitctl updates init --path $tuf_dir"
orbitctl updates init --path "$tuf_dir" 2>>"$work/orbitctl.log" | indent
publish orbit "$bin/orbit" "$orbit_version"
publish osqueryd "$release/5.12.1/osqueryd" 5.12.1
# Fleet's layout of the Linux tray app: fleet-desktop/fleet-desktop in a tar.gz.
tar --owner=0 --group=0 -czf "$release/desktop.tar.gz" -C "$release/tray" fleet-desktop
publish desktop "$release/desktop.tar.gz" "$tray_version" desktop.tar.gz
typed "orbitctl updates status --path $tuf_dir"
orbitctl updates status --path "$tuf_dir" 2>>"$work/orbitctl.log" | indent
orbitctl updates roots --path "$tuf_dir" >"$work/root.json" 2>>"$work/orbitctl.log"
democtl get signed._type "$work/root.json" | grep -qx root || fail "root.json is not a TUF root"
start_bg "$work/tuf-serve.log" "$bin/orbitctl" updates serve --path "$tuf_dir" --addr 127.0.0.1:0
typed "orbitctl updates serve --path $tuf_dir --addr 127.0.0.1:0 &"
wait_for "TUF server listening" 15 'grep -q "http://" "$work/tuf-serve.log"'
update_url=$(sed -n 's#.* on \(http://[^ ]*\)$#\1#p' "$work/tuf-serve.log" | head -n1)
ts=$(democtl http GET "$update_url/timestamp.json" | democtl get signed.version) || fail "no timestamp.json on $update_url"
status=$(orbitctl updates status --path "$tuf_dir" 2>>"$work/orbitctl.log")
for t in "orbit orbit $orbit_version" "osqueryd osqueryd 5.12.1" "desktop desktop.tar.gz $tray_version"; do
  set -- $t
  grep -Eq "^$1 +$platform +stable +$2 +$3 " <<<"$status" || fail "the repository lacks $1 $3 ($2) on $platform/stable"
done
ok "the repository, served on $update_url (timestamp.json version $ts), signs orbit, osqueryd and desktop.tar.gz"
ok "trusted root in $work/root.json (what the package ships)"

###########################################################################
step "3. The Fleet server (the in-memory Fleet test server, HTTPS on 127.0.0.1)"
say "Fleet is where an admin manages hosts; its stand-in speaks Fleet's wire protocol and records"
say "what hosts send, and its admin endpoint does what an admin would do in Fleet's UI."
fleet_ca="$work/fleet-ca.pem"
start_bg "$work/fleetserver.log" "$bin/fleetserver" --port 0 --enroll-secret "$secret" --ca-file "$fleet_ca" \
  --url-file "$work/fleet-url" --startup-flags '{"distributed_interval":2}'
wait_for "Fleet server URL file" 15 'test -s "$work/fleet-url"'
fleet_url=$(cat "$work/fleet-url")
n=$(admin GET /_admin/hosts/orbit | democtl len) || fail "Fleet admin endpoint not answering"
# Fleet's agent options: live queries are read every 2 s (Fleet's default is 10).
agent_options='{"options":{"disable_distributed":false,"distributed_interval":2,"distributed_plugin":"tls",
  "distributed_tls_max_attempts":3,"logger_tls_endpoint":"/api/osquery/log","logger_tls_period":10,"pack_delimiter":"/"},
  "decorators":{"load":["SELECT uuid AS host_uuid FROM system_info;","SELECT hostname AS hostname FROM system_info;"]},"packs":{}}'
admin PUT /_admin/osquery_config "$agent_options" >/dev/null
ok "Fleet on $fleet_url (its CA: $fleet_ca), $n hosts enrolled"
ok "Fleet's agent options for osqueryd: distributed_interval 2 s, as a startup flag and in its config"

###########################################################################
step "4. Admin: build a deb with orbitctl package (components from the repository)"
say "One installer that enrolls the host at first start, with orbit, osqueryd and the tray app"
say "inside (verified against the repository's signatures), so the first start needs no download."
printf '%s\n' "$secret" >"$work/enroll-secret"
chmod 600 "$work/enroll-secret"
deb="$work/orbit_${orbit_version}_${goarch}.deb"
pkg_args=(package --type deb --arch "$goarch" --fleet-url "$fleet_url" --fleet-certificate "$fleet_ca"
  --enroll-secret-path "$work/enroll-secret" --update-url "$update_url" --update-interval 10s
  --fleet-desktop --enable-scripts --local-repo "$tuf_dir" --output "$deb")
typed "orbitctl ${pkg_args[*]}"
SOURCE_DATE_EPOCH=1715000000 orbitctl "${pkg_args[@]}" 2>&1 >/dev/null | indent
test -s "$deb" || fail "no deb at $deb"
typed "dpkg-deb --info $(basename "$deb")"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p' | indent
typed "dpkg-deb -c $(basename "$deb")"
dpkg-deb -c "$deb" | grep -v '/$' | awk '{ print $1, $2, $6, $7, $8 }' | indent
contents=$(dpkg-deb -c "$deb")
grep -q '^-rw------- root/root .* \./etc/default/orbit$' <<<"$contents" || fail "/etc/default/orbit is not 0600 root/root"
grep -q '^-rw-r--r-- root/root .* \./lib/systemd/system/orbit.service$' <<<"$contents" || fail "the unit is not 0644"
for f in "bin/orbit/$platform/stable/orbit" "bin/osqueryd/$platform/stable/osqueryd" "bin/desktop/$platform/stable/desktop.tar.gz" tuf/root.json fleet.pem; do
  grep -q " \./opt/orbit/$f$" <<<"$contents" || fail "the deb lacks /opt/orbit/$f"
done
ok "settings file /etc/default/orbit: -rw------- root/root (it holds the enroll secret); unit 0644"
ok "bundled: orbit $orbit_version, osqueryd 5.12.1, tray app $tray_version, the trusted root, Fleet's CA"

###########################################################################
step "5. Run orbit from the package's unpacked tree, as its systemd unit would"
say "The unit runs /opt/orbit/bin/orbit/orbit with /etc/default/orbit's settings. systemd is not"
say "PID 1 here, so the demo unpacks the deb and does the same in the unpacked tree."
tree="$work/deb-tree"
typed "dpkg-deb -x $(basename "$deb") $tree"
dpkg-deb -x "$deb" "$tree"
root="$tree/opt/orbit"
holders=$(grep -rlF -- "$secret" "$tree" | sed "s#^$tree##")
[ "$holders" = /etc/default/orbit ] || fail "the enroll secret is in: ${holders:-no file}"
say "/etc/default/orbit (the unit's EnvironmentFile; secret masked here):"
sed 's/^\(ORBIT_ENROLL_SECRET=\).*/\1********/' "$tree/etc/default/orbit" | grep -v '^#' | indent
# The package's paths moved into the unpacked tree, plus the demo's own
# settings: a fast config poll, a log file, and the stand-in /run/user.
{
  sed "s#/opt/orbit#$root#g" "$tree/etc/default/orbit"
  echo "# demo only"
  echo "ORBIT_CONFIG_INTERVAL=2s"
  echo "ORBIT_LOG_FILE=$work/orbit.log"
  echo "ORBIT_DESKTOP_SESSIONS_DIR=$work/run"
} >"$work/orbit.env"
chmod 600 "$work/orbit.env"
mkdir -p "$work/run"
say "the same settings with /opt/orbit at $root, plus demo-only ORBIT_CONFIG_INTERVAL=2s, ORBIT_LOG_FILE"
say "and ORBIT_DESKTOP_SESSIONS_DIR=$work/run (a stand-in for /run/user): $work/orbit.env"
typed "(set -a; . $work/orbit.env; exec $root/bin/orbit/orbit) &"
start_bg "$work/orbit.out" bash -c 'set -a; . "$1"; set +a; exec "$2"' orbit-unit "$work/orbit.env" "$root/bin/orbit/orbit"
orbit_pid=${bg_pids[-1]}

wait_for "orbit enrolled with Fleet (Orbit API)" 40 'test "$(admin GET /_admin/hosts/orbit | democtl len)" -ge 1'
hosts=$(admin GET /_admin/hosts/orbit)
hw=$(democtl get 0.hardware_uuid <<<"$hosts")
ok "orbit enrolled: hostname=$(democtl get 0.hostname <<<"$hosts") platform=$(democtl get 0.platform <<<"$hosts") hardware_uuid=$hw"
ok "orbit node key in $root/secret-orbit-node-key.txt ($(stat -c %a "$root/secret-orbit-node-key.txt"))"
wait_for "osqueryd running" 40 osqueryd_running
bundled="$root/bin/osqueryd/$platform/stable/osqueryd"
osq=$(osqueryd_pid)
[ "$(readlink "/proc/$osq/exe")" = "$bundled" ] || fail "osqueryd $osq runs $(readlink "/proc/$osq/exe"), not the bundled $bundled"
[ "$(running_version "$osq")" = "osqueryd version 5.12.1" ] || fail "the running osqueryd says $(running_version "$osq")"
[ "$(readlink "/proc/$orbit_pid/exe")" = "$root/bin/orbit/$platform/stable/orbit" ] || fail "orbit runs $(readlink "/proc/$orbit_pid/exe")"
[ "$(st orbit_version)" = "$orbit_version" ] || fail "orbit status says orbit $(st orbit_version)"
wait_for "osqueryd enrolled with Fleet (osquery TLS API)" 40 'test "$(admin GET /_admin/hosts/osquery | democtl len)" -ge 1'
wait_for "the tray app's archive adopted from the package" 30 'democtl get components.desktop.path "$root/tuf/updater-state.json"'
typed "orbit status --root-dir $root"
show_status
ok "orbit $orbit_version (pid $orbit_pid) runs $root/bin/orbit/$platform/stable/orbit; osqueryd 5.12.1 (pid $osq) runs the bundled file"
ok "osqueryd enrolled over the osquery TLS API as $(admin GET /_admin/hosts/osquery | democtl get 0.host_identifier)"
ok "the bundled tray archive was installed without downloading it: $(democtl get components.desktop.path "$root/tuf/updater-state.json" | sed "s#^$root/##")"

###########################################################################
step "6. A live query from Fleet; orbit_info through osqueryd"
say "osqueryd answers Fleet's live queries; orbit serves its own table, orbit_info, inside osqueryd."
admin POST /_admin/distributed_queries '{"name":"demo_whoami","sql":"SELECT hostname, uuid FROM system_info"}' >/dev/null
say "Fleet sends a live query to the host: SELECT hostname, uuid FROM system_info"
wait_for "live query answered" 40 'test "$(admin GET "/_admin/distributed_results?name=demo_whoami" | democtl len)" -ge 1'
res=$(admin GET '/_admin/distributed_results?name=demo_whoami')
ok "Fleet recorded osqueryd's answer: $(democtl get 0.rows <<<"$res" | tr -d ' \n')"
[ "$(democtl get 0.rows.0.uuid <<<"$res" | tr A-Z a-z)" = "$(tr A-Z a-z <<<"$hw")" ] ||
  fail "the answer's uuid is not the enrolled host's hardware_uuid"
ok "its uuid is the hardware_uuid orbit enrolled with: Fleet sees one host"
if [ "$(id -u)" = 0 ]; then
  typed "orbit status --root-dir $root --query 'SELECT version, enrolled, orbit_channel, osqueryd_channel FROM orbit_info'"
  orbit status --root-dir "$root" --query 'SELECT version, enrolled, orbit_channel, osqueryd_channel FROM orbit_info' | indent
fi
admin POST /_admin/distributed_queries '{"name":"demo_orbit_info","sql":"SELECT * FROM orbit_info"}' >/dev/null
wait_for "orbit_info answered through Fleet" 40 'test "$(admin GET "/_admin/distributed_results?name=demo_orbit_info" | democtl len)" -ge 1'
res=$(admin GET '/_admin/distributed_results?name=demo_orbit_info')
[ "$(democtl get 0.rows.0.version <<<"$res")" = "$orbit_version" ] && [ "$(democtl get 0.rows.0.enrolled <<<"$res")" = true ] ||
  fail "orbit_info through Fleet: $res"
[ "$(democtl get 0.rows.0.device_auth_token <<<"$res")" = "$(cat "$root/identifier")" ] || fail "orbit_info's device token is not orbit's"
ok "SELECT * FROM orbit_info, asked by Fleet, answered by orbit inside osqueryd: version $orbit_version, enrolled, its device token"

###########################################################################
step "7. Startup flags from Fleet: osquery.flags rewritten, osqueryd restarted, orbit stays"
old_osq=$(osqueryd_pid)
admin PUT /_admin/startup_flags '{"distributed_interval":2,"logger_tls_period":5}' >/dev/null
say 'Fleet admin sets the startup flags {"distributed_interval":2,"logger_tls_period":5}'
wait_for "osquery.flags rewritten" 30 'grep -qx -- --logger_tls_period=5 "$root/osquery.flags"'
wait_for "osqueryd restarted with the new flags" 30 'osqueryd_restarted "$old_osq"'
new_osq=$(osqueryd_pid)
tr '\0' '\n' <"/proc/$new_osq/cmdline" | grep -qx -- "--flagfile=$root/osquery.flags" || fail "new osqueryd lacks --flagfile"
indent <"$root/osquery.flags"
alive "$orbit_pid" || fail "orbit exited on a flag change"
ok "osqueryd pid $old_osq -> $new_osq with the new osquery.flags; orbit still pid $orbit_pid"

###########################################################################
step "8. Updates: osqueryd 5.13.0 is picked up; the broken 5.14.0 is rolled back by itself"
old_osq=$(osqueryd_pid)
publish osqueryd "$release/5.13.0/osqueryd" 5.13.0
say "orbit checks the repository every 10 s (the package's --update-interval)"
wait_for "osqueryd 5.13.0 running" 60 'test "$(st components.osqueryd.version)" = 5.13.0 && osqueryd_restarted "$old_osq"'
osq=$(osqueryd_pid)
[ "$(running_version "$osq")" = "osqueryd version 5.13.0" ] || fail "the running osqueryd says $(running_version "$osq")"
[ "$("$bundled.previous" --version 2>/dev/null)" = "osqueryd version 5.12.1" ] || fail "5.12.1 not kept as $bundled.previous"
[ "$(st orbit_pid)" = "$orbit_pid" ] || fail "orbit restarted during the update"
ok "osqueryd 5.12.1 -> 5.13.0 (pid $old_osq -> $osq, its executable says $(running_version "$osq")); orbit still pid $orbit_pid"
publish osqueryd "$release/5.14.0/osqueryd" 5.14.0
say "5.14.0 crashes at every start: orbit restarts it with backoff, sees a crash loop within the"
say "release's watch window, puts 5.13.0 back and marks 5.14.0's hash bad"
wait_for "5.14.0 installed" 60 'st updates | grep -q "\"version\": \"5.14.0\""'
wait_for "5.14.0 rolled back" 90 'orbit status --root-dir "$root" | grep -q "rolled_back 5.14.0"'
wait_for "osqueryd 5.13.0 running again" 30 'test "$(st components.osqueryd.version)" = 5.13.0 && osqueryd_running'
osq=$(osqueryd_pid)
[ "$(running_version "$osq")" = "osqueryd version 5.13.0" ] || fail "after the rollback osqueryd says $(running_version "$osq")"
bad_hash="sha512:$(sha512sum <"$release/5.14.0/osqueryd" | cut -d' ' -f1)"
democtl get "failures.$bad_hash.bad" "$root/tuf/updater-state.json" | grep -qx true || fail "5.14.0's hash is not marked bad"
typed "orbit status --root-dir $root"
show_status
ok "rolled back: osqueryd 5.13.0 runs again (pid $osq); 5.14.0's hash is marked bad (${bad_hash:0:20}...), never tried again"

###########################################################################
step "9. Fleet queues a software install; its result arrives"
say "Fleet hands a host its queued installs one at a time: orbit fetches the details, runs the"
say "pre-install query in osqueryd, downloads the package, runs the scripts and reports back."
# The "package" is a text file its install script copies: what matters is
# Fleet's install protocol, not dpkg.
pkg=$(printf 'demo-tool 1.0' | base64 -w0)
script="#!/bin/sh -e\\necho \\\"installing \$(basename \\\"\$INSTALLER_PATH\\\")\\\"\\ncp \\\"\$INSTALLER_PATH\\\" $work/demo-tool-installed\\n"
installer=$(admin POST /_admin/software_installers "{\"filename\":\"demo-tool_1.0_all.deb\",\"package\":\"$pkg\",
  \"pre_install_query\":\"SELECT 1 AS ready WHERE 1 = 1\",\"install_script\":\"$script\",
  \"post_install_script\":\"echo post-install check ok\"}" | democtl get installer_id)
install_id=$(admin POST /_admin/hosts/software_installs "{\"hardware_uuid\":\"$hw\",\"installer_id\":$installer}" | democtl get install_id)
say "Fleet admin queues demo-tool_1.0_all.deb (pre-install query: SELECT 1 AS ready WHERE 1 = 1), install $install_id"
wait_for "install result reported to Fleet" 60 'test "$(admin GET /_admin/software_installs/results | democtl len)" -ge 1'
res=$(admin GET /_admin/software_installs/results)
[ "$(democtl get 0.install_uuid <<<"$res")" = "$install_id" ] || fail "the result is not for install $install_id"
[ "$(democtl get 0.status <<<"$res")" = installed ] || fail "install status $(democtl get 0.status <<<"$res"): $res"
say "pre-install query (through osqueryd): $(democtl get 0.pre_install_condition_output <<<"$res")"
say "install script: exit $(democtl get 0.install_script_exit_code <<<"$res"), output: $(democtl get 0.install_script_output <<<"$res" | tr '\n' ' ')"
say "post-install script: exit $(democtl get 0.post_install_script_exit_code <<<"$res"), output: $(democtl get 0.post_install_script_output <<<"$res" | tr '\n' ' ')"
[ "$(cat "$work/demo-tool-installed" 2>/dev/null)" = "demo-tool 1.0" ] || fail "the install script did not get the package"
wait_for "install directory removed" 15 'test -z "$(ls -A "$root/software-installs" 2>/dev/null)"'
ok "Fleet records install $install_id as installed; orbit removed its private download directory"

###########################################################################
tray_pid=""
if [ "$tray_step" = 1 ]; then
  step "10. The tray app shows the host's failing policies, over a private session bus"
  admin PUT /_admin/policies '[{"id":1,"name":"Disk encryption on","query":"SELECT 1","response":"fail"},
    {"id":2,"name":"Screen lock after 10 min","query":"SELECT 1","response":"fail"},
    {"id":3,"name":"Firewall on","query":"SELECT 1","response":"pass"}]' >/dev/null
  say "Fleet admin: this host fails 2 of its 3 policies"
  demo_user=nobody
  uid=$(id -u "$demo_user")
  gid=$(id -g "$demo_user")
  as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"; }
  rt="$work/run/$uid"
  say "user $demo_user logs in (a stand-in: their runtime directory $rt with their own session bus,"
  say "a compositor socket and a panel's StatusNotifierWatcher, all run as $demo_user; no account is created)"
  install -d -m 0700 -o "$uid" -g "$gid" "$rt"
  start_bg "$work/session.log" setpriv --reuid="$uid" --regid="$gid" --clear-groups \
    "$bin/democtl" session --bus-socket "$rt/bus" --wayland "$rt/wayland-0"
  wait_for "the stand-in session up" 20 'grep -q "StatusNotifierWatcher up" "$work/session.log"'
  say "orbit looks for graphical sessions every 10 s and starts the tray app in each, as its user"
  wait_for "orbit started the tray app for $demo_user" 40 \
    'test "$(st "components.desktop/$demo_user.state")" = running && alive "$(st "components.desktop/$demo_user.pid")"'
  tray_pid=$(st "components.desktop/$demo_user.pid")
  [ "$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "/proc/$tray_pid/status")" = "$uid$uid$uid$uid" ] ||
    fail "the tray app $tray_pid does not run as $demo_user: $(grep '^Uid:' "/proc/$tray_pid/status")"
  [ "$(awk '{ print $4 }' "/proc/$tray_pid/stat")" = "$orbit_pid" ] || fail "the tray app's parent is not orbit"
  tray_exe=$(readlink "/proc/$tray_pid/exe")
  case "$tray_exe" in "$root/bin/desktop/$platform/stable/"*) ;; *) fail "the tray app runs $tray_exe" ;; esac
  ok "tray app pid $tray_pid: uid $uid ($demo_user, not root), child of orbit, runs ${tray_exe#"$root/"}"
  typed "democtl menu --bus unix:path=$rt/bus   # as $demo_user: what the panel shows"
  menu=$(as_user "$bin/democtl" menu --bus "unix:path=$rt/bus" --want "2 failing policies" --timeout 40s) ||
    fail "the tray's menu never showed 2 failing policies"
  indent <<<"$menu"
  [ "$(sed -n 's/^item .* pid \([0-9]*\)$/\1/p' <<<"$menu")" = "$tray_pid" ] || fail "the menu is not the tray app's (pid $tray_pid)"
  grep -q "^  Fleet Desktop v$tray_version " <<<"$menu" || fail "the menu does not show the tray's version"
  grep -q '^  My device .*click' <<<"$menu" || fail "My device is not clickable"
  ok "the panel shows \"2 failing policies\" from Fleet, read over $demo_user's bus from the tray app (pid $tray_pid)"
else
  step "10. The tray app: SKIPPED (needs root and dbus-daemon; see the first step)"
fi

###########################################################################
step "11. Resilience: kill -9 osqueryd, then stop orbit with SIGTERM"
say "orbit brings a dead osqueryd back, and a stopped orbit takes everything it runs with it."
restarts=$(st components.osqueryd.restarts)
osq=$(osqueryd_pid)
typed "kill -9 $osq"
kill -KILL "$osq"
wait_for "osqueryd restarted after kill -9" 30 'osqueryd_restarted "$osq"'
[ "$(st components.osqueryd.restarts)" -gt "$restarts" ] || fail "restart count did not go up"
ok "orbit restarted osqueryd (pid $osq -> $(osqueryd_pid)), restarts $restarts -> $(st components.osqueryd.restarts)"
last_osq=$(osqueryd_pid)
typed "kill -TERM $orbit_pid   # what systemctl stop orbit does"
kill -TERM "$orbit_pid"
wait_for "orbit stopped after SIGTERM" 40 '! alive "$orbit_pid"'
wait "$orbit_pid" || fail "orbit exited with an error on SIGTERM"
if alive "$last_osq"; then fail "osqueryd $last_osq still running after orbit stopped"; fi
if [ -n "$tray_pid" ] && alive "$tray_pid"; then fail "the tray app $tray_pid still running after orbit stopped"; fi
left=$(procs_under "$root/")
[ -z "$left" ] || fail "processes left from $root: $left"
show_status
ok "orbit exited 0; osqueryd${tray_pid:+ and the tray app} stopped with it, nothing runs from $root"
for f in "$work"/orbit.log "$work"/orbit.out "$work"/fleetserver.log; do
  for s in "$secret" "$(cat "$root/secret-orbit-node-key.txt")" "$(cat "$root/identifier")"; do
    if [ -f "$f" ] && grep -qF -- "$s" "$f"; then fail "a secret appears in $f"; fi
  done
done
ok "no enroll secret, node key or device token in orbit's (and the tray's) log or the server's"

###########################################################################
step "12. Standalone mode: a local osquery config with packs, results on disk"
say "Without Fleet, orbit runs osqueryd with a local config and its packs; results go to files."
sroot="$work/standalone"
# Pack paths in the config are relative to the repo; make them absolute.
sed "s#testdata/standalone#$repo_dir/testdata/standalone#" testdata/standalone/osquery.conf >"$work/osquery.conf"
typed "orbit --root-dir $sroot --disable-updates --osqueryd-path $release/5.13.0/osqueryd --osquery-config $work/osquery.conf"
start_bg "$work/standalone.out" env OSQUERYD_STANDIN_INTERVAL_SCALE=0.5 "$bin/orbit" --root-dir "$sroot" --disable-updates \
  --osqueryd-path "$release/5.13.0/osqueryd" --osquery-config "$work/osquery.conf" --log-file "$work/standalone.log"
s_pid=${bg_pids[-1]}
wait_for "scheduled query results" 40 'test -s "$sroot/osquery_log/osqueryd.results.log"'
wait_for "pack query results" 20 'grep -q inventory "$sroot/osquery_log/osqueryd.results.log"'
wait_for "snapshot results" 20 'test -s "$sroot/osquery_log/osqueryd.snapshots.log"'
show_status "$sroot"
say "$sroot/osquery_log/osqueryd.results.log (differential, pack 'inventory'):"
head -n 2 "$sroot/osquery_log/osqueryd.results.log" | cut -c1-160 | indent
say "$sroot/osquery_log/osqueryd.snapshots.log (snapshot query 'system_info'):"
head -n 1 "$sroot/osquery_log/osqueryd.snapshots.log" | cut -c1-160 | indent
kill -TERM "$s_pid"
wait "$s_pid" || fail "standalone orbit exited with an error on SIGTERM"
left=$(procs_under "$sroot/")
[ -z "$left" ] || fail "processes left from $sroot: $left"
ok "results on disk; orbit stopped cleanly, nothing left running"

###########################################################################
step "13. Stop the servers (and the stand-in session); nothing is left running"
for p in "${bg_pids[@]}"; do stop_bg "$p"; done
wait 2>/dev/null || true
left=$(procs_under "$work/")
[ -z "$left" ] || fail "processes left from $work: $left"
ok "no process runs from $work"

###########################################################################
step "Summary, and where to look"
say "- a release owner signed orbit, osqueryd and the tray app into a TUF repository"
say "- an admin built a deb of them with orbitctl package (settings file 0600, unit 0644) and orbit"
say "  ran from its unpacked tree, with the bundled components, against Fleet"
say "- osqueryd answered a live query, and orbit_info (orbit inside osqueryd) answered Fleet"
say "- osqueryd 5.13.0 was picked up; 5.14.0 crashed at start and was rolled back by itself"
say "- Fleet queued a software install and recorded its result"
if [ -n "$tray_pid" ]; then
  say "- the tray app, run by orbit as the logged-in user, showed Fleet's 2 failing policies on their bus"
fi
say "- a killed osqueryd came back; SIGTERM stopped orbit and all it ran; no secret in any log"
say "- standalone orbit ran query packs from a local config and wrote results to disk"
say ""
say "Look at:"
say "  orbit status --root-dir $root   (--json: pids, versions, the update history)"
say "  $work/orbit.log: orbit's JSON log, with osqueryd's and the tray app's lines"
say "  $work/fleetserver.log, tuf-serve.log, session.log, standalone.log: the other programs' logs"
say "  $sroot/osquery_log/: standalone osqueryd's results"
say "(the next make demo removes $work)"
result=OK
