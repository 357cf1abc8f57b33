// splat/render_cpu.cpp — the CPU rasterizer: project → bin → sort → blend, tile-parallel, deterministic.
//
// Layout: per (camera, Gaussian) SoA arrays; each (camera, tile) holds a depth-sorted list of entries.
// Blending runs one 16-pixel tile row at a time as 16 SIMD lanes (one lane per pixel) over a row list:
// the tile's Gaussians whose opacity-aware extent reaches the row (culling them is exact: outside the
// extent α < 1/255); the forward loop is runtime/blend_cpu.h, the same code as the runtime's rasterizer,
// and the backward evaluates α with its eval_alpha. Backward walks each row's list back to front,
// reconstructing T by division (α ≤ 0.99 keeps that stable), reduces the 16 lanes' contributions per
// Gaussian, and accumulates them per entry; entries are then summed per Gaussian in entry order, and camera
// gradients are summed from fixed-size chunk partials in chunk order — so results are bitwise identical for
// any thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "core/check.h"
#include "runtime/blend_cpu.h"
#include "splat/internal.h"
#include "runtime/splat_math.h"

namespace ff::splat {
namespace {

using namespace ff::splat::math;
using ffrt::blend::any;
using ffrt::blend::eval_alpha;
using ffrt::blend::hsum;
using ffrt::blend::iota_lanes;
using ffrt::blend::load;
using ffrt::blend::store;
using ffrt::blend::v16f;
using ffrt::blend::vrowf;
using ffrt::blend::vrowi;
constexpr int LW = kTile;        // lanes per row = tile width
constexpr int64_t kChunk = 1024;  // Gaussians per preprocessing chunk (fixed: determinism)
constexpr int kG = 10;           // per-entry gradient slots: u, v, A, B, C, opacity, r, g, b, depth

template <class T>
struct TileScratch {
  ffrt::blend::TileGaussians<T> tg;  // the tile's Gaussians (runtime/blend_cpu.h)
  std::vector<T> acc;                // backward: per-entry gradient accumulators
};

template <class T>
void gather_tile(const CpuState<T>& s, int c, int64_t b0, int L, ffrt::blend::TileGaussians<T>& tg) {
  tg.resize(L, /*with_depth=*/true);
  const int64_t base = int64_t(c) * s.N;
  for (int k = 0; k < L; ++k) {
    const int32_t n = s.ids[b0 + k];
    const int64_t i = base + n;
    tg.u[k] = s.u[i];
    tg.v[k] = s.v[i];
    tg.ca[k] = s.ca[i];
    tg.cb[k] = s.cb[i];
    tg.cc[k] = s.cc[i];
    tg.o[k] = s.op[i];
    tg.r[k] = s.cr[i];
    tg.g[k] = s.cg[i];
    tg.b[k] = s.cbl[i];
    tg.z[k] = s.z[i];
    tg.ey[k] = s.ext_y[i];
    tg.pmin[k] = s.pmin[size_t(n)];
  }
}

// ---- backward row kernels (the forward is runtime/blend_cpu.h's blend_row) ----
// generic scalar lanes: the double reference path
template <class T>
void bwd_row(const TileScratch<T>& ts, const int* rl, int nrl, T px0, T pyc, const int32_t* last, T* Tc, const T* dr,
             const T* dg, const T* db, const T* dD, const T* bgt, T* acc) {
  const T a_min = T(kAlphaMin), a_max = T(kAlphaMax);
  T Sr[LW] = {}, Sg[LW] = {}, Sb[LW] = {}, Sz[LW] = {};
  for (int ii = nrl - 1; ii >= 0; --ii) {
    const int k = rl[ii];
    const T gx = ts.tg.u[k], dy = ts.tg.v[k] - pyc, A = ts.tg.ca[k], B = ts.tg.cb[k], Cq = ts.tg.cc[k];
    const T Bdy = B * dy, cterm = T(-0.5) * Cq * dy * dy, o = ts.tg.o[k];
    const T cr = ts.tg.r[k], cg = ts.tg.g[k], cb = ts.tg.b[k], cz = ts.tg.z[k];
    T* a_ = acc + size_t(k) * kG;
    for (int l = 0; l < LW; ++l) {
      if (k >= last[l]) continue;
      T dx, power, G;
      eval_alpha<T>(gx, px0 + T(l), A, Bdy, cterm, dx, power, G);
      T oG = o * G;
      T a = std::min(a_max, oG);
      if (power > T(0) || a < a_min) continue;
      T rinv = T(1) / (T(1) - a);
      T Tk = Tc[l] * rinv;
      T w = a * Tk;
      T dal = dr[l] * (Tk * cr - Sr[l] * rinv) + dg[l] * (Tk * cg - Sg[l] * rinv) + db[l] * (Tk * cb - Sb[l] * rinv) +
              dD[l] * (Tk * cz - Sz[l] * rinv) + bgt[l] * rinv;
      Sr[l] += w * cr;
      Sg[l] += w * cg;
      Sb[l] += w * cb;
      Sz[l] += w * cz;
      Tc[l] = Tk;
      a_[6] += w * dr[l];
      a_[7] += w * dg[l];
      a_[8] += w * db[l];
      a_[9] += w * dD[l];
      if (oG > a_max) continue;
      T dpow = dal * oG;
      a_[5] += dal * G;
      a_[0] += dpow * (-A * dx - Bdy);
      a_[1] += dpow * (-Cq * dy - B * dx);
      a_[2] += dpow * T(-0.5) * dx * dx;
      a_[3] -= dpow * dx * dy;
      a_[4] += dpow * T(-0.5) * dy * dy;
    }
  }
}

// float: the row's 16 lanes as native vectors (runtime/blend_cpu.h vrowf: one 16-lane vector with AVX-512, two
// independent 8-lane halves without, where GCC would lower 16-lane compares and selects lane by lane)
void bwd_row(const TileScratch<float>& ts, const int* rl, int nrl, float px0, float pyc, const int32_t* last_,
             float* Tc_, const float* dr_, const float* dg_, const float* db_, const float* dD_, const float* bgt_,
             float* acc) {
  using VF = vrowf;
  using VI = vrowi;
  constexpr int NW = int(sizeof(VF) / sizeof(float));
  const VF zero = VF{};
  const VF a_min = zero + float(kAlphaMin), a_max = zero + float(kAlphaMax);
  for (int h = 0; h < LW; h += NW) {  // lanes [h, h + NW)
    const VF px = iota_lanes<VF>() + (px0 + float(h));
    const VI last = load<VI>(last_ + h);
    const VF dr = load<VF>(dr_ + h), dg = load<VF>(dg_ + h), db = load<VF>(db_ + h), dD = load<VF>(dD_ + h),
             bgt = load<VF>(bgt_ + h);
    VF Tc = load<VF>(Tc_ + h), Sr = zero, Sg = zero, Sb = zero, Sz = zero;
    for (int ii = nrl - 1; ii >= 0; --ii) {
      const int k = rl[ii];
      const float dy = ts.tg.v[k] - pyc, A = ts.tg.ca[k], B = ts.tg.cb[k], Cq = ts.tg.cc[k], o = ts.tg.o[k];
      const float cr = ts.tg.r[k], cg = ts.tg.g[k], cb = ts.tg.b[k], cz = ts.tg.z[k];
      VF dx, power, G;
      eval_alpha<VF>(zero + ts.tg.u[k], px, zero + A, zero + B * dy, zero + -0.5f * Cq * dy * dy, dx, power, G);
      VF oG = G * o;
      VF a = oG < a_max ? oG : a_max;
      VI use = ((VI{} + k) < last) & (power <= zero) & (a >= a_min);
      if (!any(use)) continue;
      VF rinv = 1.0f / (1.0f - a);
      VF Tk = Tc * rinv;
      VF w = a * Tk;
      VF dal = dr * (Tk * cr - Sr * rinv) + dg * (Tk * cg - Sg * rinv) + db * (Tk * cb - Sb * rinv) +
               dD * (Tk * cz - Sz * rinv) + bgt * rinv;
      VF wu = use ? w : zero;
      Sr += wu * cr;
      Sg += wu * cg;
      Sb += wu * cb;
      Sz += wu * cz;
      Tc = use ? Tk : Tc;
      VF dalg = (use & (oG <= a_max)) ? dal : zero;
      VF dpow = dalg * oG;
      // lane-wise accumulation per entry; the 16 lanes are summed once per tile (bwd_tile)
      float* a_ = acc + size_t(k) * kG * LW + h;
      auto add = [&](int j, VF v) { store(a_ + j * LW, load<VF>(a_ + j * LW) + v); };
      add(0, dpow * (-A * dx - B * dy));
      add(1, dpow * (-Cq * dy - B * dx));
      add(2, dpow * dx * dx * -0.5f);
      add(3, -(dpow * dx * dy));
      add(4, dpow * (-0.5f * dy * dy));
      add(5, dalg * G);
      add(6, wu * dr);
      add(7, wu * dg);
      add(8, wu * db);
      add(9, wu * dD);
    }
    store(Tc_ + h, Tc);
  }
}

template <class T>
void fwd_tile(const RenderParamsT<T>& p, CpuState<T>& s, int c, int tile, TileScratch<T>& ts) {
  const int TT = s.tiles_x * s.tiles_y;
  const int64_t b0 = s.tile_off[int64_t(c) * TT + tile], b1 = s.tile_off[int64_t(c) * TT + tile + 1];
  gather_tile(s, c, b0, int(b1 - b0), ts.tg);
  const int W = s.W, H = s.H;
  const int64_t HW = int64_t(W) * H;
  const int x0 = (tile % s.tiles_x) * kTile, y0 = (tile / s.tiles_x) * kTile;
  T bg[3] = {T(0), T(0), T(0)};
  if (p.background)
    for (int k = 0; k < 3; ++k) bg[k] = p.background[3 * c + k];
  auto emit = [&](int py, int nx, const ffrt::blend::RowBlend<T>& rb) {
    const int64_t row = int64_t(c) * HW + int64_t(py) * W + x0;
    for (int l = 0; l < nx; ++l) {
      for (int k = 0; k < 3; ++k) p.image[(int64_t(c) * 3 + k) * HW + int64_t(py) * W + x0 + l] = rb.rgb[k][l];
      if (p.alpha) p.alpha[row + l] = T(1) - rb.trans[l];
      if (p.depth) p.depth[row + l] = rb.depth[l];
      s.final_T[row + l] = rb.trans[l];
      s.n_contrib[row + l] = rb.last[l];
    }
  };
  if (p.depth) ffrt::blend::blend_tile<true, true>(ts.tg, x0, y0, W, H, bg, emit);
  else ffrt::blend::blend_tile<false, true>(ts.tg, x0, y0, W, H, bg, emit);
}

template <class T>
void bwd_tile(const RenderParamsT<T>& p, const RenderGradsT<T>& g, CpuState<T>& s, int c, int tile,
              TileScratch<T>& ts) {
  const int TT = s.tiles_x * s.tiles_y;
  const int64_t b0 = s.tile_off[int64_t(c) * TT + tile], b1 = s.tile_off[int64_t(c) * TT + tile + 1];
  const int L = int(b1 - b0);
  if (L == 0) return;
  gather_tile(s, c, b0, L, ts.tg);
  constexpr int AW = std::is_same<T, float>::value ? LW : 1;  // float: per-lane accumulators
  ts.acc.assign(size_t(L) * kG * AW, T(0));
  const int W = s.W, H = s.H;
  const int64_t HW = int64_t(W) * H;
  const int x0 = (tile % s.tiles_x) * kTile, y0 = (tile / s.tiles_x) * kTile;
  const int nx = std::min(kTile, W - x0);
  T bg[3] = {T(0), T(0), T(0)};
  if (p.background)
    for (int k = 0; k < 3; ++k) bg[k] = p.background[3 * c + k];
  for (int ry = 0; ry < kTile; ++ry) {
    const int py = y0 + ry;
    if (py >= H) break;
    alignas(64) T Tc[LW], dr[LW], dg[LW], db[LW], dD[LW], bgt[LW];
    alignas(64) int32_t last[LW];
    int maxlast = 0;
    const int64_t row = int64_t(c) * HW + int64_t(py) * W + x0;
    for (int l = 0; l < LW; ++l) {
      if (l < nx) {
        const int64_t pix = int64_t(py) * W + x0 + l;
        Tc[l] = s.final_T[row + l];
        last[l] = s.n_contrib[row + l];
        dr[l] = g.d_image ? g.d_image[(int64_t(c) * 3 + 0) * HW + pix] : T(0);
        dg[l] = g.d_image ? g.d_image[(int64_t(c) * 3 + 1) * HW + pix] : T(0);
        db[l] = g.d_image ? g.d_image[(int64_t(c) * 3 + 2) * HW + pix] : T(0);
        dD[l] = g.d_depth ? g.d_depth[row + l] : T(0);
        T dA = g.d_alpha ? g.d_alpha[row + l] : T(0);
        bgt[l] = Tc[l] * (dA - (bg[0] * dr[l] + bg[1] * dg[l] + bg[2] * db[l]));
      } else {
        Tc[l] = T(1);
        last[l] = 0;
        dr[l] = dg[l] = db[l] = dD[l] = bgt[l] = T(0);
      }
      maxlast = std::max(maxlast, int(last[l]));
    }
    if (maxlast == 0) continue;
    const T pyc = T(py) + T(0.5);
    const int nrl = ffrt::blend::build_row_list(ts.tg, pyc, maxlast);
    bwd_row(ts, ts.tg.row_list.data(), nrl, T(x0) + T(0.5), pyc, last, Tc, dr, dg, db, dD, bgt, ts.acc.data());
  }
  if constexpr (AW > 1) {
    for (size_t i = 0; i < size_t(L) * kG; ++i) s.entry_grad[size_t(b0) * kG + i] = hsum(load<v16f>(&ts.acc[i * LW]));
  } else {
    std::copy(ts.acc.begin(), ts.acc.begin() + size_t(L) * kG, s.entry_grad.begin() + b0 * kG);
  }
}

template <class T>
void project_all(const RenderParamsT<T>& p, int threads, CpuState<T>& s, const std::vector<Camera<T>>& cams) {
  const int N = s.N, C = s.C;
  const int64_t nchunks = (N + kChunk - 1) / kChunk;
  const int K = p.sh_coeffs;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    const int n1 = int(std::min<int64_t>(N, (ch + 1) * kChunk));
    for (int n = int(ch * kChunk); n < n1; ++n) {
      s.pmin[size_t(n)] = ffrt::blend::power_min(p.opacities[n]);
      for (int c = 0; c < C; ++c) {
        const int64_t i = int64_t(c) * N + n;
        Projected<T> pr;
        bool vis = project_gaussian(cams[c], p.means + 3 * n, p.scales + 3 * n, p.rotations + 4 * n, p.opacities[n],
                                    p.near_cull, pr);
        s.radius[i] = pr.radius;
        if (p.radii) p.radii[i] = pr.radius;
        for (int k = 0; k < 4; ++k) s.rect[4 * i + k] = pr.rect[k];
        if (!vis) continue;
        s.u[i] = pr.u;
        s.v[i] = pr.v;
        s.ca[i] = pr.conic.a;
        s.cb[i] = pr.conic.b;
        s.cc[i] = pr.conic.c;
        s.op[i] = p.opacities[n];
        s.z[i] = pr.depth;
        s.ext_y[i] = pr.ext_y;
        T rgb[3];
        s.clamp_mask[i] = eval_color<T, T>(cams[c], p.means + 3 * n, p.colors ? p.colors + 3 * n : nullptr,
                                           p.sh ? p.sh + int64_t(K) * 3 * n : nullptr, p.sh_degree, rgb);
        s.cr[i] = rgb[0];
        s.cg[i] = rgb[1];
        s.cbl[i] = rgb[2];
      }
    }
  }
}

template <class T>
void bin_and_sort(int threads, CpuState<T>& s) {
  // one depth argsort per camera (ties by index), then a stable counting sort into tiles: every tile's
  // list comes out ordered by (depth, index) — 3DGS's (tile | depth) radix sort order
  const int N = s.N, C = s.C, TX = s.tiles_x, TT = s.tiles_x * s.tiles_y;
  std::vector<std::vector<std::pair<T, int32_t>>> order(static_cast<size_t>(C));
#pragma omp parallel for schedule(static, 1) num_threads(std::min(threads, std::max(C, 1)))
  for (int c = 0; c < C; ++c) {
    auto& o = order[size_t(c)];
    o.clear();
    for (int n = 0; n < N; ++n) {
      const int32_t* r = &s.rect[4 * (int64_t(c) * N + n)];
      if (r[2] > r[0] && r[3] > r[1]) o.emplace_back(s.z[int64_t(c) * N + n], n);
    }
    std::sort(o.begin(), o.end());
  }
  std::vector<int64_t>& off = s.tile_off;
  off.assign(size_t(C) * TT + 1, 0);
  for (int c = 0; c < C; ++c)
    for (auto& e : order[size_t(c)]) {
      const int32_t* r = &s.rect[4 * (int64_t(c) * N + e.second)];
      for (int ty = r[1]; ty < r[3]; ++ty)
        for (int tx = r[0]; tx < r[2]; ++tx) off[int64_t(c) * TT + ty * TX + tx + 1]++;
    }
  for (size_t t = 1; t < off.size(); ++t) off[t] += off[t - 1];
  s.ids.resize(size_t(off.back()));
  std::vector<int64_t> cur(off.begin(), off.end() - 1);
  for (int c = 0; c < C; ++c)
    for (auto& e : order[size_t(c)]) {
      const int32_t* r = &s.rect[4 * (int64_t(c) * N + e.second)];
      for (int ty = r[1]; ty < r[3]; ++ty)
        for (int tx = r[0]; tx < r[2]; ++tx) s.ids[size_t(cur[int64_t(c) * TT + ty * TX + tx]++)] = e.second;
    }
}

}  // namespace

template <class T>
void render_fwd_cpu(const RenderParamsT<T>& p, int threads, CpuState<T>& s) {
  s.C = p.num_cameras;
  s.N = p.num_gaussians;
  s.W = p.width;
  s.H = p.height;
  std::vector<Camera<T>> cams(s.C);
  for (int c = 0; c < s.C; ++c) cams[c] = make_camera<T, T>(p.viewmats + 16 * c, p.intrinsics + 4 * c, s.W, s.H);
  s.tiles_x = cams.empty() ? 1 : cams[0].tiles_x;
  s.tiles_y = cams.empty() ? 1 : cams[0].tiles_y;
  const size_t CN = size_t(s.C) * s.N;
  for (auto* v : {&s.u, &s.v, &s.ca, &s.cb, &s.cc, &s.op, &s.cr, &s.cg, &s.cbl, &s.z, &s.ext_y}) v->resize(CN);
  s.pmin.resize(size_t(s.N));
  s.clamp_mask.resize(CN);
  s.radius.resize(CN);
  s.rect.resize(CN * 4);
  project_all(p, threads, s, cams);
  bin_and_sort(threads, s);
  const size_t CHW = size_t(s.C) * s.H * s.W;
  s.final_T.resize(CHW);
  s.n_contrib.resize(CHW);
  const int TT = s.tiles_x * s.tiles_y;
  const int64_t ntiles = int64_t(s.C) * TT;
#pragma omp parallel num_threads(threads)
  {
    TileScratch<T> ts;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < ntiles; ++t) fwd_tile(p, s, int(t / TT), int(t % TT), ts);
  }
}

template <class T>
void render_bwd_cpu(const RenderParamsT<T>& p, const RenderGradsT<T>& g, int threads, CpuState<T>& s) {
  const int C = s.C, N = s.N, TT = s.tiles_x * s.tiles_y;
  const int64_t E = int64_t(s.ids.size());
  s.entry_grad.resize(size_t(E) * kG);
  const int64_t ntiles = int64_t(C) * TT;
#pragma omp parallel num_threads(threads)
  {
    TileScratch<T> ts;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < ntiles; ++t) {
      const int64_t b0 = s.tile_off[t], b1 = s.tile_off[t + 1];
      if (b1 > b0) bwd_tile(p, g, s, int(t / TT), int(t % TT), ts);
    }
  }
  // entries → per (camera, Gaussian), in entry order
  s.g2d.assign(size_t(C) * N * kG, T(0));
#pragma omp parallel for schedule(static, 1) num_threads(std::min(threads, std::max(C, 1)))
  for (int c = 0; c < C; ++c) {
    for (int64_t e = s.tile_off[int64_t(c) * TT]; e < s.tile_off[int64_t(c + 1) * TT]; ++e) {
      T* dst = &s.g2d[(size_t(c) * N + s.ids[e]) * kG];
      const T* src = &s.entry_grad[size_t(e) * kG];
      for (int j = 0; j < kG; ++j) dst[j] += src[j];
    }
  }
  // per-Gaussian preprocessing backward; camera gradients from fixed-size chunk partials
  std::vector<Camera<T>> cams(C);
  for (int c = 0; c < C; ++c) cams[c] = make_camera<T, T>(p.viewmats + 16 * c, p.intrinsics + 4 * c, s.W, s.H);
  const int64_t nchunks = (N + kChunk - 1) / kChunk;
  std::vector<T> cam_part(size_t(nchunks) * C * 12, T(0));
  const int K = p.sh_coeffs;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t ch = 0; ch < nchunks; ++ch) {
    T* part = &cam_part[size_t(ch) * C * 12];
    const int n1 = int(std::min<int64_t>(N, (ch + 1) * kChunk));
    for (int n = int(ch * kChunk); n < n1; ++n) {
      T dm[3] = {0, 0, 0}, ds[3] = {0, 0, 0}, dq[4] = {0, 0, 0, 0}, dop = 0;
      bool any = false;
      for (int c = 0; c < C; ++c) {
        const size_t i = size_t(c) * N + n;
        if (s.radius[i] <= 0) continue;
        const T* gg = &s.g2d[i * kG];
        bool nz = false;
        for (int j = 0; j < kG; ++j) nz |= gg[j] != T(0);
        if (!nz) continue;
        any = true;
        T dR[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}, dt[3] = {0, 0, 0};
        const T duv[2] = {gg[0], gg[1]};
        project_gaussian_vjp(cams[c], p.means + 3 * n, p.scales + 3 * n, p.rotations + 4 * n, duv,
                             Sym2<T>{gg[2], gg[3], gg[4]}, gg[9], dm, ds, dq, dR, dt);
        const T drgb[3] = {gg[6], gg[7], gg[8]};
        eval_color_vjp<T, T>(cams[c], p.means + 3 * n, p.colors ? p.colors + 3 * n : nullptr,
                             p.sh ? p.sh + int64_t(K) * 3 * n : nullptr, p.sh_degree, s.clamp_mask[i], drgb,
                             g.d_colors ? g.d_colors + 3 * n : nullptr, g.d_sh ? g.d_sh + int64_t(K) * 3 * n : nullptr,
                             dm, dR, dt);
        dop += gg[5];
        if (g.d_means2d) {
          g.d_means2d[2 * i] += gg[0];
          g.d_means2d[2 * i + 1] += gg[1];
        }
        T* pc = part + c * 12;
        for (int a = 0; a < 3; ++a) {
          for (int b = 0; b < 3; ++b) pc[3 * a + b] += dR[a][b];
          pc[9 + a] += dt[a];
        }
      }
      if (!any) continue;
      if (g.d_means)
        for (int k = 0; k < 3; ++k) g.d_means[3 * n + k] += dm[k];
      if (g.d_scales)
        for (int k = 0; k < 3; ++k) g.d_scales[3 * n + k] += ds[k];
      if (g.d_rotations)
        for (int k = 0; k < 4; ++k) g.d_rotations[4 * n + k] += dq[k];
      if (g.d_opacities) g.d_opacities[n] += dop;
    }
  }
  if (g.d_viewmats) {
    for (int c = 0; c < C; ++c) {
      T acc[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t ch = 0; ch < nchunks; ++ch)
        for (int j = 0; j < 12; ++j) acc[j] += cam_part[(size_t(ch) * C + c) * 12 + j];
      T* dv = g.d_viewmats + 16 * c;
      for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) dv[4 * a + b] += acc[3 * a + b];
        dv[4 * a + 3] += acc[9 + a];
      }
    }
  }
}

template void render_fwd_cpu<float>(const RenderParamsT<float>&, int, CpuState<float>&);
template void render_fwd_cpu<double>(const RenderParamsT<double>&, int, CpuState<double>&);
template void render_bwd_cpu<float>(const RenderParamsT<float>&, const RenderGradsT<float>&, int, CpuState<float>&);
template void render_bwd_cpu<double>(const RenderParamsT<double>&, const RenderGradsT<double>&, int,
                                     CpuState<double>&);

}  // namespace ff::splat
