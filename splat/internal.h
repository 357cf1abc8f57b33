// splat/internal.h — saved-state layouts and the per-device entry points behind splat.h (not public).
#pragma once
#include <cstdint>
#include <vector>

#include "splat/splat.h"

namespace ff::splat {

// Per-forward CPU state. Per (camera c, Gaussian n) arrays are flat [C*N] at c*N + n.
template <class T>
struct CpuState {
  int C = 0, N = 0, W = 0, H = 0, tiles_x = 0, tiles_y = 0;
  std::vector<T> u, v, ca, cb, cc, op, cr, cg, cbl, z, ext_y;  // [C*N] projected attributes
  std::vector<T> pmin;              // [N] ffrt::blend::power_min(opacity) (runtime/blend_cpu.h)
  std::vector<uint8_t> clamp_mask;  // [C*N] SH clamp bits
  std::vector<int32_t> radius;      // [C*N]
  std::vector<int32_t> rect;        // [C*N, 4] binned tile rect
  std::vector<int64_t> tile_off;    // [C*T + 1] entry offsets of each (camera, tile)
  std::vector<int32_t> ids;         // [E] Gaussian index of each entry, depth-sorted within a tile
  std::vector<T> final_T;           // [C*H*W]
  std::vector<int32_t> n_contrib;   // [C*H*W] tile-list position + 1 of the last blended Gaussian
  std::vector<T> entry_grad;        // [E, 10] backward scratch
  std::vector<T> g2d;               // [C*N, 10] backward scratch
};

struct CudaState;  // splat/render.cu
void destroy_cuda_state(CudaState* s);
int64_t cuda_state_entries(const CudaState* s);

struct RenderState::Impl {
  std::unique_ptr<CpuState<float>> cpu_f;
  std::unique_ptr<CpuState<double>> cpu_d;
  CudaState* cuda = nullptr;
  ~Impl() {
    if (cuda) destroy_cuda_state(cuda);
  }
};

// Input validation shared by both devices (shapes, camera values). Host-side values only.
template <class T>
void check_params(const RenderParamsT<T>& p);
// Finite scan on host arrays: throws naming the first bad Gaussian and field.
template <class T>
void check_finite_host(const RenderParamsT<T>& p);
// Throws with the standard message given the (index, field) of the first bad Gaussian.
[[noreturn]] void throw_bad_gaussian(int64_t index, int field);

template <class T>
void render_fwd_cpu(const RenderParamsT<T>& p, int threads, CpuState<T>& s);
template <class T>
void render_bwd_cpu(const RenderParamsT<T>& p, const RenderGradsT<T>& g, int threads, CpuState<T>& s);

// CUDA (render.cu); only defined in CUDA builds.
void render_fwd_cuda(Context& ctx, const RenderParams& p, CudaState*& s);
void render_bwd_cuda(Context& ctx, const RenderParams& p, const RenderGrads& g, CudaState* s);

void l1_dssim_loss_cpu(const LossParams& p, int threads);
void l1_dssim_loss_cuda(Context& ctx, const LossParams& p);
float read_device_float(Context& ctx, const float* p, void* stream);  // synchronises

}  // namespace ff::splat
