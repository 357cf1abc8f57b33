#!/usr/bin/env bash
# gpu_check.sh [OUTDIR] [TARGETS...] — on a GPU machine: configure a CUDA build (sm_90 only, to save
# time), build the given targets (default: everything), run the CUDA-enabled tests, time fit_image on the GPU
# (FF_FIT_MODEL, FF_FIT_PHOTOS) and bench the host CPU (sgemm vs OpenBLAS, the core bench), and copy logs/JSON
# into OUTDIR. Third-party headers may come from .carry/include (a copy of the Debian
# include trees) when the machine lacks the -dev packages; cuDNN from a pip nvidia-cudnn install.
set -uo pipefail
out=${1:-gpu-out}; shift || true
mkdir -p "$out"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -z "${FF_CUDNN_ROOT:-}" ]; then
  FF_CUDNN_ROOT=$(python3 -c "import nvidia.cudnn as m; print(list(m.__path__)[0])" 2>/dev/null || true)
  export FF_CUDNN_ROOT
fi
[ -n "$FF_CUDNN_ROOT" ] && export LD_LIBRARY_PATH="$FF_CUDNN_ROOT/lib:${LD_LIBRARY_PATH:-}"
extra=()
if [ -d .carry/include ]; then
  extra+=(-DCMAKE_INCLUDE_PATH="$root/.carry/include" -DCMAKE_PREFIX_PATH="$root/.carry")
  [ -f /usr/include/zlib.h ] || extra+=(-DZLIB_INCLUDE_DIR="$root/.carry/include" -DZLIB_LIBRARY=$(ls /usr/lib/x86_64-linux-gnu/libz.so* | head -1))
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFF_CUDA=ON -DFF_CUDA_ARCH=90 "${extra[@]}" > build-gpu-configure.log 2>&1 \
  || { tail -30 build-gpu-configure.log; exit 1; }
tgt=()
for t in "$@"; do tgt+=(--target "$t"); done
cmake --build build-gpu -j "$(nproc)" "${tgt[@]}" -- -k 0 > build-gpu-build.log 2>&1 || { echo "BUILD ERRORS:"; grep -E "error|Error" build-gpu-build.log | head -40; }
(cd build-gpu && ctest --output-on-failure -j 8 ${FF_CTEST_ARGS:-} 2>&1 | tee "$out/ctest.log" | tail -25)
# the whole fit_image command on the GPU (issue #15: ≤ 2 s), when a model file and the photos came along
# (e.g. FF_FIT_MODEL=runs/demo/checkpoints/step_00008000.ffck FF_FIT_PHOTOS=.carry/photos)
if [ -n "${FF_FIT_MODEL:-}" ] && [ -n "${FF_FIT_PHOTOS:-}" ]; then
  bash scripts/time_fit.sh build-gpu "$FF_FIT_MODEL" "$FF_FIT_PHOTOS" cuda "$out/fit_image_cuda.md" 2 &&
    cat "$out/fit_image_cuda.md"
fi
# the host CPU (issue #20 asks for an Intel/AVX-512 figure; GPU hosts often are Intel Xeons): its model and AVX-512
# flag, and facefield's sgemm against OpenBLAS call for call on two of its cores (the issue's 2-core setting), plus
# the CPU core bench; each step skips itself when its program or OpenBLAS is missing
{ grep -m1 'model name' /proc/cpuinfo; grep -qw avx512f /proc/cpuinfo && echo "avx512f: yes" || echo "avx512f: no"; } | tee "$out/host_cpu.txt"
# OpenBLAS: the machine's, or a copy carried in .carry/lib (Debian's libopenblas0-pthread libopenblasp-r0.3.21.so,
# 36 MB, as libopenblas.so.0) where the machine has none
blas=libopenblas.so.0
[ -f .carry/lib/libopenblas.so.0 ] && blas="$root/.carry/lib/libopenblas.so.0"
if [ -x build-gpu/bench_sgemm_ab ]; then
  taskset -c 0,1 build-gpu/bench_sgemm_ab --threads 2 --rounds 20 --openblas "$blas" --json "$out/sgemm_ab_host_2threads.json" |
    tee "$out/sgemm_ab_host_2threads.txt" | tail -9
  # on an AVX-512 host: the avx512 kernel's k slice swept (its 48-wide B sliver, kc·192 bytes, is 96 KB at the default
  # 512, more than an L1), each against OpenBLAS in the same process; the 1024³ and generator rows tell which to keep
  if grep -qw avx512f /proc/cpuinfo; then
    for kc in 128 192 256 384; do
      taskset -c 0,1 build-gpu/bench_sgemm_ab --threads 2 --rounds 10 --openblas "$blas" --kc "$kc" \
        --json "$out/sgemm_ab_host_kc$kc.json" > "$out/sgemm_ab_host_kc$kc.txt" 2>&1
      echo "kc $kc:"; grep -E '^[0-9]+x[0-9]+x[0-9]+ ' "$out/sgemm_ab_host_kc$kc.txt"
    done
  fi
fi
if [ -x build-gpu/bench_core ]; then
  taskset -c 0,1 build-gpu/bench_core --threads 2 --quick --json "$out/core_host_cpu_2threads.json" > "$out/core_host_cpu_2threads.txt" 2>&1
  tail -16 "$out/core_host_cpu_2threads.txt"
fi
