#!/usr/bin/env python3
"""Make the version-1 container fixtures tests/fixtures/container_v1.ffck and container_v1.ffpk.

Version 1 is the byte layout facefield wrote before .fft/.ffck/.ffpk shared runtime/container.h (described there):
the checkpoint's step / RNG counter / config and the pack's kind sit in a fixed header after the version. These
files pin that the current reader still opens them (tests/core/test_container.cpp, tests/train/test_checkpoint.cpp,
tests/train/test_runtime_formats.cpp). The values below are what those tests expect. Every dtype appears in both.
The .fft version-1 fixtures are the committed tests/fixtures/nn_*.fft.
Run:  python3 tests/reference/container_v1_fixtures.py   (standard library only; writes into tests/fixtures/)
"""
import os
import struct

FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def fnv1a64(b):
    h = FNV_OFFSET
    for c in b:
        h = ((h ^ c) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def record(name, fmt, shape, values):
    """fmt: struct code of one element (f d i q B → dtype 0..4)."""
    dtype = "fdiqB".index(fmt)
    data = struct.pack("<%d%s" % (len(values), fmt), *values)
    n = name.encode()
    return (struct.pack("<I", len(n)) + n + struct.pack("<BI", dtype, len(shape)) +
            b"".join(struct.pack("<q", d) for d in shape) + struct.pack("<Q", len(data)) + data)


def finish(b):
    return b + struct.pack("<Q", fnv1a64(b))


def checkpoint():
    config = b'{"steps": 1234, "model": {"K": 2}}'
    recs = [record("param/x", "f", [2, 3], [0.5, -1.0, 2.0, 3.25, -0.125, 8.0]),
            record("buffer/G.filter", "d", [2], [0.25, -4.5]),
            record("adam.step/x", "q", [1], [7]),
            record("train/ids", "i", [3], [1, -2, 3]),
            record("train/names", "B", [3], list(b"a\nb")),
            record("layout/row_uv", "f", [2, 2], [0.0, 0.5, 1.0, 0.25]),
            record("empty", "f", [0, 4], [])]
    head = b"FFCKPT\r\n" + struct.pack("<IqQQ", 1, 1234, (1 << 63) + 5, len(config)) + config
    return finish(head + struct.pack("<I", len(recs)) + b"".join(recs))


def pack():
    meta = b'{"format":"facefield identity pack","kind":"gaussians","gaussians":2}'
    recs = [record("means", "f", [2, 3], [0, 0, 1, 0.5, -0.5, 2]),
            record("log_scales", "f", [2, 3], [-3, -3, -3, -2, -2.5, -3]),
            record("rotations", "f", [2, 4], [1, 0, 0, 0, 0.5, 0.5, 0.5, 0.5]),
            record("opacities", "f", [2], [0.75, 0.25]),
            record("colors", "f", [2, 3], [1, 0, 0, 0, 0.5, 1]),
            record("extra/f64", "d", [1], [3.5]),
            record("extra/i32", "i", [2], [-7, 9]),
            record("extra/i64", "q", [1, 1], [1 << 40]),
            record("names", "B", [5], list(b"ann\nb"))]
    head = b"FFPACK\r\n" + struct.pack("<IIQ", 1, 1, len(meta)) + meta
    return finish(head + struct.pack("<I", len(recs)) + b"".join(recs))


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    for name, data in (("container_v1.ffck", checkpoint()), ("container_v1.ffpk", pack())):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(name, len(data), "bytes")
