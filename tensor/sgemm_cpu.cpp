#include "tensor/sgemm_cpu.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/parallel.h"

namespace ff::cpu {
namespace {

#if defined(__AVX512F__)
constexpr int VW = 16;  // floats per vector register
// micro-tile MR × (NV·16): 8×3 = 24 accumulators + 3 B vectors + 1 broadcast = 28 of 32 zmm; MR = 8 divides
// the channel counts of the generator's layers (64…512), so no rows are wasted
#ifndef FF_SGEMM_MR
#define FF_SGEMM_MR 8
#define FF_SGEMM_NV 3
#endif
constexpr int MR = FF_SGEMM_MR;
constexpr int NV = FF_SGEMM_NV;  // vectors per micro-tile row
#else
constexpr int VW = 8;
constexpr int MR = 6;  // 6×2 accumulators + 2 B + 1 broadcast = 15 of 16 ymm
constexpr int NV = 2;
#endif
constexpr int NR = NV * VW;
#ifndef FF_SGEMM_KC  // cache blocking, tuned on Zen 4 (32 KB L1d, 1 MB L2 per core); -D overrides for tuning runs
#define FF_SGEMM_KC 512
#define FF_SGEMM_MCB 8
#define FF_SGEMM_NCB 44
#endif
constexpr int64_t KC = FF_SGEMM_KC, MC = MR * FF_SGEMM_MCB, NC = NR * FF_SGEMM_NCB;

typedef float vf __attribute__((vector_size(VW * 4)));
typedef float vf_u __attribute__((vector_size(VW * 4), aligned(4)));  // unaligned access to C

struct AlignedBuf {
  float* p = nullptr;
  size_t n = 0;
  ~AlignedBuf() { std::free(p); }
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      n = need;
      p = static_cast<float*>(std::aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64));
    }
    return p;
  }
};

// B[pc:pc+kc, j0:j0+nc] → slivers of NR columns, each kc×NR row-major, zero-padded
void pack_b(const float* b, int64_t rs, int64_t cs, int64_t kc, int64_t nc, float* out) {
  const int64_t slivers = (nc + NR - 1) / NR;
  {
    for (int64_t s = 0; s < slivers; ++s) {
      float* dst = out + s * kc * NR;
      const int64_t j0 = s * NR, w = std::min<int64_t>(NR, nc - j0);
      if (cs == 1 && w == NR) {
        for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * NR, b + k * rs + j0, NR * sizeof(float));
      } else if (rs == 1) {  // columns are contiguous: walk down each column
        if (w < NR) std::memset(dst, 0, size_t(kc * NR) * sizeof(float));
        for (int64_t j = 0; j < w; ++j) {
          const float* col = b + (j0 + j) * cs;
          for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = col[k];
        }
      } else {
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t j = 0; j < NR; ++j) dst[k * NR + j] = j < w ? b[k * rs + (j0 + j) * cs] : 0.f;
      }
    }
  }
}

// A[i0:i0+mc, pc:pc+kc] → slivers of MR rows, each kc×MR (k-major), zero-padded
void pack_a(const float* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc, float* out) {
  for (int64_t s = 0; s * MR < mc; ++s) {
    float* dst = out + s * kc * MR;
    const int64_t i0 = s * MR, h = std::min<int64_t>(MR, mc - i0);
    if (cs == 1) {
      for (int64_t r = 0; r < MR; ++r) {
        if (r < h) {
          const float* row = a + (i0 + r) * rs;
          for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = row[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = 0.f;
        }
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float* colk = a + k * cs + i0 * rs;
        for (int64_t r = 0; r < MR; ++r) dst[k * MR + r] = r < h ? colk[r * rs] : 0.f;
      }
    }
  }
}

// C[0:h, 0:w] (+)= Ap (kc×MR) · Bp (kc×NR)
inline void micro_kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c, int64_t ldc,
                         bool add, int64_t h, int64_t w) {
  vf acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = vf{};
  for (int64_t k = 0; k < kc; ++k) {
    vf bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const vf*>(bp + v * VW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const float av = ap[r];
      for (int v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
    }
    ap += MR;
    bp += NR;
  }
  if (h == MR && w == NR) {
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) {
        vf_u* cv = reinterpret_cast<vf_u*>(c + r * ldc + v * VW);
        if (add) *cv += acc[r][v];
        else *cv = acc[r][v];
      }
    return;
  }
  alignas(64) float tmp[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) *reinterpret_cast<vf*>(&tmp[r][v * VW]) = acc[r][v];
  for (int64_t r = 0; r < h; ++r)
    for (int64_t j = 0; j < w; ++j) c[r * ldc + j] = add ? c[r * ldc + j] + tmp[r][j] : tmp[r][j];
}


// one thread's GEMM on a block of C: packs its own A and B panels, so threads never wait on each other
struct StridedB : BSource {
  const float* b;
  int64_t rs, cs;
  StridedB(const float* b_, int64_t rs_, int64_t cs_) : b(b_), rs(rs_), cs(cs_) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const override {
    pack_b(b + k0 * rs + j0 * cs, rs, cs, kc, nc, out);
  }
};

// B columns [j_off, j_off + n) of a larger B
struct OffsetB : BSource {
  const BSource& b;
  int64_t j_off;
  OffsetB(const BSource& b_, int64_t j) : b(b_), j_off(j) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const override {
    b.pack(k0, kc, j0 + j_off, nc, out);
  }
};

void sgemm_serial(int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a, int64_t cs_a, const BSource& bsrc,
                  float* c, int64_t ldc, bool accumulate) {
  thread_local AlignedBuf abuf, bbuf;
  float* ap = abuf.get(size_t(MC * KC));
  float* bp = bbuf.get(size_t(KC * NC));
  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min<int64_t>(NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min<int64_t>(KC, k - pc);
      const bool add = accumulate || pc > 0;
      bsrc.pack(pc, kc, jc, nc, bp);
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min<int64_t>(MC, m - ic);
        pack_a(a + ic * rs_a + pc * cs_a, rs_a, cs_a, mc, kc, ap);
        for (int64_t j = 0; j < nc; j += NR) {
          const int64_t w = std::min<int64_t>(NR, nc - j);
          const float* bs = bp + (j / NR) * kc * NR;
          for (int64_t ir = 0; ir < mc; ir += MR)
            micro_kernel(kc, ap + (ir / MR) * kc * MR, bs, c + (ic + ir) * ldc + jc + j, ldc, add,
                         std::min<int64_t>(MR, mc - ir), w);
        }
      }
    }
  }
}

}  // namespace

int sgemm_nr() { return NR; }

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t rs_b,
           int64_t cs_b, float* c, int64_t ldc, bool accumulate, int threads) {
  sgemm(m, n, k, a, rs_a, cs_a, StridedB(b, rs_b, cs_b), c, ldc, accumulate, threads);
}

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a, int64_t cs_a, const BSource& b, float* c,
           int64_t ldc, bool accumulate, int threads) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  // split the larger of M and N into one contiguous, register-tile-aligned slice per thread
  const double flops = 2.0 * double(m) * double(n) * double(k);
  int nt = flops < 2e6 ? 1 : threads;
  if (n >= m) {
    const int64_t tiles = (n + NR - 1) / NR;
    nt = int(std::min<int64_t>(nt, tiles));
    parallel_for(nt, 1, nt, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t j0 = std::min(n, tiles * t / nt * NR), j1 = std::min(n, tiles * (t + 1) / nt * NR);
        if (j1 > j0) sgemm_serial(m, j1 - j0, k, a, rs_a, cs_a, OffsetB(b, j0), c + j0, ldc, accumulate);
      }
    });
  } else {
    const int64_t tiles = (m + MR - 1) / MR;
    nt = int(std::min<int64_t>(nt, tiles));
    parallel_for(nt, 1, nt, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t i0 = std::min(m, tiles * t / nt * MR), i1 = std::min(m, tiles * (t + 1) / nt * MR);
        if (i1 > i0) sgemm_serial(i1 - i0, n, k, a + i0 * rs_a, rs_a, cs_a, b, c + i0 * ldc, ldc, accumulate);
      }
    });
  }
}

void Im2colB::pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const {
  const int64_t slivers = (nc + NR - 1) / NR, khw = g.kh * g.kw;
  for (int64_t kk = 0; kk < kc; ++kk) {
    const int64_t k = k0 + kk, c = k / khw, ki = (k / g.kw) % g.kh, kj = k % g.kw;
    const float* xc = x + c * g.H * g.W;
    for (int64_t s = 0; s < slivers; ++s) {
      float* dst = out + s * kc * NR + kk * NR;
      const int64_t js = j0 + s * NR, w = std::min<int64_t>(NR, nc - s * NR);
      int64_t oy = js / g.Wo, ox = js % g.Wo, jj = 0;
      while (jj < w) {
        const int64_t run = std::min(w - jj, g.Wo - ox);
        const int64_t iy = oy * g.sh - g.ph + ki;
        float* d = dst + jj;
        if (iy < 0 || iy >= g.H) {
          for (int64_t r = 0; r < run; ++r) d[r] = 0.f;
        } else if (g.sw == 1) {
          const float* row = xc + iy * g.W;
          const int64_t ix0 = ox - g.pw + kj;
          const int64_t lo = std::clamp<int64_t>(-ix0, 0, run), hi = std::clamp<int64_t>(g.W - ix0, lo, run);
          for (int64_t r = 0; r < lo; ++r) d[r] = 0.f;
          for (int64_t r = lo; r < hi; ++r) d[r] = row[ix0 + r];
          for (int64_t r = hi; r < run; ++r) d[r] = 0.f;
        } else {
          const float* row = xc + iy * g.W;
          for (int64_t r = 0; r < run; ++r) {
            const int64_t ix = (ox + r) * g.sw - g.pw + kj;
            d[r] = (ix >= 0 && ix < g.W) ? row[ix] : 0.f;
          }
        }
        jj += run;
        ox = 0;
        ++oy;
      }
      for (int64_t r = w; r < NR; ++r) dst[r] = 0.f;
    }
  }
}

void Im2colTB::pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const {
  const int64_t slivers = (nc + NR - 1) / NR, khw = g.kh * g.kw;
  for (int64_t s = 0; s < slivers; ++s) {
    float* dst = out + s * kc * NR;
    const int64_t w = std::min<int64_t>(NR, nc - s * NR);
    for (int64_t jj = 0; jj < NR; ++jj) {
      if (jj >= w) {
        for (int64_t kk = 0; kk < kc; ++kk) dst[kk * NR + jj] = 0.f;
        continue;
      }
      const int64_t j = j0 + s * NR + jj, c = j / khw, ki = (j / g.kw) % g.kh, kj = j % g.kw;
      const float* xc = x + c * g.H * g.W;
      int64_t oy = k0 / g.Wo, ox = k0 % g.Wo, kk = 0;
      while (kk < kc) {
        const int64_t run = std::min(kc - kk, g.Wo - ox);
        const int64_t iy = oy * g.sh - g.ph + ki;
        float* d = dst + kk * NR + jj;
        if (iy < 0 || iy >= g.H) {
          for (int64_t r = 0; r < run; ++r) d[r * NR] = 0.f;
        } else {
          const float* row = xc + iy * g.W;
          for (int64_t r = 0; r < run; ++r) {
            const int64_t ix = (ox + r) * g.sw - g.pw + kj;
            d[r * NR] = (ix >= 0 && ix < g.W) ? row[ix] : 0.f;
          }
        }
        kk += run;
        ox = 0;
        ++oy;
      }
    }
  }
}

void ShiftB::pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const {
  const int64_t slivers = (nc + NR - 1) / NR, khw = kh * kw;
  for (int64_t kk = 0; kk < kc; ++kk) {
    const int64_t k = k0 + kk, c = k / khw, ki = (k / kw) % kh, kj = k % kw;
    const float* src = xp + c * plane + ki * Wp + kj + j0;
    const int64_t full = nc / NR;
    for (int64_t s = 0; s < full; ++s) {  // whole slivers: NV unaligned vector loads, aligned stores
      vf* dst = reinterpret_cast<vf*>(out + s * kc * NR + kk * NR);
      const vf_u* sv = reinterpret_cast<const vf_u*>(src + s * NR);
      for (int v = 0; v < NV; ++v) dst[v] = sv[v];
    }
    for (int64_t s = full; s < slivers; ++s) {
      float* dst = out + s * kc * NR + kk * NR;
      const int64_t w = nc - s * NR;
      std::memcpy(dst, src + s * NR, size_t(w) * sizeof(float));
      for (int64_t r = w; r < NR; ++r) dst[r] = 0.f;
    }
  }
}

void ShiftTB::pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const {
  const int64_t slivers = (nc + NR - 1) / NR, khw = kh * kw;
  for (int64_t s = 0; s < slivers; ++s) {
    float* dst = out + s * kc * NR;
    const int64_t w = std::min<int64_t>(NR, nc - s * NR);
    for (int64_t jj = 0; jj < NR; ++jj) {
      if (jj >= w) {
        for (int64_t kk = 0; kk < kc; ++kk) dst[kk * NR + jj] = 0.f;
        continue;
      }
      const int64_t j = j0 + s * NR + jj, c = j / khw, ki = (j / kw) % kh, kj = j % kw;
      const float* src = xp + c * plane + ki * Wp + kj + k0;
      for (int64_t kk = 0; kk < kc; ++kk) dst[kk * NR + jj] = src[kk];
    }
  }
}

}  // namespace ff::cpu
