#!/usr/bin/env bash
# flame/fuzz/run.sh — build the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) and run each
# for SECONDS seconds with the flame fixtures as seed corpus.
#   flame/fuzz/run.sh [SECONDS=60] [TARGETS="fuzz_pickle fuzz_npz"]
# Needs clang with the libFuzzer runtime (Debian: apt-get install -y clang; libclang-rt-14-dev if missing).
# Work files (binaries, corpora, crash artifacts, logs) go to $FF_FUZZ_DIR (default /tmp/ff_flame_fuzz).
# Prints, per target: duration, executions, and the number of crash artifacts.
set -euo pipefail
SECONDS_PER_TARGET=${1:-60}
TARGETS=${2:-"fuzz_pickle fuzz_npz"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${FF_FUZZ_DIR:-/tmp/ff_flame_fuzz}
CXX=${CXX_FUZZ:-clang++}
mkdir -p "$WORK"
command -v "$CXX" >/dev/null || { echo "clang++ not found: apt-get install -y clang" >&2; exit 1; }
SRCS="$ROOT/flame/npy.cpp $ROOT/flame/pickle.cpp $ROOT/core/check.cpp"
for t in $TARGETS; do
  echo "== building $t"
  "$CXX" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT" "$ROOT/flame/fuzz/$t.cpp" $SRCS -lz -o "$WORK/$t"
  corpus="$WORK/corpus_$t"
  mkdir -p "$corpus" "$WORK/artifacts_$t"
  case $t in
    fuzz_pickle)
      cp "$ROOT"/tests/fixtures/flame_*.pkl "$corpus"/
      # the pickle streams inside the object .npy files
      for f in "$ROOT"/tests/fixtures/flame_dynamic_embedding.npy "$ROOT"/tests/fixtures/flame_landmark_embedding_with_eyes.npy; do
        python3 - "$f" "$corpus/$(basename "$f").pkl" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(b[b.index(b'\x80'):])
PY
      done ;;
    fuzz_npz)
      cp "$ROOT"/tests/fixtures/flame_*.npz "$ROOT"/tests/fixtures/flame_*.npy "$corpus"/ ;;
  esac
  echo "== running $t for ${SECONDS_PER_TARGET}s"
  start=$(date +%s)
  set +e
  ASAN_OPTIONS=detect_leaks=1 "$WORK/$t" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -max_len=200000 \
    -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 -artifact_prefix="$WORK/artifacts_$t/" \
    > "$WORK/$t.log" 2>&1
  rc=$?
  set -e
  end=$(date +%s)
  execs=$(grep -E "stat::number_of_executed_units" "$WORK/$t.log" | awk '{print $2}' | tail -1)
  crashes=$(ls "$WORK/artifacts_$t" | wc -l)
  echo "$t: rc=$rc duration=$((end - start))s executions=${execs:-?} crash_artifacts=$crashes log=$WORK/$t.log"
done
