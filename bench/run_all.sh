#!/usr/bin/env bash
# run_all.sh BUILD_DIR — runs facefield's benches and their PyTorch peers, writes bench/results/.
# On a machine with a usable GPU it also runs the CUDA variants.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
res=$root/bench/results
mkdir -p "$res"
threads=$(nproc)
unset OPENBLAS_CORETYPE   # the image pins Haswell kernels, which halves torch's sgemm: give the peer its best
export OMP_PROC_BIND=${OMP_PROC_BIND:-false}
"$build/bench_core" --threads "$threads" --json "$res/core_cpu.json" ${FF_BENCH_QUICK:+--quick}
PY=${PYTHON:-/usr/bin/python3}
if $PY -c "import torch" 2>/dev/null; then
  $PY "$root/bench/torch_core.py" --threads "$threads" --json "$res/core_torch_cpu.json" ${FF_BENCH_QUICK:+--quick}
  $PY "$root/bench/compare.py" "$res/core_cpu.json" "$res/core_torch_cpu.json" "$res/core_cpu.md" \
    "sgemm=1.0" "conv2d 3x3 b4 256->256 64x64 fwd+bwd=0.9" "grid_sample 64ch 64x64 @3007 fwd+bwd=1.0" "adam=1.0"
fi
for b in "$build"/bench_*; do
  n=$(basename "$b")
  [ "$n" = bench_core ] && continue
  [ -x "$b" ] || continue
  echo "== $n"
  "$b" --threads "$threads" --json "$res/${n#bench_}_cpu.json" ${FF_BENCH_QUICK:+--quick} || echo "$n failed"
done
if "$build/bench_core" --device cuda --quick >/dev/null 2>&1; then  # a usable GPU
  "$build/bench_core" --device cuda --json "$res/core_cuda.json"
  if $PY -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    $PY "$root/bench/torch_core.py" --device cuda --threads "$threads" --json "$res/core_torch_cuda.json"
    $PY "$root/bench/compare.py" "$res/core_cuda.json" "$res/core_torch_cuda.json" "$res/core_cuda.md"
  fi
fi
