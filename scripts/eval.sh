#!/usr/bin/env bash
# scripts/eval.sh — `make eval`: one trained model measured against issue 15's goals (apps/ffeval.cpp,
# train/fit/fit_eval.h): eval/report.md with PNG plots.
#   scripts/eval.sh [BUILD_DIR] [MODEL] [OUT_DIR]
# MODEL: a checkpoint (.ffck) or a training output folder (its newest checkpoints/step_*.ffck); default: the newest
# runs/demo checkpoint, and when there is none the demo model is trained first (scripts/demo.sh, data/demo).
# Photos: $FF_PHOTOS, else ../shared/data/photos; without them the photo section says so and is skipped.
# Extra ffeval options in $EVAL_ARGS (e.g. "--seed-steps 200 --detail false"; build/ffeval --help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MODEL=${2:-}
OUT=${3:-eval}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # no spinning OpenMP barriers on a shared 2-core machine
newest() { ls "$1"/checkpoints/step_*.ffck 2>/dev/null | sort | tail -1 || true; }
if [ -z "$MODEL" ]; then
  MODEL="$(newest runs/demo)"
  if [ -z "$MODEL" ]; then
    echo "== eval: no model given (MODEL=...) and no checkpoint in runs/demo: training the demo model first"
    bash scripts/demo.sh "$BUILD"
    MODEL="$(newest runs/demo)"
  fi
elif [ -d "$MODEL" ]; then
  MODEL="$(newest "$MODEL")"
fi
[ -n "$MODEL" ] && [ -f "$MODEL" ] || { echo "eval: no checkpoint found (MODEL=${2:-runs/demo})" >&2; exit 1; }
PHOTOS=${FF_PHOTOS:-../shared/data/photos}
args=(--model "$MODEL" --out "$OUT")
if [ -d "$PHOTOS" ]; then
  args+=(--photos "$PHOTOS")
else
  echo "== eval: no photo folder '$PHOTOS' (set FF_PHOTOS): the photo section is skipped"
fi
echo "== eval: $BUILD/ffeval ${args[*]} ${EVAL_ARGS:-}"
start=$(date +%s)
"$BUILD/ffeval" "${args[@]}" ${EVAL_ARGS:-}
echo "== eval: done in $(($(date +%s) - start)) s: $OUT/report.md"
