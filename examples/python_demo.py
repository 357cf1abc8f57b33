#!/usr/bin/env python3
"""examples/python_demo.py — facefield from Python: open a model, list identities, render a blend of two identities
from a few angles, save the Gaussians as .ply (SH-3 layout, y-down for COLMAP-style viewers) and .splat.

    cmake --build build --target python                # build/python/facefield/ (module + libfacefield.so)
    PYTHONPATH=build/python python3 examples/python_demo.py runs/demo/checkpoints/step_00008000.ffck out_demo
    PYTHONPATH=build/python python3 examples/python_demo.py MODEL OUT --fit fit_me/fit.json   # blend with a fitted face

Writes OUT/view_*.ppm (RGBA composited on white, viewable anywhere), OUT/blend.ply, OUT/blend.splat.
"""
import argparse
import os

import numpy as np

import facefield as ff


def save_ppm(path, rgba):
    a = rgba[..., 3:4].astype(np.float32) / 255
    rgb = (rgba[..., :3].astype(np.float32) * a + 255 * (1 - a)).round().astype(np.uint8)  # over white
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (rgb.shape[1], rgb.shape[0]) + rgb.tobytes())


p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("model", help="checkpoint (.ffck) or model pack (.ffpk)")
p.add_argument("out", help="output folder (created)")
p.add_argument("--fit", help="a fit_image fit.json to blend with identity 0 instead of identity 1")
p.add_argument("--size", type=int, default=384)
args = p.parse_args()

m = ff.Model(args.model)
print(m)
for i, name in enumerate(m.identities):
    print("  identity %d: %s" % (i, name or "(unnamed)"))
os.makedirs(args.out, exist_ok=True)

if args.fit:
    fit = ff.read_fit(args.fit)
    other_code, other_pos = fit["code"], fit["positions"]
else:
    other_code, other_pos = m.code(min(1, m.num_identities - 1)), m.positions(min(1, m.num_identities - 1))
code = 0.5 * m.code(0) + 0.5 * other_code
pos = 0.5 * m.positions(0) + 0.5 * (other_pos if other_pos is not None else m.positions(-1))
g = m.decode(code, positions=pos)
arrays = g.arrays()
print("blend: %d Gaussians, mean opacity %.3f" % (len(g), arrays["opacities"].mean()))

for k, yaw in enumerate((-40, 0, 40)):
    cam = ff.front_camera(g, args.size, yaw_deg=yaw, pitch_deg=5)
    save_ppm(os.path.join(args.out, "view_%d.ppm" % k), m.render(g, cam))
ff.write_ply(os.path.join(args.out, "blend.ply"), g, up="-y")  # SH-3 layout (default), y-down world
ff.save(os.path.join(args.out, "blend.splat"), g)
print("wrote %s/view_0..2.ppm, blend.ply (y-down), blend.splat" % args.out)
