// train/pose_gaussians.cu — the binding op's CUDA kernels (see train/pose_gaussians_cuda.h; maths runtime/binding.h).
#include "core/cuda_check.h"
#include "train/pose_gaussians_cuda.h"

namespace ff::train::cuda {
namespace {

constexpr int kThreads = 128;
int blocks(int64_t n) { return int((n + kThreads - 1) / kThreads); }

template <class T>
__global__ void __launch_bounds__(kThreads) pose_fwd_kernel(DeviceBinding<T> b, const T* V1, const T* x0, const T* q0,
                                                             const T* ls0, T* x, T* q, T* ls) {
  const int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (g >= b.G) return;
  ffrt::binding::pose_gaussians(g, g + 1, b.tri, b.bary, b.neutral, V1, x0, q0, ls0, x, q, ls);
}

template <class T>
__global__ void __launch_bounds__(kThreads) pose_bwd_kernel(DeviceBinding<T> b, const T* V1, const T* x0, const T* q0,
                                                             const T* dx, const T* dq, const T* dls, T* scratch,
                                                             T* dx0, T* dq0, T* dls0) {
  const int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (g < b.G) pose_gaussian_vjp_local(b, g, V1, x0, q0, dx, dq, dls, scratch, dx0, dq0, dls0);
}

template <class T>
__global__ void __launch_bounds__(kThreads) gather_vertex_grads_kernel(DeviceBinding<T> b, const T* scratch, T* dV1) {
  const int64_t a = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (a < b.A) gather_vertex_grads(b, a, scratch, dV1);
}

}  // namespace

template <class T>
void pose_gaussians_fwd(Context& ctx, const DeviceBinding<T>& b, const T* V1, const T* x0, const T* q0, const T* ls0,
                        T* x, T* q, T* ls) {
  if (b.G == 0) return;
  cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream());
  pose_fwd_kernel<T><<<blocks(b.G), kThreads, 0, stream>>>(b, V1, x0, q0, ls0, x, q, ls);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void pose_gaussians_bwd(Context& ctx, const DeviceBinding<T>& b, const T* V1, const T* x0, const T* q0, const T* dx,
                        const T* dq, const T* dls, T* scratch, T* dV1, T* dx0, T* dq0, T* dls0) {
  cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream());
  if (b.G > 0) {
    pose_bwd_kernel<T><<<blocks(b.G), kThreads, 0, stream>>>(b, V1, x0, q0, dx, dq, dls, scratch, dx0, dq0, dls0);
    CUDA_CHECK_LAUNCH();
  }
  if (b.A > 0) {
    gather_vertex_grads_kernel<T><<<blocks(b.A), kThreads, 0, stream>>>(b, scratch, dV1);
    CUDA_CHECK_LAUNCH();
  }
}

template void pose_gaussians_fwd<float>(Context&, const DeviceBinding<float>&, const float*, const float*, const float*,
                                        const float*, float*, float*, float*);
template void pose_gaussians_fwd<double>(Context&, const DeviceBinding<double>&, const double*, const double*,
                                         const double*, const double*, double*, double*, double*);
template void pose_gaussians_bwd<float>(Context&, const DeviceBinding<float>&, const float*, const float*, const float*,
                                        const float*, const float*, const float*, float*, float*, float*, float*,
                                        float*);
template void pose_gaussians_bwd<double>(Context&, const DeviceBinding<double>&, const double*, const double*,
                                         const double*, const double*, const double*, const double*, double*, double*,
                                         double*, double*, double*);

}  // namespace ff::train::cuda
