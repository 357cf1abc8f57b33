#!/usr/bin/env bash
# bench/distributed.sh BUILD_DIR [STEPS] — the measurements of docs/distributed.md on this machine:
#   the demo model (configs/demo.json) on the toy scene, global batch 2, as 1 rank × 1 thread, 1 rank × 2 threads
#   and 2 ranks × 1 thread (mpirun), each run twice, interleaved; then bench_distributed (all-reduce alone).
# Prints seconds per step and, for 2 ranks, the all-reduce bytes and seconds per step (metrics.json).
set -euo pipefail
build=${1:-build}
steps=${2:-40}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/ff_distributed_bench.XXXXXX)
mpirun=$(readlink -f "$(command -v mpirun)")
mpi=("$mpirun" --oversubscribe)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
common=(--config "$root/configs/demo.json" --toy true --toy_subjects 8 --data_dir "" --steps "$steps" --batch_views 2
        --ckpt_every 0 --eval_every 0 --max_heldout_subjects 0 --eval_subjects 1 --export_subjects 1 --progress false)
report() {  # label metrics.json
  python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[2]))
print(f"{sys.argv[1]:<22} {1000 * j['seconds_per_step']:9.1f} ms/step   all-reduce {j['allreduce_bytes_per_step'] / 1e6:7.3f} MB "
      f"{1000 * j['allreduce_seconds_per_step']:7.2f} ms/step   ({j['parameters']} parameters)")
EOF
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in 1 2; do
  "$build/train" "${common[@]}" --threads 1 --out_dir "$work/r1t1" > /dev/null 2>&1
  report "1 rank  x 1 thread" "$work/r1t1/metrics.json"
  "$build/train" "${common[@]}" --threads 2 --out_dir "$work/r1t2" > /dev/null 2>&1
  report "1 rank  x 2 threads" "$work/r1t2/metrics.json"
  "${mpi[@]}" -np 2 "$build/train" "${common[@]}" --threads 1 --out_dir "$work/r2t1" > /dev/null 2>&1
  report "2 ranks x 1 thread" "$work/r2t1/metrics.json"
done
"${mpi[@]}" -np 2 "$build/bench_distributed"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$work"
