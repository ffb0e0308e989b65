#!/usr/bin/env bash
# Linux package benchmarks (issue 8): time to build the fixture deb and rpm
# (orbit + osqueryd, about 27 MB of programs) with our nfpm-based formats,
# against dpkg-deb --build of the same tree, gzip'd the same way, in the
# same run; and each package's size against the programs inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
$GO test ./packaging/deb ./packaging/rpm -run '^$' -bench 'DebBuild|DpkgDebBuild|RPMBuild' \
  -benchtime "${BENCHTIME:-3x}" -count 1 | tee "$out"

metric() { # metric BENCH UNIT
  awk -v b="$1" -v u="$2" '$1 ~ "^Benchmark"b"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == u) print $i }' "$out"
}
ms() { awk -v n="$1" 'BEGIN { printf "%.0f", n / 1e6 }'; }
deb=$(metric DebBuild ns/op); dpkg=$(metric DpkgDebBuild ns/op); rpm=$(metric RPMBuild ns/op)
bin=$(metric DebBuild binary_bytes)
echo
echo "deb: $(ms "$deb") ms, dpkg-deb --build of the same tree: $(ms "$dpkg") ms, ratio $(awk -v a="$deb" -v b="$dpkg" 'BEGIN { printf "%.2f", a / b }')"
echo "rpm: $(ms "$rpm") ms"
for f in DebBuild DpkgDebBuild RPMBuild; do
  size=$(metric "$f" bytes/pkg)
  echo "$f package: $size bytes for $bin bytes of programs ($(awk -v s="$size" -v b="$bin" 'BEGIN { printf "%.0f%%", 100 * s / b }'))"
done
