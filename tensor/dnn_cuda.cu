// tensor/dnn_cuda.cu — the library-backed part of the CUDA backend: gemm (cuBLAS) and conv2d forward /
// backward-data / backward-filter (cuDNN), plus the conv bias add.
//
// Precision: FP32 throughout. cuBLAS' default math mode does not use TF32; cuDNN descriptors are set to
// CUDNN_FMA_MATH so convolutions do not silently drop to TF32 either (PyTorch's default allows TF32 in
// cuDNN; we prefer CPU parity). Set FF_ALLOW_TF32=1 in the environment to let cuBLAS and cuDNN use TF32
// tensor cores (≈10 mantissa bits; the parity tolerances then need widening).
//
// Algorithm choice: cudnnGet*Algorithm_v7 heuristics (no benchmarking, so no device sync), cached per
// (device, shape, params) in a small process-wide table behind a mutex; the first algorithm whose
// workspace fits kMaxWorkspace is used. Scratch comes from Context::cuda_workspace.
#include <array>
#include <cstdlib>
#include <map>
#include <mutex>

#include "core/cuda_check.h"
#include "tensor/backend.h"

namespace ff::cuda {
namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;  // never pick an algorithm needing more scratch than 1 GiB

bool allow_tf32() {
  static const bool on = [] {
    const char* v = std::getenv("FF_ALLOW_TF32");
    return v && v[0] == '1';
  }();
  return on;
}

void check_f32(const Tensor& t, const char* op) {
  FF_CHECK(t.dtype() == DType::F32, "cuda::", op, ": CUDA tensors must be f32 (f64 is CPU-only), got ", t.str());
}

int to_int(int64_t v, const char* op, const char* what) {
  FF_CHECK(v >= 0 && v <= int64_t(INT32_MAX), "cuda::", op, ": ", what, " = ", v, " exceeds the int range of the library");
  return int(v);
}

// ---- cuDNN descriptor RAII ------------------------------------------------------------------------------
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  explicit TensorDesc(const Shape& s) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(s[0], "conv2d", "N"),
                                           to_int(s[1], "conv2d", "C"), to_int(s[2], "conv2d", "H"),
                                           to_int(s[3], "conv2d", "W")));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  explicit FilterDesc(const Shape& s) {
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, to_int(s[0], "conv2d", "O"),
                                           to_int(s[1], "conv2d", "C/groups"), to_int(s[2], "conv2d", "kh"),
                                           to_int(s[3], "conv2d", "kw")));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  explicit ConvDesc(const kernels::Conv2dParams& p) {
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, p.pad_h, p.pad_w, p.stride_h, p.stride_w, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(d, p.groups));
    CUDNN_CHECK(cudnnSetConvolutionMathType(d, allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// ---- algorithm cache --------------------------------------------------------------------------------------
enum class ConvKind : int { Fwd = 0, BwdData = 1, BwdFilter = 2 };
using ConvKey = std::array<int64_t, 18>;
struct ConvAlgo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  size_t workspace = 0;
};

ConvKey conv_key(ConvKind kind, const Shape& x, const Shape& w, const Shape& y, const kernels::Conv2dParams& p) {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  return {int64_t(kind), dev, x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3], y[2], y[3],
          p.stride_h,   p.stride_w, p.pad_h, p.pad_w, p.groups, allow_tf32() ? 1 : 0};
}

std::mutex& cache_mutex() {
  static std::mutex mu;
  return mu;
}
std::map<ConvKey, ConvAlgo>& cache() {
  static std::map<ConvKey, ConvAlgo> m;
  return m;
}

bool cached(const ConvKey& k, ConvAlgo& out) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto it = cache().find(k);
  if (it == cache().end()) return false;
  out = it->second;
  return true;
}
void remember(const ConvKey& k, const ConvAlgo& a) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  cache()[k] = a;
}

// first usable heuristic result (perf arrays are sorted by expected time)
template <class Perf>
bool pick(const Perf* perf, int count, ConvAlgo& out) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
    if (!allow_tf32() && perf[i].mathType == CUDNN_TENSOR_OP_MATH) continue;
    out.algo = int(perf[i].algo);
    out.math = allow_tf32() ? perf[i].mathType : CUDNN_FMA_MATH;
    out.workspace = perf[i].memory;
    return true;
  }
  return false;
}

struct ConvSetup {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  ConvSetup(const Shape& xs, const Shape& ws, const Shape& ys, const kernels::Conv2dParams& p)
      : x(xs), y(ys), w(ws), conv(p) {}
};

std::string conv_str(const Shape& x, const Shape& w, const Shape& y, const kernels::Conv2dParams& p) {
  return detail::concat("x ", x, " w ", w, " y ", y, " stride ", p.stride_h, "x", p.stride_w, " pad ", p.pad_h, "x",
                        p.pad_w, " groups ", p.groups);
}

bool any_empty(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t->numel() == 0) return true;
  return false;
}

// y[n, o, :] += bias[o]
__global__ void bias_add_kernel(float* y, const float* bias, int64_t O, int64_t HW, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] += bias[(i / HW) % O];
}

}  // namespace

// =========================================================================================================
void gemm(const Tensor& a, const Tensor& b, const Tensor& out, int64_t batch, int64_t m, int64_t n, int64_t k,
          bool trans_a, bool trans_b, int64_t lda, int64_t ldb, int64_t stride_a, int64_t stride_b) {
  check_f32(a, "gemm");
  check_f32(b, "gemm");
  check_f32(out, "gemm");
  if (batch == 0 || m == 0 || n == 0) return;
  cudaStream_t s = static_cast<cudaStream_t>(out.ctx().stream());
  if (k == 0) {
    CUDA_CHECK(cudaMemsetAsync(out.data<float>(), 0, size_t(batch * m * n) * sizeof(float), s));
    return;
  }
  cublasHandle_t h = static_cast<cublasHandle_t>(out.ctx().cublas());
  CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  // Row-major C[m,n] = op(A)·op(B) is column-major Cᵀ[n,m] = op(B)ᵀ·op(A)ᵀ. A row-major matrix with leading
  // dim ld is, read column-major, its own transpose with the same ld, so op(B)ᵀ is B's storage read with
  // CUBLAS_OP_N when B is stored untransposed, and with CUBLAS_OP_T when it is stored transposed.
  const float alpha = 1.f, beta = 0.f;
  cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  int M = to_int(m, "gemm", "m"), N = to_int(n, "gemm", "n"), K = to_int(k, "gemm", "k");
  int LDA = to_int(lda, "gemm", "lda"), LDB = to_int(ldb, "gemm", "ldb");
  int B = to_int(batch, "gemm", "batch");
  if (B == 1) {
    CUBLAS_CHECK(cublasSgemm(h, op_b, op_a, N, M, K, &alpha, b.data<float>(), LDB, a.data<float>(), LDA, &beta,
                             out.data<float>(), N));
  } else {
    CUBLAS_CHECK(cublasSgemmStridedBatched(h, op_b, op_a, N, M, K, &alpha, b.data<float>(), LDB, (long long)stride_b,
                                           a.data<float>(), LDA, (long long)stride_a, &beta, out.data<float>(), N,
                                           (long long)m * n, B));
  }
}

void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::Conv2dParams p, const Tensor& y) {
  check_f32(x, "conv2d");
  check_f32(w, "conv2d");
  check_f32(y, "conv2d");
  if (y.numel() == 0) return;
  cudaStream_t s = static_cast<cudaStream_t>(y.ctx().stream());
  if (any_empty({&x, &w})) {  // empty reduction (C == 0): y = bias or 0
    CUDA_CHECK(cudaMemsetAsync(y.data<float>(), 0, size_t(y.numel()) * sizeof(float), s));
  } else {
    cudnnHandle_t h = static_cast<cudnnHandle_t>(y.ctx().cudnn());
    ConvSetup d(x.shape(), w.shape(), y.shape(), p);
    ConvKey key = conv_key(ConvKind::Fwd, x.shape(), w.shape(), y.shape(), p);
    ConvAlgo algo;
    if (!cached(key, algo)) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int count = 0;
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w.d, d.conv.d, d.y.d,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
      FF_CHECK(pick(perf, count, algo), "cuda::conv2d: cuDNN has no forward algorithm for ",
               conv_str(x.shape(), w.shape(), y.shape(), p));
      CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, algo.math));
      CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d.x.d, d.w.d, d.conv.d, d.y.d,
                                                          cudnnConvolutionFwdAlgo_t(algo.algo), &algo.workspace));
      remember(key, algo);
    }
    CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, algo.math));
    void* ws = algo.workspace ? y.ctx().cuda_workspace(algo.workspace) : nullptr;
    const float alpha = 1.f, beta = 0.f;
    CUDNN_CHECK(cudnnConvolutionForward(h, &alpha, d.x.d, x.data<float>(), d.w.d, w.data<float>(), d.conv.d,
                                        cudnnConvolutionFwdAlgo_t(algo.algo), ws, algo.workspace, &beta, d.y.d,
                                        y.data<float>()));
  }
  if (bias.defined()) {
    check_f32(bias, "conv2d");
    int64_t n = y.numel(), O = y.size(1), HW = y.size(2) * y.size(3);
    int blocks = int(std::min<int64_t>((n + 255) / 256, 8192));
    bias_add_kernel<<<blocks, 256, 0, s>>>(y.data<float>(), bias.data<float>(), O, HW, n);
    CUDA_CHECK_LAUNCH();
  }
}

void conv2d_backward_input(const Tensor& d_y, const Tensor& w, kernels::Conv2dParams p, const Tensor& d_x) {
  check_f32(d_y, "conv2d_backward_input");
  check_f32(w, "conv2d_backward_input");
  check_f32(d_x, "conv2d_backward_input");
  if (d_x.numel() == 0) return;
  cudaStream_t s = static_cast<cudaStream_t>(d_x.ctx().stream());
  if (any_empty({&d_y, &w})) {
    CUDA_CHECK(cudaMemsetAsync(d_x.data<float>(), 0, size_t(d_x.numel()) * sizeof(float), s));
    return;
  }
  cudnnHandle_t h = static_cast<cudnnHandle_t>(d_x.ctx().cudnn());
  ConvSetup d(d_x.shape(), w.shape(), d_y.shape(), p);
  ConvKey key = conv_key(ConvKind::BwdData, d_x.shape(), w.shape(), d_y.shape(), p);
  ConvAlgo algo;
  if (!cached(key, algo)) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf));
    FF_CHECK(pick(perf, count, algo), "cuda::conv2d_backward_input: cuDNN has no algorithm for ",
             conv_str(d_x.shape(), w.shape(), d_y.shape(), p));
    CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, algo.math));
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                             cudnnConvolutionBwdDataAlgo_t(algo.algo), &algo.workspace));
    remember(key, algo);
  }
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, algo.math));
  void* ws = algo.workspace ? d_x.ctx().cuda_workspace(algo.workspace) : nullptr;
  const float alpha = 1.f, beta = 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(h, &alpha, d.w.d, w.data<float>(), d.y.d, d_y.data<float>(), d.conv.d,
                                           cudnnConvolutionBwdDataAlgo_t(algo.algo), ws, algo.workspace, &beta, d.x.d,
                                           d_x.data<float>()));
}

void conv2d_backward_weight(const Tensor& d_y, const Tensor& x, kernels::Conv2dParams p, const Tensor& d_w) {
  check_f32(d_y, "conv2d_backward_weight");
  check_f32(x, "conv2d_backward_weight");
  check_f32(d_w, "conv2d_backward_weight");
  if (d_w.numel() == 0) return;
  cudaStream_t s = static_cast<cudaStream_t>(d_w.ctx().stream());
  if (any_empty({&d_y, &x})) {
    CUDA_CHECK(cudaMemsetAsync(d_w.data<float>(), 0, size_t(d_w.numel()) * sizeof(float), s));
    return;
  }
  cudnnHandle_t h = static_cast<cudnnHandle_t>(d_w.ctx().cudnn());
  ConvSetup d(x.shape(), d_w.shape(), d_y.shape(), p);
  ConvKey key = conv_key(ConvKind::BwdFilter, x.shape(), d_w.shape(), d_y.shape(), p);
  ConvAlgo algo;
  if (!cached(key, algo)) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.d, d.y.d, d.conv.d, d.w.d,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf));
    FF_CHECK(pick(perf, count, algo), "cuda::conv2d_backward_weight: cuDNN has no algorithm for ",
             conv_str(x.shape(), d_w.shape(), d_y.shape(), p));
    CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, algo.math));
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.d, d.y.d, d.conv.d, d.w.d,
                                                               cudnnConvolutionBwdFilterAlgo_t(algo.algo),
                                                               &algo.workspace));
    remember(key, algo);
  }
  CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, algo.math));
  void* ws = algo.workspace ? d_w.ctx().cuda_workspace(algo.workspace) : nullptr;
  const float alpha = 1.f, beta = 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &alpha, d.x.d, x.data<float>(), d.y.d, d_y.data<float>(), d.conv.d,
                                             cudnnConvolutionBwdFilterAlgo_t(algo.algo), ws, algo.workspace, &beta,
                                             d.w.d, d_w.data<float>()));
}

}  // namespace ff::cuda
