#!/usr/bin/env bash
# Times xuequ and the plain deferred-acceptance baseline (examples/baseline_da.rs) on the same
# synthetic choice market, interleaved, N times each (default 3), with /usr/bin/time -v, and
# prints per run and as medians: CPU seconds (user + sys), wall seconds, peak RSS and the
# 1-minute load average just before the run.
#
#   cargo build --release -p xuequ-cli -p xuequ-suite --example baseline_da
#   target/release/xuequ synth --preset choice10 --applicants 1000000 --out /tmp/c1m
#   benches/measure.sh /tmp/c1m 5
#
# The baseline's assignments equal xuequ's on these markets (tests/suite/baseline.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: benches/measure.sh SYNTH_DIR [RUNS]}
runs=${2:-3}
xuequ=${XUEQU:-target/release/xuequ}
baseline=${BASELINE:-target/release/examples/baseline_da}
for bin in "$xuequ" "$baseline"; do
  [ -x "$bin" ] || { echo "missing $bin: cargo build --release -p xuequ-cli -p xuequ-suite --example baseline_da" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One timed run: prints "cpu wall rss_mib load".
measure() {
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -v -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  awk -v load="$load" -F': ' '
    /User time/ {u=$2} /System time/ {s=$2} /Maximum resident/ {r=$2}
    /Elapsed \(wall clock\)/ {n=split($2, p, ":"); w=0; for (i=1; i<=n; i++) w=w*60+p[i]}
    END {printf "%.2f %.2f %.0f %s\n", u+s, w, r/1024, load}' "$work/time"
}

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

printf '%-9s %4s %8s %8s %9s %6s\n' what run cpu_s wall_s rss_mib load
for i in $(seq 1 "$runs"); do
  rm -rf "$work/out"
  measure "$xuequ" run "$dir/scenario.toml" --out "$work/out" --no-html --quiet >>"$work/xuequ"
  printf '%-9s %4s %8s %8s %9s %6s\n' xuequ "$i" $(tail -1 "$work/xuequ")
  measure "$baseline" "$dir" "$work/baseline.csv" >>"$work/baseline"
  printf '%-9s %4s %8s %8s %9s %6s\n' baseline "$i" $(tail -1 "$work/baseline")
done
for what in xuequ baseline; do
  printf '%-9s %4s' "$what" median
  for col in 1 2 3 4; do printf ' %8s' "$(cut -d' ' -f$col "$work/$what" | median)"; done
  echo
done
