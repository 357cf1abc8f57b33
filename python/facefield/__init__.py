"""facefield — Python access to facefield's embeddable runtime (runtime/include/facefield.h) through ctypes.

Open a trained identity field model (a training checkpoint .ffck or an identity pack .ffpk), list its identities,
decode an identity / any code / a blend into 3D Gaussians, render them to an H x W x 4 uint8 numpy array, read and
write .ply / .splat / .ffpk, and fit a photo with the fit_image program.

    import facefield as ff
    m = ff.Model("runs/demo/checkpoints/step_00008000.ffck")
    print(m.identities)                         # names, index = identity
    cam = ff.front_camera(m.decode(0), 512)     # or ff.Camera(viewmat, fx, fy, cx, cy, width, height)
    rgba = m.render(0, cam)                     # (512, 512, 4) uint8
    g = m.decode(m.code(0) * 0.5 + m.code(1) * 0.5)
    arrays = g.arrays()                         # dict: means, scales, rotations, opacities, colors
    ff.write_ply("face.ply", arrays)

Conventions are the runtime's (runtime/include/facefield.h, docs/conventions.md): world in metres, y up, z out of
the face; camera viewmat world->camera, row-major 4x4, OpenCV axes (x right, y down, z forward); intrinsics in
pixels; Gaussians: means [N,3], scales [N,3] (activated standard deviations), rotations [N,4] (w,x,y,z), opacities
[N] in [0,1], colors [N,3] linear RGB in [0,1]; images RGBA8, rows top to bottom. Arrays are float32, C-contiguous.

The shared library is libfacefield.so next to this file (the build target `python` puts both in build/python/),
or the file named by the environment variable FACEFIELD_LIBRARY. Errors raise facefield.Error with the runtime's
status name and message.
"""
import ctypes as _C
import json as _json
import os as _os
import subprocess as _subprocess

import numpy as _np

__all__ = ["Error", "Camera", "Gaussians", "Model", "Renderer", "front_camera", "look_at", "load_gaussians",
           "gaussians_from_arrays", "read_ply", "write_ply", "save", "fit_image", "read_fit", "version"]


class Error(RuntimeError):
    """A failed runtime call: .status is the ff_status name (e.g. 'FF_ERROR_FORMAT'), str() the message."""

    def __init__(self, status, message):
        super().__init__("%s: %s" % (status, message))
        self.status = status


# ---- the library ------------------------------------------------------------------------------------------------
class _Info(_C.Structure):
    _fields_ = [("num_identities", _C.c_int), ("code_dim", _C.c_int), ("num_gaussians", _C.c_int),
                ("has_generator", _C.c_int), ("texture_resolution", _C.c_int), ("feature_channels", _C.c_int)]


class _Cam(_C.Structure):
    _fields_ = [("viewmat", _C.c_float * 16), ("fx", _C.c_float), ("fy", _C.c_float), ("cx", _C.c_float),
                ("cy", _C.c_float), ("width", _C.c_int), ("height", _C.c_int)]


_FORMATS = {"ply": 0, "splat": 1, "ffpk": 2, "pack": 2}
_P = _C.c_void_p
_F = _C.POINTER(_C.c_float)


def _load_library():
    path = _os.environ.get("FACEFIELD_LIBRARY") or _os.path.join(_os.path.dirname(__file__), "libfacefield.so")
    if not _os.path.exists(path):
        raise ImportError("facefield: the runtime library %s is missing: build the target `python` "
                          "(cmake --build build --target python) or set FACEFIELD_LIBRARY" % path)
    lib = _C.CDLL(path)
    sig = {
        "ff_version": (_C.c_char_p, []),
        "ff_status_name": (_C.c_char_p, [_C.c_int]),
        "ff_last_error": (_C.c_char_p, []),
        "ff_model_open": (_C.c_int, [_C.c_char_p, _C.c_int, _C.POINTER(_P)]),
        "ff_model_close": (None, [_P]),
        "ff_model_get_info": (_C.c_int, [_P, _C.POINTER(_Info)]),
        "ff_model_identity_name": (_C.c_int, [_P, _C.c_int, _C.c_char_p, _C.c_size_t]),
        "ff_model_get_code": (_C.c_int, [_P, _C.c_int, _F, _C.c_int]),
        "ff_model_get_positions": (_C.c_int, [_P, _C.c_int, _F, _C.c_size_t]),
        "ff_decode_identity": (_C.c_int, [_P, _C.c_int, _C.POINTER(_P)]),
        "ff_decode_code": (_C.c_int, [_P, _F, _C.c_int, _F, _C.c_size_t, _C.POINTER(_P)]),
        "ff_decode_mix": (_C.c_int, [_P, _C.c_int, _C.POINTER(_C.c_int), _F, _C.POINTER(_P)]),
        "ff_gaussians_create": (_C.c_int, [_C.c_int, _F, _F, _F, _F, _F, _C.POINTER(_P)]),
        "ff_gaussians_load": (_C.c_int, [_C.c_char_p, _C.POINTER(_P)]),
        "ff_gaussians_free": (None, [_P]),
        "ff_gaussians_count": (_C.c_int, [_P]),
        "ff_gaussians_read": (_C.c_int, [_P, _F, _F, _F, _F, _F]),
        "ff_gaussians_save": (_C.c_int, [_P, _C.c_char_p, _C.c_int, _C.c_int]),
        "ff_renderer_create": (_C.c_int, [_C.c_int, _C.POINTER(_P)]),
        "ff_renderer_free": (None, [_P]),
        "ff_render": (_C.c_int, [_P, _P, _C.POINTER(_Cam), _F, _C.POINTER(_C.c_uint8), _C.c_size_t]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    # 1.2: PLY with an up convention (optional: an older library lacks it and write_ply(up="-y") says so)
    if hasattr(lib, "ff_gaussians_save_ply"):
        lib.ff_gaussians_save_ply.restype = _C.c_int
        lib.ff_gaussians_save_ply.argtypes = [_P, _C.c_char_p, _C.c_int, _C.c_int]
    return lib


_lib = _load_library()


def _check(status, call):
    if status != 0:
        raise Error(_lib.ff_status_name(status).decode(), "%s: %s" % (call, _lib.ff_last_error().decode()))


def _fptr(a):
    return a.ctypes.data_as(_F) if a is not None else None


def _f32(a, shape, what):
    a = _np.ascontiguousarray(a, dtype=_np.float32)
    if a.shape != shape:
        raise ValueError("%s: shape %s, expected %s" % (what, a.shape, shape))
    return a


def version():
    """The runtime library's version string, e.g. '1.2 (cpu)'."""
    return _lib.ff_version().decode()


# ---- cameras ----------------------------------------------------------------------------------------------------
class Camera:
    """A pinhole camera: viewmat world->camera (4x4, OpenCV axes), fx fy cx cy in pixels, width x height."""

    def __init__(self, viewmat, fx, fy, cx, cy, width, height):
        self.viewmat = _f32(viewmat, (4, 4), "Camera.viewmat")
        self.fx, self.fy, self.cx, self.cy = (float(_np.float32(v)) for v in (fx, fy, cx, cy))
        self.width, self.height = int(width), int(height)

    def _c(self):
        c = _Cam()
        c.viewmat[:] = [float(v) for v in self.viewmat.reshape(16)]
        c.fx, c.fy, c.cx, c.cy, c.width, c.height = self.fx, self.fy, self.cx, self.cy, self.width, self.height
        return c

    def __repr__(self):
        return "Camera(%dx%d, f=%.1f,%.1f, c=%.1f,%.1f)" % (self.width, self.height, self.fx, self.fy, self.cx, self.cy)


def look_at(eye, target, up=(0.0, 1.0, 0.0), f=None, width=512, height=None, fov_deg=30.0):
    """A camera at `eye` looking at `target` with world direction `up` pointing up in the image. Focal length f in
    pixels, or from the vertical field of view fov_deg."""
    height = width if height is None else height
    eye, target, up = (_np.asarray(v, dtype=_np.float64) for v in (eye, target, up))
    z = target - eye
    z /= _np.linalg.norm(z)
    x = _np.cross(-up, z)  # image x = down x forward (core/geometry.cpp look_at)
    if _np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: up is parallel to the viewing direction")
    x /= _np.linalg.norm(x)
    y = _np.cross(z, x)
    R = _np.stack([x, y, z])
    V = _np.eye(4)
    V[:3, :3] = R
    V[:3, 3] = -R @ eye
    if f is None:
        f = 0.5 * height / _np.tan(_np.radians(fov_deg) / 2)
    return Camera(V, f, f, 0.5 * width, 0.5 * height, width, height)


def front_camera(gaussians_or_means, width=512, height=None, yaw_deg=0.0, pitch_deg=0.0, zoom=1.0):
    """A camera in front of a face (canonical frame: y up, z out of the face) looking at the Gaussians' centroid,
    turned by yaw/pitch (degrees) about it; the points fill about 80 % of the image height at zoom 1."""
    height = width if height is None else height
    xyz = gaussians_or_means.arrays()["means"] if isinstance(gaussians_or_means, Gaussians) else gaussians_or_means
    xyz = _np.asarray(xyz, dtype=_np.float64).reshape(-1, 3)
    c = xyz.mean(axis=0)
    r = max(1e-6, float(_np.sqrt(((xyz - c) ** 2).sum(axis=1)).max()))
    dist = 4 * r
    yaw, pitch = _np.radians(yaw_deg), _np.radians(pitch_deg)
    d = _np.array([_np.sin(yaw) * _np.cos(pitch), _np.sin(pitch), _np.cos(yaw) * _np.cos(pitch)])
    f = zoom * 0.5 * min(width, height) * dist / (1.25 * r)
    return look_at(c + dist * d, c, (0, 1, 0), f, width, height)


# ---- Gaussians --------------------------------------------------------------------------------------------------
_WIDTHS = (("means", 3), ("scales", 3), ("rotations", 4), ("opacities", 1), ("colors", 3))


class Gaussians:
    """An immutable set of decoded Gaussians (a runtime handle). len(g), g.arrays(), g.save(path)."""

    def __init__(self, handle):
        self._h = handle  # a c_void_p from the runtime

    def __del__(self):
        if getattr(self, "_h", None):
            _lib.ff_gaussians_free(self._h)
            self._h = None

    def __len__(self):
        return _lib.ff_gaussians_count(self._h)

    def arrays(self):
        """dict of float32 arrays: means [N,3], scales [N,3], rotations [N,4] (w,x,y,z), opacities [N], colors [N,3]
        (for a .ply with view-dependent colours, e.g. fit_image's face.ply: the SH DC term; rendering evaluates the
        rest for its camera)."""
        n = len(self)
        out = {k: _np.empty((n, w) if w > 1 else (n,), dtype=_np.float32) for k, w in _WIDTHS}
        _check(_lib.ff_gaussians_read(self._h, *(_fptr(out[k]) for k, _ in _WIDTHS)), "ff_gaussians_read")
        return out

    def save(self, path, format=None, sh_degree=3, up="y"):
        """Write .ply / .splat / .ffpk (format from the extension unless given). PLY: sh_degree 3 (default, 45
        f_rest properties, what graphdeco's loader expects; zero unless the colours depend on the view) or 0 (refused
        for view-dependent colours); up="-y" writes a y-down (COLMAP) world that facefield's readers turn back
        (runtime/formats.h)."""
        fmt = format or _os.path.splitext(path)[1].lstrip(".").lower()
        if fmt not in _FORMATS:
            raise ValueError("save: cannot tell the format of '%s' (use .ply, .splat or .ffpk, or format=)" % path)
        if up not in ("y", "-y"):
            raise ValueError("save: up must be 'y' or '-y', got %r" % (up,))
        if up == "-y":
            if _FORMATS[fmt] != 0:
                raise ValueError("save: up='-y' is for .ply only")
            if not hasattr(_lib, "ff_gaussians_save_ply"):
                raise Error("FF_ERROR_UNSUPPORTED", "this runtime library (%s) has no ff_gaussians_save_ply" % version())
            _check(_lib.ff_gaussians_save_ply(self._h, path.encode(), sh_degree, 1), "ff_gaussians_save_ply")
            return
        _check(_lib.ff_gaussians_save(self._h, path.encode(), _FORMATS[fmt], sh_degree), "ff_gaussians_save")


def gaussians_from_arrays(arrays):
    """Gaussians from a dict of arrays (the keys of Gaussians.arrays())."""
    n = len(_np.asarray(arrays["opacities"]).reshape(-1))
    a = {k: _f32(_np.asarray(arrays[k]).reshape((n, w) if w > 1 else (n,)), (n, w) if w > 1 else (n,), k)
         for k, w in _WIDTHS}
    h = _P()
    _check(_lib.ff_gaussians_create(n, *(_fptr(a[k]) for k, _ in _WIDTHS), _C.byref(h)), "ff_gaussians_create")
    return Gaussians(h)


def load_gaussians(path):
    """Gaussians from a .ply (3DGS layout, SH degree 0 or 3), a .splat or a pack of decoded Gaussians."""
    h = _P()
    _check(_lib.ff_gaussians_load(str(path).encode(), _C.byref(h)), "ff_gaussians_load")
    return Gaussians(h)


def read_ply(path):
    """A .ply (or .splat / Gaussian pack) as a dict of arrays (see Gaussians.arrays)."""
    return load_gaussians(path).arrays()


def write_ply(path, gaussians, sh_degree=3, up="y"):
    """Write Gaussians (a Gaussians or a dict of arrays) as a 3DGS .ply (see Gaussians.save)."""
    g = gaussians if isinstance(gaussians, Gaussians) else gaussians_from_arrays(gaussians)
    g.save(str(path), "ply", sh_degree, up)


def save(path, gaussians, format=None, sh_degree=3, up="y"):
    """Write Gaussians (a Gaussians or a dict of arrays) as .ply / .splat / .ffpk."""
    g = gaussians if isinstance(gaussians, Gaussians) else gaussians_from_arrays(gaussians)
    g.save(str(path), format, sh_degree, up)


# ---- rendering --------------------------------------------------------------------------------------------------
class Renderer:
    """A CPU renderer (threads: 0 = all cores)."""

    def __init__(self, threads=0):
        self._h = _P()
        _check(_lib.ff_renderer_create(int(threads), _C.byref(self._h)), "ff_renderer_create")

    def __del__(self):
        if getattr(self, "_h", None):
            _lib.ff_renderer_free(self._h)
            self._h = None

    def render(self, gaussians, camera, background=None):
        """(height, width, 4) uint8 RGBA, rows top to bottom. background: 3 floats in [0,1] (default black)."""
        img = _np.empty((camera.height, camera.width, 4), dtype=_np.uint8)
        bg = None if background is None else _f32(background, (3,), "background")
        c = camera._c()
        _check(_lib.ff_render(self._h, gaussians._h, _C.byref(c), _fptr(bg),
                              img.ctypes.data_as(_C.POINTER(_C.c_uint8)), 0), "ff_render")
        return img


# ---- models -----------------------------------------------------------------------------------------------------
class Model:
    """A trained identity field model (.ffck checkpoint with its layout, or .ffpk model pack), or a pack of one
    identity's decoded Gaussians. threads: decoding and rendering threads (0 = all cores)."""

    def __init__(self, path, threads=0):
        self.path = str(path)
        self._h = _P()
        _check(_lib.ff_model_open(self.path.encode(), int(threads), _C.byref(self._h)), "ff_model_open")
        info = _Info()
        _check(_lib.ff_model_get_info(self._h, _C.byref(info)), "ff_model_get_info")
        self.info = {k: getattr(info, k) for k, _ in _Info._fields_}
        self.num_identities, self.code_dim = info.num_identities, info.code_dim
        self.num_gaussians, self.has_generator = info.num_gaussians, bool(info.has_generator)
        buf = _C.create_string_buffer(256)
        names = []
        for i in range(self.num_identities):
            _check(_lib.ff_model_identity_name(self._h, i, buf, 256), "ff_model_identity_name")
            names.append(buf.value.decode())
        self.identities = names
        self._renderer = None
        self._threads = int(threads)

    def __del__(self):
        if getattr(self, "_h", None):
            _lib.ff_model_close(self._h)
            self._h = None

    def __repr__(self):
        return "Model(%r: %d identities, %d Gaussians, code_dim %d)" % (self.path, self.num_identities,
                                                                       self.num_gaussians, self.code_dim)

    def code(self, identity):
        """Identity i's code (code_dim float32)."""
        out = _np.empty(self.code_dim, dtype=_np.float32)
        _check(_lib.ff_model_get_code(self._h, int(identity), _fptr(out), self.code_dim), "ff_model_get_code")
        return out

    def positions(self, identity=-1):
        """Identity i's Gaussian positions [num_gaussians, 3]; -1 = the mean over all identities."""
        out = _np.empty((self.num_gaussians, 3), dtype=_np.float32)
        _check(_lib.ff_model_get_positions(self._h, int(identity), _fptr(out), out.size), "ff_model_get_positions")
        return out

    def decode(self, what, positions=None):
        """Gaussians of an identity index, or of a code (code_dim floats) with positions [num_gaussians,3] (None:
        the identities' mean positions)."""
        h = _P()
        if isinstance(what, (int, _np.integer)):
            if positions is not None:
                raise ValueError("decode: positions are for codes; an identity uses its own")
            _check(_lib.ff_decode_identity(self._h, int(what), _C.byref(h)), "ff_decode_identity")
        else:
            code = _f32(what, (self.code_dim,), "code")
            pos = None if positions is None else _f32(positions, (self.num_gaussians, 3), "positions")
            _check(_lib.ff_decode_code(self._h, _fptr(code), self.code_dim, _fptr(pos), 0 if pos is None else pos.size,
                                       _C.byref(h)), "ff_decode_code")
        return Gaussians(h)

    def mix(self, identities, weights):
        """Gaussians of the blend sum_k w_k * code(id_k), positions sum_k w_k * xyz(id_k)."""
        ids = _np.ascontiguousarray(identities, dtype=_np.int32).reshape(-1)
        w = _f32(_np.asarray(weights).reshape(-1), ids.shape, "weights")
        h = _P()
        _check(_lib.ff_decode_mix(self._h, len(ids), ids.ctypes.data_as(_C.POINTER(_C.c_int)), _fptr(w), _C.byref(h)),
               "ff_decode_mix")
        return Gaussians(h)

    def render(self, what, camera, background=None, positions=None):
        """(H, W, 4) uint8 of an identity index, a code, or Gaussians, for camera."""
        g = what if isinstance(what, Gaussians) else self.decode(what, positions)
        if self._renderer is None:
            self._renderer = Renderer(self._threads)
        return self._renderer.render(g, camera, background)


# ---- photo fitting ----------------------------------------------------------------------------------------------
def read_fit(fit_json):
    """A fit_image result folder's fit.json as a dict, with numpy 'code', 'positions' (from the sibling face.ply,
    None if absent) and a Camera 'camera_object' of the photo."""
    with open(fit_json) as f:
        j = _json.load(f)
    if "code" not in j:
        raise ValueError("%s has no identity code (fit_image ran without --model?)" % fit_json)
    j["code"] = _np.asarray(j["code"], dtype=_np.float32)
    ply = _os.path.join(_os.path.dirname(_os.path.abspath(fit_json)), "face.ply")
    j["positions"] = read_ply(ply)["means"] if _os.path.exists(ply) else None
    c = j["camera"]
    j["camera_object"] = Camera(_np.asarray(j["viewmat"], dtype=_np.float32).reshape(4, 4), c["fx"], c["fy"], c["cx"],
                                c["cy"], c["width"], c["height"])
    return j


def fit_image(model, image, out_dir, fit_image_program=None, extra_args=(), quiet=True):
    """Fit a photo with the fit_image program (FACEFIELD_FIT_IMAGE, else fit_image beside this package's build
    folder, else on PATH) into out_dir; returns read_fit(out_dir/fit.json)."""
    prog = fit_image_program or _os.environ.get("FACEFIELD_FIT_IMAGE")
    if not prog:
        here = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "..", "fit_image")
        prog = here if _os.path.exists(here) else "fit_image"
    cmd = [prog, "--model", str(model), "--image", str(image), "--out", str(out_dir)] + list(extra_args)
    r = _subprocess.run(cmd, stdout=_subprocess.PIPE if quiet else None, stderr=_subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise Error("fit_image", "%s exited with %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return read_fit(_os.path.join(str(out_dir), "fit.json"))
