// tensor/winograd_cpu.cpp — Winograd F(2×2, 3×3) convolutions (see tensor/winograd_cpu.h).
#include "tensor/winograd_cpu.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "tensor/sgemm_cpu.h"

namespace ff::cpu {
namespace {

constexpr int64_t kXi = 16;               // transformed positions of a 4×4 tile
constexpr int64_t kChunkTiles = 256;      // tiles per GEMM batch (forward: any split gives the same result)
constexpr int64_t kWeightGradTiles = 256;  // tiles per accumulation step of the weight gradient (fixed: sets the order)

struct Tiling {
  int64_t th, tw, per_image, total;
  explicit Tiling(const Conv3x3Shape& s)
      : th((s.Ho() + 1) / 2), tw((s.Wo() + 1) / 2), per_image(th * tw), total(s.N * th * tw) {}
};

// distance between the 16 ξ planes of a transformed buffer: whole cache lines plus one, so that the 16
// streams a transform writes (or reads) at once never share an L1 set (power-of-two plane sizes would)
int64_t plane(int64_t n) { return (n + 15) / 16 * 16 + 16; }

float* grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// U[ξ][o][c] = (G g Gᵀ)[ξ] for the Og × Cg kernels of one group, rows o ∈ [o0, o1)
void transform_weights(const float* w, int64_t Og, int64_t Cg, int64_t o0, int64_t o1, float* U) {
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t c = 0; c < Cg; ++c) {
      const float* g = w + (o * Cg + c) * 9;
      float t[4][3], u[4][4];
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; ++i) {
        u[i][0] = t[i][0];
        u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[i][3] = t[i][2];
      }
      for (int xi = 0; xi < kXi; ++xi) U[xi * plane(Og * Cg) + o * Cg + c] = u[xi / 4][xi % 4];
    }
}

// V[ξ][c][j] = (Bᵀ d B)[ξ] for tiles t0 + j (j < tb) of group gi, channels c ∈ [c0, c1); V has tb columns.
// Separable and vectorised along a run of tiles in one tile row: each of the 4 input rows is zero-padded into
// rb (rb[k] = x[ix = k − pw]), whose even/odd entries are the tiles' columns; the row transform (·B) gives
// e[a][b'][i], then the column transform (Bᵀ·) combines the 4 rows.
void transform_input(const float* x, const Conv3x3Shape& s, const Tiling& tl, int64_t gi, int64_t t0, int64_t tb,
                     int64_t c0, int64_t c1, float* V) {
  const int64_t Cg = s.C / s.G, xs = plane(Cg * tb), tw = tl.tw, rl = 2 * tw + 2;
  thread_local std::vector<float> rbuf, ebuf;
  float* rb = grow(rbuf, size_t(rl));
  float* e = grow(ebuf, size_t(16 * tw));  // e[(a·4 + b')·tw + i]
  const int64_t k_lo = std::max<int64_t>(0, s.pw), k_hi = std::min<int64_t>(rl, s.W + s.pw);  // rb entries inside x
  for (int64_t c = c0; c < c1; ++c) {
    int64_t t = t0, j = 0;
    while (j < tb) {
      const int64_t n = t / tl.per_image, r = t % tl.per_image, ty = r / tw, tx0 = r % tw;
      const int64_t cnt = std::min(tw - tx0, tb - j);
      const float* xc = x + (n * s.C + gi * Cg + c) * s.H * s.W;
      for (int a = 0; a < 4; ++a) {
        const int64_t iy = 2 * ty - s.ph + a;
        if (iy < 0 || iy >= s.H || k_hi <= k_lo) {
          std::fill(rb, rb + rl, 0.f);
        } else {
          std::fill(rb, rb + k_lo, 0.f);
          std::copy(xc + iy * s.W + (k_lo - s.pw), xc + iy * s.W + (k_hi - s.pw), rb + k_lo);
          std::fill(rb + k_hi, rb + rl, 0.f);
        }
        const float* q = rb + 2 * tx0;
        float* e0 = e + (a * 4 + 0) * tw;
        float* e1 = e + (a * 4 + 1) * tw;
        float* e2 = e + (a * 4 + 2) * tw;
        float* e3 = e + (a * 4 + 3) * tw;
#pragma GCC ivdep
        for (int64_t i = 0; i < cnt; ++i) {
          const float d0 = q[2 * i], d1 = q[2 * i + 1], d2 = q[2 * i + 2], d3 = q[2 * i + 3];
          e0[i] = d0 - d2;
          e1[i] = d1 + d2;
          e2[i] = d2 - d1;
          e3[i] = d1 - d3;
        }
      }
      for (int b = 0; b < 4; ++b) {
        const float* r0 = e + (0 * 4 + b) * tw;
        const float* r1 = e + (1 * 4 + b) * tw;
        const float* r2 = e + (2 * 4 + b) * tw;
        const float* r3 = e + (3 * 4 + b) * tw;
        float* v0 = V + (0 * 4 + b) * xs + c * tb + j;
        float* v1 = V + (1 * 4 + b) * xs + c * tb + j;
        float* v2 = V + (2 * 4 + b) * xs + c * tb + j;
        float* v3 = V + (3 * 4 + b) * xs + c * tb + j;
#pragma GCC ivdep
        for (int64_t i = 0; i < cnt; ++i) {  // (the 8 rows never overlap)
          v0[i] = r0[i] - r2[i];
          v1[i] = r1[i] + r2[i];
          v2[i] = r2[i] - r1[i];
          v3[i] = r1[i] - r3[i];
        }
      }
      j += cnt;
      t += cnt;
    }
  }
}

// y tiles (+ bias) = Aᵀ m A from M[ξ][o][j] (tb columns), rows o ∈ [o0, o1) of group gi; vectorised along each
// run of tiles in one tile row (the two output rows of the run are assembled in lb, then cropped to Wo)
void transform_output(const float* M, const float* bias, float* y, const Conv3x3Shape& s, const Tiling& tl, int64_t gi,
                      int64_t t0, int64_t tb, int64_t o0, int64_t o1) {
  const int64_t Og = s.O / s.G, Ho = s.Ho(), Wo = s.Wo(), xs = plane(Og * tb), tw = tl.tw;
  thread_local std::vector<float> lbuf;
  float* lb = grow(lbuf, size_t(2 * tw));
  for (int64_t o = o0; o < o1; ++o) {
    const float bo = bias ? bias[gi * Og + o] : 0.f;
    int64_t t = t0, j = 0;
    while (j < tb) {
      const int64_t n = t / tl.per_image, r = t % tl.per_image, ty = r / tw, tx0 = r % tw;
      const int64_t cnt = std::min(tw - tx0, tb - j), oy = 2 * ty, ox = 2 * tx0;
      const float* m = M + o * tb + j;
      float* yo = y + (n * s.O + gi * Og + o) * Ho * Wo;
      for (int a = 0; a < 2 && oy + a < Ho; ++a) {
        // row a of Aᵀ m: a = 0 → m0 + m1 + m2, a = 1 → m1 − m2 − m3 (rows of the 4×4 m), then · A
        const float sg = a == 0 ? 1.f : -1.f;
        const float* p0 = m + (a * 4 + 0) * xs;  // a = 0: rows 0,1,2 with signs +,+,+; a = 1: rows 1,2,3 with +,−,−
        const float* p1 = m + (a * 4 + 4) * xs;
        const float* p2 = m + (a * 4 + 8) * xs;
#pragma GCC ivdep
        for (int64_t i = 0; i < cnt; ++i) {
          float q[4];
          for (int bb = 0; bb < 4; ++bb) q[bb] = p0[bb * xs + i] + sg * (p1[bb * xs + i] + p2[bb * xs + i]);
          lb[2 * i] = q[0] + q[1] + q[2] + bo;
          lb[2 * i + 1] = q[1] - q[2] - q[3] + bo;
        }
        std::copy(lb, lb + std::min(2 * cnt, Wo - ox), yo + (oy + a) * Wo + ox);
      }
      j += cnt;
      t += cnt;
    }
  }
}

// Wd[ξ][o][j] = (A dY Aᵀ)[ξ] for the 2×2 output-gradient tiles (zero past the output's edge), rows o ∈ [o0, o1);
// vectorised along each run of tiles in one tile row (dY rows zero-padded into gb)
void transform_output_grad(const float* dy, const Conv3x3Shape& s, const Tiling& tl, int64_t gi, int64_t t0, int64_t tb,
                           int64_t o0, int64_t o1, float* Wd) {
  const int64_t Og = s.O / s.G, Ho = s.Ho(), Wo = s.Wo(), xs = plane(Og * tb), tw = tl.tw;
  thread_local std::vector<float> gbuf;
  float* gb = grow(gbuf, size_t(4 * tw));  // rows 0 and 1 of the run, 2·tw each
  for (int64_t o = o0; o < o1; ++o) {
    int64_t t = t0, j = 0;
    while (j < tb) {
      const int64_t n = t / tl.per_image, r = t % tl.per_image, ty = r / tw, tx0 = r % tw;
      const int64_t cnt = std::min(tw - tx0, tb - j), oy = 2 * ty, ox = 2 * tx0;
      const float* d = dy + (n * s.O + gi * Og + o) * Ho * Wo;
      for (int a = 0; a < 2; ++a) {
        float* row = gb + a * 2 * tw;
        const int64_t valid = oy + a < Ho ? std::min(2 * cnt, Wo - ox) : 0;
        if (valid > 0) std::copy(d + (oy + a) * Wo + ox, d + (oy + a) * Wo + ox + valid, row);
        std::fill(row + valid, row + 2 * cnt, 0.f);
      }
      const float* g0 = gb;
      const float* g1 = gb + 2 * tw;
      float* w = Wd + o * tb + j;
#pragma GCC ivdep
      for (int64_t i = 0; i < cnt; ++i) {
        float e[2][4];  // row a of (g · Aᵀ): g0, g0 + g1, g0 − g1, −g1 along x
        for (int a = 0; a < 2; ++a) {
          const float* g = a == 0 ? g0 : g1;
          const float u = g[2 * i], v = g[2 * i + 1];
          e[a][0] = u;
          e[a][1] = u + v;
          e[a][2] = u - v;
          e[a][3] = -v;
        }
        for (int bb = 0; bb < 4; ++bb) {  // A · e along y
          w[(0 * 4 + bb) * xs + i] = e[0][bb];
          w[(1 * 4 + bb) * xs + i] = e[0][bb] + e[1][bb];
          w[(2 * 4 + bb) * xs + i] = e[0][bb] - e[1][bb];
          w[(3 * 4 + bb) * xs + i] = -e[1][bb];
        }
      }
      j += cnt;
      t += cnt;
    }
  }
}

// dw[o][c] = Gᵀ dU[·][o][c] G for rows o ∈ [o0, o1) of one group
void transform_weight_grad(const float* dU, int64_t Og, int64_t Cg, int64_t o0, int64_t o1, float* dw) {
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t c = 0; c < Cg; ++c) {
      float u[4][4], q[3][4];
      for (int xi = 0; xi < kXi; ++xi) u[xi / 4][xi % 4] = dU[xi * plane(Og * Cg) + o * Cg + c];
      for (int b = 0; b < 4; ++b) {  // Gᵀ u
        q[0][b] = u[0][b] + 0.5f * (u[1][b] + u[2][b]);
        q[1][b] = 0.5f * (u[1][b] - u[2][b]);
        q[2][b] = 0.5f * (u[1][b] + u[2][b]) + u[3][b];
      }
      float* g = dw + (o * Cg + c) * 9;
      for (int a = 0; a < 3; ++a) {  // (Gᵀ u) G
        g[a * 3 + 0] = q[a][0] + 0.5f * (q[a][1] + q[a][2]);
        g[a * 3 + 1] = 0.5f * (q[a][1] - q[a][2]);
        g[a * 3 + 2] = 0.5f * (q[a][1] + q[a][2]) + q[a][3];
      }
    }
}

}  // namespace

bool winograd_profitable(const Conv3x3Shape& s) {
  const int64_t Cg = s.C / s.G, Og = s.O / s.G;
  const Tiling tl(s);
  // the transforms cost O((Cg + Og)·16) per tile against the GEMMs' 2·16·Og·Cg; tiny images make the
  // transformed weights (16/9 of the weights) the dominant memory traffic
  return Cg >= 16 && Og >= 16 && tl.per_image >= 64;
}

void winograd_conv3x3(const float* x, const float* w, const float* bias, float* y, const Conv3x3Shape& s, int threads) {
  const int64_t Cg = s.C / s.G, Og = s.O / s.G;
  const Tiling tl(s);
  const int nt = std::max(1, threads);
  thread_local std::vector<float> ubuf;
  float* U = grow(ubuf, size_t(s.G * kXi * plane(Og * Cg)));  // [G][ξ][Og][Cg]
  parallel_for(s.G * Og, std::max<int64_t>(1, 4096 / (Cg * 9)), nt, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t gi = r / Og, o = r % Og;
      transform_weights(w + gi * Og * Cg * 9, Og, Cg, o, o + 1, U + gi * kXi * plane(Og * Cg));
    }
  });
  // tasks (group, chunk of tiles); chunks small enough that every thread gets one when there are few groups
  int64_t chunks = (tl.total + kChunkTiles - 1) / kChunkTiles;
  if (s.G * chunks < nt) chunks = std::max<int64_t>(chunks, std::min<int64_t>((nt + s.G - 1) / s.G, tl.total / 32));
  chunks = std::max<int64_t>(chunks, 1);
  const int64_t tb_max = (tl.total + chunks - 1) / chunks, tasks = s.G * chunks;
  auto run = [&](int64_t task, int inner) {
    const int64_t gi = task / chunks, t0 = (task % chunks) * tb_max, tb = std::min(tb_max, tl.total - t0);
    if (tb <= 0) return;
    thread_local std::vector<float> vbuf, mbuf;
    float* V = grow(vbuf, size_t(kXi * plane(Cg * tb)));
    float* M = grow(mbuf, size_t(kXi * plane(Og * tb)));
    const float* Ug = U + gi * kXi * plane(Og * Cg);
    parallel_for(Cg, 1, inner, [&](int64_t lo, int64_t hi) { transform_input(x, s, tl, gi, t0, tb, lo, hi, V); });
    parallel_for(kXi, 1, inner, [&](int64_t lo, int64_t hi) {
      for (int64_t xi = lo; xi < hi; ++xi)
        sgemm(Og, tb, Cg, Ug + xi * plane(Og * Cg), Cg, 1, V + xi * plane(Cg * tb), tb, 1, M + xi * plane(Og * tb), tb,
              false, 1);
    });
    parallel_for(Og, 1, inner, [&](int64_t lo, int64_t hi) { transform_output(M, bias, y, s, tl, gi, t0, tb, lo, hi); });
  };
  if (tasks >= nt && nt > 1) {
    parallel_for(tasks, 1, nt, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) run(t, 1);
    });
  } else {
    for (int64_t t = 0; t < tasks; ++t) run(t, nt);
  }
}

void winograd_conv3x3_backward_weight(const float* dy, const float* x, float* dw, const Conv3x3Shape& s, int threads) {
  const int64_t Cg = s.C / s.G, Og = s.O / s.G;
  const Tiling tl(s);
  const int nt = std::max(1, threads);
  if (tl.total == 0) {  // no images: no gradient
    std::fill(dw, dw + s.O * Cg * 9, 0.f);
    return;
  }
  thread_local std::vector<float> ubuf;
  float* dU = grow(ubuf, size_t(s.G * kXi * plane(Og * Cg)));  // [G][ξ][Og][Cg]
  auto run_group = [&](int64_t gi, int inner) {
    float* dUg = dU + gi * kXi * plane(Og * Cg);
    thread_local std::vector<float> vbuf, wbuf;
    const int64_t tbm = std::min(kWeightGradTiles, tl.total);
    float* V = grow(vbuf, size_t(kXi * plane(Cg * tbm)));
    float* Wd = grow(wbuf, size_t(kXi * plane(Og * tbm)));
    for (int64_t t0 = 0; t0 < tl.total; t0 += kWeightGradTiles) {
      const int64_t tb = std::min(kWeightGradTiles, tl.total - t0);
      parallel_for(Cg, 1, inner, [&](int64_t lo, int64_t hi) { transform_input(x, s, tl, gi, t0, tb, lo, hi, V); });
      parallel_for(Og, 1, inner, [&](int64_t lo, int64_t hi) { transform_output_grad(dy, s, tl, gi, t0, tb, lo, hi, Wd); });
      // dU[ξ] (+)= Wd[ξ] [Og × tb] · V[ξ]ᵀ [tb × Cg]
      parallel_for(kXi, 1, inner, [&](int64_t lo, int64_t hi) {
        for (int64_t xi = lo; xi < hi; ++xi)
          sgemm(Og, Cg, tb, Wd + xi * plane(Og * tb), tb, 1, V + xi * plane(Cg * tb), 1, tb, dUg + xi * plane(Og * Cg), Cg,
                t0 > 0, 1);
      });
    }
    parallel_for(Og, 1, inner, [&](int64_t lo, int64_t hi) {
      transform_weight_grad(dUg, Og, Cg, lo, hi, dw + gi * Og * Cg * 9);
    });
  };
  if (s.G >= nt && nt > 1) {
    parallel_for(s.G, 1, nt, [&](int64_t lo, int64_t hi) {
      for (int64_t gi = lo; gi < hi; ++gi) run_group(gi, 1);
    });
  } else {
    for (int64_t gi = 0; gi < s.G; ++gi) run_group(gi, nt);
  }
}

}  // namespace ff::cpu
