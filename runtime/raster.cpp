// runtime/raster.cpp — forward-only tile rasterizer; see raster.h. The row kernel mirrors splat/render_cpu.cpp's
// float forward (same exp polynomial, same skip/stop decisions) so the two agree to float rounding.
#include "runtime/raster.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/formats.h"
#include "splat/math.h"

namespace ffrt {
namespace {

using namespace ff::splat::math;
constexpr int LW = kTile;  // 16 lanes = one tile row
constexpr int kP = 12;     // packed projected floats per Gaussian
enum { PU, PV, PA, PB, PC, PO, PR, PG, PBL, PEY, PTHR };

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef int32_t v4i __attribute__((vector_size(16)));

inline v16f vexp(v16f x) {  // splat/render_cpu.cpp's polynomial
  const v16f lo = v16f{} - 87.0f, hi = v16f{} + 88.0f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const v16f magic = v16f{} + 12582912.0f;
  v16f t = x * 1.44269504088896341f;
  v16f n = (t + magic) - magic;
  v16f r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  v16f y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
            1.6666665459e-1f) * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;
  return y * __builtin_bit_cast(v16f, e);
}
inline bool any(v16i m) {
  v8i a = __builtin_shufflevector(m, m, 0, 1, 2, 3, 4, 5, 6, 7) | __builtin_shufflevector(m, m, 8, 9, 10, 11, 12, 13, 14, 15);
  v4i b = __builtin_shufflevector(a, a, 0, 1, 2, 3) | __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] | b[1] | b[2] | b[3]) != 0;
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

struct TileScratch {
  std::vector<float> gx, gy, A, B, C, o, r, g, b, ey, thr;
  std::vector<int> rl;
  void resize(int L) {
    if (int(gx.size()) >= L) return;
    for (auto* v : {&gx, &gy, &A, &B, &C, &o, &r, &g, &b, &ey, &thr}) v->resize(size_t(L));
    rl.resize(size_t(L));
  }
};

// one 16-pixel row over its depth-ordered list: splat/render_cpu.cpp fwd_row without the depth/last outputs.
// power is formed with FMAs (power = dx·(−A/2·dx − B·dy) − C/2·dy²); rows whose largest power is below the
// Gaussian's visibility threshold ln(1/(255·o)) − 1e-3 are skipped before the exp (every lane would have α < 1/255).
void fwd_row(const TileScratch& ts, const int* rl, int nrl, float px0, float pyc, v16f& act_io, v16f& Tr_io,
             v16f& Cr_io, v16f& Cg_io, v16f& Cb_io) {
  v16f act = act_io, Tr = Tr_io, Cr = Cr_io, Cg = Cg_io, Cb = Cb_io;  // locals: no aliasing with ts's floats
  const float* __restrict gxs = ts.gx.data();
  const float* __restrict gys = ts.gy.data();
  const float* __restrict As = ts.A.data();
  const float* __restrict Bs = ts.B.data();
  const float* __restrict Cs = ts.C.data();
  const float* __restrict os = ts.o.data();
  const float* __restrict rs = ts.r.data();
  const float* __restrict gs = ts.g.data();
  const float* __restrict bs = ts.b.data();
  const float* __restrict ths = ts.thr.data();
  const v16f px = v16f{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15} + px0, zero = v16f{};
  const v16f a_min = zero + float(kAlphaMin), a_max = zero + float(kAlphaMax), t_min = zero + float(kTransmittanceMin);
  for (int ii = 0; ii < nrl; ++ii) {
    const int k = rl[ii];
    const float dy = gys[k] - pyc;
    const v16f dx = (zero + gxs[k]) - px;
    const v16f power = dx * (dx * (-0.5f * As[k]) - Bs[k] * dy) - 0.5f * Cs[k] * dy * dy;
    if ((ii & 7) == 7 && !any(act > zero)) break;
    if (!any(power >= ths[k])) continue;
    const v16f G = vexp(power);
    v16f a = G * os[k];
    a = a < a_max ? a : a_max;
    const v16f tT = Tr * (1.0f - a);
    const v16i ok = (act > zero) & (power <= zero) & (a >= a_min);
    const v16i stop = ok & (tT < t_min);
    const v16i use = ok & ~stop;
    act = stop ? zero : act;
    const v16f w = use ? a * Tr : zero;
    Cr += w * rs[k];
    Cg += w * gs[k];
    Cb += w * bs[k];
    Tr = use ? tT : Tr;
  }
  act_io = act, Tr_io = Tr, Cr_io = Cr, Cg_io = Cg, Cb_io = Cb;
}

inline uint8_t to_u8(float v) {
  v = v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
  return uint8_t(v * 255.0f + 0.5f);
}

}  // namespace

void check_camera(const RasterCamera& cam_in, const RasterOutput& out) {
  const int W = cam_in.width, H = cam_in.height;
  if (W < 1 || H < 1 || W > 16384 || H > 16384)
    throw Error(kInvalid, "render: image size " + std::to_string(W) + "x" + std::to_string(H) + " outside 1..16384");
  for (int i = 0; i < 16; ++i)
    if (!std::isfinite(cam_in.viewmat[i])) throw Error(kInvalid, "render: the camera's viewmat has a non-finite entry");
  if (!(cam_in.fx > 0) || !(cam_in.fy > 0) || !std::isfinite(cam_in.fx) || !std::isfinite(cam_in.fy) ||
      !std::isfinite(cam_in.cx) || !std::isfinite(cam_in.cy))
    throw Error(kInvalid, "render: the camera intrinsics must be finite with fx, fy > 0 (got fx " +
                              std::to_string(cam_in.fx) + ", fy " + std::to_string(cam_in.fy) + ")");
  if (out.rgba && out.stride < size_t(W) * 4)
    throw Error(kInvalid, "render: row stride " + std::to_string(out.stride) + " < 4·width " + std::to_string(4 * W));
}

void Rasterizer::render(const RasterGaussians& g, const RasterCamera& cam_in, const float bg_in[3],
                        const RasterOutput& out) {
  check_camera(cam_in, out);
  const int W = cam_in.width, H = cam_in.height;
  const float bg[3] = {bg_in ? bg_in[0] : 0.f, bg_in ? bg_in[1] : 0.f, bg_in ? bg_in[2] : 0.f};
  const float intr[4] = {cam_in.fx, cam_in.fy, cam_in.cx, cam_in.cy};
  const Camera<float> cam = make_camera<float, float>(cam_in.viewmat, intr, W, H);
  const int N = g.n, TX = cam.tiles_x, TY = cam.tiles_y, TT = TX * TY;

  // ---- project (parallel chunks) ----
  proj_.resize(size_t(N) * kP);
  rect_.resize(size_t(N) * 4);
  keys_.resize(size_t(N));
  constexpr int64_t kChunk = 2048;
  const int64_t nchunks = (N + kChunk - 1) / kChunk;
  pool_.run(nchunks, [&](int64_t ch, int) {
    const int n1 = int(std::min<int64_t>(N, (ch + 1) * kChunk));
    for (int n = int(ch * kChunk); n < n1; ++n) {
      Projected<float> pr;
      const bool vis = project_gaussian(cam, g.means + 3 * n, g.scales + 3 * n, g.rotations + 4 * n, g.opacities[n],
                                        float(kNearCull), pr);
      int32_t* r = &rect_[size_t(n) * 4];
      if (!vis || pr.rect[2] <= pr.rect[0] || pr.rect[3] <= pr.rect[1]) {
        r[0] = r[1] = r[2] = r[3] = 0;
        keys_[size_t(n)] = 0xffffffffu;  // marks "not binned"
        continue;
      }
      for (int k = 0; k < 4; ++k) r[k] = pr.rect[k];
      float* q = &proj_[size_t(n) * kP];
      q[PU] = pr.u, q[PV] = pr.v, q[PA] = pr.conic.a, q[PB] = pr.conic.b, q[PC] = pr.conic.c;
      q[PO] = g.opacities[n];
      q[PR] = g.colors[3 * n], q[PG] = g.colors[3 * n + 1], q[PBL] = g.colors[3 * n + 2];
      q[PEY] = pr.ext_y;
      // α = o·exp(power) ≥ 1/255 needs power ≥ ln(1/(255·o)); the margin covers the exp polynomial's error
      q[PTHR] = g.opacities[n] > 0.f ? -std::log(255.0f * g.opacities[n]) - 1e-3f : 1e30f;
      uint32_t bits;
      std::memcpy(&bits, &pr.depth, 4);  // depth > 0.2: positive floats order like their bits
      keys_[size_t(n)] = bits;
    }
  });

  // ---- depth order: stable LSD radix sort (3 × 11 bits) of the binned Gaussians, ties by index ----
  order_.clear();
  for (int n = 0; n < N; ++n)
    if (keys_[size_t(n)] != 0xffffffffu) order_.push_back(n);
  const size_t M = order_.size();
  keys2_.resize(M);
  for (size_t i = 0; i < M; ++i) keys2_[i] = keys_[size_t(order_[i])];
  {
    std::vector<uint32_t> kt(M);
    order2_.resize(M);
    uint32_t* ka = keys2_.data();
    uint32_t* kb = kt.data();
    int32_t* oa = order_.data();
    int32_t* ob = order2_.data();
    for (int pass = 0; pass < 3; ++pass) {
      const int sh = pass * 11;
      uint32_t cnt[2049] = {0};
      for (size_t i = 0; i < M; ++i) cnt[((ka[i] >> sh) & 2047u) + 1]++;
      for (int b = 0; b < 2048; ++b) cnt[b + 1] += cnt[b];
      for (size_t i = 0; i < M; ++i) {
        const uint32_t d = cnt[(ka[i] >> sh) & 2047u]++;
        kb[d] = ka[i];
        ob[d] = oa[i];
      }
      std::swap(ka, kb);
      std::swap(oa, ob);
    }
    if (oa != order_.data()) std::memcpy(order_.data(), oa, M * sizeof(int32_t));
  }

  // ---- bin into tiles: Gaussians → tile rows (serial, depth order), then each tile row → its tiles (parallel);
  //      both passes append in depth order, so every tile's list is ordered by (depth, index) ----
  row_lists_.resize(size_t(TY));
  for (auto& r : row_lists_) r.clear();
  for (size_t i = 0; i < M; ++i) {
    const int32_t id = order_[i];
    const int32_t* r = &rect_[size_t(id) * 4];
    for (int ty = r[1]; ty < r[3]; ++ty) row_lists_[size_t(ty)].push_back(id);
  }
  tile_lists_.resize(size_t(TT));
  std::vector<int64_t> row_entries(size_t(TY), 0);
  pool_.run(TY, [&](int64_t ty, int) {
    for (int tx = 0; tx < TX; ++tx) tile_lists_[size_t(ty * TX + tx)].clear();
    int64_t e = 0;
    for (const int32_t id : row_lists_[size_t(ty)]) {
      const int32_t* r = &rect_[size_t(id) * 4];
      for (int tx = r[0]; tx < r[2]; ++tx) tile_lists_[size_t(ty * TX + tx)].push_back(id);
      e += r[2] - r[0];
    }
    row_entries[size_t(ty)] = e;
  });
  entries_ = 0;
  for (int64_t e : row_entries) entries_ += e;

  // ---- blend tiles ----
  std::vector<TileScratch> scratch(static_cast<size_t>(pool_.size()));
  const int64_t HW = int64_t(W) * H;
  pool_.run(TT, [&](int64_t tile, int worker) {
    TileScratch& ts = scratch[size_t(worker)];
    const std::vector<int32_t>& ids = tile_lists_[size_t(tile)];
    const int L = int(ids.size());
    ts.resize(std::max(L, 1));
    for (int k = 0; k < L; ++k) {
      const float* q = &proj_[size_t(ids[size_t(k)]) * kP];
      ts.gx[k] = q[PU], ts.gy[k] = q[PV], ts.A[k] = q[PA], ts.B[k] = q[PB], ts.C[k] = q[PC], ts.o[k] = q[PO];
      ts.r[k] = q[PR], ts.g[k] = q[PG], ts.b[k] = q[PBL], ts.ey[k] = q[PEY], ts.thr[k] = q[PTHR];
    }
    const int x0 = int(tile % TX) * kTile, y0 = int(tile / TX) * kTile;
    const int nx = std::min(kTile, W - x0);
    for (int ry = 0; ry < kTile; ++ry) {
      const int py = y0 + ry;
      if (py >= H) break;
      const float pyc = float(py) + 0.5f;
      int nrl = 0;  // branchless row list: Gaussians whose opacity-aware extent reaches this row
      {
        int* rl = ts.rl.data();
        const float* gy = ts.gy.data();
        const float* ey = ts.ey.data();
        for (int k = 0; k < L; ++k) {
          rl[nrl] = k;
          nrl += std::abs(pyc - gy[k]) <= ey[k];
        }
      }
      v16f act, Tr = v16f{} + 1.0f, Cr = v16f{}, Cg = v16f{}, Cb = v16f{};
      for (int l = 0; l < LW; ++l) act[l] = l < nx ? 1.0f : 0.0f;
      fwd_row(ts, ts.rl.data(), nrl, float(x0) + 0.5f, pyc, act, Tr, Cr, Cg, Cb);
      const v16f R = Cr + Tr * bg[0], G = Cg + Tr * bg[1], B = Cb + Tr * bg[2], A = 1.0f - Tr;
      if (out.rgba) {
        uint8_t* o = out.rgba + size_t(py) * out.stride + size_t(x0) * 4;
        for (int l = 0; l < nx; ++l) {
          o[4 * l] = to_u8(R[l]);
          o[4 * l + 1] = to_u8(G[l]);
          o[4 * l + 2] = to_u8(B[l]);
          o[4 * l + 3] = to_u8(A[l]);
        }
      }
      if (out.rgb_chw) {
        const int64_t p = int64_t(py) * W + x0;
        for (int l = 0; l < nx; ++l) {
          out.rgb_chw[p + l] = R[l];
          out.rgb_chw[HW + p + l] = G[l];
          out.rgb_chw[2 * HW + p + l] = B[l];
        }
      }
      if (out.alpha)
        for (int l = 0; l < nx; ++l) out.alpha[int64_t(py) * W + x0 + l] = A[l];
    }
  });
}

}  // namespace ffrt
