#!/usr/bin/env python3
"""bench/generator_torch.py — PyTorch peer of bench/bench_generator.cpp.

Times the reference generator of tests/reference/nn_reference.py (stylegan2-ada maths, the seed configuration:
z 64, 2 mapping layers, 4→64 px, channels 512..64, 64 output channels), float32, one z, on the CPU:
forward under torch.no_grad(), and forward + backward of Σ img·r. torch.set_num_threads(nproc) (= facefield's
default); each case with torch.backends.mkldnn enabled and disabled. Run with OPENBLAS_CORETYPE unset:
  env -u OPENBLAS_CORETYPE /usr/bin/python3 bench/generator_torch.py [--repeats 10] [--fused 0|1] [--json PATH]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'reference'))
from nn_reference import Generator  # noqa: E402


def time_it(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms), min(ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--repeats', type=int, default=10)
    ap.add_argument('--fused', type=int, default=0)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--json', default='')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    G = Generator()  # the seed configuration
    z = torch.randn([1, 64])
    r = torch.randn([1, 64, 64, 64])
    fused = bool(a.fused)
    params = list(G.parameters())
    print(f'torch {torch.__version__} generator bench: threads {torch.get_num_threads()}, '
          f'params {sum(p.numel() for p in params)}, fused_modconv {int(fused)}')

    def fwd():
        with torch.no_grad():
            G(z, fused)

    def fwd_bwd():
        for p in params:
            p.grad = None
        (G(z, fused) * r).sum().backward()

    rows = []
    for mkldnn in (True, False):
        torch.backends.mkldnn.enabled = mkldnn
        for name, fn in (('forward', fwd), ('forward+backward', fwd_bwd)):
            med, mn = time_it(fn, a.warmup, a.repeats)
            rows.append(dict(impl='torch', case=name, mkldnn=mkldnn, device='cpu', threads=torch.get_num_threads(),
                             fused_modconv=int(fused), median_ms=round(med, 4), min_ms=round(mn, 4),
                             repeats=a.repeats))
    print(f'{"case":18s} {"mkldnn":>6s} {"median ms":>10s} {"min ms":>10s}')
    for row in rows:
        print(f'{row["case"]:18s} {str(row["mkldnn"]):>6s} {row["median_ms"]:10.2f} {row["min_ms"]:10.2f}')
    if a.json:
        with open(a.json, 'w') as f:
            for row in rows:
                f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
    main()
