#!/usr/bin/env python3
"""Joins a facefield bench JSON with its PyTorch peer JSON and prints/writes the speed-ratio table
(ratio = torch median / facefield median: > 1 means facefield is faster). On the CPU the table names the CPU
model, facefield's sgemm micro-kernel and torch's BLAS kernels, and gives each side's GFLOP/s and % of the
FMA peak that bench_core measured (bench/bench.h: threads × FMA units × SIMD width × 2 × clock).
Usage: compare.py FF.json TORCH.json OUT.md [--bars NAME=MIN ...]"""
import json, platform, subprocess, sys

ff, th, out = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
bars = {}
for a in sys.argv[4:]:
    if "=" in a:
        k, v = a.rsplit("=", 1)
        bars[k] = float(v)
load1 = float(open('/proc/loadavg').read().split()[0])
ncores = int(subprocess.getoutput('nproc') or 1)
use_wall = load1 <= ncores  # a quiet machine: wall-clock speed is what the bars mean; a busy one: CPU time
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
dev = ff.get("device", "cpu")
if dev.startswith("cuda"):
    gpu = subprocess.getoutput("nvidia-smi --query-gpu=name,driver_version --format=csv,noheader").strip()
    machine = f"GPU: {gpu}; exact FP32 on both sides (TF32 off); CUDA events replaced by a stream sync around each call."
else:
    pk = ff.get("cpu", {})
    machine = (f"Machine: {cpu}, {subprocess.getoutput('nproc')} cores; {ff['threads']} threads for both; "
               f"torch with {th.get('blas', 'OpenBLAS')} (OPENBLAS_CORETYPE unset), best of its configurations per kernel.")
    if pk:
        machine += (f"\n\nfacefield sgemm micro-kernel: {pk['sgemm_isa']} {pk['sgemm_tile']} (chosen at run time). "
                    f"FMA peak: {ff['threads']} threads × {pk['fma_units']} FMA units × {pk['simd_width']} floats × 2 × "
                    f"{pk['clock_ghz']:.2f} GHz = {pk['core_peak_gflops'] * ff['threads']:.1f} GFLOP/s "
                    f"(clock {pk['clock_source']}; FMA units from a timed independent-FMA loop).")
lines = [f"# {ff['suite']} bench: facefield vs PyTorch {th['torch']} ({dev})", "", machine, "",
         "Ratios are torch time / facefield time (> 1: facefield faster), from wall-clock medians and, for a busy",
         "machine, from process CPU time (all threads) — the CPU-time ratio is the one to trust when the load average",
         f"exceeds the core count (load during this run: {open('/proc/loadavg').read().split()[0:3]}).", "",
         f"Bars are judged on the {'wall-clock' if use_wall else 'CPU-time'} ratio (1-min load {load1} vs {ncores} cores).", "",
         f"GFLOP/s and % of peak are {'wall-clock, against the peak of all threads' if use_wall else 'flops per process-CPU second, against one core' + chr(39) + 's peak (the machine is busy)'}. "
         "Convolution rows count a direct convolution's FLOPs; facefield's 3×3 stride-1 f32 convolutions use Winograd "
         "F(2×2,3×3) (tensor/winograd_cpu.h: 2.25× fewer multiply-adds), so their rate is an effective one and can "
         "exceed the FMA peak.", "",
         "| kernel | facefield ms (cpu ms) | GFLOP/s (% peak) | torch ms (cpu ms), best config | GFLOP/s (% peak) | ratio wall | ratio cpu | bar | ok |",
         "|---|---|---|---|---|---|---|---|---|"]
core_peak = ff.get("cpu", {}).get("core_peak_gflops", 0)


def rate(res):
    """GFLOP/s and % of peak of one result, on the bars' basis (wall or CPU time)."""
    fl = res.get("flops", 0)
    if not fl:
        return "–"
    gf = fl / res["median_ms"] * 1e-6 if use_wall else fl / res["cpu_ms"] * 1e-6
    peak = core_peak * (ff["threads"] if use_wall else 1)
    return f"{gf:.1f} ({100 * gf / peak:.0f} %)" if peak else f"{gf:.1f}"
worst_ok = True
for r in ff["results"]:
    b = th["best"].get(r["name"])
    if not b:
        continue
    ratio = b["median_ms"] / r["median_ms"]
    rcpu = b["cpu_ms"] / r["cpu_ms"] if r.get("cpu_ms") else float("nan")
    bar = next((v for k, v in bars.items() if r["name"].startswith(k)), None)
    ok = "" if bar is None else ("yes" if (ratio if use_wall else rcpu) >= bar else "NO")
    worst_ok &= ok != "NO"
    bf = dict(b, flops=r.get("flops", 0))
    lines.append(f"| {r['name']} | {r['median_ms']:.3f} ({r['cpu_ms']:.1f}) | {rate(r)} | {b['median_ms']:.3f} ({b['cpu_ms']:.1f}), "
                 f"{b['config']} | {rate(bf)} | {ratio:.2f}× | {rcpu:.2f}× | {'' if bar is None else f'≥{bar}×'} | {ok} |")
text = "\n".join(lines) + "\n"
print(text)
open(out, "w").write(text)
