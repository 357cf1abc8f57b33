#!/usr/bin/env bash
# time_fit.sh BUILD_DIR MODEL PHOTOS_DIR DEVICE OUT.md [RUNS] — times the whole fit_image command (detail stage
# on, the defaults) on the photos of issue #15's goal: Grace Hopper and every face fit_image accepts in the two
# group photos (largest first), RUNS times each (default 2: the first one on a GPU includes
# loading the CUDA kernels). Writes a Markdown table to OUT.md: wall seconds, peak resident memory, masked
# PSNR/SSIM, and fit_image's own phase seconds. DEVICE: cpu or cuda. scripts/gpu_check.sh calls it on a GPU
# machine when FF_FIT_MODEL and FF_FIT_PHOTOS are set; on the CPU it is the same measurement as make eval's.
set -uo pipefail
if [ $# -lt 5 ]; then
  echo "usage: $0 BUILD_DIR MODEL PHOTOS_DIR cpu|cuda OUT.md [RUNS]" >&2
  exit 2
fi
build=$1 model=$2 photos=$3 device=$4 out=$5 runs=${6:-2}
fit=$build/fit_image
[ -x "$fit" ] || { echo "time_fit: $fit is not built" >&2; exit 1; }
[ -f "$model" ] || { echo "time_fit: no model file $model" >&2; exit 1; }
[ -d "$photos" ] || { echo "time_fit: no photo folder $photos" >&2; exit 1; }
case $device in cpu | cuda) ;; *) echo "time_fit: device must be cpu or cuda, got '$device'" >&2; exit 2 ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# metric FILE KEY: a number from the "photo" block of fit_image's metrics.json (the result's masked scores)
metric() { grep -A3 '"photo": {' "$1" | grep -o "\"$2\": *[-0-9.e+]*" | head -1 | sed 's/.*: *//' | cut -c1-6; }
{
  echo "# fit_image, whole command, --device $device"
  echo
  echo "Model: \`$(basename "$model")\`. Machine: $(nproc) CPU threads ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))."
  if [ "$device" = cuda ] && command -v nvidia-smi >/dev/null; then
    echo "GPU: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)."
  fi
  echo "Times are the command's wall-clock seconds (/usr/bin/time), from start to exit, outputs and turntable included."
  echo
  echo "| photo | face | run | wall s | peak RSS MB | masked PSNR dB | masked SSIM | phases (s) |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$out"
for photo in grace_hopper_512x512.jpg group_sample2.jpg group_sample4.jpg; do
  [ -f "$photos/$photo" ] || { echo "| $photo | – | – | missing | | | | |" >> "$out"; continue; }
  face=0
  while :; do
    for run in $(seq 1 "$runs"); do
      dir=$work/fit_${photo%.*}_$face
      rm -rf "$dir"
      if ! /usr/bin/time -f "%e %M" -o "$work/time" "$fit" --model "$model" --image "$photos/$photo" --face "$face" \
        --device "$device" --out "$dir" --progress false > "$work/log" 2>&1; then
        # past the last accepted face fit_image says "--face N out of range" and exits 1
        if grep -q -- "--face $face out of range" "$work/log" && [ "$face" -gt 0 ]; then break 2; fi
        echo "| $photo | $face | $run | failed: $(tail -1 "$work/log" | cut -c1-80) | | | | |" >> "$out"
        break 2
      fi
      read -r wall rss_kb < "$work/time"
      m=$dir/metrics.json
      phases=$(sed -n '/"seconds": {/,/}/p' "$m" | grep -o '"[a-z_]*": *[0-9.][0-9.]*' | sed 's/"//g; s/: */ /' |
        awk '{printf "%s%s %.2f", (NR > 1 ? ", " : ""), $1, $2}')
      echo "| $photo | $face | $run | $wall | $((rss_kb / 1024)) | $(metric "$m" psnr_mask) | $(metric "$m" ssim_mask) | $phases |" >> "$out"
    done
    face=$((face + 1))
    [ "$photo" = grace_hopper_512x512.jpg ] && break
  done
done
echo "time_fit: wrote $out"
