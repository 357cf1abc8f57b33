#!/usr/bin/env python3
"""Reference outputs of the vendored Face Mesh TF.js model (third_party/facemesh/) for tests/train/test_facemesh.cpp.

An independent NumPy implementation of the graph's ops with TensorFlow's semantics (NHWC; "SAME" padding with the
odd pixel after; PReLU; 2x2 VALID max-pool; channel Pad; NHWC flatten), run on a synthetic 192x192x3 input that the
C++ test builds with the same formula:  x[i, j, c] = 0.5 + 0.45 * sin(0.07 i + 0.05 (c + 1) j + c).
Writes tests/fixtures/facemesh_sine.txt: the face score, then the 1404 mesh values (x y z per point), %.6e.

  /usr/bin/python3 tests/reference/facemesh_reference.py   # needs numpy (Debian: python3-numpy)
"""
import base64, json, os, sys
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def load(path):
    m = json.load(open(path + ".json"))
    b = open(path + ".bin", "rb").read()
    W, off = {}, 0
    for w in m["weightsManifest"][0]["weights"]:
        n = int(np.prod(w["shape"])) if w["shape"] else 1
        q = w.get("quantization")
        if q and q["dtype"] == "float16":
            a = np.frombuffer(b, np.float16, n, off).astype(np.float64); off += 2 * n
        elif w["dtype"] == "int32":
            a = np.frombuffer(b, np.int32, n, off); off += 4 * n
        else:
            a = np.frombuffer(b, np.float32, n, off).astype(np.float64); off += 4 * n
        W[w["name"]] = a.reshape(w["shape"])
    assert off == len(b), (off, len(b))
    return m, W


def same_pad(n, k, s):
    out = -(-n // s)
    tot = max((out - 1) * s + k - n, 0)
    return tot // 2, tot - tot // 2


def conv(x, w, b, stride, padding, depthwise=False):
    kh, kw = w.shape[:2]
    if padding == "SAME":
        x = np.pad(x, (same_pad(x.shape[0], kh, stride), same_pad(x.shape[1], kw, stride), (0, 0)))
    H2 = (x.shape[0] - kh) // stride + 1
    W2 = (x.shape[1] - kw) // stride + 1
    y = np.zeros((H2, W2, x.shape[2] if depthwise else w.shape[3]))
    for i in range(kh):
        for j in range(kw):
            patch = x[i:i + stride * H2:stride, j:j + stride * W2:stride, :]
            y += patch * w[i, j, :, 0] if depthwise else patch @ w[i, j]
    return y if b is None else y + b


def prelu(x, a):
    return np.where(x >= 0, x, x * a.reshape(-1))


def run(m, W, img, outputs):
    nodes = {n["name"]: n for n in m["modelTopology"]["node"]}
    vals = {}
    dec = lambda s: base64.b64decode(s).decode()

    def get(name):
        name = name.split(":")[0]
        if name in vals:
            return vals[name]
        n = nodes[name]; op = n["op"]; a = n.get("attr", {}); ins = n.get("input", [])
        if op == "Const": r = W[name]
        elif op == "Placeholder": r = img
        elif op == "_FusedConv2D":
            fused = [dec(s) for s in a["fused_ops"]["list"]["s"]]
            r = conv(get(ins[0]), get(ins[1]), get(ins[2]), int(a["strides"]["list"]["i"][1]), dec(a["padding"]["s"]))
            if "Prelu" in fused: r = prelu(r, get(ins[3]))
        elif op == "DepthwiseConv2dNative":
            r = conv(get(ins[0]), get(ins[1]), None, int(a["strides"]["list"]["i"][1]), dec(a["padding"]["s"]), True)
        elif op == "AddV2": r = get(ins[0]) + get(ins[1])
        elif op == "Prelu": r = prelu(get(ins[0]), get(ins[1]))
        elif op == "MaxPool":
            x = get(ins[0]); H, Wd, C = x.shape
            r = x[:H // 2 * 2, :Wd // 2 * 2].reshape(H // 2, 2, Wd // 2, 2, C).max(axis=(1, 3))
        elif op == "Pad":
            p = get(ins[1]); r = np.pad(get(ins[0]), [tuple(p[i]) for i in range(1, 4)])
        elif op == "Sigmoid": r = 1 / (1 + np.exp(-get(ins[0])))
        elif op == "Reshape": r = get(ins[0]).reshape(-1)
        elif op == "Identity": r = get(ins[0])
        else: raise SystemExit("unknown op " + op)
        vals[name] = r
        return r

    sig = m["signature"]["outputs"]
    return [get(sig[o]["name"]) for o in outputs]


def main():
    m, W = load(os.path.join(ROOT, "third_party", "facemesh", "facemesh"))
    i, j, c = np.meshgrid(np.arange(192), np.arange(192), np.arange(3), indexing="ij")
    x = 0.5 + 0.45 * np.sin(0.07 * i + 0.05 * (c + 1) * j + c)
    mesh, score = run(m, W, x, ["output_mesh", "output_faceflag"])
    out = os.path.join(ROOT, "tests", "fixtures", "facemesh_sine.txt")
    with open(out, "w") as f:
        f.write("# tests/reference/facemesh_reference.py: face score, then 468 x (x y z)\n")
        f.write("%.6e\n" % score.reshape(-1)[0])
        for k in range(468):
            f.write("%.6e %.6e %.6e\n" % tuple(mesh.reshape(-1)[3 * k:3 * k + 3]))
    print("wrote", out, "score", score.reshape(-1)[0])


if __name__ == "__main__":
    sys.exit(main())
