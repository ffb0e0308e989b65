#!/bin/sh
# Requests and bytes per hour one idle, enrolled host exchanges with Fleet:
# ours at default intervals next to Fleet's orbit at its defaults (30 s
# config, 5 min ping, 1 h token), counted on the wire against fleettest with
# a simulated hour. Fails if ours is above Fleet's.
set -eu
cd "$(dirname "$0")/.."
go test -count=1 -run '^TestIdleTrafficNotAboveFleet$' ./fleet/
go test -run XXX -bench BenchmarkIdleTraffic -benchtime 1x ./fleet/
