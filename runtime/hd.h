// runtime/hd.h — FF_HD marks small maths helpers callable from host and device code
// (__host__ __device__ under nvcc, nothing otherwise), so CPU references and CUDA kernels share them.
#pragma once
#if defined(__CUDACC__)
#define FF_HD __host__ __device__ __forceinline__
#else
#define FF_HD inline
#endif
