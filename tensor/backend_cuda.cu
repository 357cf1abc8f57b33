// tensor/backend_cuda.cu — the CUDA backend (ff::cuda, declared in tensor/backend.h): elementwise, random,
// row reductions, indexing, grid_sample, Adam, all_finite and host/device byte copies. gemm and conv2d
// (cuBLAS / cuDNN) live in tensor/dnn_cuda.cu.
//
// Conventions
//  - Floating tensors are F32 (F64 is CPU-only: every entry point throws for it). Index tensors are I64.
//  - Everything is enqueued on the context's one stream; nothing here synchronises the device except
//    copy_bytes to the host and all_finite (which returns a host bool).
//  - Strided elementwise kernels take a small POD indexer (≤ 8 dims after coalescing) by value. Dims of
//    size 1 are dropped and adjacent dims that are contiguous with respect to each other in every operand
//    are merged, so a contiguous tensor becomes one dim and the kernel does no divisions. 32-bit index
//    math is used whenever every offset fits, 64-bit otherwise.
//  - All launches use grid-stride loops with a capped grid (no 65535 limits, any int64 size).
//  - Reductions are deterministic (fixed-shape tree reductions, no float atomics). index_add, scatter_add
//    and grid_sample's d_input use float atomicAdd (their CPU twins accumulate in order; results agree to
//    rounding).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/cuda_check.h"
#include "core/rng.h"
#include "tensor/backend.h"

namespace ff::cuda {
namespace {

using kernels::Binary;
using kernels::Unary;

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;  // grid-stride beyond this: 2M threads is plenty for any current GPU

cudaStream_t stream_of(const Tensor& t) { return static_cast<cudaStream_t>(t.ctx().stream()); }

int blocks_for(int64_t n, int threads = kThreads) {
  return int(std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, kMaxBlocks)));
}

void check_f32(const Tensor& t, const char* op) {
  FF_CHECK(t.dtype() == DType::F32, "cuda::", op, ": CUDA tensors must be f32 (f64 is CPU-only), got ", t.str());
}

// ---- strided indexing ---------------------------------------------------------------------------------
// N operands sharing one shape; offsets (in elements) of linear index i (row-major over the shape).
template <class I, int N>
struct Indexer {
  int nd;
  I size[kMaxDims];
  I stride[N][kMaxDims];

  __device__ __forceinline__ void offsets(I i, I (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = nd - 1; d > 0; --d) {
      I c = i % size[d];
      i /= size[d];
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += c * stride[k][d];
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += i * stride[k][0];
  }
};

// Coalesced layout of N operands (host side).
template <int N>
struct Layout {
  std::vector<int64_t> size;
  std::vector<int64_t> stride[N];
  bool fits_i32 = true;
};

template <int N>
Layout<N> coalesce(const Shape& shape, const Shape* const (&strides)[N], const char* op) {
  Layout<N> L;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !L.size.empty();
    for (int k = 0; k < N && merge; ++k) merge = L.stride[k].back() == (*strides[k])[d] * shape[d];
    if (merge) {
      L.size.back() *= shape[d];
      for (int k = 0; k < N; ++k) L.stride[k].back() = (*strides[k])[d];
    } else {
      L.size.push_back(shape[d]);
      for (int k = 0; k < N; ++k) L.stride[k].push_back((*strides[k])[d]);
    }
  }
  if (L.size.empty()) {
    L.size.push_back(1);
    for (int k = 0; k < N; ++k) L.stride[k].push_back(0);
  }
  FF_CHECK(L.size.size() <= size_t(kMaxDims), "cuda::", op, ": more than ", kMaxDims,
           " non-mergeable dims in shape ", shape);
  const int64_t lim = int64_t(std::numeric_limits<int32_t>::max()) - kMaxBlocks * kThreads;
  int64_t numel = 1;
  for (int64_t s : L.size) numel *= s;
  L.fits_i32 = numel < lim;
  for (int k = 0; k < N; ++k) {
    int64_t ext = 0;
    for (size_t d = 0; d < L.size.size(); ++d) ext += (L.size[d] - 1) * std::abs(L.stride[k][d]);
    if (ext >= lim) L.fits_i32 = false;
  }
  return L;
}

template <class I, int N>
Indexer<I, N> make_indexer(const Layout<N>& L) {
  Indexer<I, N> ix{};
  ix.nd = int(L.size.size());
  for (int d = 0; d < ix.nd; ++d) {
    ix.size[d] = I(L.size[d]);
    for (int k = 0; k < N; ++k) ix.stride[k][d] = I(L.stride[k][d]);
  }
  return ix;
}

#define FF_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// ---- fill / copy --------------------------------------------------------------------------------------
template <class T, class I>
__global__ void fill_kernel(T* out, T v, Indexer<I, 1> ix, int64_t n) {
  FF_GRID_STRIDE(i, n) {
    I off[1];
    ix.offsets(I(i), off);
    out[off[0]] = v;
  }
}

template <class D, class S>
__device__ __forceinline__ D cast_value(S s) {
  return static_cast<D>(s);
}

template <class D, class S, class I>
__global__ void copy_kernel(D* dst, const S* src, Indexer<I, 2> ix, int64_t n) {
  FF_GRID_STRIDE(i, n) {
    I off[2];
    ix.offsets(I(i), off);
    dst[off[0]] = cast_value<D>(src[off[1]]);
  }
}

template <class T>
void launch_fill(const Tensor& out, double v) {
  const Shape* st[1] = {&out.strides()};
  auto L = coalesce<1>(out.shape(), st, "fill");
  int64_t n = out.numel();
  T val = static_cast<T>(v);
  if (L.fits_i32)
    fill_kernel<T, int32_t><<<blocks_for(n), kThreads, 0, stream_of(out)>>>(out.data<T>(), val, make_indexer<int32_t>(L), n);
  else
    fill_kernel<T, int64_t><<<blocks_for(n), kThreads, 0, stream_of(out)>>>(out.data<T>(), val, make_indexer<int64_t>(L), n);
  CUDA_CHECK_LAUNCH();
}

template <class D, class S>
void launch_copy(const Tensor& dst, const Tensor& src) {
  const Shape* st[2] = {&dst.strides(), &src.strides()};
  auto L = coalesce<2>(dst.shape(), st, "copy");
  int64_t n = dst.numel();
  if (L.fits_i32)
    copy_kernel<D, S, int32_t><<<blocks_for(n), kThreads, 0, stream_of(dst)>>>(dst.data<D>(), src.data<S>(),
                                                                               make_indexer<int32_t>(L), n);
  else
    copy_kernel<D, S, int64_t><<<blocks_for(n), kThreads, 0, stream_of(dst)>>>(dst.data<D>(), src.data<S>(),
                                                                               make_indexer<int64_t>(L), n);
  CUDA_CHECK_LAUNCH();
}

template <class D>
void copy_from(const Tensor& dst, const Tensor& src) {
  switch (src.dtype()) {
    case DType::F32: return launch_copy<D, float>(dst, src);
    case DType::I32: return launch_copy<D, int32_t>(dst, src);
    case DType::I64: return launch_copy<D, int64_t>(dst, src);
    case DType::U8: return launch_copy<D, uint8_t>(dst, src);
    default: FF_THROW("cuda::copy: unsupported source dtype ", dtype_name(src.dtype()), " (f64 is CPU-only)");
  }
}

// ---- elementwise maths --------------------------------------------------------------------------------
// Kept next to each other so forward and backward agree; the switch is uniform across a launch.
__device__ __forceinline__ float binary_op(Binary op, float a, float b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
    case Binary::Pow: return powf(a, b);
    case Binary::Maximum: return a >= b ? a : b;  // as the CPU twin (a NaN in a yields b)
    case Binary::Minimum: return a <= b ? a : b;
  }
  return 0.f;
}

__device__ __forceinline__ float unary_op(Unary op, float x, float a, float b) {
  switch (op) {
    case Unary::Neg: return -x;
    case Unary::Exp: return expf(x);
    case Unary::Log: return logf(x);
    case Unary::Sqrt: return sqrtf(x);
    case Unary::Rsqrt: return 1.f / sqrtf(x);
    case Unary::Abs: return fabsf(x);
    case Unary::Sigmoid: return 1.f / (1.f + expf(-x));
    case Unary::Relu: return x > 0.f ? x : 0.f;
    case Unary::LeakyRelu: return x > 0.f ? x : x * a;
    case Unary::Tanh: return tanhf(x);
    case Unary::Clamp: return x < a ? a : (x > b ? b : x);
    case Unary::PowScalar: return powf(x, a);
    case Unary::AddScalar: return x + a;
    case Unary::MulScalar: return x * a;
    case Unary::Square: return x * x;
  }
  return 0.f;
}

// f'(x), with y = f(x); am1 = a − 1 rounded once from double (PowScalar), as the CPU twin
__device__ __forceinline__ float unary_grad(Unary op, float x, float y, float a, float b, float am1) {
  switch (op) {
    case Unary::Neg: return -1.f;
    case Unary::Exp: return y;
    case Unary::Log: return 1.f / x;
    case Unary::Sqrt: return 0.5f / y;
    case Unary::Rsqrt: return -0.5f * y * y * y;
    case Unary::Abs: return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
    case Unary::Sigmoid: return y * (1.f - y);
    case Unary::Relu: return x > 0.f ? 1.f : 0.f;
    case Unary::LeakyRelu: return x > 0.f ? 1.f : a;
    case Unary::Tanh: return 1.f - y * y;
    case Unary::Clamp: return (x >= a && x <= b) ? 1.f : 0.f;
    case Unary::PowScalar: return a * powf(x, am1);
    case Unary::AddScalar: return 1.f;
    case Unary::MulScalar: return a;
    case Unary::Square: return 2.f * x;
  }
  return 0.f;
}

template <class I>
__global__ void binary_kernel(Binary op, const float* a, const float* b, float* out, Indexer<I, 2> ix, int64_t n) {
  FF_GRID_STRIDE(i, n) {
    I off[2];
    ix.offsets(I(i), off);
    out[i] = binary_op(op, a[off[0]], b[off[1]]);
  }
}

template <class I>
__global__ void unary_kernel(Unary op, float pa, float pb, const float* x, float* out, Indexer<I, 1> ix, int64_t n) {
  FF_GRID_STRIDE(i, n) {
    I off[1];
    ix.offsets(I(i), off);
    out[i] = unary_op(op, x[off[0]], pa, pb);
  }
}

__global__ void unary_backward_kernel(Unary op, float pa, float pb, float pam1, const float* x, const float* y,
                                      const float* d_y, float* d_x, int64_t n) {
  FF_GRID_STRIDE(i, n) { d_x[i] = d_y[i] * unary_grad(op, x[i], y[i], pa, pb, pam1); }
}

// ---- random -------------------------------------------------------------------------------------------
// Same expression as the CPU twin, in double, then rounded to float: bit-comparable streams.
__global__ void random_fill_kernel(float* out, int64_t n, uint64_t seed, uint64_t counter, bool normal, double a,
                                   double b) {
  FF_GRID_STRIDE(i, n) {
    uint64_t c = counter + uint64_t(i);
    double v = normal ? a + b * rng::normal_at(seed, c) : a + (b - a) * rng::uniform_at(seed, c);
    out[i] = float(v);
  }
}

// ---- row reductions -----------------------------------------------------------------------------------
// A "segment" is a row or a chunk of a row; one warp or one block reduces a segment. Long rows with few
// outers are split into chunks (pass 1 → partials in the workspace) and the partials are reduced by a
// second pass. Sums accumulate in double (as the CPU twin; free for a memory-bound kernel) per thread, then
// tree-reduce in a fixed order: deterministic run to run.
struct ValIdx {
  float v;
  int64_t i;
};

// as the CPU twin: larger wins, a NaN beats any number, the first index wins ties (and among NaNs)
__device__ __forceinline__ ValIdx max_combine(ValIdx a, ValIdx b) {
  bool an = a.v != a.v, bn = b.v != b.v;
  if (an != bn) return an ? a : b;
  if (a.v > b.v) return a;
  if (b.v > a.v) return b;
  return a.i <= b.i ? a : b;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ ValIdx warp_max(ValIdx p) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    ValIdx q;
    q.v = __shfl_down_sync(0xffffffffu, p.v, o);
    q.i = __shfl_down_sync(0xffffffffu, p.i, o);
    p = max_combine(p, q);
  }
  return p;
}

constexpr int64_t kNoIndex = std::numeric_limits<int64_t>::max();

struct RowReduceParams {
  // inputs: exactly one of x / xd
  const float* x;        // [rows, len] values
  const double* xd;      // [rows, len] partial sums (pass 2 of a split sum)
  const int64_t* x_idx;  // [rows, len] argmax candidates (pass 2 of a split max), or null: index = position
  int64_t rows, len;     // rows of the input and their length
  int64_t chunks;        // each row is split into `chunks` segments of chunk_len
  int64_t chunk_len;
  double divisor;        // final sums are divided by this (mean: the full row length; else 1)
  // outputs [rows, chunks]: exactly one of out / out_d
  float* out;            // final values (sum / mean / max)
  double* out_d;         // partial sums
  int64_t* out_idx;      // argmax (max only)
};

__device__ __forceinline__ void segment_range(const RowReduceParams& p, int64_t seg, int64_t& row, int64_t& lo,
                                              int64_t& hi) {
  row = seg / p.chunks;
  lo = (seg % p.chunks) * p.chunk_len;
  hi = min(p.len, lo + p.chunk_len);
}

template <bool IsMax>
__device__ __forceinline__ void thread_accumulate(const RowReduceParams& p, int64_t row, int64_t lo, int64_t hi,
                                                  int64_t start, int64_t step, double& sum, ValIdx& best) {
  if (IsMax) {
    const float* xr = p.x + row * p.len;
    const int64_t* ir = p.x_idx ? p.x_idx + row * p.len : nullptr;
    for (int64_t j = lo + start; j < hi; j += step) best = max_combine(best, ValIdx{xr[j], ir ? ir[j] : j});
  } else if (p.xd) {
    const double* xr = p.xd + row * p.len;
    for (int64_t j = lo + start; j < hi; j += step) sum += xr[j];
  } else {
    const float* xr = p.x + row * p.len;
    for (int64_t j = lo + start; j < hi; j += step) sum += double(xr[j]);
  }
}

template <bool IsMax>
__device__ __forceinline__ void write_segment(const RowReduceParams& p, int64_t seg, double sum, ValIdx best) {
  if (IsMax) {
    p.out[seg] = best.i == kNoIndex ? -INFINITY : best.v;
    if (p.out_idx) p.out_idx[seg] = best.i == kNoIndex ? 0 : best.i;
  } else if (p.out_d) {
    p.out_d[seg] = sum;
  } else {
    p.out[seg] = float(sum / p.divisor);
  }
}

// one warp per segment
template <bool IsMax>
__global__ void reduce_warp_kernel(RowReduceParams p) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  const int64_t nseg = p.rows * p.chunks;
  // the loop bound is uniform per warp, so the shuffles are convergent
  for (int64_t seg = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); seg < nseg; seg += warps) {
    int64_t row, lo, hi;
    segment_range(p, seg, row, lo, hi);
    double sum = 0;
    ValIdx best{-INFINITY, kNoIndex};
    thread_accumulate<IsMax>(p, row, lo, hi, lane, 32, sum, best);
    if (IsMax) best = warp_max(best);
    else sum = warp_sum(sum);
    if (lane == 0) write_segment<IsMax>(p, seg, sum, best);
  }
}

// one thread per segment (very short rows: a warp per row would idle most lanes)
template <bool IsMax>
__global__ void reduce_thread_kernel(RowReduceParams p) {
  const int64_t nseg = p.rows * p.chunks;
  FF_GRID_STRIDE(seg, nseg) {
    int64_t row, lo, hi;
    segment_range(p, seg, row, lo, hi);
    double sum = 0;
    ValIdx best{-INFINITY, kNoIndex};
    thread_accumulate<IsMax>(p, row, lo, hi, 0, 1, sum, best);
    write_segment<IsMax>(p, seg, sum, best);
  }
}

// one block (kThreads) per segment
template <bool IsMax>
__global__ void __launch_bounds__(kThreads) reduce_block_kernel(RowReduceParams p) {
  __shared__ double s_sum[kThreads / 32];
  __shared__ ValIdx s_best[kThreads / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  const int64_t nseg = p.rows * p.chunks;
  for (int64_t seg = blockIdx.x; seg < nseg; seg += gridDim.x) {
    int64_t row, lo, hi;
    segment_range(p, seg, row, lo, hi);
    double sum = 0;
    ValIdx best{-INFINITY, kNoIndex};
    thread_accumulate<IsMax>(p, row, lo, hi, threadIdx.x, blockDim.x, sum, best);
    if (IsMax) best = warp_max(best);
    else sum = warp_sum(sum);
    if (lane == 0) {
      s_sum[warp] = sum;
      s_best[warp] = best;
    }
    __syncthreads();
    if (warp == 0) {
      if (IsMax) {
        ValIdx b = lane < nw ? s_best[lane] : ValIdx{-INFINITY, kNoIndex};
        b = warp_max(b);
        if (lane == 0) write_segment<IsMax>(p, seg, 0.0, b);
      } else {
        double t = lane < nw ? s_sum[lane] : 0.0;
        t = warp_sum(t);
        if (lane == 0) write_segment<IsMax>(p, seg, t, best);
      }
    }
    __syncthreads();  // the shared slots are reused by the next segment
  }
}

constexpr int64_t kThreadRowMax = 16;  // rows up to this length: one thread per row

template <bool IsMax>
void launch_reduce(const RowReduceParams& p, bool warp_per_segment, cudaStream_t s) {
  int64_t nseg = p.rows * p.chunks;
  if (warp_per_segment && p.chunks == 1 && p.len <= kThreadRowMax) {
    reduce_thread_kernel<IsMax><<<blocks_for(nseg), kThreads, 0, s>>>(p);
  } else if (warp_per_segment) {
    const int64_t per_block = kThreads / 32;
    int blocks = int(std::max<int64_t>(1, std::min<int64_t>((nseg + per_block - 1) / per_block, kMaxBlocks)));
    reduce_warp_kernel<IsMax><<<blocks, kThreads, 0, s>>>(p);
  } else {
    int blocks = int(std::max<int64_t>(1, std::min<int64_t>(nseg, kMaxBlocks * 4)));
    reduce_block_kernel<IsMax><<<blocks, kThreads, 0, s>>>(p);
  }
  CUDA_CHECK_LAUNCH();
}

__global__ void fill_rows_kernel(float* out, int64_t* idx, float v, int64_t n) {
  FF_GRID_STRIDE(i, n) {
    out[i] = v;
    if (idx) idx[i] = 0;
  }
}

// ---- indexing -----------------------------------------------------------------------------------------
template <class T>
__global__ void index_select_kernel(const T* x, const int64_t* index, T* out, int64_t D, int64_t K, int64_t B,
                                    int64_t n) {
  FF_GRID_STRIDE(i, n) {
    int64_t b = i % B, t = i / B;
    int64_t k = t % K, a = t / K;
    out[i] = x[(a * D + index[k]) * B + b];
  }
}

__global__ void index_add_kernel(const float* src, const int64_t* index, float* out, int64_t D, int64_t K, int64_t B,
                                 int64_t n) {
  FF_GRID_STRIDE(i, n) {
    int64_t b = i % B, t = i / B;
    int64_t k = t % K, a = t / K;
    atomicAdd(&out[(a * D + index[k]) * B + b], src[i]);
  }
}

// torch.gather / scatter_add over the index tensor's shape: the big tensor is addressed with its own
// contiguous strides, the small one (same shape as or larger than index) with its own.
struct GatherParams {
  int nd, dim;
  int64_t isize[kMaxDims];    // index shape
  int64_t big_st[kMaxDims];   // strides of x (gather) / out (scatter_add)
  int64_t small_st[kMaxDims]; // strides of out (gather) / src (scatter_add)
};

__device__ __forceinline__ void gather_offsets(const GatherParams& p, int64_t i, int64_t idx, int64_t& big,
                                               int64_t& small) {
  big = 0;
  small = 0;
  for (int d = p.nd - 1; d >= 0; --d) {
    int64_t c = i % p.isize[d];
    i /= p.isize[d];
    small += c * p.small_st[d];
    big += (d == p.dim ? idx : c) * p.big_st[d];
  }
}

__global__ void gather_kernel(const float* x, const int64_t* index, float* out, GatherParams p, int64_t n) {
  FF_GRID_STRIDE(i, n) {
    int64_t big, small;
    gather_offsets(p, i, index[i], big, small);
    out[small] = x[big];
  }
}

__global__ void scatter_add_kernel(const float* src, const int64_t* index, float* out, GatherParams p, int64_t n) {
  FF_GRID_STRIDE(i, n) {
    int64_t big, small;
    gather_offsets(p, i, index[i], big, small);
    atomicAdd(&out[big], src[small]);
  }
}

GatherParams make_gather_params(const Shape& big, const Shape& small, const Shape& index, int64_t dim,
                                const char* op) {
  FF_CHECK(index.size() <= size_t(kMaxDims), "cuda::", op, ": at most ", kMaxDims, " dims, got index shape ", index);
  FF_CHECK(big.size() == index.size() && small.size() == index.size(), "cuda::", op, ": rank mismatch ", big, " ",
           small, " ", index);
  GatherParams p{};
  p.nd = int(index.size());
  p.dim = int(dim);
  Shape bs = contiguous_strides(big), ss = contiguous_strides(small);
  for (int d = 0; d < p.nd; ++d) {
    p.isize[d] = index[d];
    p.big_st[d] = bs[d];
    p.small_st[d] = ss[d];
  }
  return p;
}

// ---- grid_sample --------------------------------------------------------------------------------------
// PyTorch: bilinear, padding 'zeros', align_corners=False. ix = ((x + 1)·W − 1)/2, iy likewise with H.
struct GridSampleParams {
  const float* input;  // [N, C, H, W]
  const float* grid;   // [N, Ho, Wo, 2]
  int64_t N, C, H, W, Ho, Wo;
};

__device__ __forceinline__ bool in_bounds(float yf, float xf, int64_t H, int64_t W) {
  return xf >= 0.f && xf <= float(W - 1) && yf >= 0.f && yf <= float(H - 1);  // NaN → false
}

struct Corners {
  float ix, iy, x0, y0, x1, y1;    // source coords and the integer corner coords (as floats)
  float nw, ne, sw, se;            // bilinear weights
  bool in_nw, in_ne, in_sw, in_se; // corner inside the image
  int64_t o_nw, o_ne, o_sw, o_se;  // offsets within one channel plane (valid when in_*)
};

__device__ __forceinline__ Corners corners_at(float gx, float gy, int64_t H, int64_t W) {
  Corners c;
  c.ix = ((gx + 1.f) * float(W) - 1.f) / 2.f;
  c.iy = ((gy + 1.f) * float(H) - 1.f) / 2.f;
  c.x0 = floorf(c.ix);
  c.y0 = floorf(c.iy);
  c.x1 = c.x0 + 1.f;
  c.y1 = c.y0 + 1.f;
  c.nw = (c.x1 - c.ix) * (c.y1 - c.iy);
  c.ne = (c.ix - c.x0) * (c.y1 - c.iy);
  c.sw = (c.x1 - c.ix) * (c.iy - c.y0);
  c.se = (c.ix - c.x0) * (c.iy - c.y0);
  c.in_nw = in_bounds(c.y0, c.x0, H, W);
  c.in_ne = in_bounds(c.y0, c.x1, H, W);
  c.in_sw = in_bounds(c.y1, c.x0, H, W);
  c.in_se = in_bounds(c.y1, c.x1, H, W);
  // only converted to integers when in bounds (the floats may be huge or NaN otherwise)
  c.o_nw = c.in_nw ? int64_t(c.y0) * W + int64_t(c.x0) : 0;
  c.o_ne = c.in_ne ? int64_t(c.y0) * W + int64_t(c.x1) : 0;
  c.o_sw = c.in_sw ? int64_t(c.y1) * W + int64_t(c.x0) : 0;
  c.o_se = c.in_se ? int64_t(c.y1) * W + int64_t(c.x1) : 0;
  return c;
}

// one thread per output element [N, C, Ho, Wo]
__global__ void grid_sample_fwd_kernel(GridSampleParams p, float* out, int64_t n) {
  FF_GRID_STRIDE(i, n) {
    int64_t wo = i % p.Wo, t = i / p.Wo;
    int64_t ho = t % p.Ho;
    t /= p.Ho;
    int64_t c = t % p.C, nb = t / p.C;
    const float* g = p.grid + ((nb * p.Ho + ho) * p.Wo + wo) * 2;
    Corners k = corners_at(g[0], g[1], p.H, p.W);
    const float* plane = p.input + (nb * p.C + c) * p.H * p.W;
    float v = 0.f;
    if (k.in_nw) v += plane[k.o_nw] * k.nw;
    if (k.in_ne) v += plane[k.o_ne] * k.ne;
    if (k.in_sw) v += plane[k.o_sw] * k.sw;
    if (k.in_se) v += plane[k.o_se] * k.se;
    out[i] = v;
  }
}

// G lanes per output location (G = 1 or 32); lanes split the channels, d_grid is reduced over the group.
template <int G>
__global__ void grid_sample_bwd_kernel(GridSampleParams p, const float* d_out, float* d_input, float* d_grid) {
  const int64_t nloc = p.N * p.Ho * p.Wo;
  const int64_t groups = int64_t(gridDim.x) * blockDim.x / G;
  const int lane = threadIdx.x % G;
  const int64_t HW = p.H * p.W, HoWo = p.Ho * p.Wo;
  // every lane of a warp runs the same number of iterations (groups is a multiple of 32 / G), so the
  // group shuffles below are convergent
  for (int64_t loc = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / G; loc < nloc; loc += groups) {
    int64_t nb = loc / HoWo, s = loc % HoWo;
    const float* g = p.grid + loc * 2;
    Corners k = corners_at(g[0], g[1], p.H, p.W);
    float gix = 0.f, giy = 0.f;
    for (int64_t c = lane; c < p.C; c += G) {
      float go = d_out[(nb * p.C + c) * HoWo + s];
      const int64_t base = (nb * p.C + c) * HW;
      if (d_input) {
        if (k.in_nw) atomicAdd(&d_input[base + k.o_nw], k.nw * go);
        if (k.in_ne) atomicAdd(&d_input[base + k.o_ne], k.ne * go);
        if (k.in_sw) atomicAdd(&d_input[base + k.o_sw], k.sw * go);
        if (k.in_se) atomicAdd(&d_input[base + k.o_se], k.se * go);
      }
      if (d_grid) {
        const float* plane = p.input + base;
        if (k.in_nw) {
          float v = plane[k.o_nw];
          gix -= v * (k.y1 - k.iy) * go;
          giy -= v * (k.x1 - k.ix) * go;
        }
        if (k.in_ne) {
          float v = plane[k.o_ne];
          gix += v * (k.y1 - k.iy) * go;
          giy -= v * (k.ix - k.x0) * go;
        }
        if (k.in_sw) {
          float v = plane[k.o_sw];
          gix -= v * (k.iy - k.y0) * go;
          giy += v * (k.x1 - k.ix) * go;
        }
        if (k.in_se) {
          float v = plane[k.o_se];
          gix += v * (k.iy - k.y0) * go;
          giy += v * (k.ix - k.x0) * go;
        }
      }
    }
    if (d_grid) {
      if (G > 1) {
#pragma unroll
        for (int o = G / 2; o > 0; o >>= 1) {
          gix += __shfl_down_sync(0xffffffffu, gix, o, G);
          giy += __shfl_down_sync(0xffffffffu, giy, o, G);
        }
      }
      if (lane == 0) {
        d_grid[loc * 2] = gix * (float(p.W) / 2.f);
        d_grid[loc * 2 + 1] = giy * (float(p.H) / 2.f);
      }
    }
  }
}

// ---- Adam -----------------------------------------------------------------------------------------------
struct AdamArgs {
  float* param;        // [numel]
  const float* grad;   // [numel]
  float* m;            // [numel]
  float* v;            // [numel]
  const int64_t* rows; // [R] or null (all elements)
  int64_t n;           // elements to update: numel, or R·row_len
  int64_t row_len;
  // p −= step_size·m / (sqrt(v)·inv_sqrt_bc2 + eps): the CPU twin's arrangement, constants rounded from double
  float beta1, beta2, eps, wd, step_size, inv_sqrt_bc2;
};

__global__ void adam_kernel(AdamArgs a) {
  FF_GRID_STRIDE(i, a.n) {
    int64_t j = a.rows ? a.rows[i / a.row_len] * a.row_len + i % a.row_len : i;
    float p = a.param[j];
    float g = a.grad[j] + a.wd * p;
    float m = a.beta1 * a.m[j] + (1.f - a.beta1) * g;
    float v = a.beta2 * a.v[j] + (1.f - a.beta2) * g * g;
    a.m[j] = m;
    a.v[j] = v;
    a.param[j] = p - a.step_size * m / (sqrtf(v) * a.inv_sqrt_bc2 + a.eps);
  }
}

__global__ void all_finite_kernel(const float* x, int64_t n, int* flag) {
  bool bad = false;
  FF_GRID_STRIDE(i, n) { bad |= !isfinite(x[i]); }
  if (__any_sync(0xffffffffu, bad) && (threadIdx.x & 31) == 0) *flag = 1;
}

}  // namespace

// =========================================================================================================
void fill(const Tensor& out, double v) {
  if (out.numel() == 0) return;
  switch (out.dtype()) {
    case DType::F32: return launch_fill<float>(out, v);
    case DType::I32: return launch_fill<int32_t>(out, v);
    case DType::I64: return launch_fill<int64_t>(out, v);
    case DType::U8: return launch_fill<uint8_t>(out, v);
    default: FF_THROW("cuda::fill: unsupported dtype ", dtype_name(out.dtype()), " (f64 is CPU-only)");
  }
}

void copy(const Tensor& dst, const Tensor& src) {
  FF_CHECK(dst.shape() == src.shape(), "cuda::copy: shape mismatch ", dst.shape(), " vs ", src.shape());
  if (dst.numel() == 0) return;
  switch (dst.dtype()) {
    case DType::F32: return copy_from<float>(dst, src);
    case DType::I32: return copy_from<int32_t>(dst, src);
    case DType::I64: return copy_from<int64_t>(dst, src);
    case DType::U8: return copy_from<uint8_t>(dst, src);
    default: FF_THROW("cuda::copy: unsupported destination dtype ", dtype_name(dst.dtype()), " (f64 is CPU-only)");
  }
}

void random_fill(const Tensor& out, uint64_t seed, uint64_t counter, bool normal, double a, double b) {
  check_f32(out, normal ? "randn" : "rand");
  int64_t n = out.numel();
  if (n == 0) return;
  random_fill_kernel<<<blocks_for(n), kThreads, 0, stream_of(out)>>>(out.data<float>(), n, seed, counter, normal, a, b);
  CUDA_CHECK_LAUNCH();
}

void binary(kernels::Binary op, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_f32(a, "binary");
  check_f32(b, "binary");
  check_f32(out, "binary");
  int64_t n = out.numel();
  if (n == 0) return;
  FF_CHECK(a.shape() == out.shape() && b.shape() == out.shape(), "cuda::binary: operands ", a.shape(), " ",
           b.shape(), " must be views of the output shape ", out.shape());
  const Shape* st[2] = {&a.strides(), &b.strides()};
  auto L = coalesce<2>(out.shape(), st, kernels::binary_name(op));
  if (L.fits_i32)
    binary_kernel<int32_t><<<blocks_for(n), kThreads, 0, stream_of(out)>>>(op, a.data<float>(), b.data<float>(),
                                                                          out.data<float>(), make_indexer<int32_t>(L), n);
  else
    binary_kernel<int64_t><<<blocks_for(n), kThreads, 0, stream_of(out)>>>(op, a.data<float>(), b.data<float>(),
                                                                          out.data<float>(), make_indexer<int64_t>(L), n);
  CUDA_CHECK_LAUNCH();
}

void unary(kernels::Unary op, const Tensor& x, kernels::UnaryParams p, const Tensor& out) {
  check_f32(x, "unary");
  check_f32(out, "unary");
  int64_t n = out.numel();
  if (n == 0) return;
  const Shape* st[1] = {&x.strides()};
  auto L = coalesce<1>(out.shape(), st, kernels::unary_name(op));
  float pa = float(p.a), pb = float(p.b);
  if (L.fits_i32)
    unary_kernel<int32_t><<<blocks_for(n), kThreads, 0, stream_of(out)>>>(op, pa, pb, x.data<float>(),
                                                                         out.data<float>(), make_indexer<int32_t>(L), n);
  else
    unary_kernel<int64_t><<<blocks_for(n), kThreads, 0, stream_of(out)>>>(op, pa, pb, x.data<float>(),
                                                                         out.data<float>(), make_indexer<int64_t>(L), n);
  CUDA_CHECK_LAUNCH();
}

void unary_backward(kernels::Unary op, const Tensor& x, const Tensor& y, const Tensor& d_y, kernels::UnaryParams p,
                    const Tensor& d_x) {
  for (const Tensor* t : {&x, &y, &d_y, &d_x}) check_f32(*t, "unary_backward");
  int64_t n = d_x.numel();
  if (n == 0) return;
  unary_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(d_x)>>>(op, float(p.a), float(p.b), float(p.a - 1),
                                                                        x.data<float>(),
                                                                        y.data<float>(), d_y.data<float>(),
                                                                        d_x.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void reduce_rows(kernels::Reduce op, const Tensor& x, int64_t outer, int64_t inner, const Tensor& out,
                 const Tensor& argmax) {
  check_f32(x, "reduce_rows");
  check_f32(out, "reduce_rows");
  const bool is_max = op == kernels::Reduce::Max;
  if (outer == 0) return;
  cudaStream_t s = stream_of(x);
  float* o = out.data<float>();
  int64_t* oi = is_max && argmax.defined() ? argmax.data<int64_t>() : nullptr;  // argmax is optional
  if (inner == 0) {  // empty rows: sum 0, mean NaN (0/0), max −inf with index 0
    float v = is_max ? -INFINITY : (op == kernels::Reduce::Mean ? NAN : 0.f);
    fill_rows_kernel<<<blocks_for(outer), kThreads, 0, s>>>(o, oi, v, outer);
    CUDA_CHECK_LAUNCH();
    return;
  }
  RowReduceParams p{};
  p.x = x.data<float>();
  p.rows = outer;
  p.len = inner;
  p.divisor = op == kernels::Reduce::Mean ? double(inner) : 1.0;

  constexpr int64_t kWarpRowMax = 512;     // rows up to this length: one warp per row
  constexpr int64_t kSplitMinLen = 32768;  // rows at least this long are split when there are few of them
  constexpr int64_t kChunkLen = 8192;      // target elements per chunk
  constexpr int64_t kTargetBlocks = 1024;  // enough blocks to fill a big GPU
  int64_t chunks = 1;
  if (inner >= kSplitMinLen && outer < kTargetBlocks / 4)
    chunks = std::max<int64_t>(1, std::min<int64_t>((inner + kChunkLen - 1) / kChunkLen, kTargetBlocks / outer));
  if (chunks == 1) {
    p.chunks = 1;
    p.chunk_len = inner;
    p.out = o;
    p.out_idx = oi;
    bool warp = inner <= kWarpRowMax;
    is_max ? launch_reduce<true>(p, warp, s) : launch_reduce<false>(p, warp, s);
    return;
  }
  // pass 1: partials [outer, chunks] in the workspace: sums as doubles, or max values then their indices
  const int64_t np = outer * chunks;
  const size_t val_bytes = (size_t(np) * (is_max ? sizeof(float) : sizeof(double)) + 255) / 256 * 256;
  char* ws = static_cast<char*>(x.ctx().cuda_workspace(val_bytes + (is_max ? size_t(np) * sizeof(int64_t) : 0)));
  p.chunks = chunks;
  p.chunk_len = (inner + chunks - 1) / chunks;
  RowReduceParams q{};  // pass 2 reads the partials
  q.rows = outer;
  q.len = chunks;
  q.chunks = 1;
  q.chunk_len = chunks;
  q.divisor = p.divisor;
  q.out = o;
  q.out_idx = oi;
  if (is_max) {
    p.out = reinterpret_cast<float*>(ws);
    p.out_idx = reinterpret_cast<int64_t*>(ws + val_bytes);
    q.x = p.out;
    q.x_idx = p.out_idx;
  } else {
    p.out_d = reinterpret_cast<double*>(ws);
    q.xd = p.out_d;
  }
  is_max ? launch_reduce<true>(p, false, s) : launch_reduce<false>(p, false, s);
  bool warp = chunks <= kWarpRowMax;
  is_max ? launch_reduce<true>(q, warp, s) : launch_reduce<false>(q, warp, s);
}

template <class T>
static void launch_index_select(const Tensor& x, const Tensor& index, int64_t D, int64_t K, int64_t B, int64_t n,
                                const Tensor& out) {
  index_select_kernel<T><<<blocks_for(n), kThreads, 0, stream_of(out)>>>(x.data<T>(), index.data<int64_t>(),
                                                                         out.data<T>(), D, K, B, n);
  CUDA_CHECK_LAUNCH();
}

void index_select(const Tensor& x, const Tensor& index, int64_t A, int64_t D, int64_t B, const Tensor& out) {
  int64_t K = index.numel(), n = A * K * B;
  if (n == 0) return;
  switch (x.dtype()) {  // any dtype, as the CPU twin (f64 is CPU-only)
    case DType::F32: return launch_index_select<float>(x, index, D, K, B, n, out);
    case DType::I32: return launch_index_select<int32_t>(x, index, D, K, B, n, out);
    case DType::I64: return launch_index_select<int64_t>(x, index, D, K, B, n, out);
    case DType::U8: return launch_index_select<uint8_t>(x, index, D, K, B, n, out);
    default: FF_THROW("cuda::index_select: unsupported dtype ", dtype_name(x.dtype()), " (f64 is CPU-only)");
  }
}

void index_add(const Tensor& src, const Tensor& index, int64_t A, int64_t D, int64_t B, const Tensor& out) {
  check_f32(src, "index_add");
  int64_t K = index.numel(), n = A * K * B;
  if (n == 0) return;
  index_add_kernel<<<blocks_for(n), kThreads, 0, stream_of(out)>>>(src.data<float>(), index.data<int64_t>(),
                                                                   out.data<float>(), D, K, B, n);
  CUDA_CHECK_LAUNCH();
}

void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  check_f32(x, "gather");
  int64_t n = index.numel();
  if (n == 0) return;
  GatherParams p = make_gather_params(x.shape(), out.shape(), index.shape(), dim, "gather");
  gather_kernel<<<blocks_for(n), kThreads, 0, stream_of(out)>>>(x.data<float>(), index.data<int64_t>(),
                                                                out.data<float>(), p, n);
  CUDA_CHECK_LAUNCH();
}

void scatter_add(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& out) {
  check_f32(src, "scatter_add");
  int64_t n = index.numel();
  if (n == 0) return;
  GatherParams p = make_gather_params(out.shape(), src.shape(), index.shape(), dim, "scatter_add");
  scatter_add_kernel<<<blocks_for(n), kThreads, 0, stream_of(out)>>>(src.data<float>(), index.data<int64_t>(),
                                                                     out.data<float>(), p, n);
  CUDA_CHECK_LAUNCH();
}

static GridSampleParams grid_params(const Tensor& input, const Tensor& grid) {
  GridSampleParams p;
  p.input = input.data<float>();
  p.grid = grid.data<float>();
  p.N = input.size(0);
  p.C = input.size(1);
  p.H = input.size(2);
  p.W = input.size(3);
  p.Ho = grid.size(1);
  p.Wo = grid.size(2);
  return p;
}

void grid_sample(const Tensor& input, const Tensor& grid, const Tensor& out) {
  check_f32(input, "grid_sample");
  check_f32(grid, "grid_sample");
  int64_t n = out.numel();
  if (n == 0) return;
  GridSampleParams p = grid_params(input, grid);
  grid_sample_fwd_kernel<<<blocks_for(n), kThreads, 0, stream_of(out)>>>(p, out.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void grid_sample_backward(const Tensor& d_out, const Tensor& input, const Tensor& grid, const Tensor& d_input,
                          const Tensor& d_grid) {
  check_f32(d_out, "grid_sample_backward");
  check_f32(input, "grid_sample_backward");
  check_f32(grid, "grid_sample_backward");
  if (!d_input.defined() && !d_grid.defined()) return;
  GridSampleParams p = grid_params(input, grid);
  int64_t nloc = p.N * p.Ho * p.Wo;
  if (nloc == 0) return;
  float* di = d_input.defined() ? d_input.data<float>() : nullptr;
  float* dg = d_grid.defined() ? d_grid.data<float>() : nullptr;
  if (p.C == 0) {  // no channels: d_grid is zero
    if (dg) CUDA_CHECK(cudaMemsetAsync(dg, 0, size_t(nloc) * 2 * sizeof(float), stream_of(d_out)));
    return;
  }
  cudaStream_t s = stream_of(d_out);
  if (p.C >= 16) {  // a warp per location, lanes over channels
    grid_sample_bwd_kernel<32><<<blocks_for(nloc * 32), kThreads, 0, s>>>(p, d_out.data<float>(), di, dg);
  } else {
    grid_sample_bwd_kernel<1><<<blocks_for(nloc), kThreads, 0, s>>>(p, d_out.data<float>(), di, dg);
  }
  CUDA_CHECK_LAUNCH();
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const kernels::AdamParams& p,
               const Tensor& rows, int64_t nrows) {
  for (const Tensor* t : {&param, &grad, &m, &v}) check_f32(*t, "adam_step");
  AdamArgs a{};
  a.param = param.data<float>();
  a.grad = grad.data<float>();
  a.m = m.data<float>();
  a.v = v.data<float>();
  if (rows.defined()) {
    FF_CHECK(nrows > 0, "cuda::adam_step: nrows must be positive, got ", nrows);
    a.rows = rows.data<int64_t>();
    a.row_len = param.numel() / nrows;
    a.n = rows.numel() * a.row_len;
  } else {
    a.rows = nullptr;
    a.row_len = 1;
    a.n = param.numel();
  }
  if (a.n == 0) return;
  const double bc1 = 1.0 - std::pow(p.beta1, double(p.step)), bc2 = 1.0 - std::pow(p.beta2, double(p.step));
  a.beta1 = float(p.beta1);
  a.beta2 = float(p.beta2);
  a.eps = float(p.eps);
  a.wd = float(p.weight_decay);
  a.step_size = float(p.lr / bc1);
  a.inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  adam_kernel<<<blocks_for(a.n), kThreads, 0, stream_of(param)>>>(a);
  CUDA_CHECK_LAUNCH();
}

bool all_finite(const Tensor& x) {
  check_f32(x, "all_finite");
  int64_t n = x.numel();
  if (n == 0) return true;
  cudaStream_t s = stream_of(x);
  int* flag = static_cast<int*>(x.ctx().cuda_workspace(sizeof(int)));
  CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), s));
  all_finite_kernel<<<blocks_for(n), kThreads, 0, s>>>(x.data<float>(), n, flag);
  CUDA_CHECK_LAUNCH();
  int host = 0;
  CUDA_CHECK(cudaMemcpyAsync(&host, flag, sizeof(int), cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  return host == 0;
}

void copy_bytes(Context& ctx, void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  cudaStream_t s = static_cast<cudaStream_t>(ctx.stream());
  cudaMemcpyKind kind = dst_dev.is_cpu() ? cudaMemcpyDeviceToHost
                        : src_dev.is_cpu() ? cudaMemcpyHostToDevice
                                           : cudaMemcpyDeviceToDevice;
  // host → device from pageable memory is staged before cudaMemcpyAsync returns, so `src` may be freed after
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
  if (dst_dev.is_cpu()) CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace ff::cuda
