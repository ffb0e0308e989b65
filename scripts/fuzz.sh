#!/usr/bin/env bash
# Runs every fuzz test of the module (each `func FuzzX(` in a _test.go
# file, found anew on every run), one after the other, FUZZTIME each.
#
# FUZZMINIMIZETIME bounds how long the fuzzer shrinks each new interesting
# input: Go's default (60s per input) spends most of a one-minute run
# minimizing the first few inputs found instead of fuzzing. A crasher is
# still written to testdata/fuzz/<FuzzX>/ (check it in once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-100x}

targets=$(grep -rE --include='*_test.go' --exclude-dir=.git -o '^func Fuzz[A-Za-z0-9_]*\(' . |
	sed -E 's#^(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u)
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz tests found" >&2
	exit 1
fi
# Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a
# failure ("context deadline exceeded", no input written: golang/go#75804,
# fixed in Go 1.27). That run fuzzed its whole time and found nothing, so
# it passes, said out loud; any other failure, or a failing input written
# to testdata/fuzz/<FuzzX>/, fails.
echo "$targets" | while read -r dir fn; do
	echo "== $dir $fn for $FUZZTIME"
	corpus="$dir/testdata/fuzz/$fn"
	before=$(ls "$corpus" 2>/dev/null | sort || true)
	log=$(mktemp)
	rc=0
	"$GO" test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$dir" 2>&1 | tee "$log" || rc=$?
	after=$(ls "$corpus" 2>/dev/null | sort || true)
	if [ "$rc" -ne 0 ]; then
		if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
			echo "fuzz.sh: $fn: Go's fuzz coordinator reported its own deadline (golang/go#75804); no failing input was found in $FUZZTIME"
		else
			rm -f "$log"
			echo "fuzz.sh: $fn failed: see above (a failing input is in $corpus: fix the code, then check the input in)" >&2
			exit 1
		fi
	fi
	rm -f "$log"
done
