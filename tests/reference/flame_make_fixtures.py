#!/usr/bin/env python3
"""Make the small FLAME test fixtures (tests/fixtures/flame_*) and their numpy reference outputs.

Needs only Python 3, numpy and scipy (Debian python3-numpy / python3-scipy). chumpy and torch are not needed:
stand-in classes whose __module__ is chumpy.ch / torch._utils make pickle emit the same GLOBALs, and the
FLAME 2020 (Python 2, protocol 2) pickle is written opcode by opcode, as cPickle would have.

A random model in FLAME's exact layouts: V vertices on a closed latitude/longitude sphere, 5 joints with parents
[-1, 0, 1, 1, 1], shapedirs with S_SHAPE identity + S_EXPR expression columns (the loader's expr_offset splits
them, like 300/100 in real files), posedirs (V, 3, 36), sparse J_regressor (5, V), skinning weights.

The forward below is smplx.lbs / flame-pytorch written in numpy (float64): the C++ forward must match it.
Run:  /usr/bin/python3 tests/reference/flame_make_fixtures.py   (writes into tests/fixtures/)
"""
import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile
import zlib

import numpy as np
import scipy.sparse

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
N_LAT, N_LON = 6, 6
S_SHAPE, S_EXPR = 10, 5
J = 5
PARENTS = np.array([-1, 0, 1, 1, 1])
rng = np.random.default_rng(1234)


# ---------------------------------------------------------------------------------------------- model
def sphere():
    verts = [(0.0, 0.0, 1.0)]
    for i in range(1, N_LAT):
        th = np.pi * i / N_LAT
        for j in range(N_LON):
            ph = 2 * np.pi * j / N_LON
            verts.append((np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)))
    verts.append((0.0, 0.0, -1.0))
    V = len(verts)
    ring = lambda i, j: 1 + (i - 1) * N_LON + (j % N_LON)
    faces, uvf = [], []
    # uv grid: (N_LAT+1) rows × (N_LON+1) columns (seam duplicated)
    uvi = lambda i, j: i * (N_LON + 1) + j
    uvs = [(j / N_LON, 1.0 - i / N_LAT) for i in range(N_LAT + 1) for j in range(N_LON + 1)]
    for j in range(N_LON):
        faces.append((0, ring(1, j), ring(1, j + 1)))
        uvf.append((uvi(0, j), uvi(1, j), uvi(1, j + 1)))
    for i in range(1, N_LAT - 1):
        for j in range(N_LON):
            a, b, c, d = ring(i, j), ring(i + 1, j), ring(i + 1, j + 1), ring(i, j + 1)
            faces.append((a, b, c))
            uvf.append((uvi(i, j), uvi(i + 1, j), uvi(i + 1, j + 1)))
            faces.append((a, c, d))
            uvf.append((uvi(i, j), uvi(i + 1, j + 1), uvi(i, j + 1)))
    for j in range(N_LON):
        faces.append((ring(N_LAT - 1, j), V - 1, ring(N_LAT - 1, j + 1)))
        uvf.append((uvi(N_LAT - 1, j), uvi(N_LAT, j), uvi(N_LAT - 1, j + 1)))
    v = np.array(verts) * np.array([0.08, 0.1, 0.12])
    return v, np.array(faces, dtype=np.uint32), np.array(uvs), np.array(uvf, dtype=np.int64)


v_template, faces, uvs, uv_faces = sphere()
V, F = len(v_template), len(faces)
shapedirs = rng.normal(0, 0.01, (V, 3, S_SHAPE + S_EXPR))
posedirs = rng.normal(0, 0.01, (V, 3, (J - 1) * 9))
Jreg = np.zeros((J, V))
for j in range(J):
    idx = rng.choice(V, 4, replace=False)
    w = rng.uniform(0.2, 1.0, 4)
    Jreg[j, idx] = w / w.sum()
weights = rng.uniform(0, 1, (V, J)) * (rng.uniform(0, 1, (V, J)) < 0.6)
weights[:, 0] += 0.05
weights /= weights.sum(1, keepdims=True)
kintree = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)
J_rest = Jreg @ v_template


# ---------------------------------------------------------------------------------------------- forward (smplx)
def batch_rodrigues(rot_vecs):
    angle = np.linalg.norm(rot_vecs + 1e-8, axis=1, keepdims=True)
    rot_dir = rot_vecs / angle
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    rx, ry, rz = rot_dir[:, 0], rot_dir[:, 1], rot_dir[:, 2]
    z = np.zeros_like(rx)
    K = np.stack([z, -rz, ry, rz, z, -rx, -ry, rx, z], 1).reshape(-1, 3, 3)
    return np.eye(3)[None] + sin * K + (1 - cos) * (K @ K)


def flame_forward(shape, expr, pose, trans, scale):
    B = shape.shape[0]
    betas = np.concatenate([shape, expr], 1)
    dirs = np.concatenate([shapedirs[:, :, :S_SHAPE], shapedirs[:, :, S_SHAPE:S_SHAPE + S_EXPR]], 2)
    v_shaped = v_template[None] + np.einsum("bl,mkl->bmk", betas, dirs)
    Jt = np.einsum("bik,ji->bjk", v_shaped, Jreg)
    rot = batch_rodrigues(pose.reshape(-1, 3)).reshape(B, -1, 3, 3)
    pose_feature = (rot[:, 1:] - np.eye(3)).reshape(B, -1)
    P = posedirs.reshape(-1, (J - 1) * 9).T
    v_posed = v_shaped + (pose_feature @ P).reshape(B, -1, 3)
    rel = Jt.copy()
    rel[:, 1:] -= Jt[:, PARENTS[1:]]
    T = np.zeros((B, J, 4, 4))
    T[:, :, :3, :3] = rot
    T[:, :, :3, 3] = rel
    T[:, :, 3, 3] = 1
    chain = [T[:, 0]]
    for i in range(1, J):
        chain.append(chain[PARENTS[i]] @ T[:, i])
    G = np.stack(chain, 1)
    posed_joints = G[:, :, :3, 3]
    A = G.copy()
    A[:, :, :3, 3] -= np.einsum("bjik,bjk->bji", G[:, :, :3, :3], Jt)
    Tv = np.einsum("vj,bjmn->bvmn", weights, A)
    vh = np.concatenate([v_posed, np.ones((B, V, 1))], 2)
    verts = np.einsum("bvmn,bvn->bvm", Tv, vh)[:, :, :3]
    verts = scale[:, None, None] * verts + trans[:, None, :]
    joints = scale[:, None, None] * posed_joints + trans[:, None, :]
    return verts, joints


def lmk(verts, fidx, bc):
    # verts (B, V, 3); fidx (B, L); bc (B, L, 3)
    B = verts.shape[0]
    tri = faces.astype(np.int64)[fidx]  # (B, L, 3)
    pts = verts[np.arange(B)[:, None, None], tri]  # (B, L, 3, 3)
    return np.einsum("blk,blkc->blc", bc, pts)


def dyn_bin(pose):
    rot = batch_rodrigues(pose.reshape(-1, 3)).reshape(-1, J, 3, 3)
    rel = rot[:, 0] @ rot[:, 1]  # neck_kin_chain = [neck, global]: rel = R_global · R_neck
    sy = np.sqrt(rel[:, 0, 0] ** 2 + rel[:, 1, 0] ** 2)
    yaw = np.arctan2(-rel[:, 2, 0], sy)
    y = np.round(np.minimum(-yaw * 180.0 / np.pi, 39)).astype(np.int64)  # numpy rounds half to even like torch
    neg = y < 0
    return np.where(neg, np.where(y < -39, 78, 39 - y), y)


# ---------------------------------------------------------------------------------------------- stand-ins
def stub_module(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


class Ch(object):
    pass


Ch.__module__ = "chumpy.ch"
Ch.__qualname__ = "Ch"
stub_module("chumpy")
stub_module("chumpy.ch", Ch=Ch)


def make_ch(x):
    c = Ch()
    c.__dict__.update({"x": x, "_dirty_vars": set(), "_itr": None, "_depends_on_deps": True, "_make_dense": False})
    return c


def _rebuild_tensor_v2(*a):
    raise RuntimeError("stand-in")


def _load_from_bytes(b):
    raise RuntimeError("stand-in")


_rebuild_tensor_v2.__module__ = "torch._utils"
_rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
_load_from_bytes.__module__ = "torch.storage"
_load_from_bytes.__qualname__ = "_load_from_bytes"
stub_module("torch")
stub_module("torch._utils", _rebuild_tensor_v2=_rebuild_tensor_v2)
stub_module("torch.storage", _load_from_bytes=_load_from_bytes)


class FakeStorage:
    def __init__(self, blob):
        self.blob = blob

    def __reduce__(self):
        return (_load_from_bytes, (self.blob,))


class FakeTensor:
    def __init__(self, arr):
        self.arr = np.ascontiguousarray(arr)

    def __reduce_ex__(self, proto):
        a = self.arr
        stride = tuple(s // a.itemsize for s in a.strides)
        return (_rebuild_tensor_v2, (FakeStorage(b"PK-legacy-torch-blob" + a.tobytes()[:64]), 0, a.shape, stride, False,
                                     collections.OrderedDict()))


# ---------------------------------------------------------------------------------------------- Py2 pickler
class Py2Pickler:
    """Writes protocol-2 streams the way Python 2's cPickle did: str → SHORT_BINSTRING/BINSTRING, __builtin__,
    numpy arrays via numpy.core.multiarray._reconstruct, memoised globals reused with BINGET."""

    def __init__(self):
        self.out = io.BytesIO()
        self.memo = {}
        self.n = 0

    def w(self, b):
        self.out.write(b)

    def put(self):
        if self.n < 256:
            self.w(b"q" + bytes([self.n]))
        else:
            self.w(b"r" + struct.pack("<I", self.n))
        self.n += 1
        return self.n - 1

    def get(self, i):
        self.w(b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i))

    def glob(self, mod, name):
        key = (mod, name)
        if key in self.memo:
            self.get(self.memo[key])
        else:
            self.w(b"c" + mod.encode() + b"\n" + name.encode() + b"\n")
            self.memo[key] = self.put()

    def string(self, s):
        b = s if isinstance(s, bytes) else s.encode("latin1")
        if len(b) < 256:
            self.w(b"U" + bytes([len(b)]) + b)
        else:
            self.w(b"T" + struct.pack("<I", len(b)) + b)
        self.put()

    def integer(self, v):
        if 0 <= v < 256:
            self.w(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            self.w(b"M" + struct.pack("<H", v))
        elif -(2 ** 31) <= v < 2 ** 31:
            self.w(b"J" + struct.pack("<i", v))
        else:
            n = (v.bit_length() + 8) // 8
            self.w(b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True))

    def tuple_(self, items):
        if len(items) == 0:
            self.w(b")")
            return
        if len(items) <= 3:
            for x in items:
                self.obj(x)
            self.w(bytes([0x84 + len(items)]))
        else:
            self.w(b"(")
            for x in items:
                self.obj(x)
            self.w(b"t")
        self.put()

    def dtype(self, dt):
        self.glob("numpy", "dtype")
        code = dt.str[1:]
        self.string(code)
        self.integer(0)
        self.integer(1)
        self.w(b"\x87")
        self.put()
        self.w(b"R")
        self.put()
        order = "|" if dt.itemsize == 1 else "<"
        self.w(b"(")
        self.integer(3)
        self.string(order)
        self.w(b"NNN")
        self.integer(-1)
        self.integer(-1)
        self.integer(0)
        self.w(b"tb")

    def ndarray(self, a):
        self.glob("numpy.core.multiarray", "_reconstruct")
        self.glob("numpy", "ndarray")
        self.integer(0)
        self.w(b"\x85")
        self.put()
        self.string("b")
        self.w(b"\x87")
        self.put()
        self.w(b"R")
        self.put()
        self.w(b"(")
        self.integer(1)
        self.tuple_(tuple(int(d) for d in a.shape))
        self.dtype(a.dtype)
        fortran = a.flags.f_contiguous and not a.flags.c_contiguous and a.ndim > 1
        self.w(b"\x88" if fortran else b"\x89")
        self.string(a.tobytes(order="F" if fortran else "C"))
        self.w(b"tb")

    def newobj(self, mod, name, state):
        self.glob(mod, name)
        self.w(b")\x81")
        self.put()
        self.obj(state)
        self.w(b"b")

    def obj(self, x):
        if x is None:
            self.w(b"N")
        elif x is True:
            self.w(b"\x88")
        elif x is False:
            self.w(b"\x89")
        elif isinstance(x, (int, np.integer)):
            self.integer(int(x))
        elif isinstance(x, float):
            self.w(b"G" + struct.pack(">d", x))
        elif isinstance(x, (str, bytes)):
            self.string(x)
        elif isinstance(x, tuple):
            self.tuple_(x)
        elif isinstance(x, list):
            self.w(b"]")
            self.put()
            if x:
                self.w(b"(")
                for e in x:
                    self.obj(e)
                self.w(b"e")
        elif isinstance(x, set):
            self.glob("__builtin__", "set")
            self.obj([*x])
            self.w(b"\x85")
            self.put()
            self.w(b"R")
            self.put()
        elif isinstance(x, dict):
            self.w(b"}")
            self.put()
            if x:
                self.w(b"(")
                for k, v in x.items():
                    self.obj(k)
                    self.obj(v)
                self.w(b"u")
        elif isinstance(x, np.ndarray):
            self.ndarray(x)
        elif isinstance(x, Ch):
            self.newobj("chumpy.ch", "Ch", dict(x.__dict__))
        elif scipy.sparse.isspmatrix_csc(x):
            st = {"_shape": tuple(int(d) for d in x.shape), "maxprint": 50, "indices": x.indices.astype(np.int32),
                  "indptr": x.indptr.astype(np.int32), "data": x.data}
            self.newobj("scipy.sparse.csc", "csc_matrix", st)
        else:
            raise TypeError(type(x))

    def dumps(self, x):
        self.w(b"\x80\x02")
        self.obj(x)
        self.w(b".")
        return self.out.getvalue()


# ---------------------------------------------------------------------------------------------- writers
def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def zip64_npz(arrays):
    """An npz whose central directory uses zip64 extra fields (sizes and offsets 0xffffffff) and a zip64
    end-of-central-directory record, as zipfile writes for > 4 GiB archives."""
    out, cd = io.BytesIO(), io.BytesIO()
    for i, (k, a) in enumerate(arrays.items()):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a)
        raw = buf.getvalue()
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = comp.compress(raw) + comp.flush() if i % 2 == 0 else raw
        method = 8 if i % 2 == 0 else 0
        crc = zlib.crc32(raw)
        name = (k + ".npy").encode()
        off = out.tell()
        lextra = struct.pack("<HHQQ", 1, 16, len(raw), len(data))
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                              len(name), len(lextra)) + name + lextra + data)
        cextra = struct.pack("<HHQQQ", 1, 24, len(raw), len(data), off)
        cd.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0x21, crc, 0xFFFFFFFF,
                             0xFFFFFFFF, len(name), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + name + cextra)
    cd_off, cd_bytes = out.tell(), cd.getvalue()
    out.write(cd_bytes)
    z64 = out.tell()
    n = len(arrays)
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd_bytes), cd_off))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, z64, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    return out.getvalue()


def npy_bytes(a, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    J_csc = scipy.sparse.csc_matrix(Jreg)

    # FLAME 2023 as re-pickled by Python 3 (protocols 2 and 4): shapedirs is a chumpy Ch, J_regressor csc.
    d2023 = {"v_template": v_template, "f": faces, "shapedirs": make_ch(shapedirs), "posedirs": posedirs,
             "J_regressor": J_csc, "weights": weights, "kintree_table": kintree, "J": make_ch(J_rest),
             "bs_style": "lbs", "bs_type": "lrotmin"}
    write("flame_model_2023_p2.pkl", pickle.dumps(d2023, protocol=2))
    write("flame_model_2023_p4.pkl", pickle.dumps(d2023, protocol=4))
    # FLAME 2020 generic_model.pkl: a Python 2 protocol-2 pickle (bytes as BINSTRING, __builtin__.set), chumpy
    # shapedirs/posedirs/J, csc J_regressor, uint32 kintree with the garbage root parent.
    d2020 = {"J_regressor": J_csc, "f": faces, "kintree_table": kintree.astype(np.uint32), "J": make_ch(J_rest),
             "weights": weights, "posedirs": make_ch(posedirs), "v_template": v_template,
             "shapedirs": make_ch(shapedirs), "bs_style": "lbs", "bs_type": "lrotmin"}
    write("flame_model_2020.pkl", Py2Pickler().dumps(d2020))
    # npz conversion (np.savez_compressed: deflate, numpy's zip64 local headers), dense J_regressor, Fortran
    # posedirs to exercise the Fortran path.
    np.savez_compressed(os.path.join(OUT, "flame_model.npz"), v_template=v_template, f=faces.astype(np.int64),
                        shapedirs=shapedirs, posedirs=np.asfortranarray(posedirs), J_regressor=Jreg, weights=weights,
                        kintree_table=kintree)

    # masks: regions of random vertex sets (Py2 pickle of a dict of int64 arrays)
    names = ["face", "neck", "scalp", "boundary", "right_eyeball", "left_eyeball", "right_ear", "left_ear",
             "forehead", "eye_region", "nose", "lips", "right_eye_region", "left_eye_region"]
    masks = {}
    for n in names:
        masks[n] = np.sort(rng.choice(V, int(rng.integers(3, V // 3)), replace=False)).astype(np.int64)
    write("flame_masks.pkl", Py2Pickler().dumps(masks))

    # landmark embeddings
    def emb(n, shape=()):
        fi = rng.integers(0, F, shape + (n,))
        bc = rng.uniform(0.05, 1, shape + (n, 3))
        return fi, bc / bc.sum(-1, keepdims=True)

    s_fi, s_bc = emb(51)
    write("flame_static_embedding.pkl", Py2Pickler().dumps({"lmk_face_idx": s_fi.astype(np.uint32),
                                                             "lmk_b_coords": s_bc}))
    d_fi, d_bc = emb(17, (79,))
    np.save(os.path.join(OUT, "flame_dynamic_embedding.npy"),
            np.array({"lmk_face_idx": d_fi.astype(np.int64), "lmk_b_coords": d_bc}, dtype=object), allow_pickle=True)
    e_fi, e_bc = emb(53)
    f_fi, f_bc = emb(70)
    with_eyes = {"static_lmk_faces_idx": e_fi.astype(np.int64), "static_lmk_bary_coords": e_bc,
                 "dynamic_lmk_faces_idx": FakeTensor(d_fi), "dynamic_lmk_bary_coords": FakeTensor(d_bc.astype(np.float32)),
                 "full_lmk_faces_idx": f_fi[None].astype(np.int64), "full_lmk_bary_coords": f_bc[None]}
    np.save(os.path.join(OUT, "flame_landmark_embedding_with_eyes.npy"), np.array(with_eyes, dtype=object),
            allow_pickle=True)

    # template OBJ with UVs (seam duplicated), Blender-style
    lines = ["# Blender v2.80 (sub 75) OBJ File: ''", "mtllib template.mtl", "o FLAME"]
    lines += ["v %.6f %.6f %.6f" % tuple(v) for v in v_template]
    lines += ["vt %.6f %.6f" % tuple(t) for t in uvs]
    lines += ["usemtl material_1", "s off"]
    lines += ["f %d/%d %d/%d %d/%d" % (a + 1, ta + 1, b + 1, tb + 1, c + 1, tc + 1)
              for (a, b, c), (ta, tb, tc) in zip(faces.astype(np.int64), uv_faces)]
    write("flame_head_template.obj", ("\n".join(lines) + "\n").encode())
    uvs_obj = np.array([[float("%.6f" % u), float("%.6f" % v)] for u, v in uvs])

    # npy/npz format coverage: v2/v3 headers, big-endian, Fortran order, bool/u1/u4/i4/f4, zip64, stored
    small = {"f4": np.arange(6, dtype=np.float32).reshape(2, 3) / 3, "f8_be": (np.arange(6.0) / 7).astype(">f8"),
             "i4": np.array([-3, 4, 5], dtype=np.int32), "i8_fortran": np.asfortranarray(np.arange(24).reshape(2, 3, 4)),
             "u4": np.array([1, 4294967295], dtype=np.uint32), "u1": np.array([0, 7, 255], dtype=np.uint8),
             "b1": np.array([True, False, True]), "scalar": np.array(2.5), "empty": np.zeros((0, 3))}
    np.savez(os.path.join(OUT, "flame_dtypes.npz"), **small)
    write("flame_dtypes_zip64.npz", zip64_npz({"a": small["f4"], "b": small["i8_fortran"], "c": small["u1"]}))
    write("flame_v2.npy", npy_bytes(small["i8_fortran"], (2, 0)))
    write("flame_v3.npy", npy_bytes(small["f4"], (3, 0)))

    # reference forward: three parameter sets (neutral-ish, yaw left, yaw right)
    B = 3
    shape = rng.normal(0, 1, (B, S_SHAPE))
    expr = rng.normal(0, 1, (B, S_EXPR))
    pose = rng.normal(0, 0.2, (B, J * 3))
    pose[1, 0:3] = [0.05, 0.35, 0.02]  # global yaw ≈ +20°
    pose[1, 3:6] = [0.0, 0.12, 0.0]
    pose[2, 0:3] = [-0.03, -0.6, 0.05]  # ≈ −34° + neck
    pose[2, 3:6] = [0.02, -0.3, 0.01]
    trans = rng.normal(0, 0.05, (B, 3))
    scale = np.array([1.0, 1.3, 0.8])
    verts, joints = flame_forward(shape, expr, pose, trans, scale)
    bins = dyn_bin(pose)
    lmk51 = lmk(verts, np.repeat(s_fi[None], B, 0), np.repeat(s_bc[None], B, 0))
    dfi = np.concatenate([d_fi[bins], np.repeat(s_fi[None], B, 0)], 1)
    dbc = np.concatenate([d_bc[bins], np.repeat(s_bc[None], B, 0)], 1)
    lmk68 = lmk(verts, dfi, dbc)
    lmk70 = lmk(verts, np.repeat(f_fi[None], B, 0), np.repeat(f_bc[None], B, 0))

    # face mask (seed semantics) + two trimesh-style subdivisions, with two "mouth" faces closing a gap
    regions = ["face", "left_eyeball", "right_eyeball", "lips", "nose", "left_eye_region", "right_eye_region"]
    keep = np.zeros(V, bool)
    for r in regions:
        keep[masks[r]] = True
    mouth = np.array([[1, 2, 8], [2, 9, 8]], dtype=np.int64)
    keep[np.unique(mouth)] = True  # 'new_mouth' = the mouth faces' vertices
    allf = np.concatenate([faces.astype(np.int64), mouth])
    fk = keep[allf].all(1)
    inv = -np.ones(V, np.int64)
    inv[keep] = np.arange(keep.sum())
    mverts = verts[0][keep]
    mfaces = inv[allf[fk]]

    def subdivide(vs, fs):  # trimesh.remesh.subdivide (trimesh 4), face_index=None
        edges = np.sort(fs[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        hashed = (edges[:, 0] + 2 ** 31).astype(np.uint64) ^ ((edges[:, 1] + 2 ** 31).astype(np.uint64) << np.uint64(32))
        _, unique, inverse = np.unique(hashed, return_index=True, return_inverse=True)
        mid = vs[edges[unique]].mean(axis=1)
        mid_idx = inverse.reshape(-1, 3) + len(vs)
        f = np.column_stack([fs[:, 0], mid_idx[:, 0], mid_idx[:, 2], mid_idx[:, 0], fs[:, 1], mid_idx[:, 1],
                             mid_idx[:, 2], mid_idx[:, 1], fs[:, 2], mid_idx[:, 0], mid_idx[:, 1],
                             mid_idx[:, 2]]).reshape(-1, 3)
        return np.vstack((vs, mid)), f

    s1v, s1f = subdivide(mverts, mfaces)
    s2v, s2f = subdivide(s1v, s1f)
    uv1v, uv1f = subdivide(uvs_obj, uv_faces)

    np.savez_compressed(os.path.join(OUT, "flame_reference.npz"), shape=shape, expr=expr, pose=pose, trans=trans,
                        scale=scale, vertices=verts, joints=joints, bins=bins, lmk51=lmk51, lmk68=lmk68, lmk70=lmk70,
                        mask_regions_vertices=np.flatnonzero(keep), mask_faces=mfaces, mouth_faces=mouth,
                        subd1_vertices=s1v, subd1_faces=s1f, subd2_vertices=s2v, subd2_faces=s2f,
                        uv_subd1=uv1v, uv_faces_subd1=uv1f, uv_obj=uvs_obj)

    # self-checks with Python's own unpickler
    for fn in ["flame_model_2023_p2.pkl", "flame_model_2023_p4.pkl", "flame_model_2020.pkl"]:
        with open(os.path.join(OUT, fn), "rb") as f:
            d = pickle.load(f, encoding="latin1")
        assert np.array_equal(d["shapedirs"].x, shapedirs) and np.array_equal(d["J_regressor"].toarray(), Jreg), fn
    with open(os.path.join(OUT, "flame_masks.pkl"), "rb") as f:
        assert all(np.array_equal(v, masks[k]) for k, v in pickle.load(f, encoding="latin1").items())
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT) if n.startswith("flame_"))
    print("V=%d F=%d bins=%s total fixture bytes=%d" % (V, F, bins.tolist(), total))


if __name__ == "__main__":
    main()
