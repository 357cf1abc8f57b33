// runtime/raster.cpp — forward-only tile rasterizer; see raster.h. Tiles blend with runtime/blend_cpu.h, the same loop
// as the engine's CPU forward (splat/render_cpu.cpp).
#include "runtime/raster.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/blend_cpu.h"
#include "runtime/formats.h"
#include "runtime/splat_math.h"

namespace ffrt {
namespace {

using namespace ff::splat::math;
constexpr int kP = 12;     // packed projected floats per Gaussian
enum { PU, PV, PA, PB, PC, PO, PR, PG, PBL, PEY, PTHR };

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
      q[PTHR] = blend::power_min(g.opacities[n]);
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
  std::vector<blend::TileGaussians<float>> scratch(static_cast<size_t>(pool_.size()));
  const int64_t HW = int64_t(W) * H;
  pool_.run(TT, [&](int64_t tile, int worker) {
    blend::TileGaussians<float>& tg = scratch[size_t(worker)];
    const std::vector<int32_t>& ids = tile_lists_[size_t(tile)];
    const int L = int(ids.size());
    tg.resize(L, /*with_depth=*/false);
    for (int k = 0; k < L; ++k) {
      const float* q = &proj_[size_t(ids[size_t(k)]) * kP];
      tg.u[k] = q[PU], tg.v[k] = q[PV], tg.ca[k] = q[PA], tg.cb[k] = q[PB], tg.cc[k] = q[PC], tg.o[k] = q[PO];
      tg.r[k] = q[PR], tg.g[k] = q[PG], tg.b[k] = q[PBL], tg.ey[k] = q[PEY], tg.pmin[k] = q[PTHR];
    }
    const int x0 = int(tile % TX) * kTile, y0 = int(tile / TX) * kTile;
    blend::blend_tile<false, false>(tg, x0, y0, W, H, bg, [&](int py, int nx, const blend::RowBlend<float>& rb) {
      const float* R = rb.rgb[0];
      const float* G = rb.rgb[1];
      const float* B = rb.rgb[2];
      if (out.rgba) {
        uint8_t* o = out.rgba + size_t(py) * out.stride + size_t(x0) * 4;
        for (int l = 0; l < nx; ++l) {
          o[4 * l] = to_u8(R[l]);
          o[4 * l + 1] = to_u8(G[l]);
          o[4 * l + 2] = to_u8(B[l]);
          o[4 * l + 3] = to_u8(1.0f - rb.trans[l]);
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
        for (int l = 0; l < nx; ++l) out.alpha[int64_t(py) * W + x0 + l] = 1.0f - rb.trans[l];
    });
  });
}

void view_colors(const GaussianSet& g, const float V[16], std::vector<float>& rgb, Pool* pool) {
  const size_t n = g.size();
  if (!g.has_sh()) {
    rgb = g.colors;
    return;
  }
  rgb.resize(n * 3);
  const float no_intrinsics[4] = {1, 1, 0, 0};  // only the camera's centre is read
  const auto cam = ff::splat::math::make_camera<float, double>(V, no_intrinsics, 1, 1);
  auto range = [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      double d[3], len = 0;
      for (int c = 0; c < 3; ++c) d[c] = g.means[3 * i + size_t(c)] - cam.campos[c], len += d[c] * d[c];
      len = std::sqrt(len);
      float u[3];
      for (int c = 0; c < 3; ++c) u[c] = len > 0 ? float(d[c] / len) : V[8 + c];  // at the centre: the camera's axis
      sh_color(g, i, u, &rgb[3 * i]);
    }
  };
  constexpr size_t chunk = 4096;
  if (!pool || pool->size() == 1 || n <= chunk) return range(0, n);
  pool->run(int64_t((n + chunk - 1) / chunk), [&](int64_t t, int) {
    range(size_t(t) * chunk, std::min(n, size_t(t + 1) * chunk));
  });
}

}  // namespace ffrt
