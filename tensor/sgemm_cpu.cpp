#include "tensor/sgemm_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "runtime/pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FF_SGEMM_X86 1
#endif


namespace ff::cpu {
namespace {

// C[0:h, 0:w] (+)= Ap (kc×MR, k-major) · Bp (kc×NR, row-major); the full-tile case stores straight to C
using MicroKernelFn = void (*)(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, bool add,
                               int64_t h, int64_t w);
// A[0:rows, 0:kc] (strides rs, cs) → one MR×kc sliver, k-major, rows ≥ `rows` zero; may write up to kPackSlack
// floats past the sliver (slivers are packed in order, each overwriting what the one before wrote past it)
constexpr int64_t kPackSlack = 8;
using PackAFn = void (*)(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kc, float* out);

struct Kernel {
  SimdIsa isa;
  int mr, nr;
  int64_t kc, mc, nc;
  int64_t nc_shared;  // columns of B per panel that threads share (SharedPanels)
  bool on_avx2;       // the avx512 kernel's source compiled for AVX2 (tests: kAvx512OnAvx2)
  MicroKernelFn micro;
  PackAFn pack_a;
};

// the accumulators → C, through a stack tile where the tile is cut by the edge of C
template <int MR, int NR>
inline void store_tile(const float (&acc)[MR][NR], float* c, int64_t ldc, bool add, int64_t h, int64_t w) {
  for (int64_t r = 0; r < h; ++r)
    for (int64_t j = 0; j < w; ++j) c[r * ldc + j] = add ? c[r * ldc + j] + acc[r][j] : acc[r][j];
}

// ---- portable: 4×8, GCC vector extensions (SSE2 registers on plain x86-64) -----------------------------------
typedef float v4 __attribute__((vector_size(16)));
typedef float v4_u __attribute__((vector_size(16), aligned(4)));
constexpr int kGenMR = 4, kGenNR = 8;

void micro_generic(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c, int64_t ldc,
                   bool add, int64_t h, int64_t w) {
  v4 acc[kGenMR][2] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const v4 b0 = *reinterpret_cast<const v4*>(bp), b1 = *reinterpret_cast<const v4*>(bp + 4);
    for (int r = 0; r < kGenMR; ++r) {
      acc[r][0] += ap[r] * b0;
      acc[r][1] += ap[r] * b1;
    }
    ap += kGenMR;
    bp += kGenNR;
  }
  if (h == kGenMR && w == kGenNR) {
    for (int r = 0; r < kGenMR; ++r)
      for (int v = 0; v < 2; ++v) {
        v4_u* cv = reinterpret_cast<v4_u*>(c + r * ldc + 4 * v);
        *cv = add ? *cv + acc[r][v] : acc[r][v];
      }
    return;
  }
  float tile[kGenMR][kGenNR];
  std::memcpy(tile, acc, sizeof tile);
  store_tile(tile, c, ldc, add, h, w);
}

template <int MR>
void pack_a_portable(const float* a, int64_t rs, int64_t cs, int64_t rows, int64_t kc, float* out) {
  if (rows == MR && cs == 1) {  // rows contiguous in k: MR read streams, contiguous writes
    const float* row[MR];
    for (int r = 0; r < MR; ++r) row[r] = a + r * rs;
    for (int64_t k = 0; k < kc; ++k)
      for (int r = 0; r < MR; ++r) out[k * MR + r] = row[r][k];
    return;
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int r = 0; r < MR; ++r) out[k * MR + r] = r < rows ? a[r * rs + k * cs] : 0.f;
}

#ifdef FF_SGEMM_X86
// ---- AVX2 + FMA3: 6×16 --------------------------------------------------------------------------------
// 6×2 accumulators + 2 B vectors + 1 broadcast = 15 of 16 ymm. Per k: 2 B loads, 6 broadcasts, 12 FMAs.
constexpr int kAvx2MR = 6, kAvx2NR = 16;

// (named accumulators, not an array: GCC keeps an array of vectors in memory once any path takes its address)
// R = rows of the tile that exist (1..6): an edge tile of R < 6 rows does R/6 of the FMAs, not all of them.
#define FF_ROW2(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
#define FF_FMA2(r)                                    \
  if constexpr (r < R) {                              \
    const __m256 av = _mm256_broadcast_ss(ap + r);    \
    c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);       \
    c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);       \
  }
#define FF_OUT2(r)                                                                  \
  if constexpr (r < R) {                                                            \
    if (full) {                                                                     \
      float* cr = c + r * ldc;                                                      \
      if (add) {                                                                    \
        _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), c##r##0));          \
        _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), c##r##1));  \
      } else {                                                                      \
        _mm256_storeu_ps(cr, c##r##0);                                              \
        _mm256_storeu_ps(cr + 8, c##r##1);                                          \
      }                                                                             \
    } else {                                                                        \
      _mm256_storeu_ps(tile[r], c##r##0);                                           \
      _mm256_storeu_ps(tile[r] + 8, c##r##1);                                       \
    }                                                                               \
  }

template <int R>
__attribute__((target("avx2,fma"))) void micro_avx2_rows(int64_t kc, const float* __restrict ap,
                                                          const float* __restrict bp, float* c, int64_t ldc, bool add,
                                                          int64_t w) {
  FF_ROW2(0) FF_ROW2(1) FF_ROW2(2) FF_ROW2(3) FF_ROW2(4) FF_ROW2(5)
  for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
    FF_FMA2(0) FF_FMA2(1) FF_FMA2(2) FF_FMA2(3) FF_FMA2(4) FF_FMA2(5)
    ap += kAvx2MR;
    bp += kAvx2NR;
  }
  const bool full = w == kAvx2NR;
  float tile[kAvx2MR][kAvx2NR];
  FF_OUT2(0) FF_OUT2(1) FF_OUT2(2) FF_OUT2(3) FF_OUT2(4) FF_OUT2(5)
  if (!full) store_tile(tile, c, ldc, add, R, w);
}

__attribute__((target("avx2,fma"))) void micro_avx2(int64_t kc, const float* __restrict ap,
                                                     const float* __restrict bp, float* c, int64_t ldc, bool add,
                                                     int64_t h, int64_t w) {
  switch (h) {
    case 1: return micro_avx2_rows<1>(kc, ap, bp, c, ldc, add, w);
    case 2: return micro_avx2_rows<2>(kc, ap, bp, c, ldc, add, w);
    case 3: return micro_avx2_rows<3>(kc, ap, bp, c, ldc, add, w);
    case 4: return micro_avx2_rows<4>(kc, ap, bp, c, ldc, add, w);
    case 5: return micro_avx2_rows<5>(kc, ap, bp, c, ldc, add, w);
    default: return micro_avx2_rows<kAvx2MR>(kc, ap, bp, c, ldc, add, w);
  }
}
#undef FF_ROW2
#undef FF_FMA2
#undef FF_OUT2

// 8×8 transpose of the rows r[0..7] (in place)
__attribute__((target("avx2,fma"))) inline void transpose8(__m256 (&r)[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// A rows contiguous in k (cs = 1), the common case: 8 k at a time, MR rows loaded as 8-float vectors and
// transposed, so reads and writes are whole vectors. MR ≤ 8. For MR < 8 the last 8-float store of a group writes
// 8 − MR floats past it, which the next group or the tail (k ascending) or the next sliver overwrites; the
// buffer holds kPackSlack floats past its last sliver for that (a masked store there costs ~20 % of the packing
// on Zen 3).
template <int MR>
__attribute__((target("avx2,fma"))) void pack_a_avx2(const float* a, int64_t rs, int64_t cs, int64_t rows,
                                                      int64_t kc, float* out) {
  static_assert(MR >= 6 && MR <= 8, "the 8-float stores overlap by 8 − MR ≤ kPackSlack floats");
  if (rows != MR || cs != 1) return pack_a_portable<MR>(a, rs, cs, rows, kc, out);
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = i < MR ? _mm256_loadu_ps(a + i * rs + k) : _mm256_setzero_ps();
    transpose8(r);  // r[j] = column k + j: rows 0..7
    float* o = out + k * MR;
    // MR floats per column; the 8-float stores overlap, each later one overwriting the previous one's tail
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) _mm256_storeu_ps(o + MR * j, r[j]);
  }
  for (; k < kc; ++k)
    for (int i = 0; i < MR; ++i) out[k * MR + i] = a[i * rs + k];
}

// ---- AVX-512F: 8×48 (tensor/sgemm_micro_8x48.inc), and the same source on AVX2 for CPUs without AVX-512 -------
// The native kernel is chosen where the CPU has AVX-512F; the AVX2 build only when asked for
// (FF_SGEMM_ISA=avx512-on-avx2, set_sgemm_avx512_on_avx2): tests run the avx512 path with it on any AVX2 CPU.
#define FF_AI __attribute__((always_inline)) inline
namespace zmm {
#define FF_V_TARGET "avx512f"
using V = __m512;
__attribute__((target(FF_V_TARGET))) FF_AI V v_zero() { return _mm512_setzero_ps(); }
__attribute__((target(FF_V_TARGET))) FF_AI V v_set1(float x) { return _mm512_set1_ps(x); }
__attribute__((target(FF_V_TARGET))) FF_AI V v_load(const float* p) { return _mm512_load_ps(p); }
__attribute__((target(FF_V_TARGET))) FF_AI V v_loadu(const float* p) { return _mm512_loadu_ps(p); }
__attribute__((target(FF_V_TARGET))) FF_AI void v_storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
__attribute__((target(FF_V_TARGET))) FF_AI V v_add(V a, V b) { return _mm512_add_ps(a, b); }
__attribute__((target(FF_V_TARGET))) FF_AI V v_fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
#include "tensor/sgemm_micro_8x48.inc"
#undef FF_V_TARGET
}  // namespace zmm
namespace zmm_on_avx2 {
#define FF_V_TARGET "avx2,fma"
struct V {
  __m256 lo, hi;
};
__attribute__((target(FF_V_TARGET))) FF_AI V v_zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
__attribute__((target(FF_V_TARGET))) FF_AI V v_set1(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
__attribute__((target(FF_V_TARGET))) FF_AI V v_load(const float* p) { return {_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
__attribute__((target(FF_V_TARGET))) FF_AI V v_loadu(const float* p) {
  return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
__attribute__((target(FF_V_TARGET))) FF_AI void v_storeu(float* p, V v) {
  _mm256_storeu_ps(p, v.lo);
  _mm256_storeu_ps(p + 8, v.hi);
}
__attribute__((target(FF_V_TARGET))) FF_AI V v_add(V a, V b) {
  return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
__attribute__((target(FF_V_TARGET))) FF_AI V v_fmadd(V a, V b, V c) {
  return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
#include "tensor/sgemm_micro_8x48.inc"
#undef FF_V_TARGET
}  // namespace zmm_on_avx2
#undef FF_AI
constexpr int kAvx512MR = zmm::kMR, kAvx512NR = zmm::kNR;
static_assert(zmm_on_avx2::kMR == kAvx512MR && zmm_on_avx2::kNR == kAvx512NR);
#endif

// KC·NR floats of a B sliver stay in L1 across the MC/MR micro-kernel calls of a block; MC·KC of A in L2.
// Tuned on an AMD EPYC (Zen 3: 32 KB L1d, 512 KB L2 per core). A panel that threads share (nc_shared columns,
// ~2 MB) lives in L3 like a lone thread's (KC·NC ≈ 1.4 MB on avx2); it is wider so that A, packed once per
// column block, is packed once for C up to ~1000 columns (MC/NC/shared NC within ±30 % of these measured within
// ±2 %, the noise of this shared machine, on the bench's GEMMs).
const Kernel kGeneric{SimdIsa::Generic, kGenMR, kGenNR, 256, kGenMR * 16, kGenNR * 64, kGenNR * 128, false, micro_generic,
                      pack_a_portable<kGenMR>};
#ifdef FF_SGEMM_X86
#ifndef FF_SGEMM_AVX2_KC  // -D overrides for tuning runs
#define FF_SGEMM_AVX2_KC 512
#define FF_SGEMM_AVX2_MCB 16
#define FF_SGEMM_AVX2_NCB 44
#endif
#ifndef FF_SGEMM_AVX2_SHARED_NCB
#define FF_SGEMM_AVX2_SHARED_NCB 64
#endif
const Kernel kAvx2{SimdIsa::Avx2, kAvx2MR, kAvx2NR, FF_SGEMM_AVX2_KC, kAvx2MR * FF_SGEMM_AVX2_MCB,
                   kAvx2NR * FF_SGEMM_AVX2_NCB, kAvx2NR * FF_SGEMM_AVX2_SHARED_NCB, false, micro_avx2,
                   pack_a_avx2<kAvx2MR>};
const Kernel kAvx512{SimdIsa::Avx512, kAvx512MR, kAvx512NR, 512, kAvx512MR * 8, kAvx512NR * 44, kAvx512NR * 22,
                     false, zmm::micro_8x48, pack_a_avx2<kAvx512MR>};
// the same blocking with the same source compiled for AVX2 (tests on CPUs without AVX-512)
const Kernel kAvx512OnAvx2 = [] {
  Kernel k = kAvx512;
  k.on_avx2 = true;
  k.micro = zmm_on_avx2::micro_8x48;
  return k;
}();
#endif

const Kernel& kernel_for(SimdIsa isa) {
#ifdef FF_SGEMM_X86
  if (isa == SimdIsa::Avx512) return kAvx512;
  if (isa == SimdIsa::Avx2) return kAvx2;
#endif
  return kGeneric;
}

constexpr const char* kAvx512OnAvx2Name = "avx512-on-avx2";

const Kernel& avx512_on_avx2() {
  FF_CHECK(cpu_supports(SimdIsa::Avx2), "sgemm ", kAvx512OnAvx2Name, ": this CPU does not support avx2");
#ifdef FF_SGEMM_X86
  return kAvx512OnAvx2;
#else
  FF_THROW("sgemm ", kAvx512OnAvx2Name, ": not an x86-64 build");
#endif
}

const Kernel* initial_kernel() {
  SimdIsa isa = best_simd_isa();
  if (const char* env = std::getenv("FF_SGEMM_ISA"); env && *env) {
    if (std::string(env) == kAvx512OnAvx2Name) return &avx512_on_avx2();
    isa = parse_simd_isa(env, "FF_SGEMM_ISA");
    FF_CHECK(cpu_supports(isa), "FF_SGEMM_ISA=", env, ": this CPU does not support ", simd_isa_name(isa));
  }
  return &kernel_for(isa);
}

std::atomic<const Kernel*>& active_slot() {
  static std::atomic<const Kernel*> slot{initial_kernel()};
  return slot;
}
const Kernel& active() { return *active_slot().load(std::memory_order_acquire); }

struct AlignedBuf {
  float* p = nullptr;
  size_t n = 0;
  AlignedBuf() = default;
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  AlignedBuf(AlignedBuf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr, o.n = 0; }
  ~AlignedBuf() { std::free(p); }
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      n = need;
      p = static_cast<float*>(std::aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64));
      FF_CHECK(p, "sgemm: cannot allocate ", need * sizeof(float), " bytes of packing buffer");
    }
    return p;
  }
};

// B rows → slivers when each row of the panel is contiguous (row(k) points at B[k0 + k, j0]): G slivers per
// pass, so each row is read G·NR floats at a time while G sliver streams are written; NR is a compile-time
// constant so each copy is a few vector moves. Each row is in a new page, where the hardware does not prefetch:
// the row kPrefetchRows ahead is asked for in software (a third less packing time for the 64×4224×576 GEMM).
constexpr int64_t kPrefetchRows = 16;
template <int NR, class Row>
void pack_rows(const Row& row, int64_t kc, int64_t nc, float* out) {
  constexpr int64_t G = 4;
  const int64_t full = nc / NR, slivers = (nc + NR - 1) / NR;
  for (int64_t s0 = 0; s0 < full; s0 += G) {
    const int64_t s1 = std::min(full, s0 + G);
    for (int64_t k = 0; k < kc; ++k) {
      if (k + kPrefetchRows < kc) {
        const char* ahead = reinterpret_cast<const char*>(row(k + kPrefetchRows) + s0 * NR);
        for (int64_t byte = 0; byte < (s1 - s0) * NR * int64_t(sizeof(float)); byte += 64)
          __builtin_prefetch(ahead + byte);
      }
      const float* src = row(k);
      for (int64_t sl = s0; sl < s1; ++sl) std::memcpy(out + sl * kc * NR + k * NR, src + sl * NR, NR * sizeof(float));
    }
  }
  if (full < slivers) {
    const int64_t w = nc - full * NR;
    float* dst = out + full * kc * NR;
    for (int64_t k = 0; k < kc; ++k) {
      std::memcpy(dst + k * NR, row(k) + full * NR, size_t(w) * sizeof(float));
      std::fill(dst + k * NR + w, dst + (k + 1) * NR, 0.f);
    }
  }
}

// pack_rows for the active kernel's NR
template <class Row>
void pack_rows_nr(const Row& row, int64_t kc, int64_t nc, float* out) {
  switch (sgemm_nr()) {
    case kGenNR: return pack_rows<kGenNR>(row, kc, nc, out);
#ifdef FF_SGEMM_X86
    case kAvx2NR: return pack_rows<kAvx2NR>(row, kc, nc, out);
    case kAvx512NR: return pack_rows<kAvx512NR>(row, kc, nc, out);
#endif
  }
  FF_THROW("sgemm: no sliver width ", sgemm_nr());
}

// B[k0:k0+kc, j0:j0+nc] → slivers of NR columns, each kc×NR row-major, zero-padded
struct StridedB : BSource {
  const float* b;
  int64_t rs, cs;
  StridedB(const float* b_, int64_t rs_, int64_t cs_) : b(b_), rs(rs_), cs(cs_) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const override {
    const int64_t NR = sgemm_nr(), slivers = (nc + NR - 1) / NR;
    const float* bb = b + k0 * rs + j0 * cs;
    if (cs == 1) return pack_rows_nr([&](int64_t k) { return bb + k * rs; }, kc, nc, out);
    for (int64_t s = 0; s < slivers; ++s) {
      float* dst = out + s * kc * NR;
      const int64_t js = s * NR, w = std::min<int64_t>(NR, nc - js);
      if (rs == 1) {  // columns are contiguous: walk down each column
        if (w < NR) std::memset(dst, 0, size_t(kc * NR) * sizeof(float));
        for (int64_t j = 0; j < w; ++j) {
          const float* col = bb + (js + j) * cs;
          for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = col[k];
        }
      } else {
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t j = 0; j < NR; ++j) dst[k * NR + j] = j < w ? bb[k * rs + (js + j) * cs] : 0.f;
      }
    }
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

// C[0:m, 0:nc] (+)= A[0:m, 0:kc] · one packed B panel (kc×nc, slivers of NR), restricted to the register tiles
// [u0, u1) of C numbered row-major (tile (i, j) = rows i·MR.., sliver j: number i·slivers + j): for MC rows of A at
// a time, packed_a(ic, mc) gives them packed (MR-row slivers, kc each, one after the other), then each kc×NR sliver
// of the panel (kept in L1) meets every MR row tile.
template <class PackedA>
void panel_times(const Kernel& K, int64_t m, int64_t nc, int64_t kc, const PackedA& packed_a, const float* bp, float* c,
                 int64_t ldc, bool add, int64_t u0 = 0, int64_t u1 = std::numeric_limits<int64_t>::max()) {
  const int64_t MR = K.mr, NR = K.nr, slivers = (nc + NR - 1) / NR;
  u1 = std::min(u1, (m + MR - 1) / MR * slivers);
  if (u1 <= u0) return;
  const int64_t row0 = u0 / slivers * MR, row1 = std::min(m, ((u1 - 1) / slivers + 1) * MR);
  for (int64_t ic = row0; ic < row1; ic += K.mc) {
    const int64_t mc = std::min<int64_t>(K.mc, row1 - ic);
    const float* ap = packed_a(ic, mc);
    for (int64_t j = 0; j < nc; j += NR) {
      const int64_t w = std::min<int64_t>(NR, nc - j);
      const float* bs = bp + (j / NR) * kc * NR;
      for (int64_t ir = 0; ir < mc; ir += MR) {
        const int64_t u = (ic + ir) / MR * slivers + j / NR;
        if (u < u0 || u >= u1) continue;
        K.micro(kc, ap + ir * kc, bs, c + (ic + ir) * ldc + j, ldc, add, std::min<int64_t>(MR, mc - ir), w);
      }
    }
  }
}

// A[ic:ic+mc, 0:kc] → MR-row slivers at out (mc·kc floats, plus kPackSlack that the last one may write past it)
void pack_a_rows(const Kernel& K, const float* a, int64_t rs_a, int64_t cs_a, int64_t ic, int64_t mc, int64_t kc,
                 float* out) {
  for (int64_t ir = 0; ir < mc; ir += K.mr)
    K.pack_a(a + (ic + ir) * rs_a, rs_a, cs_a, std::min<int64_t>(K.mr, mc - ir), kc, out + ir * kc);
}

// panel_times with A packed here, MC rows at a time, into a thread-local buffer (kept in L2)
void rows_times_panel(const Kernel& K, int64_t m, int64_t nc, int64_t kc, const float* a, int64_t rs_a, int64_t cs_a,
                      const float* bp, float* c, int64_t ldc, bool add, int64_t u0 = 0,
                      int64_t u1 = std::numeric_limits<int64_t>::max()) {
  thread_local AlignedBuf abuf;
  float* ap = abuf.get(size_t(K.mc * K.kc + kPackSlack));
  const auto packed_a = [&](int64_t ic, int64_t mc) {
    pack_a_rows(K, a, rs_a, cs_a, ic, mc, kc, ap);
    return static_cast<const float*>(ap);
  };
  panel_times(K, m, nc, kc, packed_a, bp, c, ldc, add, u0, u1);
}

// One thread's GEMM on a block of C with its own panels (thread-local buffer). Loops: NC columns → KC slice
// (pack B: kc×nc) → rows_times_panel.
void gemm_block(const Kernel& K, int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a, int64_t cs_a,
                const BSource& bsrc, float* c, int64_t ldc, bool accumulate) {
  thread_local AlignedBuf bbuf;
  float* bp = bbuf.get(size_t(K.kc * K.nc));
  const int64_t KC = sgemm_k_slice(k, K.kc);
  for (int64_t jc = 0; jc < n; jc += K.nc) {
    const int64_t nc = std::min<int64_t>(K.nc, n - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min<int64_t>(KC, k - pc);
      bsrc.pack(pc, kc, jc, nc, bp);
      rows_times_panel(K, m, nc, kc, a + pc * cs_a, rs_a, cs_a, bp, c + jc, ldc, accumulate || pc > 0);
    }
  }
}

// The B panels of a block of C that threads share (BLIS-style): every kc×nc panel (the k slices and column blocks
// of gemm_block, with nc = Kernel::nc_shared) is packed once, its slivers taken in chunks by whichever thread comes
// for them, and its rows of register tiles are cut into kRangesPerThread·threads (at most one per tile row) equal
// ranges of whole tile rows (so each row of A is packed once per panel), the work units, which the threads take in
// order (panel by panel) from a shared counter: a thread that
// starts late or is preempted (a machine shared with other work) leaves its units to the others, and no thread
// waits for a fixed partner. Panels are numbered column block major (p = jc·slices + pc); a unit of a panel with
// pc > 0 waits until the same range of the panel before is done, so each element adds its k slices in order (and
// stays bitwise independent of which thread took what). Two buffers alternate, so a thread packs its share of
// panel p+1 while another still multiplies panel p; packing panel p waits until every unit of panel p − 2 is done.
// All waits block on a condition variable, never spin. One thread alone does all of it (none waits on a thread
// that has not started).
class SharedPanels {
 public:
  // C[0:m, 0:n] (+)= A[0:m, :] · B[:, j0:j0+n] by `threads` threads
  SharedPanels(const Kernel& K, int threads, int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a,
               int64_t cs_a, const BSource& b, int64_t j0, float* c, int64_t ldc, bool accumulate, float* buf0,
               float* buf1)
      : K_(K), threads_(threads), ranges_(std::min<int64_t>(kRangesPerThread * threads, (m + K.mr - 1) / K.mr)), m_(m), n_(n), k_(k),
        KC_(sgemm_k_slice(k, K.kc)), a_(a), rs_a_(rs_a), cs_a_(cs_a), b_(b, j0), c_(c), ldc_(ldc),
        accumulate_(accumulate), buf_{buf0, buf1} {
    slices_ = (k + KC_ - 1) / KC_;
    const int64_t panels = (n + K.nc_shared - 1) / K.nc_shared * slices_;
    claimed_.assign(size_t(panels), 0);
    packed_.assign(size_t(panels), 0);
    done_.assign(size_t(panels), 0);
    unit_done_.assign(size_t(panels * ranges_), 0);
  }
  // One thread's part: takes units until none is left.
  void work() {
    try {
      const int64_t P = int64_t(done_.size());
      for (;;) {
        int64_t u;
        {
          std::lock_guard<std::mutex> l(mu_);
          if (failed_ || next_unit_ == P * ranges_) return;
          u = next_unit_++;
        }
        const int64_t p = u / ranges_, r = u % ranges_;
        pack(p, true, units(p));
        if (p + 1 < P) pack(p + 1, false, (units(p + 1) + threads_ - 1) / threads_);
        const Panel q = panel(p);
        {
          std::unique_lock<std::mutex> l(mu_);
          cv_.wait(l, [&] {
            return failed_ || (packed_[size_t(p)] == units(p) && (q.pc == 0 || unit_done_[size_t(u - ranges_)]));
          });
          if (failed_) return;
        }
        const int64_t tile_rows = (m_ + K_.mr - 1) / K_.mr, slivers = (q.nc + K_.nr - 1) / K_.nr;
        const int64_t t0 = tile_rows * r / ranges_ * slivers, t1 = tile_rows * (r + 1) / ranges_ * slivers;
        if (t1 > t0)
          rows_times_panel(K_, m_, q.nc, q.kc, a_ + q.pc * cs_a_, rs_a_, cs_a_, buf_[p % 2], c_ + q.jc, ldc_,
                           accumulate_ || q.pc > 0, t0, t1);
        std::lock_guard<std::mutex> l(mu_);
        unit_done_[size_t(u)] = 1;
        ++done_[size_t(p)];
        cv_.notify_all();
      }
    } catch (...) {  // the others stop waiting; the pool rethrows this on the calling thread (runtime/pool.h)
      {
        std::lock_guard<std::mutex> l(mu_);
        failed_ = true;
      }
      cv_.notify_all();
      throw;
    }
  }

 private:
  static constexpr int kRangesPerThread = 16;
  static constexpr int64_t kChunk = 4;  // slivers per claim
  struct Panel {
    int64_t jc, nc, pc, kc;
  };
  Panel panel(int64_t p) const {
    const int64_t jc = p / slices_ * K_.nc_shared, pc = p % slices_ * KC_;
    return {jc, std::min<int64_t>(K_.nc_shared, n_ - jc), pc, std::min<int64_t>(KC_, k_ - pc)};
  }
  int64_t units(int64_t p) const { return ((panel(p).nc + K_.nr - 1) / K_.nr + kChunk - 1) / kChunk; }
  // claims and packs up to `most` of panel p's remaining chunks; waits for its buffer to be free if `wait`,
  // otherwise packs nothing while it is not
  void pack(int64_t p, bool wait, int64_t most) {
    std::unique_lock<std::mutex> l(mu_);
    const size_t i = size_t(p);
    const auto buffer_free = [&] { return p < 2 || done_[i - 2] == ranges_; };
    if (claimed_[i] == units(p) || most <= 0) return;
    if (!buffer_free()) {
      if (!wait) return;
      cv_.wait(l, [&] { return failed_ || buffer_free(); });
      if (failed_) return;
    }
    const Panel q = panel(p);
    float* out = buf_[p % 2];
    for (int64_t taken = 0; taken < most && claimed_[i] < units(p); ++taken) {
      const int64_t j0 = claimed_[i]++ * kChunk * K_.nr;
      l.unlock();
      b_.pack(q.pc, q.kc, q.jc + j0, std::min(kChunk * K_.nr, q.nc - j0), out + j0 * q.kc);
      l.lock();
      if (++packed_[i] == units(p)) cv_.notify_all();
    }
  }

  const Kernel& K_;
  const int threads_;
  const int64_t ranges_, m_, n_, k_, KC_;
  const float* const a_;
  const int64_t rs_a_, cs_a_;
  const OffsetB b_;
  float* const c_;
  const int64_t ldc_;
  const bool accumulate_;
  float* const buf_[2];
  int64_t slices_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_unit_ = 0;                  // units handed out (u = p·ranges + r)
  std::vector<int64_t> claimed_, packed_;  // per panel: chunks handed out, chunks packed
  std::vector<int64_t> done_;              // per panel: units done
  std::vector<uint8_t> unit_done_;
  bool failed_ = false;
};

// Column chunks of C for threads that share packed A (grid pm = 1: BLIS's split of the columns, taken dynamically):
// C's columns are cut into chunks of a few slivers (ChunkPlan), which the threads take from a counter; a thread
// computes its chunk whole, every k slice in order, packing the chunk's B itself. So a thread that starts late or is
// preempted leaves its chunks to the others, and no thread ever waits for another. A is packed once for all of them,
// in blocks of MC rows × one k slice: the first thread to need a block claims it and packs it into the shared buffer,
// a thread that needs one that another is still packing packs its own copy rather than wait (rare: a thread arriving
// late finds the blocks packed). Each element is summed by one thread in the fixed k order, so the result is bitwise
// the one thread's.
// The chunks: at most kMaxChunkSlivers slivers each and ≥ kChunksPerThread per thread where the columns allow; their
// number is a multiple of the thread count (or the number of slivers, if smaller) and their sizes are within one
// sliver of each other, so that threads of equal speed finish together. (68 slivers on 2 threads were 17 chunks of 4,
// one thread's 9 against the other's 8; 18 chunks of 3–4 made 128×1088×1152 1.3 % faster, call for call.)
constexpr int64_t kChunksPerThread = 8, kMaxChunkSlivers = 8;
struct ChunkPlan {
  int64_t slivers, chunks;
  ChunkPlan(int64_t slivers_, int threads) : slivers(slivers_) {
    const int64_t w = std::clamp<int64_t>(slivers / (kChunksPerThread * threads), 1, kMaxChunkSlivers);
    chunks = std::min(slivers, (slivers + threads * w - 1) / (threads * w) * threads);
  }
  int64_t first(int64_t chunk) const { return slivers * chunk / chunks; }  // chunk's first sliver
  int64_t most() const { return (slivers + chunks - 1) / chunks; }          // slivers in the largest chunk
};

class SharedA {
 public:
  // C[0:m, 0:n] (+)= A·B by `threads` threads; `shared` holds the packed A blocks
  SharedA(const Kernel& K, int threads, int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a, int64_t cs_a,
          const BSource& b, float* c, int64_t ldc, bool accumulate, AlignedBuf& shared)
      : K_(K), m_(m), n_(n), k_(k), KC_(sgemm_k_slice(k, K.kc)), a_(a), rs_a_(rs_a), cs_a_(cs_a), b_(b), c_(c),
        ldc_(ldc), accumulate_(accumulate), plan_((n + K.nr - 1) / K.nr, threads) {
    slices_ = (k + KC_ - 1) / KC_;
    row_blocks_ = (m + K.mc - 1) / K.mc;
    block_floats_ = K.mc * KC_ + kPackSlack;  // the slack: a block's last sliver may write past it (PackAFn)
    blocks_ = shared.get(size_t(slices_ * row_blocks_ * block_floats_));
    state_.reset(new std::atomic<uint8_t>[size_t(slices_ * row_blocks_)]);
    for (int64_t i = 0; i < slices_ * row_blocks_; ++i) state_[size_t(i)].store(kEmpty, std::memory_order_relaxed);
  }
  // One thread's part: takes chunks until none is left.
  void work() {
    thread_local AlignedBuf bbuf, own;
    float* bp = bbuf.get(size_t(KC_ * plan_.most() * K_.nr));
    float* mine = own.get(size_t(block_floats_));
    try {
      for (;;) {
        const int64_t ch = next_.fetch_add(1, std::memory_order_relaxed);
        if (ch >= plan_.chunks || failed_.load(std::memory_order_relaxed)) return;
        const int64_t j0 = plan_.first(ch) * K_.nr, nc = std::min(plan_.first(ch + 1) * K_.nr, n_) - j0;
        for (int64_t s = 0; s < slices_; ++s) {
          const int64_t pc = s * KC_, kc = std::min(KC_, k_ - pc);
          b_.pack(pc, kc, j0, nc, bp);
          const auto packed_a = [&](int64_t ic, int64_t mc) { return block(s, ic, mc, kc, mine); };
          panel_times(K_, m_, nc, kc, packed_a, bp, c_ + j0, ldc_, accumulate_ || pc > 0);
        }
      }
    } catch (...) {  // the others stop taking chunks; the pool rethrows this on the calling thread
      failed_.store(true, std::memory_order_relaxed);
      throw;
    }
  }

 private:
  static constexpr uint8_t kEmpty = 0, kPacking = 1, kPacked = 2;
  // A's rows [ic, ic + mc) of k slice s, packed: the shared block, packed here if nobody has claimed it, or a copy
  // of our own in `mine` while another thread packs it
  const float* block(int64_t s, int64_t ic, int64_t mc, int64_t kc, float* mine) {
    const int64_t i = s * row_blocks_ + ic / K_.mc;
    float* shared = blocks_ + i * block_floats_;
    std::atomic<uint8_t>& st = state_[size_t(i)];
    uint8_t seen = st.load(std::memory_order_acquire);
    if (seen == kPacked) return shared;
    const bool claimed = seen == kEmpty && st.compare_exchange_strong(seen, kPacking, std::memory_order_relaxed);
    float* out = claimed ? shared : mine;
    pack_a_rows(K_, a_ + s * KC_ * cs_a_, rs_a_, cs_a_, ic, mc, kc, out);
    if (claimed) st.store(kPacked, std::memory_order_release);
    return out;
  }

  const Kernel& K_;
  const int64_t m_, n_, k_, KC_;
  const float* const a_;
  const int64_t rs_a_, cs_a_;
  const BSource& b_;
  float* const c_;
  const int64_t ldc_;
  const bool accumulate_;
  const ChunkPlan plan_;
  int64_t slices_, row_blocks_, block_floats_;
  float* blocks_;
  std::unique_ptr<std::atomic<uint8_t>[]> state_;  // per block: kEmpty, kPacking, kPacked
  std::atomic<int64_t> next_{0};                    // chunks handed out
  std::atomic<bool> failed_{false};
};

// sgemm's threads: the runtime's worker pool (runtime/pool.h: tasks handed out from a shared counter, passive
// waiting on a condition variable, the calling thread taking part), one pool per thread count asked for, created on
// first use and kept for the process (never destroyed: a static pool joined at exit could race other static
// destructors that still multiply matrices). Passive waiting matters on a machine shared with other processes:
// spinning (OpenMP's idle policy) costs CPU time that other work needs, and a spinning thread can hold up the
// team-mate it waits for. One sgemm job at a time runs on the pools (`job` held); a second caller waits for the
// first. The shared panels' buffers belong to the job that holds the lock.
struct Pools {
  std::mutex job;
  std::map<int, std::unique_ptr<ffrt::Pool>> by_threads;
  std::vector<AlignedBuf> panels;
  AlignedBuf packed_a;  // SharedA's blocks
  ffrt::Pool& get(int threads) {
    std::unique_ptr<ffrt::Pool>& p = by_threads[threads];
    if (!p) p = std::make_unique<ffrt::Pool>(threads);
    return *p;
  }
};
Pools& pools() {
  static Pools* p = new Pools;
  return *p;
}

// How nt threads split C: a pm × pn grid. pm > 1: pn block columns, the pm threads of each sharing its B panels and
// taking its work from a counter (SharedPanels); pm = 1: the nt threads take column chunks from a counter, sharing
// packed A (SharedA). The grid with the least estimated time per thread, in cycles: its multiply-adds at ~15 per
// cycle (the avx2 kernel's measured rate: 95 % of two 8-wide FMAs) on the columns it gets (for SharedA: its whole
// chunks, at most ⌈chunks / nt⌉), plus the floats it packs (~1.1 cycles each for A, which is transposed; ~1.9 for
// B, read from farther away), plus ~1 cycle per float of a shared panel or A block that another core packed (it comes
// from that core's cache), plus, for SharedA, A read again for every chunk (~0.15 cycles a float from L3 once A
// outgrows L2). On two threads this shares B for the bench's GEMMs with at least as many rows as columns (1024³,
// 512×80×4608) and for 256×288×2304 (k large: A read again per chunk), and A for those with many columns
// (128×1088×1152, 64×4224×576, 512×4608×80): the faster of the two on each, measured with either forced on two
// threads (set_sgemm_split; 5-10 % apart, against ±5-10 % noise on this shared machine).
struct Grid {
  int64_t pm = 1, pn = 1;
};
// set_sgemm_split's grid ({0, 0}: none), used where it has at most nt blocks
std::atomic<int64_t> forced_pm{0}, forced_pn{0};
// (pm = nt, pn = 1 always qualifies: shared panels cut register tiles, not rows.)
constexpr double kSharedAMaxFloats = 8 << 20;
Grid choose_grid(const Kernel& K, int64_t m, int64_t n, int64_t k, int nt) {
  if (forced_pm > 0 && forced_pm * forced_pn <= nt) return {forced_pm, forced_pn};
  const int64_t ntiles = (n + K.nr - 1) / K.nr;
  const double mm = double(m), kk = double(k);
  Grid best;
  double best_cost = -1;
  for (int64_t pm = 1; pm <= nt; ++pm) {
    if (nt % pm || nt / pm > ntiles) continue;  // every block column ≥ 1 sliver
    if (pm == 1 && mm * kk > kSharedAMaxFloats) continue;  // SharedA's buffer holds all of A packed
    const int64_t pn = nt / pm;
    double cost;
    if (pm == 1) {
      const ChunkPlan plan(ntiles, nt);
      const int64_t mine = (plan.chunks + nt - 1) / nt;
      const double cols = double(std::min(n, mine * plan.most() * K.nr)), share = 1.0 / nt;
      cost = mm * cols * kk / 15 + 1.1 * mm * kk * share + 1.0 * mm * kk * (1 - share) + 1.9 * cols * kk +
             (mm * kk > 131072 ? 0.15 : 0.03) * mm * kk * double(mine);
    } else {
      const double cols = double(std::min(n, (ntiles + pn - 1) / pn * K.nr)), share = 1.0 / double(pm);
      const double col_blocks = std::ceil(cols / double(K.nc_shared));
      cost = mm * share * cols * kk / 15 + 1.1 * (mm * share + K.mr) * kk * col_blocks + 1.9 * cols * kk * share +
             1.0 * cols * kk * (1 - share);
    }
    if (best_cost < 0 || cost < best_cost) best_cost = cost, best = {pm, pn};
  }
  return best;
}

// the threads sgemm uses: 1 under 2 MFLOP (not worth waking a thread), at most one per register tile
int sgemm_threads(const Kernel& K, int64_t m, int64_t n, int64_t k, int threads) {
  FF_CHECK(threads <= kMaxThreads, "sgemm: thread count must be at most ", kMaxThreads, ", got ", threads);
  if (forced_pm > 0) return int(forced_pm * forced_pn);
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const int64_t tiles = (m + K.mr - 1) / K.mr * ((n + K.nr - 1) / K.nr);
  return flops < 2e6 ? 1 : int(std::clamp<int64_t>(tiles, 1, std::max(1, threads)));
}

}  // namespace

int sgemm_nr() { return active().nr; }

SgemmKernelInfo sgemm_kernel_info() {
  const Kernel& K = active();
  return {K.isa, K.mr, K.nr, K.kc, K.mc, K.nc, K.nc_shared, K.on_avx2};
}

std::string sgemm_kernel_name() {
  const Kernel& K = active();
  return K.on_avx2 ? kAvx512OnAvx2Name : simd_isa_name(K.isa);
}

void set_sgemm_isa(SimdIsa isa) {
  FF_CHECK(cpu_supports(isa), "set_sgemm_isa: this CPU does not support ", simd_isa_name(isa));
  active_slot().store(&kernel_for(isa), std::memory_order_release);
}

void set_sgemm_avx512_on_avx2() { active_slot().store(&avx512_on_avx2(), std::memory_order_release); }

void set_sgemm_blocking(int64_t kc, int64_t mc) {
  static Kernel tuned;  // the active kernel with other cache blocks (one at a time: benches)
  const Kernel& K = active();
  FF_CHECK(kc >= 16 && kc <= 4096, "set_sgemm_blocking: kc must be in [16, 4096], got ", kc);
  FF_CHECK(mc >= K.mr && mc <= 4096 && mc % K.mr == 0, "set_sgemm_blocking: mc must be a multiple of MR = ", K.mr,
           " in [", K.mr, ", 4096], got ", mc);
  Kernel t = K;  // K may be `tuned` itself
  t.kc = kc, t.mc = mc;
  tuned = t;
  active_slot().store(&tuned, std::memory_order_release);
}

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
  const Kernel& K = active();
  const int want = sgemm_threads(K, m, n, k, threads);
  if (want == 1) return gemm_block(K, m, n, k, a, rs_a, cs_a, b, c, ldc, accumulate);
  Pools& ps = pools();
  std::lock_guard<std::mutex> one_job(ps.job);
  ffrt::Pool& pool = ps.get(want);
  const int nt = std::min(want, pool.size());
  const Grid g = choose_grid(K, m, n, k, nt);
  const int64_t pm = g.pm, pn = g.pn, ntiles = (n + K.nr - 1) / K.nr;
  if (pm == 1) {  // the pn threads take column chunks, sharing packed A
    SharedA job(K, int(pn), m, n, k, a, rs_a, cs_a, b, c, ldc, accumulate, ps.packed_a);
    pool.run(pn, [&](int64_t, int) { job.work(); });
    return;
  }
  // task t: block column t / pm; the pm tasks of a block column work on its SharedPanels
  const auto col = [&](int64_t tj) { return std::min(n, ntiles * tj / pn * K.nr); };  // block column tj's first
  if (ps.panels.size() < size_t(2 * pn)) ps.panels.resize(size_t(2 * pn));
  const size_t panel_floats = size_t(K.kc * K.nc_shared);
  std::vector<std::unique_ptr<SharedPanels>> shared;
  for (int64_t tj = 0; tj < pn; ++tj)
    shared.push_back(std::make_unique<SharedPanels>(
        K, int(pm), m, col(tj + 1) - col(tj), k, a, rs_a, cs_a, b, col(tj), c + col(tj), ldc, accumulate,
        ps.panels[size_t(2 * tj)].get(panel_floats), ps.panels[size_t(2 * tj + 1)].get(panel_floats)));
  pool.run(pm * pn, [&](int64_t t, int) { shared[size_t(t / pm)]->work(); });
}

SgemmSplit sgemm_split(int64_t m, int64_t n, int64_t k, int threads) {
  const Kernel& K = active();
  const int want = m > 0 && n > 0 && k > 0 ? sgemm_threads(K, m, n, k, threads) : 1;
  if (want == 1) return {1, 1};
  Pools& ps = pools();
  std::lock_guard<std::mutex> one_job(ps.job);
  const int nt = std::min(want, ps.get(want).size());
  const Grid g = choose_grid(K, m, n, k, nt);
  return {g.pm, g.pn};
}

void set_sgemm_split(SgemmSplit split) {
  FF_CHECK((split.pm == 0 && split.pn == 0) || (split.pm > 0 && split.pn > 0 && split.pm * split.pn <= kMaxThreads),
           "set_sgemm_split: a grid of 1 to ", kMaxThreads, " blocks or {0, 0}, got ", split.pm, " x ", split.pn);
  forced_pn = split.pn;
  forced_pm = split.pm;
}

void Im2colB::pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const {
  const int64_t NR = sgemm_nr();
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
  const int64_t NR = sgemm_nr();
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
  const int64_t khw = kh * kw;
  pack_rows_nr(
      [&](int64_t kk) {
        const int64_t k = k0 + kk, c = k / khw, ki = (k / kw) % kh, kj = k % kw;
        return xp + c * plane + ki * Wp + kj + j0;
      },
      kc, nc, out);
}

void ShiftTB::pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const {
  const int64_t NR = sgemm_nr();
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
