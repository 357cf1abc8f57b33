// tensor/winograd_cpu.h — 3×3 stride-1 f32 convolutions by Winograd F(2×2, 3×3) on the CPU (ff::cpu).
//
// Each 2×2 block of outputs ("tile") is Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A (Lavin & Gray 2015), d the 4×4 input
// patch at (2·ty − ph, 2·tx − pw) (zero outside the image), g the 3×3 kernel (correlation, as conv2d). Over all
// tiles this is 16 independent GEMMs, one per transformed position ξ: M[ξ] [Og × T] = U[ξ] [Og × Cg] · V[ξ]
// [Cg × T], 2.25× fewer multiply-adds than the direct convolution; the GEMMs run facefield's sgemm
// (tensor/sgemm_cpu.h). The weight gradient is the adjoint: dU[ξ] = Σ_tiles (A dY Aᵀ)[ξ] · V[ξ]ᵀ, dW = Gᵀ dU G.
//
// Layouts: NCHW x [N, C, H, W], w [O, C/G, 3, 3], y [N, O, Ho, Wo] with Ho = H + 2·ph − 2, Wo = W + 2·pw − 2
// (any padding ≥ 0 that leaves Ho, Wo ≥ 1; edge tiles are cropped). Results differ from the direct
// convolution by rounding only (the transforms use ±1 and ½, exact in binary); the tolerance is the "conv"
// row of tests/tensor/test_backend_cuda_parity.cpp. Deterministic: every output element and every weight
// gradient element is computed by one thread in a fixed order, whatever the thread count (the weight
// gradient sums tiles in fixed chunks of 256, tensor/winograd_cpu.cpp's kWeightGradTiles).
#pragma once
#include <cstdint>

namespace ff::cpu {

struct Conv3x3Shape {
  int64_t N, C, H, W, O, G, ph, pw;
  int64_t Ho() const { return H + 2 * ph - 2; }
  int64_t Wo() const { return W + 2 * pw - 2; }
};

// Whether Winograd beats the implicit GEMM for this shape (enough channels and tiles to amortise the
// transforms); the callers in tensor/backend_cpu.cpp use it for every 3×3 stride-1 f32 convolution.
bool winograd_profitable(const Conv3x3Shape& s);

// y = conv2d(x, w) + bias (bias [O] or nullptr)
void winograd_conv3x3(const float* x, const float* w, const float* bias, float* y, const Conv3x3Shape& s, int threads);

// dw = ∂/∂w of Σ y·dy (overwritten, not accumulated)
void winograd_conv3x3_backward_weight(const float* dy, const float* x, float* dw, const Conv3x3Shape& s, int threads);

}  // namespace ff::cpu
