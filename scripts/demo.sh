#!/usr/bin/env bash
# scripts/demo.sh — facefield's main demo on the built-in default, end to end on a CPU:
#   1. `ffdata synth` writes 24 synthetic identities (20 train + 4 held out) × 16 views at 176×256, each in 3
#      expression sequences × 2 timesteps (the last sequence of every training identity held out for the
#      held-out-expression evaluation; docs/animation.md §6) into data/demo-expr (skipped when it is already there),
#   2. `train --config configs/demo.json` learns the identity model (checkpoints, .ply, eval grids, loss curve
#      in runs/demo),
#   3. prints held-out PSNR/SSIM beside the mean-code baseline (held-out views, held-out identities, held-out
#      expressions animated and static).
# Usage: scripts/demo.sh [BUILD_DIR] [extra train options...]   (BUILD_DIR default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
shift || true
DATA=data/demo-expr
OUT=runs/demo
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # no spinning OpenMP barriers on a shared 2-core machine
for exe in ffdata train; do
  if [ ! -x "$BUILD/$exe" ]; then echo "demo: $BUILD/$exe is missing (build first: make)" >&2; exit 1; fi
done
start=$(date +%s)
if [ ! -f "$DATA/split.json" ]; then
  echo "== demo: synthesising the built-in default dataset into $DATA"
  "$BUILD/ffdata" synth --out "$DATA" --n 24 --heldout 4 --width 176 --height 256 --seed 0 --sequences 3 --timesteps 2
else
  echo "== demo: using the dataset in $DATA"
fi
echo "== demo: training (configs/demo.json) → $OUT"
# A fresh run: remove what the trainer wrote into $OUT before, and nothing else (never a file the demo did not
# create). fit_demo.sh's folder is fit_image's to replace: it refuses one that is not its own output.
if [ -d "$OUT" ]; then
  for f in cameras.json checkpoints config.json eval loss_curve.png losses.csv metrics.csv metrics.json point_cloud; do
    rm -rf "${OUT:?}/$f"
  done
  left=$(ls -A "$OUT")
  if [ -n "$left" ]; then echo "== demo: kept in $OUT (not the trainer's): $(echo $left)"; fi
fi
"$BUILD/train" --config configs/demo.json --data_dir "$DATA" --out_dir "$OUT" "$@"
end=$(date +%s)
echo
echo "== demo: held-out results ($OUT/metrics.json; grids in $OUT/eval/, loss curve $OUT/loss_curve.png)"
python3 - "$OUT/metrics.json" <<'PY' 2>/dev/null || cat "$OUT/metrics.json"
import json, sys
m = json.load(open(sys.argv[1]))
names = {"heldout_views": "held-out views of training identities", "heldout_ids": "held-out identities (code fitted on one view)",
         "train_views": "training views", "heldout_expr": "held-out expressions, animated",
         "heldout_expr_static": "held-out expressions, static (neutral)"}
for k, v in m["eval"].items():
    print(f"  {names.get(k, k):48s} PSNR {v['psnr']:6.2f} dB (face mask {v['psnr_mask']:6.2f})  SSIM {v['ssim']:.4f} (face mask {v['ssim_mask']:.4f})")
    print(f"  {'   mean-code baseline':48s} PSNR {v['mean_code_psnr']:6.2f} dB (face mask {v['mean_code_psnr_mask']:6.2f})  SSIM {v['mean_code_ssim']:.4f} (face mask {v['mean_code_ssim_mask']:.4f})")
print(f"  {m['steps']} steps, {1000*m['seconds_per_step']:.1f} ms/step")
PY
echo "== demo: done in $((end - start)) s"
