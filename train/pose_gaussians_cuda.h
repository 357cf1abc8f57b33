// train/pose_gaussians_cuda.h — the CUDA twin of the binding op's host loops (train/animation.cpp PoseGaussiansOp):
// Gaussians posed from a neutral mesh to a posed one, and the VJP, on the device. The maths is runtime/binding.h
// itself, compiled for the device (FFRT_BINDING_HD), one thread per Gaussian; built only in CUDA builds
// (train/pose_gaussians.cu). Every pointer is device memory; work is queued on ctx's stream.
//
// Backward, deterministic: each thread runs runtime/binding.h pose_gaussians_vjp for its Gaussian on the three
// gathered triangle vertices and writes that Gaussian's vertex gradients [G,3 vertices,3] to `scratch`; a second
// kernel sums, per mesh vertex, the entries of the Gaussians bound to it in ascending (Gaussian, corner) order — the
// host loop's order — so no atomics and the same result every run. The vertex → entries lists (CSR: offsets [A+1],
// entries g·3 + corner, ascending) come from vertex_entries(). The two per-element steps of the backward are the
// __host__ __device__ functions below, so the host can run the kernels' algorithm too (tests/train/
// test_pose_gaussians_cuda.cpp checks it against the host VJP on any machine, and the device against the host where
// there is a GPU). This header compiles without CUDA; the launchers exist only in CUDA builds (FF_WITH_CUDA).
#pragma once
#include <cstdint>
#include <vector>

#include "core/context.h"
#include "runtime/binding.h"

namespace ff::train::cuda {

template <class T>
struct DeviceBinding {
  int64_t G = 0;
  int A = 0;
  const int32_t* tri = nullptr;      // [G,3] face-mask vertex ids
  const double* bary = nullptr;      // [G,3]
  const T* neutral = nullptr;        // [A,3] the neutral mesh V0
  const int32_t* offsets = nullptr;  // [A+1]
  const int32_t* entries = nullptr;  // [3G]
};

// The CSR lists of a binding's triangles (host): offsets [A+1], entries [3G] (g·3 + corner, ascending per vertex).
void vertex_entries(const std::vector<int32_t>& tri, int A, std::vector<int32_t>& offsets, std::vector<int32_t>& entries);

// Backward step 1 for Gaussian g: runtime/binding.h pose_gaussians_vjp on its own triangle (the three vertices
// gathered into a local 3-vertex mesh, tri = {0, 1, 2}); its vertex gradients go to scratch[9g .. 9g+9) (corner,
// xyz), dx0/dq0/dls0 of g are written.
template <class T>
FFRT_BINDING_HD inline void pose_gaussian_vjp_local(const DeviceBinding<T>& b, int64_t g, const T* V1, const T* x0,
                                                    const T* q0, const T* dx, const T* dq, const T* dls, T* scratch,
                                                    T* dx0, T* dq0, T* dls0) {
  const int32_t local_tri[3] = {0, 1, 2};
  T v0[9], v1[9], dv[9];
  for (int j = 0; j < 3; ++j) {
    const int64_t a = b.tri[3 * g + j];
    for (int i = 0; i < 3; ++i) {
      v0[3 * j + i] = b.neutral[3 * a + i];
      v1[3 * j + i] = V1[3 * a + i];
      dv[3 * j + i] = T(0);
    }
  }
  for (int i = 0; i < 3; ++i) dx0[3 * g + i] = dls0[3 * g + i] = T(0);
  for (int i = 0; i < 4; ++i) dq0[4 * g + i] = T(0);
  ffrt::binding::pose_gaussians_vjp(int64_t(0), int64_t(1), local_tri, b.bary + 3 * g, v0, v1, x0 + 3 * g, q0 + 4 * g,
                                    dx + 3 * g, dq + 4 * g, dls + 3 * g, dv, dx0 + 3 * g, dq0 + 4 * g, dls0 + 3 * g);
  for (int k = 0; k < 9; ++k) scratch[9 * g + k] = dv[k];
}

// Backward step 2 for mesh vertex a: dV1[a] = the sum of its entries in ascending (Gaussian, corner) order.
template <class T>
FFRT_BINDING_HD inline void gather_vertex_grads(const DeviceBinding<T>& b, int64_t a, const T* scratch, T* dV1) {
  T s[3] = {T(0), T(0), T(0)};
  for (int32_t k = b.offsets[a]; k < b.offsets[a + 1]; ++k) {
    const T* c = scratch + 3 * int64_t(b.entries[k]);  // entry g·3 + corner → scratch[g][corner][·]
    for (int i = 0; i < 3; ++i) s[i] += c[i];
  }
  for (int i = 0; i < 3; ++i) dV1[3 * a + i] = s[i];
}

// x [G,3], q [G,4], ls [G,3] from V1 [A,3], x0, q0, ls0 (layouts of runtime/binding.h pose_gaussians).
template <class T>
void pose_gaussians_fwd(Context& ctx, const DeviceBinding<T>& b, const T* V1, const T* x0, const T* q0, const T* ls0,
                        T* x, T* q, T* ls);
// dV1 [A,3], dx0 [G,3], dq0 [G,4], dls0 [G,3] WRITTEN (not accumulated) from dx, dq, dls; scratch [G,9].
template <class T>
void pose_gaussians_bwd(Context& ctx, const DeviceBinding<T>& b, const T* V1, const T* x0, const T* q0, const T* dx,
                        const T* dq, const T* dls, T* scratch, T* dV1, T* dx0, T* dq0, T* dls0);

}  // namespace ff::train::cuda
