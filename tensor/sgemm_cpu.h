// tensor/sgemm_cpu.h — facefield's own single-precision GEMM for the CPU backend.
//
// C[m×n] (row-major, leading dim ldc) = A·B, or += A·B with `accumulate`. A and B are read through
// general strides (element (i,j) of A at a[i·rs_a + j·cs_a]), so transposed operands need no copy.
// BLIS-style: B is packed into KC×NR panels and A into MR×KC slivers,
// and a register-blocked MR×NR micro-kernel (GCC vector extensions: 16-wide with AVX-512, 8-wide with
// AVX2) does the FMAs. Each thread owns one slice of C (columns, or rows when M > N) and packs its own
// panels, so there are no barriers; each output element is computed by
// exactly one thread in a fixed k order, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace ff::cpu {

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rs_a, int64_t cs_a, const float* b, int64_t rs_b,
           int64_t cs_b, float* c, int64_t ldc, bool accumulate, int threads);

}  // namespace ff::cpu
