// tensor/backend.h — the kernels each backend implements: ff::cpu (tensor/backend_cpu.cpp, the reference)
// and ff::cuda (tensor/backend_cuda.cu). Declared once through FF_BACKEND_DECLS so they cannot drift.
// Callers (tensor/kernels.cpp) have already checked dtypes, devices and shapes; backends may assume:
//  - every output is contiguous, allocated, on the right device; "accumulate" outputs are pre-zeroed;
//  - floating tensors share one dtype (F32, or F64 on the CPU only); index tensors are I64 and in range;
//  - tensors documented "contiguous" are contiguous; "strided" ones may have any strides (incl. 0).
#pragma once
#include "tensor/kernels.h"

#define FF_BACKEND_DECLS                                                                                       \
  /* out (strided) = v */                                                                                      \
  void fill(const Tensor& out, double v);                                                                      \
  /* dst (strided) = src (strided, same shape; dtype may differ: cast) — same device */                       \
  void copy(const Tensor& dst, const Tensor& src);                                                             \
  /* out[i] = mean + std·normal_at(seed, counter + i), or lo + (hi−lo)·uniform_at(...) ; out contiguous */     \
  void random_fill(const Tensor& out, uint64_t seed, uint64_t counter, bool normal, double a, double b);      \
  /* a, b strided with out's shape (broadcast views); out contiguous */                                        \
  void binary(kernels::Binary op, const Tensor& a, const Tensor& b, const Tensor& out);                        \
  /* x strided; out contiguous, same shape */                                                                  \
  void unary(kernels::Unary op, const Tensor& x, kernels::UnaryParams p, const Tensor& out);                   \
  /* all contiguous, same shape */                                                                             \
  void unary_backward(kernels::Unary op, const Tensor& x, const Tensor& y, const Tensor& d_y,                  \
                      kernels::UnaryParams p, const Tensor& d_x);                                              \
  /* x contiguous viewed [outer, inner]; out [outer]; reduce over inner. argmax (I64 [outer]) for Max only,  \
     else undefined. Mean divides by inner. */                                                                \
  void reduce_rows(kernels::Reduce op, const Tensor& x, int64_t outer, int64_t inner, const Tensor& out,       \
                   const Tensor& argmax);                                                                      \
  /* out[b] = op(a[b])·op(b[b]) for b < batch. a, b: base pointers with the given leading dims (row-major),  \
     batch strides in elements (0 = broadcast); trans_* = the stored matrix is op's transpose. */             \
  void gemm(const Tensor& a, const Tensor& b, const Tensor& out, int64_t batch, int64_t m, int64_t n,         \
            int64_t k, bool trans_a, bool trans_b, int64_t lda, int64_t ldb, int64_t stride_a,                 \
            int64_t stride_b);                                                                                 \
  /* NCHW, all contiguous; bias undefined or [O] */                                                            \
  void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::Conv2dParams p, const Tensor& y); \
  void conv2d_backward_input(const Tensor& d_y, const Tensor& w, kernels::Conv2dParams p, const Tensor& d_x);  \
  void conv2d_backward_weight(const Tensor& d_y, const Tensor& x, kernels::Conv2dParams p, const Tensor& d_w); \
  /* x contiguous [A, D, B]; index [K]; out [A, K, B] */                                                       \
  void index_select(const Tensor& x, const Tensor& index, int64_t A, int64_t D, int64_t B, const Tensor& out); \
  /* src contiguous [A, K, B]; out [A, D, B] pre-zeroed, accumulated */                                        \
  void index_add(const Tensor& src, const Tensor& index, int64_t A, int64_t D, int64_t B, const Tensor& out);  \
  /* torch.gather / scatter_add: x or out contiguous, index contiguous (shape = out's / src's) */             \
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);                           \
  void scatter_add(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& out);                    \
  /* input [N,C,H,W], grid [N,Ho,Wo,2] contiguous; out [N,C,Ho,Wo] */                                          \
  void grid_sample(const Tensor& input, const Tensor& grid, const Tensor& out);                                \
  /* d_input pre-zeroed (or undefined), d_grid (or undefined) */                                               \
  void grid_sample_backward(const Tensor& d_out, const Tensor& input, const Tensor& grid,                     \
                            const Tensor& d_input, const Tensor& d_grid);                                      \
  /* contiguous, same numel; rows: undefined (all) or I64 [R] of rows of length numel/nrows */               \
  void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,                  \
                 const kernels::AdamParams& p, const Tensor& rows, int64_t nrows);                             \
  /* true when every element is finite; x contiguous */                                                        \
  bool all_finite(const Tensor& x);

namespace ff::cpu {
FF_BACKEND_DECLS
}

// FF_ON_DEVICE(device, fn(args)) calls ff::cuda::fn or ff::cpu::fn (a clear error in CPU-only builds)
#ifdef FF_WITH_CUDA
#define FF_ON_DEVICE(dev, call) ((dev).is_cuda() ? cuda::call : cpu::call)
#else
#define FF_ON_DEVICE(dev, call) \
  ((dev).is_cuda() ? (FF_THROW("CUDA tensor in a CPU-only build"), cpu::call) : cpu::call)
#endif

namespace ff::cuda {
FF_BACKEND_DECLS
// contiguous byte copies between host and device on the context's stream (to host: synchronises)
void copy_bytes(Context& ctx, void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
}
