// tests/splat/splat_test_util.h — scenes, host render/backward wrappers and fixture reading for splat tests.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "splat/splat.h"
#include "tests/testing.h"
#ifdef FF_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace splat_test {

using ff::splat::RenderState;

// A scene held in double on the host; converted to float/double per call.
struct Scene {
  int N = 0, C = 1, W = 32, H = 32, deg = 0, K = 1;
  bool use_sh = false;
  std::vector<double> means, scales, quats, opac, colors, sh, viewmats, intr, bg;  // bg empty = black
};

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
struct Out {
  std::vector<T> image, alpha, depth;
  std::vector<int32_t> radii;
};

template <class T>
struct Grads {
  std::vector<T> means, scales, quats, opac, colors, sh, viewmats, means2d;
};

// Host copies of a scene in precision T, kept alive for the params' pointers.
template <class T>
struct Bound {
  std::vector<T> means, scales, quats, opac, colors, sh, viewmats, intr, bg;
  ff::splat::RenderParamsT<T> p;
  Out<T> out;
  explicit Bound(const Scene& s, int threads = 2) {
    means = cast<T>(s.means), scales = cast<T>(s.scales), quats = cast<T>(s.quats), opac = cast<T>(s.opac);
    colors = cast<T>(s.colors), sh = cast<T>(s.sh), viewmats = cast<T>(s.viewmats), intr = cast<T>(s.intr);
    bg = cast<T>(s.bg);
    p.num_gaussians = s.N;
    p.num_cameras = s.C;
    p.width = s.W;
    p.height = s.H;
    p.means = means.data();
    p.scales = scales.data();
    p.rotations = quats.data();
    p.opacities = opac.data();
    if (s.use_sh) {
      p.sh = sh.data();
      p.sh_degree = s.deg;
      p.sh_coeffs = s.K;
    } else {
      p.colors = colors.data();
    }
    p.viewmats = viewmats.data();
    p.intrinsics = intr.data();
    p.background = bg.empty() ? nullptr : bg.data();
    p.threads = threads;
    const size_t HW = size_t(s.W) * s.H;
    out.image.assign(size_t(s.C) * 3 * HW, T(-1));
    out.alpha.assign(size_t(s.C) * HW, T(-1));
    out.depth.assign(size_t(s.C) * HW, T(-1));
    out.radii.assign(size_t(s.C) * s.N, -1);
    p.image = out.image.data();
    p.alpha = out.alpha.data();
    p.depth = out.depth.data();
    p.radii = out.radii.data();
  }
};

template <class T>
Out<T> render(ff::Context& ctx, const Scene& s, RenderState& st, int threads = 2) {
  Bound<T> b(s, threads);
  ff::splat::render_fwd(ctx, b.p, st);
  return b.out;
}

// forward + backward with the given cotangents (sizes of image / alpha / depth; empty = none)
template <class T>
Grads<T> render_grad(ff::Context& ctx, const Scene& s, const std::vector<double>& d_image,
                     const std::vector<double>& d_alpha, const std::vector<double>& d_depth, int threads = 2,
                     Out<T>* out = nullptr) {
  Bound<T> b(s, threads);
  RenderState st;
  ff::splat::render_fwd(ctx, b.p, st);
  if (out) *out = b.out;
  std::vector<T> di = cast<T>(d_image), da = cast<T>(d_alpha), dd = cast<T>(d_depth);
  Grads<T> g;
  g.means.assign(s.means.size(), T(0));
  g.scales.assign(s.scales.size(), T(0));
  g.quats.assign(s.quats.size(), T(0));
  g.opac.assign(s.opac.size(), T(0));
  g.colors.assign(s.colors.size(), T(0));
  g.sh.assign(s.sh.size(), T(0));
  g.viewmats.assign(s.viewmats.size(), T(0));
  g.means2d.assign(size_t(s.C) * s.N * 2, T(0));
  ff::splat::RenderGradsT<T> rg;
  rg.d_image = di.empty() ? nullptr : di.data();
  rg.d_alpha = da.empty() ? nullptr : da.data();
  rg.d_depth = dd.empty() ? nullptr : dd.data();
  rg.d_means = g.means.data();
  rg.d_scales = g.scales.data();
  rg.d_rotations = g.quats.data();
  rg.d_opacities = g.opac.data();
  rg.d_colors = s.use_sh ? nullptr : g.colors.data();
  rg.d_sh = s.use_sh ? g.sh.data() : nullptr;
  rg.d_viewmats = g.viewmats.data();
  rg.d_means2d = g.means2d.data();
  ff::splat::render_bwd(ctx, b.p, rg, st);
  return g;
}

// Identity-ish camera looking down +z from (0,0,-dist).
inline std::vector<double> viewmat_translate(double tx, double ty, double tz) {
  return {1, 0, 0, tx, 0, 1, 0, ty, 0, 0, 1, tz, 0, 0, 0, 1};
}

// Small rotation about axis (ax, ay, az) by angle, plus translation; OpenCV world→camera.
inline std::vector<double> viewmat_rot(double ax, double ay, double az, double ang, double tx, double ty, double tz) {
  double n = std::sqrt(ax * ax + ay * ay + az * az);
  ax /= n, ay /= n, az /= n;
  double c = std::cos(ang), s = std::sin(ang), C = 1 - c;
  return {c + ax * ax * C,      ax * ay * C - az * s, ax * az * C + ay * s, tx,
          ay * ax * C + az * s, c + ay * ay * C,      ay * az * C - ax * s, ty,
          az * ax * C - ay * s, az * ay * C + ax * s, c + az * az * C,      tz,
          0,                    0,                    0,                    1};
}

// Random scene around the origin, seen from cameras ~1 unit away (seeded, deterministic).
inline Scene random_scene(uint64_t seed, int N, int C, int W, int H, int deg, bool use_sh, double omin = 0.3,
                          double omax = 0.7, double smin = 0.02, double smax = 0.08, double spread = 0.2,
                          double f = 60) {
  Scene s;
  s.N = N, s.C = C, s.W = W, s.H = H, s.deg = deg, s.use_sh = use_sh, s.K = use_sh ? (deg + 1) * (deg + 1) : 1;
  uint64_t i = 0;
  auto U = [&](double a, double b) { return a + (b - a) * ff::rng::uniform_at(seed, i++); };
  for (int n = 0; n < N; ++n) {
    s.means.insert(s.means.end(), {U(-spread, spread), U(-spread, spread), U(-0.1, 0.1)});
    s.scales.insert(s.scales.end(), {U(smin, smax), U(smin, smax), U(smin, smax)});
    s.quats.insert(s.quats.end(), {U(0.3, 1), U(-1, 1), U(-1, 1), U(-1, 1)});
    s.opac.push_back(U(omin, omax));
    s.colors.insert(s.colors.end(), {U(0, 1), U(0, 1), U(0, 1)});
    for (int k = 0; k < s.K; ++k)
      for (int ch = 0; ch < 3; ++ch) s.sh.push_back(k == 0 ? U(0, 1) : U(-0.1, 0.1));
  }
  for (int c = 0; c < C; ++c) {
    auto V = viewmat_rot(U(-1, 1), U(-1, 1), U(-1, 1), U(0, 0.15), U(-0.05, 0.05), U(-0.05, 0.05), U(0.9, 1.1));
    s.viewmats.insert(s.viewmats.end(), V.begin(), V.end());
    s.intr.insert(s.intr.end(), {f * U(0.95, 1.05), f * U(0.95, 1.05), W / 2.0 + U(-2, 2), H / 2.0 + U(-2, 2)});
    s.bg.insert(s.bg.end(), {U(0, 1), U(0, 1), U(0, 1)});
  }
  return s;
}

inline std::vector<double> random_vec(uint64_t seed, size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = ff::rng::normal_at(seed, i);
  return v;
}

// ---- fixture reader (format: tests/reference/splat_reference.py) ----
struct Array {
  std::vector<int64_t> shape;
  std::vector<double> data;  // float32 / int32 widened
  size_t size() const { return data.size(); }
};
inline std::map<std::string, Array> read_fixture(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  FF_CHECK(f, "cannot open fixture ", path);
  char magic[8];
  FF_CHECK(std::fread(magic, 1, 8, f) == 8 && std::memcmp(magic, "FFSPLAT1", 8) == 0, "bad fixture magic in ", path);
  int32_t count = 0;
  FF_CHECK(std::fread(&count, 4, 1, f) == 1, "truncated fixture");
  std::map<std::string, Array> out;
  for (int i = 0; i < count; ++i) {
    int32_t nl = 0, code = 0, nd = 0;
    FF_CHECK(std::fread(&nl, 4, 1, f) == 1, "truncated fixture");
    std::string name(size_t(nl), '\0');
    FF_CHECK(std::fread(&name[0], 1, size_t(nl), f) == size_t(nl), "truncated fixture");
    FF_CHECK(std::fread(&code, 4, 1, f) == 1 && std::fread(&nd, 4, 1, f) == 1, "truncated fixture");
    Array a;
    a.shape.resize(size_t(nd));
    if (nd) FF_CHECK(std::fread(a.shape.data(), 8, size_t(nd), f) == size_t(nd), "truncated fixture");
    int64_t n = 1;
    for (auto d : a.shape) n *= d;
    a.data.resize(size_t(n));
    if (code == 0) {
      std::vector<float> tmp(static_cast<size_t>(n));
      FF_CHECK(std::fread(tmp.data(), 4, size_t(n), f) == size_t(n), "truncated fixture");
      for (int64_t k = 0; k < n; ++k) a.data[size_t(k)] = tmp[size_t(k)];
    } else {
      std::vector<int32_t> tmp(static_cast<size_t>(n));
      FF_CHECK(std::fread(tmp.data(), 4, size_t(n), f) == size_t(n), "truncated fixture");
      for (int64_t k = 0; k < n; ++k) a.data[size_t(k)] = tmp[size_t(k)];
    }
    out[name] = std::move(a);
  }
  std::fclose(f);
  return out;
}

// max |a − b| / (atol + rtol·|b|) ≤ 1 ⇔ allclose; returns the worst ratio and reports where.
template <class A, class B>
double worst_ratio(const A& a, const B& b, double atol, double rtol, size_t* where = nullptr) {
  FF_CHECK(a.size() == b.size(), "size mismatch ", a.size(), " vs ", b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double r = std::abs(double(a[i]) - double(b[i])) / (atol + rtol * std::abs(double(b[i])));
    if (!(r <= worst)) {
      worst = r;
      if (where) *where = i;
    }
  }
  return worst;
}

inline double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

#ifdef FF_WITH_CUDA
// Device copy of a float host vector (freed with the object).
struct DVec {
  float* p = nullptr;
  size_t n = 0;
  DVec() = default;
  explicit DVec(const std::vector<float>& h) : n(h.size()) {
    if (n) {
      FF_CHECK(cudaMalloc(&p, n * sizeof(float)) == cudaSuccess, "cudaMalloc");
      FF_CHECK(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess, "memcpy");
    }
  }
  explicit DVec(size_t count) : n(count) {
    if (n) {
      FF_CHECK(cudaMalloc(&p, n * sizeof(float)) == cudaSuccess, "cudaMalloc");
      FF_CHECK(cudaMemset(p, 0, n * sizeof(float)) == cudaSuccess, "memset");
      FF_CHECK(cudaDeviceSynchronize() == cudaSuccess, "sync");  // the renderer runs on a non-blocking stream
    }
  }
  DVec(const DVec&) = delete;
  DVec& operator=(const DVec&) = delete;
  ~DVec() {
    if (p) cudaFree(p);
  }
  std::vector<float> host() const {
    std::vector<float> h(n);
    if (n) FF_CHECK(cudaMemcpy(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess, "memcpy");
    return h;
  }
};

// Forward (+ backward when d_image is non-empty) of a scene on CUDA; results copied back to the host.
inline void render_cuda(ff::Context& ctx, const Scene& s, const std::vector<double>& d_image,
                        const std::vector<double>& d_alpha, const std::vector<double>& d_depth, Out<float>& out,
                        Grads<float>* grads) {
  Bound<float> b(s);  // host copies and output sizes
  DVec means(b.means), scales(b.scales), quats(b.quats), opac(b.opac), colors(b.colors), sh(b.sh),
      viewmats(b.viewmats), intr(b.intr), bg(b.bg);
  DVec image(b.out.image.size()), alpha(b.out.alpha.size()), depth(b.out.depth.size());
  int32_t* radii = nullptr;
  FF_CHECK(cudaMalloc(&radii, std::max<size_t>(1, b.out.radii.size()) * 4) == cudaSuccess, "cudaMalloc");
  ff::splat::RenderParams p = b.p;
  p.device = ff::Device::cuda();
  p.means = means.p, p.scales = scales.p, p.rotations = quats.p, p.opacities = opac.p;
  p.colors = s.use_sh ? nullptr : colors.p;
  p.sh = s.use_sh ? sh.p : nullptr;
  p.viewmats = viewmats.p, p.intrinsics = intr.p, p.background = s.bg.empty() ? nullptr : bg.p;
  p.image = image.p, p.alpha = alpha.p, p.depth = depth.p, p.radii = radii;
  RenderState st;
  ff::splat::render_fwd(ctx, p, st);
  if (grads) {
    DVec di(cast<float>(d_image)), da(cast<float>(d_alpha)), dd(cast<float>(d_depth));
    DVec gm(s.means.size()), gs(s.scales.size()), gq(s.quats.size()), go(s.opac.size()), gc(s.colors.size()),
        gsh(s.sh.size()), gv(s.viewmats.size()), g2(size_t(s.C) * s.N * 2);
    ff::splat::RenderGrads g;
    g.d_image = d_image.empty() ? nullptr : di.p;
    g.d_alpha = d_alpha.empty() ? nullptr : da.p;
    g.d_depth = d_depth.empty() ? nullptr : dd.p;
    g.d_means = gm.p, g.d_scales = gs.p, g.d_rotations = gq.p, g.d_opacities = go.p;
    g.d_colors = s.use_sh ? nullptr : gc.p;
    g.d_sh = s.use_sh ? gsh.p : nullptr;
    g.d_viewmats = gv.p, g.d_means2d = g2.p;
    ff::splat::render_bwd(ctx, p, g, st);
    ctx.synchronize();
    grads->means = gm.host(), grads->scales = gs.host(), grads->quats = gq.host(), grads->opac = go.host();
    grads->colors = gc.host(), grads->sh = gsh.host(), grads->viewmats = gv.host(), grads->means2d = g2.host();
  }
  ctx.synchronize();
  out.image = image.host(), out.alpha = alpha.host(), out.depth = depth.host();
  out.radii.resize(b.out.radii.size());
  if (!out.radii.empty())
    FF_CHECK(cudaMemcpy(out.radii.data(), radii, out.radii.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess, "memcpy");
  cudaFree(radii);
}
#endif

}  // namespace splat_test

#define CHECK_ALLCLOSE(a, b, atol, rtol)                                                                \
  do {                                                                                                  \
    size_t w_ = 0;                                                                                      \
    double r_ = splat_test::worst_ratio((a), (b), (atol), (rtol), &w_);                                 \
    INFO(#a " vs " #b ": worst ratio " << r_ << " at " << w_ << " (" << ((a).size() ? double((a)[w_]) : 0.0)  \
                                          << " vs " << ((b).size() ? double((b)[w_]) : 0.0) << ")");     \
    CHECK(r_ <= 1.0);                                                                                   \
  } while (0)
