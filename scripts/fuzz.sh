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
echo "$targets" | while read -r dir fn; do
	echo "== $dir $fn for $FUZZTIME"
	"$GO" test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$dir"
done
