#!/usr/bin/env bash
# Tray app figures: its idle RSS and CPU over IDLE_SECONDS (default 30),
# read from /proc, while it runs as a logged-in user's tray does: on a
# private session bus with a StatusNotifierWatcher, polling the Fleet
# test server every 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${IDLE_SECONDS:-30}"
for tool in dbus-daemon status-notifier-watcher curl; do
  command -v "$tool" >/dev/null || { echo "desktop bench: $tool is missing (make test-deps installs it)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/orbit-bench-desktop.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/fleet-desktop" ./cmd/desktop
go build -o "$work/fleetserver" ./cmd/fleetserver
tck=$(getconf CLK_TCK)

secret=bench-desktop-secret
"$work/fleetserver" --port 0 --enroll-secret "$secret" --ca-file "$work/ca.pem" --url-file "$work/url" >"$work/fleetserver.out" 2>"$work/fleetserver.log" &
for _ in $(seq 200); do [ -s "$work/url" ] && break; sleep 0.05; done
url="$(cat "$work/url")"
# A host with a device token, as orbit would have made it.
key=$(curl -sf --cacert "$work/ca.pem" -H 'Content-Type: application/json' \
  -d "{\"enroll_secret\":\"$secret\",\"hardware_uuid\":\"bench-desktop\",\"hostname\":\"bench\"}" \
  "$url/api/fleet/orbit/enroll" | tr -d " \n" | sed 's/.*"orbit_node_key":"\([^"]*\)".*/\1/')
token=0b0e5b7c-6a2d-4f1e-9c3b-7d8e9f0a1b2c
curl -sf --cacert "$work/ca.pem" -H 'Content-Type: application/json' \
  -d "{\"orbit_node_key\":\"$key\",\"device_auth_token\":\"$token\"}" "$url/api/fleet/orbit/device_token" >/dev/null
printf '%s' "$token" >"$work/identifier"

bus="unix:path=$work/bus"
dbus-daemon --session --nofork --address="$bus" 2>"$work/bus.log" &
for _ in $(seq 200); do [ -S "$work/bus" ] && break; sleep 0.05; done
DBUS_SESSION_BUS_ADDRESS="$bus" status-notifier-watcher >/dev/null 2>&1 &

env -i PATH=/usr/bin:/bin HOME="$work" DBUS_SESSION_BUS_ADDRESS="$bus" \
  FLEET_DESKTOP_FLEET_URL="$url" FLEET_DESKTOP_DEVICE_IDENTIFIER_PATH="$work/identifier" \
  FLEET_DESKTOP_FLEET_ROOT_CA="$work/ca.pem" "$work/fleet-desktop" 2>"$work/tray.log" &
pid=$!
for _ in $(seq 200); do grep -q 'connected to fleet' "$work/tray.log" && break; sleep 0.05; done
grep -q 'connected to fleet' "$work/tray.log" || { echo "desktop bench: the tray did not reach Fleet:" >&2; cat "$work/tray.log" >&2; exit 1; }
sleep 3 # let it settle: start-up is not idle
cpu() { awk '{ i = index($0, ") "); split(substr($0, i + 2), f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
c0=$(cpu "$pid"); t0=$(date +%s.%N)
sleep "$secs"
c1=$(cpu "$pid"); t1=$(date +%s.%N)
kill -0 "$pid" || { echo "desktop bench: the tray exited" >&2; cat "$work/tray.log" >&2; exit 1; }
rss_kb=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
hwm_kb=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v tck="$tck" -v rss="$rss_kb" -v hwm="$hwm_kb" -v s="$secs" 'BEGIN {
  pct = (c1 - c0) / tck / (t1 - t0) * 100
  printf "tray app idle over %ss (polling Fleet every 10 s): RSS %.1f MB (peak %.1f MB; goal about 12 MB), CPU %.3f%% of a core, %d ticks (goal < 0.5%%)\n", s, rss/1024, hwm/1024, pct, c1 - c0
}'
