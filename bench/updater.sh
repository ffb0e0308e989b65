#!/usr/bin/env bash
# Updater benchmarks (issue 5):
#   - requests and bytes of a no-change check (TUF needs root N+1 and timestamp.json)
#   - applying a 50 MB target vs curl + sha512sum + mv of the same file (goal: ratio <= 1.3)
#   - peak RSS of a child applying a 20 MB and a 200 MB target (goal: flat)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

if ! command -v curl >/dev/null 2>&1; then
  echo "curl missing: installing it for the comparison"
  apt-get install -y curl >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y curl >/dev/null; }
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
$GO test ./updater/ -run '^$' -bench 'NoChangeCheck|Apply50MB|ApplyPeakRSS' -benchtime "${BENCHTIME:-5x}" -count 1 | tee "$out"

metric() { # metric BENCH UNIT
  awk -v b="$1" -v u="$2" '$1 ~ "^Benchmark"b"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == u) print $i }' "$out"
}
echo
echo "no-change check: $(metric NoChangeCheck requests/op) requests, $(metric NoChangeCheck bytes/op) bytes"
ratio=$(metric Apply50MB ratio)
echo "apply 50 MB: orbit $(metric Apply50MB orbit_ms/op) ms, curl+sha512sum+mv $(metric Apply50MB curl_ms/op) ms, ratio $ratio (goal <= 1.3)"
small=$(metric ApplyPeakRSS rss_20MB_KiB)
large=$(metric ApplyPeakRSS rss_200MB_KiB)
echo "peak RSS while applying: 20 MB target ${small} KiB, 200 MB target ${large} KiB (goal: flat)"

status=0
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.3) }' || { echo "apply ratio $ratio is above 1.3"; status=1; }
awk -v s="$small" -v l="$large" 'BEGIN { exit !(l <= s + 16384) }' || { echo "peak RSS grows with the target size"; status=1; }
exit $status
