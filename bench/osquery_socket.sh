#!/usr/bin/env bash
# The cost of orbit's side of osqueryd's extension socket: two idle orbits
# side by side in the same run, each with its own stand-in osqueryd. One
# has its extension registered (orbit_info, fleetd_logs; a registration
# check every 5 s, a health ping every 60 s); the other runs osqueryd with
# --disable_extensions, so there is nothing to register with (the
# extension retries its connect every second, the pings fail). CPU (% of a
# core) and RSS per sample, median with min and max over the samples.
set -euo pipefail
cd "$(dirname "$0")/.."
samples="${SAMPLES:-10}"
every="${SAMPLE_SECONDS:-6}"
work="$(mktemp -d /tmp/orbit-osq-bench.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/orbit" ./cmd/orbit
go build -o "$work/osqueryd" ./testdata/osqueryd
tck=$(getconf CLK_TCK)

"$work/orbit" --root-dir "$work/with" --disable-updates --osqueryd-path "$work/osqueryd" --log-file "$work/with.log" &
with=$!
"$work/orbit" --root-dir "$work/without" --disable-updates --osqueryd-path "$work/osqueryd" --log-file "$work/without.log" \
  -- --disable_extensions=true &
without=$!

# Wait for the registration (bounded), then let start-up settle.
for _ in $(seq 1 200); do
  grep -q '"osquery extension registered"' "$work/with.log" 2>/dev/null && break
  sleep 0.1
done
grep -q '"osquery extension registered"' "$work/with.log" || { echo "the extension never registered"; cat "$work/with.log"; exit 1; }
sleep 3

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
: > "$work/with.samples"
: > "$work/without.samples"
# One tick of CPU time is 10 ms: a sample shows 0 or a tick; the whole run
# is the finer figure.
as=$(cpu "$with"); bs=$(cpu "$without"); ts=$(date +%s.%N)
for _ in $(seq 1 "$samples"); do
  a0=$(cpu "$with"); b0=$(cpu "$without"); t0=$(date +%s.%N)
  sleep "$every"
  a1=$(cpu "$with"); b1=$(cpu "$without"); t1=$(date +%s.%N)
  awk -v c0="$a0" -v c1="$a1" -v t0="$t0" -v t1="$t1" -v tck="$tck" -v r="$(rss "$with")" \
    'BEGIN { printf "%.4f %.1f\n", (c1-c0)/tck/(t1-t0)*100, r/1024 }' >> "$work/with.samples"
  awk -v c0="$b0" -v c1="$b1" -v t0="$t0" -v t1="$t1" -v tck="$tck" -v r="$(rss "$without")" \
    'BEGIN { printf "%.4f %.1f\n", (c1-c0)/tck/(t1-t0)*100, r/1024 }' >> "$work/without.samples"
done

# median min max of column $2 of file $1
stats() { cut -d' ' -f"$2" "$1" | sort -g | awk '{v[NR]=$1} END {
  m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
  printf "%s (min %s, max %s)", m, v[1], v[NR] }'; }
ae=$(cpu "$with"); be=$(cpu "$without"); te=$(date +%s.%N)
total() { awk -v c0="$1" -v c1="$2" -v t0="$ts" -v t1="$te" -v tck="$tck" 'BEGIN { printf "%.4f", (c1-c0)/tck/(t1-t0)*100 }'; }
echo "orbit idle, $samples samples of ${every}s, same run:"
printf "  extension registered:     CPU %% of a core %s, RSS MB %s\n" "$(stats "$work/with.samples" 1)" "$(stats "$work/with.samples" 2)"
printf "  no extension socket:      CPU %% of a core %s, RSS MB %s\n" "$(stats "$work/without.samples" 1)" "$(stats "$work/without.samples" 2)"
printf "  over the whole run:       CPU %% of a core %s registered, %s without\n" "$(total "$as" "$ae")" "$(total "$bs" "$be")"
