#!/usr/bin/env bash
# train/data/fuzz/run.sh — build the data-layer libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) and
# run each for SECONDS seconds, seeded with valid inputs written by `ffdata synth` (camera_params.json, tracking
# npz) plus hand-made variants (per-camera intrinsics, float64/int64 npz from the flame fixtures' writer).
#   train/data/fuzz/run.sh [SECONDS=60] [TARGETS="fuzz_camera_json fuzz_tracking_npz"]
# Work files (binaries, corpora, crash artifacts, logs) go to $FF_FUZZ_DIR (default /tmp/ff_data_fuzz).
# Needs a built ffdata ($FFDATA, default build-data/ffdata or build/ffdata) to make the seed corpus.
# Prints, per target: duration, executions, and the number of crash artifacts.
set -euo pipefail
SECONDS_PER_TARGET=${1:-60}
TARGETS=${2:-"fuzz_camera_json fuzz_tracking_npz"}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
WORK=${FF_FUZZ_DIR:-/tmp/ff_data_fuzz}
CXX=${CXX_FUZZ:-clang++}
mkdir -p "$WORK"
command -v "$CXX" >/dev/null || { echo "clang++ not found: apt-get install -y clang" >&2; exit 1; }
FFDATA=${FFDATA:-}
for c in "$ROOT/build-data/ffdata" "$ROOT/build/ffdata"; do [ -z "$FFDATA" ] && [ -x "$c" ] && FFDATA=$c; done
SEEDS="$WORK/seed_dataset"
if [ ! -d "$SEEDS" ]; then
  [ -n "$FFDATA" ] || { echo "no ffdata binary to make the seed corpus (set FFDATA)" >&2; exit 1; }
  "$FFDATA" synth --out "$SEEDS" --n 2 --heldout 1 --width 55 --height 80 --texture 32 --no-preprocess \
    --no-contact-sheets --quiet >/dev/null
fi
SRCS="$ROOT/train/data/nersemble.cpp $ROOT/flame/npy.cpp $ROOT/core/check.cpp"
EIGEN=$(for d in /usr/include/eigen3 /usr/local/include/eigen3; do [ -d "$d" ] && echo "$d" && break; done)
for t in $TARGETS; do
  echo "== building $t"
  "$CXX" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT" -isystem "$EIGEN" "$ROOT/train/data/fuzz/$t.cpp" $SRCS -lz -o "$WORK/$t"
  corpus="$WORK/corpus_$t"
  mkdir -p "$corpus" "$WORK/artifacts_$t"
  case $t in
    fuzz_camera_json)
      i=0
      for f in "$SEEDS"/*/calibration/camera_params.json; do cp "$f" "$corpus/seed_$i.json"; i=$((i + 1)); done
      # the benchmark's per-camera variant and a seed-style K·0.5
      python3 - "$SEEDS"/000/calibration/camera_params.json "$corpus" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
k = j["intrinsics"]
per = dict(j); per["intrinsics"] = {s: k for s in j["world_2_cam"]}
json.dump(per, open(sys.argv[2] + "/per_camera.json", "w"))
half = dict(j); half["intrinsics"] = [[v * 0.5 for v in row] for row in k]
json.dump(half, open(sys.argv[2] + "/half_k.json", "w"), indent=1)
PY
      ;;
    fuzz_tracking_npz)
      i=0
      for f in $(find "$SEEDS" -name '*.npz'); do cp "$f" "$corpus/seed_$i.npz"; i=$((i + 1)); done
      cp "$ROOT"/tests/fixtures/flame_dtypes*.npz "$corpus"/ ;;
  esac
  echo "== running $t for ${SECONDS_PER_TARGET}s"
  start=$(date +%s)
  set +e
  ASAN_OPTIONS=detect_leaks=1 "$WORK/$t" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 \
    -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 -artifact_prefix="$WORK/artifacts_$t/" \
    > "$WORK/$t.log" 2>&1
  rc=$?
  set -e
  end=$(date +%s)
  execs=$(grep -E "stat::number_of_executed_units" "$WORK/$t.log" | awk '{print $2}' | tail -1)
  crashes=$(ls "$WORK/artifacts_$t" | wc -l)
  echo "$t: rc=$rc duration=$((end - start))s executions=${execs:-?} crash_artifacts=$crashes log=$WORK/$t.log"
done
