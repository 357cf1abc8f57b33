#!/usr/bin/env python3
"""Dense PyTorch reference of facefield's splat rasterizer (3DGS maths), written independently of splat/.

Every pixel evaluates every Gaussian (sorted by view depth, ties by index) in float64; tiles appear only
through 3DGS's radius rectangle (a Gaussian reaches only the 16x16 tiles its getRect covers). Gradients
come from torch autograd for random cotangents of image, alpha and depth.

Writes tests/fixtures/splat_ref_*.bin, read by tests/splat/test_splat_reference.cpp. Format (little
endian): magic b"FFSPLAT1", int32 count, then per array: int32 name length, name bytes, int32 dtype
(0 = float32, 1 = int32), int32 ndim, int64 dims[ndim], raw data.

Run: /usr/bin/python3 tests/reference/splat_reference.py   (Debian python3-torch 1.13)
"""
import math
import os
import struct

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = [1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396]
C3 = [-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, -0.4570457994644658,
      1.445305721320277, -0.5900435899266435]


def quat_to_rot(q):
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1).reshape(-1, 3, 3)


def sh_color(sh, deg, dirs):
    x, y, z = dirs.unbind(-1)
    b = [torch.full_like(x, C0)]
    if deg > 0:
        b += [-C1 * y, C1 * z, -C1 * x]
    if deg > 1:
        xx, yy, zz = x * x, y * y, z * z
        b += [C2[0] * x * y, C2[1] * y * z, C2[2] * (2 * zz - xx - yy), C2[3] * x * z, C2[4] * (xx - yy)]
    if deg > 2:
        b += [C3[0] * y * (3 * xx - yy), C3[1] * x * y * z, C3[2] * y * (4 * zz - xx - yy),
              C3[3] * z * (2 * zz - 3 * xx - 3 * yy), C3[4] * x * (4 * zz - xx - yy), C3[5] * z * (xx - yy),
              C3[6] * x * (xx - 3 * yy)]
    basis = torch.stack(b, -1)  # [N, K]
    rgb = (basis[:, :, None] * sh[:, :len(b), :]).sum(1) + 0.5
    return torch.clamp(rgb, min=0.0)


def render(means, scales, quats, opac, colors, sh, deg, viewmats, intr, W, H, bg):
    imgs, alphas, depths, radii_all = [], [], [], []
    N = means.shape[0]
    tiles_x, tiles_y = (W + 15) // 16, (H + 15) // 16
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    px, py = xs + 0.5, ys + 0.5
    tile_x, tile_y = (xs // 16).long(), (ys // 16).long()
    for c in range(viewmats.shape[0]):
        V = viewmats[c]
        R, t = V[:3, :3], V[:3, 3]
        fx, fy, cx, cy = intr[c].unbind()
        p = means @ R.T + t
        tz = p[:, 2]
        Rq = quat_to_rot(quats)
        S3 = Rq @ torch.diag_embed(scales * scales) @ Rq.transpose(1, 2)
        limx, limy = 1.3 * W / (2 * fx), 1.3 * H / (2 * fy)
        txc = torch.clamp(p[:, 0] / tz, -limx, limx)
        tyc = torch.clamp(p[:, 1] / tz, -limy, limy)
        zero = torch.zeros_like(tz)
        J = torch.stack([torch.stack([fx / tz, zero, -fx * txc / tz], -1),
                         torch.stack([zero, fy / tz, -fy * tyc / tz], -1)], 1)  # [N,2,3]
        M = J @ R
        cov = M @ S3 @ M.transpose(1, 2) + 0.3 * torch.eye(2)
        a, b, cc = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1]
        det = a * cc - b * b
        A, B, Cq = cc / det, -b / det, a / det
        u = fx * p[:, 0] / tz + cx
        v = fy * p[:, 1] / tz + cy
        if colors is not None:
            col = colors
        else:
            campos = -R.T @ t
            d = means - campos
            col = sh_color(sh, deg, d / d.norm(dim=-1, keepdim=True))
        # 3DGS radius and tile rectangle (pixel centres at integers: x3 = u - 0.5)
        with torch.no_grad():
            mid = 0.5 * (a + cc)
            lam1 = mid + torch.sqrt(torch.clamp(mid * mid - det, min=0.1))
            lam2 = mid - torch.sqrt(torch.clamp(mid * mid - det, min=0.1))
            rad = torch.ceil(3 * torch.sqrt(torch.maximum(lam1, lam2)))
            x3, y3 = u - 0.5, v - 0.5
            rx0 = torch.clamp(((x3 - rad) / 16).trunc(), 0, tiles_x)
            rx1 = torch.clamp(((x3 + rad + 15) / 16).trunc(), 0, tiles_x)
            ry0 = torch.clamp(((y3 - rad) / 16).trunc(), 0, tiles_y)
            ry1 = torch.clamp(((y3 + rad + 15) / 16).trunc(), 0, tiles_y)
            valid = (tz > 0.2) & (det != 0) & ((rx1 - rx0) * (ry1 - ry0) != 0)
            radii = torch.where(valid, rad, torch.zeros_like(rad)).to(torch.int32)
        order = sorted([n for n in range(N) if valid[n]], key=lambda n: (float(tz[n]), n))
        T = torch.ones(H, W)
        Cimg = torch.zeros(3, H, W)
        D = torch.zeros(H, W)
        done = torch.zeros(H, W, dtype=torch.bool)
        for n in order:
            dx, dy = u[n] - px, v[n] - py
            power = -0.5 * (A[n] * dx * dx + Cq[n] * dy * dy) - B[n] * dx * dy
            alpha = torch.clamp(opac[n] * torch.exp(power), max=0.99)
            in_rect = (tile_x >= rx0[n]) & (tile_x < rx1[n]) & (tile_y >= ry0[n]) & (tile_y < ry1[n])
            ok = in_rect & (power <= 0) & (alpha >= 1.0 / 255.0) & ~done
            test_T = T * (1 - alpha)
            stop = ok & (test_T < 1e-4)
            done = done | stop
            use = ok & ~stop
            w = torch.where(use, alpha * T, torch.zeros_like(T))
            Cimg = Cimg + w[None] * col[n][:, None, None]
            D = D + w * tz[n]
            T = torch.where(use, test_T, T)
        imgs.append(Cimg + T[None] * bg[c][:, None, None])
        alphas.append(1 - T)
        depths.append(D)
        radii_all.append(radii)
    return torch.stack(imgs), torch.stack(alphas), torch.stack(depths), torch.stack(radii_all)


def look_at(eye, target):
    """OpenCV world->camera 4x4 looking from eye at target (y down)."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    up = np.array([0.0, -1.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    V = np.eye(4)
    V[:3, :3] = R
    V[:3, 3] = -R @ eye
    return V


def write_fixture(path, arrays):
    with open(path, "wb") as f:
        f.write(b"FFSPLAT1")
        f.write(struct.pack("<i", len(arrays)))
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            code = 1 if arr.dtype == np.int32 else 0
            if code == 0:
                arr = arr.astype(np.float32)
            nb = name.encode()
            f.write(struct.pack("<i", len(nb)) + nb + struct.pack("<ii", code, arr.ndim))
            f.write(struct.pack("<%dq" % arr.ndim, *arr.shape))
            f.write(arr.tobytes())
    print("wrote", path, os.path.getsize(path), "bytes")


def f32(x):  # quantise to float32 so C++ float inputs are exactly the reference's
    return torch.tensor(np.asarray(x, dtype=np.float32), dtype=torch.float64)


def make_case(name, seed, N, W, H, C, deg, use_sh, opaque_cluster):
    rng = np.random.default_rng(seed)
    means = rng.uniform([-0.25, -0.18, -0.1], [0.25, 0.18, 0.1], size=(N, 3))
    scales = rng.uniform(0.01, 0.05, size=(N, 3))
    quats = rng.normal(size=(N, 4))
    opac = rng.uniform(0.2, 0.8, size=N)
    if opaque_cluster:  # three nearly opaque Gaussians stacked in depth: α hits 0.99 and T < 1e-4 stops
        for i in range(3):
            means[i] = [0.02, 0.01, -0.05 + 0.03 * i]
            scales[i] = [0.06, 0.05, 0.04]
            opac[i] = 0.999
    means[N - 1] = [0.0, 0.0, -2.0]  # behind every camera
    eyes = [[0.0, 0.0, -1.0], [0.25, -0.1, -0.95]]
    viewmats = np.stack([look_at(eyes[c], [0.01 * c, 0.0, 0.0]) for c in range(C)])
    intr = np.array([[55.0 + 5 * c, 52.0 + 3 * c, W / 2 + 1.7 - 3 * c, H / 2 - 2.3 + c] for c in range(C)])
    bg = rng.uniform(0, 1, size=(C, 3))
    K = (deg + 1) ** 2
    colors = rng.uniform(0, 1, size=(N, 3))
    sh = rng.normal(scale=0.4, size=(N, 16, 3))
    inputs = dict(means=f32(means), scales=f32(scales), quats=f32(quats), opac=f32(opac),
                  colors=f32(colors), sh=f32(sh[:, :max(K, 1), :]), viewmats=f32(viewmats), intr=f32(intr), bg=f32(bg))
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items() if k not in ("intr", "bg")}
    img, alpha, depth, radii = render(leaves["means"], leaves["scales"], leaves["quats"], leaves["opac"],
                                      None if use_sh else leaves["colors"], leaves["sh"] if use_sh else None, deg,
                                      leaves["viewmats"], inputs["intr"], W, H, inputs["bg"])
    d_img = f32(rng.normal(size=img.shape))
    d_alpha = f32(rng.normal(size=alpha.shape))
    d_depth = f32(rng.normal(size=depth.shape))
    loss = (img * d_img).sum() + (alpha * d_alpha).sum() + (depth * d_depth).sum()
    loss.backward()
    arrays = {"meta": np.array([N, C, W, H, deg, 1 if use_sh else 0, K], dtype=np.int32)}
    for k, v in inputs.items():
        arrays[k] = v.numpy()
    arrays.update(image=img.detach().numpy(), alpha=alpha.detach().numpy(), depth=depth.detach().numpy(),
                  radii=radii.numpy().astype(np.int32), d_image=d_img.numpy(), d_alpha=d_alpha.numpy(),
                  d_depth=d_depth.numpy())
    for k, v in leaves.items():
        if v.grad is not None:
            arrays["grad_" + k] = v.grad.numpy()
    write_fixture(os.path.join(OUT, "splat_ref_%s.bin" % name), arrays)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_case("rgb", seed=1, N=12, W=40, H=24, C=2, deg=0, use_sh=False, opaque_cluster=False)
    make_case("sh3", seed=2, N=10, W=33, H=29, C=1, deg=3, use_sh=True, opaque_cluster=True)
