#!/usr/bin/env python3
"""PyTorch CPU peer of bench_core: the same kernels and shapes, timed the same way (warm-up, repeats,
median). Runs every kernel in each of torch's configurations (oneDNN on/off; Adam foreach on/off) and
reports each configuration and the best, with GFLOP/s. Records the CPU model and torch's BLAS (for OpenBLAS,
the kernel family it picked for this CPU: openblas_get_corename), which compare.py prints.
Usage: torch_core.py --threads N --json PATH [--quick]"""
import argparse, ctypes, ctypes.util, json, statistics, time
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--json", required=True)
ap.add_argument("--quick", action="store_true")
ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
args = ap.parse_args()
torch.set_num_threads(args.threads)
DEV = torch.device(args.device)
sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
if args.device == "cuda":  # exact fp32 like facefield's CUDA backend (no TF32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(0)
REPS = 3 if args.quick else 10


def timeit(fn, reps=REPS, warmup=2):
    """(median wall ms, min wall ms, median process-CPU ms) — the CPU time is comparable on a busy machine."""
    for _ in range(warmup):
        fn()
    sync()
    t, c = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        sync()
        t.append((time.perf_counter() - t0) * 1e3)
        c.append((time.process_time() - c0) * 1e3)
    t.sort(); c.sort()
    return t[len(t) // 2], t[0], c[len(c) // 2]


GEN_GEMMS = [(512, 80, 4608), (256, 288, 2304), (128, 1088, 1152), (64, 4224, 576), (512, 4608, 80)]
FLOPS = {"sgemm 1024^3": 2.0 * 1024 ** 3,
         "conv2d 3x3 b4 256->256 64x64 fwd": 2.0 * 4 * 256 * 256 * 9 * 64 * 64,
         "conv2d 3x3 b4 256->256 64x64 fwd+bwd": 3 * 2.0 * 4 * 256 * 256 * 9 * 64 * 64,
         "grouped conv (modconv) g4 128->64 64x64 fwd": 2.0 * 4 * 64 * 128 * 9 * 64 * 64,
         "grouped conv (modconv) g4 128->64 64x64 fwd+bwd": 3 * 2.0 * 4 * 64 * 128 * 9 * 64 * 64}
for m, n, k in GEN_GEMMS:
    FLOPS[f"sgemm {m}x{n}x{k} (generator)"] = 2.0 * m * n * k


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def blas_info():
    """torch's BLAS; for OpenBLAS the core type whose kernels it runs (e.g. Zen, Haswell, SkylakeX)."""
    cfg = torch.__config__.show()
    blas = next((l.split("=", 1)[1] for l in cfg.replace(",", "\n").splitlines() if "BLAS_INFO" in l), "unknown")
    for name in ("libopenblas.so.0", ctypes.util.find_library("openblas")):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return f"OpenBLAS, {lib.openblas_get_corename().decode()} kernels"
        except (OSError, AttributeError, TypeError):
            continue
    return blas.strip()


def cases(mkldnn):
    torch.backends.mkldnn.enabled = mkldnn
    out = {}
    a, b = torch.randn(1024, 1024, device=DEV), torch.randn(1024, 1024, device=DEV)
    out["sgemm 1024^3"] = timeit(lambda: a @ b)
    for m, n, k in GEN_GEMMS:
        ga, gb = torch.randn(m, k, device=DEV), torch.randn(k, n, device=DEV)
        out[f"sgemm {m}x{n}x{k} (generator)"] = timeit(lambda: ga @ gb)
    x = torch.randn(4, 256, 64, 64, device=DEV)
    w = (torch.randn(256, 256, 3, 3, device=DEV) * 0.02)
    with torch.no_grad():
        out["conv2d 3x3 b4 256->256 64x64 fwd"] = timeit(lambda: torch.nn.functional.conv2d(x, w, padding=1), min(REPS, 5))
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()

    def conv_fb():
        xg.grad = None; wg.grad = None
        torch.nn.functional.conv2d(xg, wg, padding=1).sum().backward()
    out["conv2d 3x3 b4 256->256 64x64 fwd+bwd"] = timeit(conv_fb, min(REPS, 5))
    xm = torch.randn(1, 4 * 128, 64, 64, device=DEV).requires_grad_()
    wm = (torch.randn(4 * 64, 128, 3, 3, device=DEV) * 0.05).requires_grad_()
    with torch.no_grad():
        out["grouped conv (modconv) g4 128->64 64x64 fwd"] = timeit(lambda: torch.nn.functional.conv2d(xm, wm, padding=1, groups=4))

    def mod_fb():
        xm.grad = None; wm.grad = None
        torch.nn.functional.conv2d(xm, wm, padding=1, groups=4).sum().backward()
    out["grouped conv (modconv) g4 128->64 64x64 fwd+bwd"] = timeit(mod_fb)
    tex = torch.randn(1, 64, 64, 64, device=DEV).requires_grad_()
    grid = (torch.rand(1, 1, 3007, 2, device=DEV) * 2 - 1).requires_grad_()
    with torch.no_grad():
        out["grid_sample 64ch 64x64 @3007 fwd"] = timeit(
            lambda: torch.nn.functional.grid_sample(tex, grid, mode="bilinear", padding_mode="zeros", align_corners=False), 50)

    def gs_fb():
        tex.grad = None; grid.grad = None
        torch.nn.functional.grid_sample(tex, grid, mode="bilinear", padding_mode="zeros", align_corners=False).sum().backward()
    out["grid_sample 64ch 64x64 @3007 fwd+bwd"] = timeit(gs_fb, 50)
    variants = [("foreach", False), ("foreach", True)] + ([("fused", True)] if args.device == "cuda" else [])
    for kind, on in variants:
        p = torch.randn(10_000_000, device=DEV).requires_grad_()
        p.grad = torch.randn(10_000_000, device=DEV)
        opt = torch.optim.Adam([p], lr=1e-3, **{kind: on})
        out[f"adam 10M params|{kind}={on}"] = timeit(opt.step)
    return out


configs = {"mkldnn=on": cases(True), "mkldnn=off": cases(False)} if args.device == "cpu" else {"cuda": cases(False)}
best = {}
for cname, res in configs.items():
    for k, (med, mn, cpu) in res.items():
        base = k.split("|")[0]
        label = cname + ("," + k.split("|")[1] if "|" in k else "")
        if base not in best or med < best[base]["median_ms"]:
            best[base] = {"median_ms": med, "min_ms": mn, "cpu_ms": cpu, "config": label}
json.dump({"torch": torch.__version__, "threads": args.threads, "device": args.device, "cpu_model": cpu_model(),
           "blas": blas_info(), "configs": {c: {k: v[0] for k, v in r.items()} for c, r in configs.items()},
           "best": best}, open(args.json, "w"), indent=1)
print(f"torch {torch.__version__} on {cpu_model()}, {args.threads} threads; BLAS: {blas_info()}")
for k, v in best.items():
    gf = f"{FLOPS[k] / v['median_ms'] * 1e-6:8.1f} GFLOP/s" if k in FLOPS else " " * 16
    print(f"torch {k:44s} {v['median_ms']:10.3f} ms {gf}  ({v['config']})")
