#!/usr/bin/env bash
# Packaging benchmarks (issue 8), all on Linux, in one run:
#   1. the formats alone: the fixture deb and rpm (orbit + osqueryd, about
#      27 MB of programs) built in memory by our nfpm-based formats, against
#      dpkg-deb --build of the same tree, gzip'd the same way (go test -bench);
#   2. the whole command an admin runs: `orbitctl package` for deb, rpm, pkg
#      and msi from a local repository made by `orbitctl updates` (fetch and
#      verify the targets, lay out, compress, write), against `dpkg-deb
#      --build` of the deb's own tree; median, min and max of SAMPLES (10)
#      runs each, and each package's size against the programs inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
SAMPLES=${SAMPLES:-10}

out=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$out" "$work"' EXIT
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

# 2. orbitctl package, end to end.
echo
echo "### orbitctl package: $SAMPLES samples per format"
export ORBIT_ROOT_PASSPHRASE=bench-r ORBIT_TARGETS_PASSPHRASE=bench-t ORBIT_SNAPSHOT_PASSPHRASE=bench-s ORBIT_TIMESTAMP_PASSPHRASE=bench-ts
export SOURCE_DATE_EPOCH=1715000000
mkdir -p "$work"/{linux,mac/app/osquery.app/Contents/MacOS,win,out}
$GO build -o "$work/orbitctl" ./cmd/orbitctl
for p in linux/amd64 darwin/arm64 windows/amd64; do
  os=${p%/*} arch=${p#*/}
  case $os in linux) d=linux ext= ;; darwin) d=mac ext= ;; windows) d=win ext=.exe ;; esac
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch $GO build -ldflags "-X main.version=1.4.0" -o "$work/$d/orbit$ext" ./cmd/orbit
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch $GO build -o "$work/$d/osqueryd$ext" ./testdata/osqueryd
done
mv "$work/mac/osqueryd" "$work/mac/app/osquery.app/Contents/MacOS/osqueryd"
tar -C "$work/mac/app" -czf "$work/mac/osqueryd.app.tar.gz" osquery.app
ctl="$work/orbitctl"
$ctl updates init --path "$work/tuf" >/dev/null 2>&1
add() { $ctl updates add --path "$work/tuf" --target "$1" --name "$2" --platform "$3" --version "$4" -t stable >/dev/null 2>&1; }
add "$work/linux/orbit" orbit linux 1.4.0; add "$work/linux/osqueryd" osqueryd linux 5.12.1
add "$work/mac/orbit" orbit macos 1.4.0; add "$work/mac/osqueryd.app.tar.gz" osqueryd macos-app 5.12.1
add "$work/win/orbit.exe" orbit windows 1.4.0; add "$work/win/osqueryd.exe" osqueryd windows 5.12.1
echo "enroll-secret" >"$work/secret"

now_ms() { date +%s%3N; }
# stats FILE: median min max of the numbers in FILE, one a line.
stats() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d %d %d\n", m, v[1], v[NR] }'; }
size() { stat -c %s "$1"; }

rows=()
for typ in deb rpm pkg msi; do
  arch=amd64; progs="$work/linux/orbit $work/linux/osqueryd"
  case $typ in
    pkg) arch=arm64; progs="$work/mac/orbit $work/mac/app/osquery.app/Contents/MacOS/osqueryd" ;;
    msi) progs="$work/win/orbit.exe $work/win/osqueryd.exe" ;;
  esac
  : >"$work/t.$typ"
  for _ in $(seq "$SAMPLES"); do
    t0=$(now_ms)
    $ctl package --type "$typ" --arch "$arch" --local-repo "$work/tuf" --fleet-url https://fleet.example.com \
      --enroll-secret-path "$work/secret" --update-url https://updates.example.com --output "$work/out/orbit.$typ" >/dev/null 2>&1
    echo $(($(now_ms) - t0)) >>"$work/t.$typ"
  done
  read -r med min max < <(stats "$work/t.$typ")
  pkgsize=$(size "$work/out/orbit.$typ")
  binsize=$(stat -c %s $progs | awk '{ s += $1 } END { print s }')
  rows+=("$(printf '%-22s %8d %8d %8d %12d %12d %6.0f%%' "orbitctl package $typ" "$med" "$min" "$max" "$pkgsize" "$binsize" "$(awk -v a="$pkgsize" -v b="$binsize" 'BEGIN { print 100 * a / b }')")")
done

# dpkg-deb --build of the deb's own tree (control and data), gzip'd as ours.
dpkg-deb --raw-extract "$work/out/orbit.deb" "$work/tree"
: >"$work/t.dpkg"
for _ in $(seq "$SAMPLES"); do
  t0=$(now_ms)
  dpkg-deb --root-owner-group -Zgzip --build "$work/tree" "$work/out/dpkg.deb" >/dev/null
  echo $(($(now_ms) - t0)) >>"$work/t.dpkg"
done
read -r med min max < <(stats "$work/t.dpkg")
pkgsize=$(size "$work/out/dpkg.deb")
binsize=$(stat -c %s "$work/linux/orbit" "$work/linux/osqueryd" | awk '{ s += $1 } END { print s }')
rows+=("$(printf '%-22s %8d %8d %8d %12d %12d %6.0f%%' "dpkg-deb --build (deb)" "$med" "$min" "$max" "$pkgsize" "$binsize" "$(awk -v a="$pkgsize" -v b="$binsize" 'BEGIN { print 100 * a / b }')")")

printf '%-22s %8s %8s %8s %12s %12s %7s\n' "build" "median" "min" "max" "package" "programs" "size"
printf '%-22s %8s %8s %8s %12s %12s %7s\n' "" "ms" "ms" "ms" "bytes" "bytes" ""
printf '%s\n' "${rows[@]}"
deb_med=$(stats "$work/t.deb" | cut -d' ' -f1)
dpkg_med=$(stats "$work/t.dpkg" | cut -d' ' -f1)
echo "orbitctl package deb / dpkg-deb --build: $(awk -v a="$deb_med" -v b="$dpkg_med" 'BEGIN { printf "%.2f", a / b }') (orbitctl also fetches and verifies the targets)"
