#!/usr/bin/env python3
"""Joins a facefield bench JSON with its PyTorch peer JSON and prints/writes the speed-ratio table
(ratio = torch median / facefield median: > 1 means facefield is faster).
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
    machine = (f"Machine: {cpu}, {subprocess.getoutput('nproc')} cores; {ff['threads']} threads for both; "
               f"torch with OpenBLAS (OPENBLAS_CORETYPE unset), best of its configurations per kernel.")
lines = [f"# {ff['suite']} bench: facefield vs PyTorch {th['torch']} ({dev})", "", machine, "",
         "Ratios are torch time / facefield time (> 1: facefield faster), from wall-clock medians and, for a busy",
         "machine, from process CPU time (all threads) — the CPU-time ratio is the one to trust when the load average",
         f"exceeds the core count (load during this run: {open('/proc/loadavg').read().split()[0:3]}).", "",
         f"Bars are judged on the {'wall-clock' if use_wall else 'CPU-time'} ratio (1-min load {load1} vs {ncores} cores).", "",
         "| kernel | facefield ms (cpu ms) | torch ms (cpu ms), best config | ratio wall | ratio cpu | bar | ok |",
         "|---|---|---|---|---|---|---|"]
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
    lines.append(f"| {r['name']} | {r['median_ms']:.3f} ({r['cpu_ms']:.1f}) | {b['median_ms']:.3f} ({b['cpu_ms']:.1f}), "
                 f"{b['config']} | {ratio:.2f}× | {rcpu:.2f}× | {'' if bar is None else f'≥{bar}×'} | {ok} |")
text = "\n".join(lines) + "\n"
print(text)
open(out, "w").write(text)
