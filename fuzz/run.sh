#!/usr/bin/env bash
# fuzz/run.sh — build the libFuzzer targets of fuzz/targets.txt with clang (-fsanitize=fuzzer,address,undefined)
# and run each for SECONDS seconds, one at a time, seeded with the committed corpus fuzz/corpus/<target>/ (read,
# never written: new inputs go to the work folder). Needs clang with the libFuzzer runtime (Debian:
# apt-get install -y clang). The same targets replay their committed corpora in ctest (fuzz/CMakeLists.txt).
#   fuzz/run.sh [SECONDS=60] [TARGETS="all of fuzz/targets.txt"]
# Work files (binaries, new corpus inputs, crash artifacts, logs) go to $FF_FUZZ_DIR (default /tmp/ff_fuzz).
# Prints, per target: exit code, duration, executions, and the number of crash artifacts. A crash artifact is a
# bug: add it to fuzz/corpus/<target>/ with the fix (and a regression test in tests/).
set -euo pipefail
SECONDS_PER_TARGET=${1:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGETS=${2:-$(grep -E '^fuzz_' "$ROOT/fuzz/targets.txt" | awk '{print $1}' | tr '\n' ' ')}
WORK=${FF_FUZZ_DIR:-/tmp/ff_fuzz}
CXX=${CXX_FUZZ:-clang++}
mkdir -p "$WORK"
command -v "$CXX" >/dev/null || { echo "clang++ not found: apt-get install -y clang" >&2; exit 1; }
EIGEN=$(for d in /usr/include/eigen3 /usr/local/include/eigen3; do [ -d "$d" ] && echo "$d" && break; done)
for t in $TARGETS; do
  line=$(grep -E "^$t[[:space:]]" "$ROOT/fuzz/targets.txt") || { echo "$t is not in fuzz/targets.txt" >&2; exit 1; }
  srcs="" libs=""
  for p in $(echo "$line" | awk '{$1=""; print}'); do
    case $p in -l*) libs="$libs $p" ;; *) srcs="$srcs $ROOT/$p" ;; esac
  done
  echo "== building $t"
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT" ${EIGEN:+-isystem "$EIGEN"} "$ROOT/fuzz/$t.cpp" $srcs $libs -o "$WORK/$t"
  mkdir -p "$WORK/corpus_$t" "$WORK/artifacts_$t"
  echo "== running $t for ${SECONDS_PER_TARGET}s"
  start=$(date +%s)
  set +e
  ASAN_OPTIONS=detect_leaks=1 "$WORK/$t" "$WORK/corpus_$t" "$ROOT/fuzz/corpus/$t" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=262144 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$WORK/artifacts_$t/" > "$WORK/$t.log" 2>&1
  rc=$?
  set -e
  end=$(date +%s)
  execs=$(grep -E "stat::number_of_executed_units" "$WORK/$t.log" | awk '{print $2}' | tail -1)
  crashes=$(ls "$WORK/artifacts_$t" | wc -l)
  echo "$t: rc=$rc duration=$((end - start))s executions=${execs:-?} crash_artifacts=$crashes log=$WORK/$t.log"
done
