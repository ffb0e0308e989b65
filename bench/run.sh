#!/usr/bin/env bash
# make bench: every benchmark script, one after the other (they share 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for s in bench/supervisor.sh bench/fleet_traffic.sh bench/orbitctl_add.sh bench/updater.sh bench/packaging_linux.sh bench/desktop.sh bench/osquery_socket.sh; do
  [ -f "$s" ] || continue
  echo "### $s"
  bash "$s" || { echo "$s failed"; status=1; }
  echo
done
exit $status
