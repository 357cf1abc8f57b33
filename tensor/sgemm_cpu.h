// tensor/sgemm_cpu.h — facefield's own single-precision GEMM for the CPU backend.
//
// C[m×n] (row-major, leading dim ldc) = A·B, or += A·B with `accumulate`. A and B are read through
// general strides (element (i,j) of A at a[i·rs_a + j·cs_a]), so transposed operands need no copy.
// BLIS-style: B is packed into KC×NR panels and A into MR×KC slivers, and a register-blocked MR×NR
// micro-kernel does the FMAs. The micro-kernel is chosen at RUN time from the CPU (core/cpu_info.h), so one
// binary serves every x86-64 machine whatever -march it was built with:
//   avx512   8×48 (24 zmm accumulators; MR = 8 divides the generator's channel counts)   AVX-512F
//   avx2     6×16 (12 ymm accumulators)                                                    AVX2 + FMA3
//   generic  4×8 portable C++ (vector extensions; no FMA unless the build's flags allow contraction)
// The widest the CPU supports is used unless FF_SGEMM_ISA=generic|avx2|avx512 names another (ff::Error
// if unknown or unsupported); set_sgemm_isa switches it for tests and benches. FF_SGEMM_ISA=avx512-on-avx2 (or
// set_sgemm_avx512_on_avx2) runs the avx512 kernel's own source compiled for AVX2 (each 16-float vector as two
// 8-float halves, tensor/sgemm_micro_8x48.inc) with the avx512 blocking: bitwise the avx512 kernel's results on
// any AVX2 CPU, at about a third of the avx2 kernel's speed (its 24 accumulators need 48 of 16 ymm) — so the
// avx512 path (8×48 tiles, its cache blocks, every packer at NR = 48) is tested on machines without AVX-512.
// Threads (runtime/pool.h's pool), on a pm × pn grid (pm·pn = the thread count, the one with the least estimated
// time: sgemm_split). pm > 1: C's columns are cut into pn blocks (aligned to the register tile), each computed by pm
// threads that share its packed B panels (BLIS-style: each panel packed once, its slivers shared out) and take its
// work from a counter in units of equal ranges of register tiles. pm = 1: the pn threads take chunks of C's columns
// from a counter, each packing its chunk's B, and share packed A (each block packed once by the first thread to need
// it; one that another thread is still packing is packed again rather than waited for). Either way a thread that
// starts late or is preempted leaves its share to the others, and a pool thread that wakes after the work is all
// taken is not waited for. Waiting is passive (condition variables, no spinning), which matters on a machine shared
// with other processes. Each output element is summed
// in a fixed k order: k is cut into sgemm_k_slice(k, kc)-long slices, each summed from zero in k order by one
// thread and added to C in order (the first stored unless accumulating; a unit waits until the same tiles' slice
// before is done). So results are bitwise independent of the thread count and of which thread took what. The
// avx2 and avx512 kernels round every multiply-add once (FMA): their results are bitwise those of a sequential
// fmaf loop per slice (tests/tensor/test_sgemm.cpp checks this), and, where k ≤ 512 or k is a multiple of 512,
// those of the kernel before run-time dispatch.
#pragma once
#include <cstdint>
#include <string>

#include "core/cpu_info.h"

namespace ff::cpu {

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t rs_b,
           int64_t cs_b, float* c, int64_t ldc, bool accumulate, int threads);

// A B operand that is never materialised: it packs B[k0:k0+kc, j0:j0+nc] straight into the kernel's
// layout — slivers of sgemm_nr() columns, each kc×NR row-major (out[s·kc·NR + k·NR + j]), zero-padded
// past nc. Convolutions use it to do im2col inside the packing (implicit GEMM, no column buffer).
struct BSource {
  virtual ~BSource() = default;
  virtual void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const = 0;
};
int sgemm_nr();  // NR of the active micro-kernel (16 avx2, 48 avx512, 8 generic)

// The active micro-kernel and its blocking.
struct SgemmKernelInfo {
  SimdIsa isa;
  int mr, nr;          // register tile
  int64_t kc, mc, nc;  // cache blocks: k slice, rows of A per block, columns of B per panel
  int64_t nc_shared;   // columns of B per panel that threads share
  bool on_avx2;        // isa avx512, its source compiled for AVX2 (FF_SGEMM_ISA=avx512-on-avx2)
};
SgemmKernelInfo sgemm_kernel_info();
std::string sgemm_kernel_name();  // "generic", "avx2", "avx512" or "avx512-on-avx2"
// How sgemm splits C among its threads (tests, benches): a pm × pn grid, the pm threads of each of pn block columns
// sharing its packed B panels when pm > 1, the pn threads taking column chunks and sharing packed A when pm = 1;
// {1, 1} when it runs on the calling thread alone.
struct SgemmSplit {
  int64_t pm, pn;
};
SgemmSplit sgemm_split(int64_t m, int64_t n, int64_t k, int threads);
// Forces that grid on every sgemm with m, n, k > 0, whatever its size and thread count (tests); {0, 0} restores
// the automatic choice. Not while other threads are inside sgemm.
void set_sgemm_split(SgemmSplit split);
// The k slices: ⌈k / kc⌉ of equal length (the last one shorter by the rounding), this long.
inline int64_t sgemm_k_slice(int64_t k, int64_t kc) {
  const int64_t slices = (k + kc - 1) / kc;
  return (k + slices - 1) / slices;
}
// Switches the micro-kernel (tests, benches). Throws ff::Error unless cpu_supports(isa). Not while other
// threads are inside sgemm: BSource packers size their slivers with sgemm_nr().
void set_sgemm_isa(SimdIsa isa);
// Switches to the avx512 kernel's source compiled for AVX2 (see above). Throws ff::Error unless the CPU has AVX2.
void set_sgemm_avx512_on_avx2();
// Tuning (bench_sgemm_ab --kc/--mc): the active kernel with another k slice kc (in [16, 4096]) and another block of
// A rows mc (a multiple of MR, ≤ 4096); set_sgemm_isa restores a kernel's own. The k slices set the summation order,
// so results change with kc. Not while other threads are inside sgemm.
void set_sgemm_blocking(int64_t kc, int64_t mc);
void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a, int64_t cs_a, const BSource& b, float* c,
           int64_t ldc, bool accumulate, int threads);

// im2col views of one image x [C,H,W] for a convolution with output [Ho,Wo]:
//   Im2colB:  row k = (c, ki, kj), column j = (oy, ox)   (forward: Y = W · B)
//   Im2colTB: the transpose, row k = (oy, ox), column j = (c, ki, kj)   (weight gradient: dW = dY · B)
struct ConvShape {
  int64_t C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw;
};
struct Im2colB : BSource {
  const float* x;
  ConvShape g;
  Im2colB(const float* x_, ConvShape g_) : x(x_), g(g_) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const override;
};
struct Im2colTB : BSource {
  const float* x;
  ConvShape g;
  Im2colTB(const float* x_, ConvShape g_) : x(x_), g(g_) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const override;
};

// Stride-1 convolutions on a zero-padded copy xp of one image, [C, Hp·Wp] plus ≥ kw zero floats of slack:
// output pixels are computed on the padded width (column j = oy·Wp + ox for ox < Wp, of which the last
// kw − 1 per row are discarded), so every row of the virtual im2col matrix is one contiguous run of xp and
// packing is a plain copy.
//   ShiftB:  row k = (c, ki, kj), column j = padded-grid pixel     (forward: Y' = W · B)
//   ShiftTB: the transpose                                          (weight gradient: dW = dY' · B, with dY'
//            zero in the discarded columns)
struct ShiftB : BSource {
  const float* xp;
  int64_t plane, Wp, kh, kw;
  ShiftB(const float* x, int64_t plane_, int64_t Wp_, int64_t kh_, int64_t kw_) : xp(x), plane(plane_), Wp(Wp_), kh(kh_), kw(kw_) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const override;
};
struct ShiftTB : BSource {
  const float* xp;
  int64_t plane, Wp, kh, kw;
  ShiftTB(const float* x, int64_t plane_, int64_t Wp_, int64_t kh_, int64_t kw_) : xp(x), plane(plane_), Wp(Wp_), kh(kh_), kw(kw_) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const override;
};

}  // namespace ff::cpu
