// runtime/blend_cpu.h — the CPU front-to-back alpha blending of one 16×16 tile: the one loop behind the runtime's
// forward rasterizer (runtime/raster.cpp, float) and the engine's CPU renderer (splat/render_cpu.cpp, float and the
// double reference path; its backward re-evaluates α with eval_alpha below so both passes make bitwise-identical
// skip decisions). Header-only: the C++17 standard library, GCC/Clang vector extensions and the constants of
// runtime/raster_constants.h (which runtime/splat_math.h, and through it the CUDA kernels, use too).
//
// Maths (3DGS, splat/splat.h "Maths"): pixel (i, j) is evaluated at its centre (i + 0.5, j + 0.5); for a Gaussian at
// (u, v) with conic [[A, B], [B, C]] and opacity o, dx = u − px, dy = v − py,
//   power = A·dx·dx·(−½) − (B·dy)·dx + (−½·C·dy·dy),   α = min(kAlphaMax = 0.99, o·exp(power))
// (float: vexp, a Cephes polynomial ≈ 1 ulp that vectorises; double: std::exp). A Gaussian is skipped at a pixel when
// power > 0 or α < kAlphaMin = 1/255. Front to back, a pixel stops before the first Gaussian that would bring
// T·(1 − α) below kTransmittanceMin = 1e-4 (it and every later one are not blended); otherwise w = α·T,
// colour += w·c, depth += w·z, T ← T·(1 − α), last = (tile-list position + 1) of that Gaussian. Final colour =
// colour + T·background, alpha = 1 − T (blend_tile). Accumulation is in T (float or double), lane by lane, in list
// order: results do not depend on threads.
//
// Data: TileGaussians holds one tile's Gaussians in (depth, index) order as structure-of-arrays; the caller fills
// it (resize, then the arrays) from its own projected state. ey is the opacity-aware half extent in y (outside it
// α < 1/255; runtime/splat_math.h project_gaussian computes it): rows farther than ey are culled exactly. pmin =
// power_min(o) lets the float path skip a Gaussian for a whole row before the exp when every lane's power is below
// it (α < 1/255 everywhere), so it never changes a result.
//
//   blend::TileGaussians<float> tg;  tg.resize(L, /*with_depth=*/false);  ... fill tg.u[k], tg.v[k], ...
//   blend::blend_tile<false, false>(tg, x0, y0, W, H, bg, [&](int py, int nx, const blend::RowBlend<float>& rb) {
//     for (int l = 0; l < nx; ++l) out[py * W + x0 + l] = rb.rgb[0][l];  // …
//   });
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "runtime/raster_constants.h"

namespace ffrt::blend {
// Internal linkage: each including file gets its own copy, compiled with its own flags (no cross-file ABI for the
// 64-byte vector arguments, which GCC passes in memory without AVX-512).
namespace {

constexpr int kLanes = raster::kTile;  // one 16-pixel tile row = 16 lanes

// ---- 16 float lanes as one GCC/Clang vector (AVX-512: one register; AVX2: two) ----
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef int32_t v4i __attribute__((vector_size(16)));
// The float forward's lane vector: one native register. With AVX-512 a 16-lane vector is one zmm; without it GCC
// lowers 64-byte vector compares and selects lane by lane (scalar code, ~10× slower on AVX2 CPUs), so the row's 16
// lanes are blended as two independent 8-lane halves there. Lanes never interact, so results are the same.
#if defined(__AVX512F__)
typedef v16f vrowf;
typedef v16i vrowi;
#else
typedef v8f vrowf;
typedef v8i vrowi;
#endif

// Cephes expf polynomial on any float lane vector VF (integer lanes VI), inputs clamped to [−87, 88]
template <class VF, class VI>
inline VF vexp_lanes(VF x) {
  const VF lo = VF{} - 87.0f, hi = VF{} + 88.0f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const VF magic = VF{} + 12582912.0f;  // 1.5·2^23: adding it rounds to the nearest integer
  VF t = x * 1.44269504088896341f;
  VF n = (t + magic) - magic;
  VF r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  VF y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
          1.6666665459e-1f) * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  VI e = (__builtin_convertvector(n, VI) + 127) << 23;
  return y * __builtin_bit_cast(VF, e);
}
inline v16f vexp(v16f x) { return vexp_lanes<v16f, v16i>(x); }
inline v8f vexp(v8f x) { return vexp_lanes<v8f, v8i>(x); }
inline double vexp(double x) { return std::exp(x); }

inline bool any(v8i m) {
  v4i b = __builtin_shufflevector(m, m, 0, 1, 2, 3) | __builtin_shufflevector(m, m, 4, 5, 6, 7);
  return (b[0] | b[1] | b[2] | b[3]) != 0;
}
inline bool any(v16i m) {
  v8i a = __builtin_shufflevector(m, m, 0, 1, 2, 3, 4, 5, 6, 7) | __builtin_shufflevector(m, m, 8, 9, 10, 11, 12, 13, 14, 15);
  v4i b = __builtin_shufflevector(a, a, 0, 1, 2, 3) | __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] | b[1] | b[2] | b[3]) != 0;
}
inline float hsum(v16f v) {  // fixed pairing order (deterministic)
  v8f a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  v4f b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}
inline v16f iota16() { return v16f{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; }
template <class VF>
inline VF iota_lanes() {
  VF v{};
  for (int l = 0; l < int(sizeof(VF) / sizeof(float)); ++l) v[l] = float(l);
  return v;
}
template <class V>
inline V load(const void* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
inline void store(void* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// dx and power of a Gaussian (u = gx, conic A, Bdy = B·dy, cterm = −½·C·dy²) at pixel-centre x px, and G =
// exp(power): the one definition of the forward and the engine's backward (V = float lanes v16f, or double).
template <class V>
inline void eval_power(V gx, V px, V A, V Bdy, V cterm, V& dx, V& power) {
  dx = gx - px;
  power = A * dx * dx * -0.5f - Bdy * dx + cterm;
}
template <class V>
inline void eval_alpha(V gx, V px, V A, V Bdy, V cterm, V& dx, V& power, V& G) {
  eval_power(gx, px, A, Bdy, cterm, dx, power);
  G = vexp(power);
}

// The power below which o·exp(power) < 1/255 for certain: ln(1/(255·o)) less a margin for vexp's error
// (+∞ for o ≤ 0: never blended).
template <class T>
inline T power_min(T opacity) {
  return opacity > T(0) ? -std::log(T(255) * opacity) - T(1e-3) : T(1e30);
}

// One tile's Gaussians in (depth, index) order (the caller fills the arrays; storage is reused across tiles).
template <class T>
struct TileGaussians {
  int n = 0;
  std::vector<T> u, v;            // [n] projected centre, pixels (pixel i's centre at i + 0.5)
  std::vector<T> ca, cb, cc;      // [n] conic [[ca, cb], [cb, cc]] (inverse 2-D covariance)
  std::vector<T> o;               // [n] opacity (activated)
  std::vector<T> r, g, b;         // [n] colour
  std::vector<T> z;               // [n] view depth (only with_depth)
  std::vector<T> ey;              // [n] opacity-aware half extent in y, pixels
  std::vector<T> pmin;            // [n] power_min(o)
  std::vector<int> row_list;      // [n] scratch: the current row's Gaussians (positions in this tile)
  void resize(int count, bool with_depth) {
    n = count;
    if (int(u.size()) < count)
      for (auto* a : {&u, &v, &ca, &cb, &cc, &o, &r, &g, &b, &ey, &pmin}) a->resize(size_t(count));
    if (with_depth && int(z.size()) < count) z.resize(size_t(count));
    if (int(row_list.size()) < count) row_list.resize(size_t(count));
  }
};

// Positions (< limit) of the tile's Gaussians whose extent reaches the row centred at pyc, in order, into
// tg.row_list; returns their count. Exact: outside the extent α < 1/255. (Also culling by the ellipse's x-range
// on the row was measured slower: the blend loop is cheaper than the test.)
template <class T>
inline int build_row_list(TileGaussians<T>& tg, T pyc, int limit) {
  const int L = limit < tg.n ? limit : tg.n;
  int* rl = tg.row_list.data();
  const T* gy = tg.v.data();
  const T* ey = tg.ey.data();
  int m = 0;  // branchless
  for (int k = 0; k < L; ++k) {
    rl[m] = k;
    m += std::abs(pyc - gy[k]) <= ey[k];
  }
  return m;
}

// The blending state of one 16-pixel row.
template <class T>
struct RowBlend {
  alignas(64) T trans[kLanes];      // transmittance T
  alignas(64) T rgb[3][kLanes];     // Σ w·c (blend_tile adds T·background before it hands the row over)
  alignas(64) T depth[kLanes];      // Σ w·z (kDepth)
  alignas(64) T active[kLanes];     // 1 while the lane blends; 0 past the image edge or after its early stop
  alignas(64) int32_t last[kLanes]; // tile-list position + 1 of the last blended Gaussian, 0 = none (kLast)
  void reset(int nx) {  // lanes [0, nx) inside the image
    for (int l = 0; l < kLanes; ++l) {
      trans[l] = T(1);
      rgb[0][l] = rgb[1][l] = rgb[2][l] = depth[l] = T(0);
      active[l] = l < nx ? T(1) : T(0);
      last[l] = 0;
    }
  }
};

// Blends the Gaussians rl[0..nrl) of tg, front to back, into the row whose first pixel centre is (px0, pyc).
// kDepth: accumulate depth; kLast: record last.
template <bool kDepth, bool kLast, class T>
inline void blend_row(const TileGaussians<T>& tg, const int* rl, int nrl, T px0, T pyc, RowBlend<T>& rb) {
  using raster::kAlphaMax;
  using raster::kAlphaMin;
  using raster::kTransmittanceMin;
  if constexpr (std::is_same<T, float>::value) {
    const float* __restrict gxs = tg.u.data();
    const float* __restrict gys = tg.v.data();
    const float* __restrict As = tg.ca.data();
    const float* __restrict Bs = tg.cb.data();
    const float* __restrict Cs = tg.cc.data();
    const float* __restrict os = tg.o.data();
    const float* __restrict rs = tg.r.data();
    const float* __restrict gs = tg.g.data();
    const float* __restrict bs = tg.b.data();
    const float* __restrict zs = kDepth ? tg.z.data() : nullptr;
    const float* __restrict pmins = tg.pmin.data();
    using VF = vrowf;
    using VI = vrowi;
    constexpr int W = int(sizeof(VF) / sizeof(float));
    const VF zero = VF{};
    const VF a_min = zero + float(kAlphaMin), a_max = zero + float(kAlphaMax), t_min = zero + float(kTransmittanceMin);
    for (int h = 0; h < kLanes; h += W) {  // lanes [h, h + W): one native vector
      const VF px = iota_lanes<VF>() + (px0 + float(h));
      VF act = load<VF>(rb.active + h), Tr = load<VF>(rb.trans + h), Cr = load<VF>(rb.rgb[0] + h),
         Cg = load<VF>(rb.rgb[1] + h), Cb = load<VF>(rb.rgb[2] + h), Dz = zero;
      VI last = VI{};
      if constexpr (kDepth) Dz = load<VF>(rb.depth + h);
      if constexpr (kLast) last = load<VI>(rb.last + h);
      for (int ii = 0; ii < nrl; ++ii) {
        const int k = rl[ii];
        if ((ii & 7) == 7 && !any(act > zero)) break;
        const float dy = gys[k] - pyc;
        VF dx, power;
        eval_power<VF>(zero + gxs[k], px, zero + As[k], zero + Bs[k] * dy, zero + -0.5f * Cs[k] * dy * dy, dx, power);
        if (!any(power >= pmins[k])) continue;  // α < 1/255 on every lane: exact skip before the exp
        const VF G = vexp(power);
        VF a = G * os[k];
        a = a < a_max ? a : a_max;
        const VF tT = Tr * (1.0f - a);
        const VI ok = (act > zero) & (power <= zero) & (a >= a_min);
        const VI stop = ok & (tT < t_min);
        const VI use = ok & ~stop;
        act = stop ? zero : act;
        const VF w = use ? a * Tr : zero;
        Cr += w * rs[k];
        Cg += w * gs[k];
        Cb += w * bs[k];
        if constexpr (kDepth) Dz += w * zs[k];
        Tr = use ? tT : Tr;
        if constexpr (kLast) last = use ? (VI{} + (k + 1)) : last;
      }
      store(rb.active + h, act), store(rb.trans + h, Tr), store(rb.rgb[0] + h, Cr), store(rb.rgb[1] + h, Cg);
      store(rb.rgb[2] + h, Cb);
      if constexpr (kDepth) store(rb.depth + h, Dz);
      if constexpr (kLast) store(rb.last + h, last);
    }
  } else {  // scalar lanes: the double reference path
    const T a_min = T(kAlphaMin), a_max = T(kAlphaMax), t_min = T(kTransmittanceMin);
    for (int ii = 0; ii < nrl; ++ii) {
      const int k = rl[ii];
      const T gx = tg.u[k], dy = tg.v[k] - pyc, A = tg.ca[k], Bdy = tg.cb[k] * dy;
      const T cterm = T(-0.5) * tg.cc[k] * dy * dy, o = tg.o[k];
      const T cr = tg.r[k], cg = tg.g[k], cb = tg.b[k];
      bool any_active = false;
      for (int l = 0; l < kLanes; ++l) {
        if (rb.active[l] == T(0)) continue;
        any_active = true;
        T dx, power, G;
        eval_alpha<T>(gx, px0 + T(l), A, Bdy, cterm, dx, power, G);
        const T a = std::min(a_max, o * G);
        if (power > T(0) || a < a_min) continue;
        const T tT = rb.trans[l] * (T(1) - a);
        if (tT < t_min) {
          rb.active[l] = T(0);
          continue;
        }
        const T w = a * rb.trans[l];
        rb.rgb[0][l] += w * cr;
        rb.rgb[1][l] += w * cg;
        rb.rgb[2][l] += w * cb;
        if constexpr (kDepth) rb.depth[l] += w * tg.z[k];
        rb.trans[l] = tT;
        if constexpr (kLast) rb.last[l] = k + 1;
      }
      if (!any_active) break;
    }
  }
}

// Blends the tile whose top-left pixel is (x0, y0) of a width × height image: for each of its rows inside the image,
// reset → build_row_list → blend_row → colour += T·background (bg: 3 values), then emit(py, nx, const RowBlend&)
// with nx = the row's lanes inside the image.
template <bool kDepth, bool kLast, class T, class Emit>
inline void blend_tile(TileGaussians<T>& tg, int x0, int y0, int width, int height, const T bg[3], Emit&& emit) {
  const int nx = width - x0 < kLanes ? width - x0 : kLanes;
  RowBlend<T> rb;
  for (int ry = 0; ry < kLanes; ++ry) {
    const int py = y0 + ry;
    if (py >= height) break;
    rb.reset(nx);
    const T pyc = T(py) + T(0.5);
    const int nrl = build_row_list(tg, pyc, tg.n);
    blend_row<kDepth, kLast>(tg, tg.row_list.data(), nrl, T(x0) + T(0.5), pyc, rb);
    for (int l = 0; l < nx; ++l)
      for (int c = 0; c < 3; ++c) rb.rgb[c][l] = rb.rgb[c][l] + rb.trans[l] * bg[c];
    emit(py, nx, static_cast<const RowBlend<T>&>(rb));
  }
}

}  // namespace
}  // namespace ffrt::blend
