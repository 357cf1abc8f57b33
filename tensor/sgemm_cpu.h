// tensor/sgemm_cpu.h — facefield's own single-precision GEMM for the CPU backend.
//
// C[m×n] (row-major, leading dim ldc) = A·B, or += A·B with `accumulate`. A and B are read through
// general strides (element (i,j) of A at a[i·rs_a + j·cs_a]), so transposed operands need no copy.
// BLIS-style: B is packed into KC×NR panels and A into MR×KC slivers,
// and a register-blocked MR×NR micro-kernel (GCC vector extensions: 8×48 with AVX-512, 6×16 with
// AVX2) does the FMAs. Each thread owns one slice of C (columns, or rows when M > N) and packs its own
// panels, so there are no barriers; each output element is computed by
// exactly one thread in a fixed k order, so results do not depend on the thread count.
#pragma once
#include <cstdint>

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
int sgemm_nr();
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
