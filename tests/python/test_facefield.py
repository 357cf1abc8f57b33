#!/usr/bin/env python3
"""tests/python/test_facefield.py — the Python module (python/facefield) against the C API (ctest python/module).

Makes a tiny model without training it (build/train --toy true --steps 1: one optimiser step of a small toy run,
then build/export to a model pack), then checks through `import facefield`: both files open with the same
identities and codes; renders of an identity and of a code agree bit for bit with the C API's render of the same
camera (tests/python/render_reference.c); decoded arrays, a blend, Gaussians from arrays; .ply written with the
SH-3 layout (default) and SH 0 and read back, a y-down .ply turned back by the reader; fit_image's errors and
fit.json reading.

    python3 tests/python/test_facefield.py BUILD_DIR WORK_DIR      (exit 77: skipped, the reason printed)
"""
import json
import os
import shutil
import struct
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is missing for %s (Debian: apt-get install python3-numpy; scripts/setup.sh installs it)"
          % sys.executable)
    sys.exit(77)

build, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.join(build, "python"))
import facefield as ff  # noqa: E402

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def run(*cmd):
    r = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(map(str, cmd)), r.stdout, r.stderr))
    return r.stdout


if os.path.exists(work):
    shutil.rmtree(work)
os.makedirs(work)

# ---- a tiny model: one step of a small toy run, exported as a pack ----------------------------------------------
run(os.path.join(build, "train"), "--toy", "true", "--steps", "1", "--out_dir", os.path.join(work, "run"),
    "--toy_subjects", "2", "--toy_views", "2", "--model.tex_res", "16", "--model.channel_base", "256",
    "--model.channel_max", "32", "--model.K", "2", "--max_heldout_subjects", "0", "--threads", "2")
ckpt = os.path.join(work, "run", "checkpoints", sorted(os.listdir(os.path.join(work, "run", "checkpoints")))[-1])
pack = os.path.join(work, "m.ffpk")
run(os.path.join(build, "export"), "--model", ckpt, "--out", pack, "--threads", "2")

print("facefield", ff.version())
check(ff.version().startswith("1."), "version string")
mc, mp = ff.Model(ckpt, threads=2), ff.Model(pack, threads=2)
print(mc)
check(mc.num_identities == 2 and mp.num_identities == 2, "two identities in the checkpoint and the pack")
check(mc.identities == mp.identities and all(mc.identities), "identity names %s" % mc.identities)
check(np.array_equal(mc.code(1), mp.code(1)), "codes equal in checkpoint and pack")
check(mc.positions().shape == (mc.num_gaussians, 3), "mean positions shape")


def reference(model, what, cam, name):
    """The C API's render (tests/python/render_reference.c) of an identity index or a code."""
    arg = str(what)
    if not isinstance(what, int):
        arg = os.path.join(work, name + ".f32")
        np.asarray(what, dtype=np.float32).tofile(arg)
    out = os.path.join(work, name + ".rgba")
    nums = [cam.width, cam.height] + ["%.9g" % v for v in (cam.fx, cam.fy, cam.cx, cam.cy)]
    nums += ["%.9g" % v for v in cam.viewmat.reshape(16)]
    run(os.path.join(build, "python_render_reference"), model.path, arg, out, *nums)
    return np.fromfile(out, dtype=np.uint8).reshape(cam.height, cam.width, 4)


# ---- renders: bit for bit with the C API -------------------------------------------------------------------------
g1 = mp.decode(1)
cam = ff.front_camera(g1, 64, 48, yaw_deg=25, pitch_deg=10)
img = mp.render(1, cam)
check(img.shape == (48, 64, 4) and img.dtype == np.uint8, "render -> (H, W, 4) uint8")
check(img[..., 3].max() > 0, "the face covers pixels")
for model, name in ((mp, "pack"), (mc, "ckpt")):
    check(np.array_equal(model.render(1, cam), reference(model, 1, cam, "id1_" + name)),
          "%s: identity 1 render == the C API's, bit for bit" % name)
code = 0.5 * mp.code(0) + 0.5 * mp.code(1)
check(np.array_equal(mp.render(code, cam), reference(mp, code, cam, "code")),
      "a code's render == the C API's, bit for bit")
cam2 = ff.Camera(cam.viewmat, cam.fx * 1.5, cam.fy * 1.5, 20.25, 30.5, 40, 56)
check(np.array_equal(mc.render(0, cam2), reference(mc, 0, cam2, "id0_cam2")), "another camera, bit for bit")

# ---- decoded arrays -----------------------------------------------------------------------------------------------
a = g1.arrays()
n = mp.num_gaussians
check(len(g1) == n and a["means"].shape == (n, 3) and a["scales"].shape == (n, 3) and
      a["rotations"].shape == (n, 4) and a["opacities"].shape == (n,) and a["colors"].shape == (n, 3),
      "arrays(): shapes")
check(all(v.dtype == np.float32 for v in a.values()), "arrays(): float32")
check(np.array_equal(a["means"], mp.positions(1)), "identity 1's means are its positions")
check(bool((a["scales"] > 0).all() and (a["opacities"] >= 0).all() and (a["opacities"] <= 1).all()), "value ranges")
mix = mp.mix([0, 1], [0.5, 0.5]).arrays()
pos = 0.5 * mp.positions(0) + 0.5 * mp.positions(1)
byhand = mp.decode(code, positions=pos).arrays()
check(all(np.array_equal(mix[k], byhand[k]) for k in mix), "mix == decode(blended code, blended positions)")
g2 = ff.gaussians_from_arrays(a)
check(np.array_equal(mp.render(g2, cam), img), "Gaussians from arrays render as the decoded ones")

# ---- .ply: SH-3 layout by default, SH 0, y-down ------------------------------------------------------------------


def header(path):
    with open(path, "rb") as f:
        b = f.read()
    return b[:b.index(b"end_header\n")].decode().splitlines(), len(b)


p3, p0, pd = (os.path.join(work, f) for f in ("sh3.ply", "sh0.ply", "down.ply"))
ff.write_ply(p3, a)
ff.write_ply(p0, g1, sh_degree=0)
ff.write_ply(pd, a, up="-y")
h3, s3 = header(p3)
h0, s0 = header(p0)
hd, _ = header(pd)
check("property float f_rest_44" in h3 and "property float f_rest_0" not in h0, "SH-3 layout by default, SH 0 on request")
check(s3 - len("\n".join(h3)) - 12 == n * 62 * 4, "SH-3 file: 62 floats per Gaussian")
check(any(l.startswith("comment facefield up -y") for l in hd), "y-down file says so in its header")
for path in (p3, p0, pd):
    b = ff.read_ply(path)
    check(np.array_equal(b["means"], a["means"]) and np.allclose(b["colors"], a["colors"], atol=1e-6) and
          np.allclose(b["opacities"], a["opacities"], atol=1e-6), "%s reads back" % os.path.basename(path))
qa = a["rotations"] / np.linalg.norm(a["rotations"], axis=1, keepdims=True)
check(np.allclose(ff.read_ply(pd)["rotations"], qa, atol=1e-6), "y-down rotations turn back")
with open(pd, "rb") as f:
    raw = f.read()
body = raw.index(b"end_header\n") + 11
x, y, z = struct.unpack_from("<3f", raw, body)
check((x, y, z) == (a["means"][0, 0], -a["means"][0, 1], -a["means"][0, 2]), "y-down file stores (x, -y, -z)")
ff.save(os.path.join(work, "g.splat"), a)
check(ff.read_ply(os.path.join(work, "g.splat"))["means"].shape == (n, 3), ".splat written and read")
try:
    ff.load_gaussians(os.path.join(work, "run", "config.json"))
    check(False, "a foreign file is refused")
except ff.Error as e:
    check(e.status == "FF_ERROR_FORMAT" and "config.json" in str(e), "a foreign file is refused: %s" % e)

# ---- photo fitting: fit_image's failure surfaces, fit.json reads ----------------------------------------------
fit_prog = os.path.join(build, "fit_image")
if os.path.exists(fit_prog):
    try:
        ff.fit_image(pack, os.path.join(work, "no_such_photo.jpg"), os.path.join(work, "fit"), fit_prog)
        check(False, "fit_image on a missing photo fails")
    except ff.Error as e:
        check("no_such_photo.jpg" in str(e), "fit_image on a missing photo raises facefield.Error: %s" % str(e)[:120])
else:
    print("skip  fit_image run: %s is not built" % fit_prog)
fitdir = os.path.join(work, "fitted")
os.makedirs(fitdir)
V = cam.viewmat.reshape(16).tolist()
with open(os.path.join(fitdir, "fit.json"), "w") as f:
    json.dump({"code": code.tolist(), "viewmat": V, "camera": {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy,
                                                              "width": cam.width, "height": cam.height}}, f)
ff.write_ply(os.path.join(fitdir, "face.ply"), mp.decode(code, positions=pos))
fit = ff.read_fit(os.path.join(fitdir, "fit.json"))
check(np.array_equal(fit["code"], code) and np.array_equal(fit["positions"], pos), "read_fit: code and positions")
check(np.array_equal(mp.render(fit["code"], fit["camera_object"], positions=fit["positions"]),
                     mp.render(code, cam, positions=pos)), "read_fit: the photo camera")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
shutil.rmtree(work)
print("all checks passed")
