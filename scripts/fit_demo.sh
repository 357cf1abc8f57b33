#!/usr/bin/env bash
# fit_demo.sh — fit_image end to end on the shared Grace Hopper portrait with a trained checkpoint.
#   scripts/fit_demo.sh [RUN_DIR_OR_CKPT] [BUILD_DIR] [OUT_DIR]
# RUN_DIR_OR_CKPT: a training output folder (its newest checkpoints/step_*.ffck is used) or a .ffck file
# (default runs/default). Detection uses dlib when the build has it; FF_DEMO_LANDMARKS=1 uses the shared
# reference landmarks instead. Extra fit_image options can be given in FIT_ARGS.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
run="${1:-runs/default}"
build="${2:-build}"
out="${3:-demo/fit_grace_hopper}"
photo="$here/../shared/data/photos/grace_hopper_512x512.jpg"
[ -f "$photo" ] || photo="/work/shared/data/photos/grace_hopper_512x512.jpg"
if [ -d "$run" ]; then
  ckpt="$(ls "$run"/checkpoints/step_*.ffck 2>/dev/null | sort | tail -1 || true)"
else
  ckpt="$run"
fi
[ -n "${ckpt:-}" ] && [ -f "$ckpt" ] || { echo "fit_demo: no checkpoint in '$run' (train first)" >&2; exit 1; }
args=(--model "$ckpt" --image "$photo" --out "$out")
if [ "${FF_DEMO_LANDMARKS:-0}" = 1 ]; then args+=(--landmarks "${photo%.jpg}.dlib68.txt"); fi
echo "[fit_demo] $build/fit_image ${args[*]} ${FIT_ARGS:-}"
"$build/fit_image" "${args[@]}" ${FIT_ARGS:-}
echo "[fit_demo] outputs in $out: overlay.png turntable.gif face.ply metrics.json"
