#!/usr/bin/env bash
# make demo: runs orbit for real on this machine, in a scratch root dir,
# against the stand-in osqueryd, and prints what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d /tmp/orbit-demo.XXXXXX)"
bin="$work/bin"
mkdir -p "$bin"
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "build orbit and the stand-in osqueryd"
go build -ldflags "-X main.version=0.1.0-demo" -o "$bin/orbit" ./cmd/orbit
go build -o "$bin/osqueryd" ./testdata/osqueryd

step "standalone mode: local config and query packs, results on disk"
root="$work/standalone"
# Pack paths in the config are relative to the repo; make them absolute.
sed "s#testdata/standalone#$PWD/testdata/standalone#" testdata/standalone/osquery.conf > "$work/osquery.conf"
OSQUERYD_STANDIN_INTERVAL_SCALE=0.5 "$bin/orbit" --root-dir "$root" --disable-updates \
  --osqueryd-path "$bin/osqueryd" --osquery-config "$work/osquery.conf" --log-file "$work/standalone.log" &
orbit_pid=$!
sleep 5
"$bin/orbit" status --root-dir "$root"
echo "-- osqueryd killed; orbit restarts it"
pid=$("$bin/orbit" status --root-dir "$root" --json | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | tail -1)
kill -9 "$pid"
sleep 2
"$bin/orbit" status --root-dir "$root"
echo "-- result log lines written by osqueryd (first 3):"
head -n 3 "$root/osquery_log/osqueryd.results.log" || echo "(no results yet)"
kill -TERM "$orbit_pid"
wait "$orbit_pid" || true
echo "-- orbit stopped; processes left from this root:"
pgrep -af "$root" || echo "(none)"
echo
echo "demo files are in $work"
