// core/cuda_check.h — CUDA / cuBLAS / cuDNN status checks, all built from one CHECK_GEN.
// Include only from CUDA-build files (*.cu, *_cuda.cpp). Every kernel launch is followed by
// CUDA_CHECK_LAUNCH(); with the environment variable FF_SYNC_DEBUG=1 it also synchronises the device,
// so an asynchronous fault is reported at the launch that caused it.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/check.h"

namespace ff::detail {
const char* cublas_status_string(cublasStatus_t s);
bool sync_debug_enabled();
}  // namespace ff::detail

#define CHECK_GEN(expr, success, to_string)                                         \
  do {                                                                              \
    auto ff_status_ = (expr);                                                       \
    if (ff_status_ != (success))                                                    \
      ::ff::detail::throw_error(__FILE__, __LINE__, #expr,                          \
                                ::ff::detail::concat("CUDA library call failed: ", to_string(ff_status_))); \
  } while (0)

#define CUDA_CHECK(expr) CHECK_GEN(expr, cudaSuccess, cudaGetErrorString)
#define CUBLAS_CHECK(expr) CHECK_GEN(expr, CUBLAS_STATUS_SUCCESS, ::ff::detail::cublas_status_string)
#define CUDNN_CHECK(expr) CHECK_GEN(expr, CUDNN_STATUS_SUCCESS, cudnnGetErrorString)
#define CUDA_CHECK_LAUNCH()                                                    \
  do {                                                                         \
    CUDA_CHECK(cudaGetLastError());                                            \
    if (::ff::detail::sync_debug_enabled()) CUDA_CHECK(cudaDeviceSynchronize()); \
  } while (0)
