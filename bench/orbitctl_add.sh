#!/usr/bin/env bash
# `orbitctl updates add` of a 100 MB file against `sha512sum` of the same
# file in the same run: add reads the file once, computing sha256 and sha512
# while copying it into the repository (plus key decryption with scrypt and
# signing), so the ratio shows the overhead beyond hashing.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb="${SIZE_MB:-100}"
work="$(mktemp -d /tmp/orbitctl-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

go build -o "$work/orbitctl" ./cmd/orbitctl
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$work/orbit"

export ORBIT_ROOT_PASSPHRASE=bench-root ORBIT_TARGETS_PASSPHRASE=bench-targets \
  ORBIT_SNAPSHOT_PASSPHRASE=bench-snapshot ORBIT_TIMESTAMP_PASSPHRASE=bench-timestamp
"$work/orbitctl" updates init --path "$work/tuf" >/dev/null 2>&1

# Warm the page cache so both runs read from memory.
cat "$work/orbit" > /dev/null

now() { date +%s.%N; }
t0=$(now)
sha512sum "$work/orbit" > /dev/null
t1=$(now)
"$work/orbitctl" updates add --path "$work/tuf" --target "$work/orbit" --name orbit \
  --platform linux --version 1.0.0 -t stable >/dev/null 2>&1
t2=$(now)

awk -v a="$t0" -v b="$t1" -v c="$t2" -v mb="$size_mb" 'BEGIN {
  s = b - a; o = c - b
  printf "sha512sum of %d MB:            %.3f s (%.0f MB/s)\n", mb, s, mb / s
  printf "orbitctl updates add %d MB:    %.3f s (%.0f MB/s)\n", mb, o, mb / o
  printf "ratio add / sha512sum:          %.2fx\n", o / s
}'
