// splat/splat.h — facefield's 3D Gaussian splatting rasterizer (forward + backward, CPU and CUDA) and the
// fused L1 + D-SSIM photometric loss. Framework-free: raw pointers + params structs; the autograd glue
// (splat/*_op.cpp) only wraps these calls. Maths = graphdeco-inria/diff-gaussian-rasterization (3DGS).
//
// Conventions
//   Camera     world→camera 4×4, row-major, OpenCV axes (x right, y down, z forward): p_cam = R·p + t with
//              R = viewmat[0:3,0:3], t = viewmat[0:3,3]; the last row is ignored. Intrinsics fx, fy, cx, cy
//              in pixels; the principal point may lie anywhere (3DGS's shifted projection, graphdeco #144).
//   Pixels     a camera point (x, y, z) projects to u = fx·x/z + cx, v = fy·y/z + cy, measured from the
//              image's top-left EDGE; pixel (i, j) (column i, row j) is evaluated at its centre
//              (i + 0.5, j + 0.5). This is exactly 3DGS's placement (its ndc2Pix gives u' = fx·x/z + cx − 0.5
//              with pixel centres at integers). Note OpenCV's cx (pixel centres at integers) is 0.5 px off.
//   Quaternion (w, x, y, z), any norm: normalised inside, with the gradient through the normalisation.
//   Scales     activated (standard deviations, world units); opacities activated (in [0, 1]).
//   Units      world units are whatever the caller uses (facefield: metres); depth outputs are view z.
//   Near/far   3DGS's znear 0.01 / zfar 100 only shape its NDC z, which the rasterizer never uses: the
//              only depth test is the cull at view z ≤ near_cull (0.2, 3DGS in_frustum); there is no far cull.
//   Colours    precomputed RGB [N,3] used as is, or SH [N,K,3] of degree ≤ 3 evaluated per camera along
//              normalize(mean − camera centre), +0.5, clamped at 0 (the clamp masks the gradient), as 3DGS.
//   Layout     images CHW per camera: image [C,3,H,W], alpha [C,H,W], depth [C,H,W]; all cameras of one
//              call share W×H. alpha = 1 − T_final; depth = Σ wᵢ·zᵢ (wᵢ = αᵢTᵢ, NOT divided by alpha:
//              mean depth = depth/alpha). image = Σ wᵢ·cᵢ + T_final·background.
//   Maths      EWA with the Jacobian at x/z, y/z clamped to ±1.3·tan_fov (tan_fovx = W/(2fx)), +0.3 on the
//              2-D covariance diagonal, radius = ceil(3·sqrt(λmax)) with λ = mid ± sqrt(max(0.1, mid²−det)),
//              16×16 tiles, depth-sorted front to back (ties by Gaussian index), α = min(0.99, o·exp(power)),
//              power > 0 and α < 1/255 skipped, a pixel stops before the Gaussian that would bring
//              T·(1−α) below 1e-4. Constants are in runtime/splat_math.h. Gradients are the exact derivatives of
//              this forward (3DGS's backward is approximate at the α = 0.99 clamp and the Jacobian clamp;
//              ours zeroes the clamped paths there).
//
// Memory: every pointer of one call lives on params.device. RenderState owns the forward's saved buffers
// (host vectors or Context-allocated device memory) and must outlive the matching render_bwd; reuse one
// RenderState across calls to reuse its memory. Backward ACCUMULATES (+=) into every non-null d_ output.
// CUDA calls are asynchronous on params.stream (default: ctx.stream()), except for one small device→host
// copy per forward (the number of tile entries) and the optional finite check.
//
//   ff::Context ctx(0, /*threads=*/2);
//   ff::splat::RenderParams p;                  // float; RenderParamsT<double> is the CPU reference path
//   p.num_gaussians = N; p.num_cameras = 1; p.width = W; p.height = H;
//   p.means = m; p.scales = s; p.rotations = q; p.opacities = o; p.colors = rgb; p.viewmats = V; p.intrinsics = K;
//   p.image = img;                               // [1,3,H,W]
//   ff::splat::RenderState st; ff::splat::render_fwd(ctx, p, st);
//   ff::splat::RenderGrads g; g.d_image = dimg; g.d_means = dm; ...; ff::splat::render_bwd(ctx, p, g, st);
#pragma once
#include <cstdint>
#include <memory>

#include "core/context.h"

namespace ff::splat {

template <class T>
struct RenderParamsT {
  Device device = Device::cpu();  // where every pointer below lives
  int num_gaussians = 0;          // N (may be 0)
  int num_cameras = 1;            // C
  int width = 0, height = 0;      // W, H (≥ 1), shared by all cameras
  // ---- inputs ----
  const T* means = nullptr;       // [N, 3] world positions
  const T* scales = nullptr;      // [N, 3] activated scales (std-devs)
  const T* rotations = nullptr;   // [N, 4] quaternions (w, x, y, z), unnormalised
  const T* opacities = nullptr;   // [N]    activated opacities
  const T* colors = nullptr;      // [N, 3] precomputed RGB; or null and use sh
  const T* sh = nullptr;          // [N, sh_coeffs, 3] SH coefficients (used when colors == null)
  int sh_degree = 0;              // active SH degree 0..3
  int sh_coeffs = 1;              // K: coefficient stride per Gaussian, ≥ (sh_degree+1)²
  const T* viewmats = nullptr;    // [C, 4, 4] world→camera, row-major
  const T* intrinsics = nullptr;  // [C, 4] fx, fy, cx, cy
  const T* background = nullptr;  // [C, 3] or null (black)
  T near_cull = T(0.2);           // cull Gaussians with view z ≤ this (3DGS: 0.2)
  bool check_finite = true;       // scan inputs for NaN/Inf and throw naming the first bad Gaussian
  int threads = 0;                // CPU worker threads; 0 → ctx.threads()
  void* stream = nullptr;         // CUDA: cudaStream_t; null → ctx.stream()
  // ---- outputs (overwritten) ----
  T* image = nullptr;             // [C, 3, H, W]
  T* alpha = nullptr;             // [C, H, W] accumulated opacity 1 − T_final; or null
  T* depth = nullptr;             // [C, H, W] Σ w·z (unnormalised expected depth); or null
  int32_t* radii = nullptr;       // [C, N] 3DGS screen radius in pixels, 0 = culled; or null
};
using RenderParams = RenderParamsT<float>;

template <class T>
struct RenderGradsT {
  // ---- inputs: cotangents of the forward outputs (same device) ----
  const T* d_image = nullptr;     // [C, 3, H, W] (null = zero)
  const T* d_alpha = nullptr;     // [C, H, W] or null
  const T* d_depth = nullptr;     // [C, H, W] or null
  // ---- outputs: ACCUMULATED (+=); null = not needed ----
  T* d_means = nullptr;           // [N, 3]
  T* d_scales = nullptr;          // [N, 3]
  T* d_rotations = nullptr;       // [N, 4] wrt the unnormalised quaternions
  T* d_opacities = nullptr;       // [N]
  T* d_colors = nullptr;          // [N, 3] when colors were given
  T* d_sh = nullptr;              // [N, sh_coeffs, 3] when sh was used (entries above sh_degree untouched)
  T* d_viewmats = nullptr;        // [C, 4, 4] wrt viewmats (the last row gets 0)
  T* d_means2d = nullptr;         // [C, N, 2] wrt the projected (u, v) (3DGS densification statistic)
};
using RenderGrads = RenderGradsT<float>;
// dL/dbackground is not computed here: it equals Σ_pixels (1 − alpha)·d_image per channel.

// Saved forward state for render_bwd (move-only). Holds host or device memory of its last forward.
class RenderState {
 public:
  RenderState();
  ~RenderState();
  RenderState(RenderState&&) noexcept;
  RenderState& operator=(RenderState&&) noexcept;
  RenderState(const RenderState&) = delete;
  RenderState& operator=(const RenderState&) = delete;
  struct Impl;
  Impl* impl() const { return impl_.get(); }
  Impl& ensure();
  // number of (Gaussian, tile) entries of the last forward, summed over cameras (diagnostics, benches)
  int64_t num_entries() const;

 private:
  std::unique_ptr<Impl> impl_;
};

// Forward: project, bin, sort, blend. Fills params' outputs and `state`. Throws ff::Error on bad input
// (shapes, non-finite values naming the first bad Gaussian and field, zero quaternions, fx/fy ≤ 0).
void render_fwd(Context& ctx, const RenderParams& p, RenderState& state);
void render_fwd(Context& ctx, const RenderParamsT<double>& p, RenderState& state);  // CPU only
// Backward: `p` must be the params of the forward that filled `state` (same input pointers and values).
void render_bwd(Context& ctx, const RenderParams& p, const RenderGrads& g, const RenderState& state);
void render_bwd(Context& ctx, const RenderParamsT<double>& p, const RenderGradsT<double>& g, const RenderState& state);

// ---- fused L1 + D-SSIM loss -------------------------------------------------------------------------
// loss = (1−λ)·mean|x−y| + λ·(1 − mean SSIM(x, y)) over all B·Ch·H·W elements, SSIM with an 11×11 Gaussian
// window (σ = 1.5), C1 = 0.01², C2 = 0.03², zero padding: 3DGS's utils/loss_utils.py (conv2d, padding 5,
// per channel), averaged over the batch as well. With a mask m [B,1,H,W], both images are multiplied by
// m (broadcast over channels) before the loss, which is still averaged over ALL elements; d_img is the
// gradient wrt the unmasked img (m·dL/d(m·x)). Pixels outside the mask thus compare 0 with 0.
struct LossParams {
  Device device = Device::cpu();
  int batch = 1, channels = 3, height = 0, width = 0;  // B, Ch, H, W
  float lambda = 0.2f;            // D-SSIM weight
  int threads = 0;                // CPU worker threads; 0 → ctx.threads()
  void* stream = nullptr;         // CUDA stream; null → ctx.stream()
  // ---- inputs ----
  const float* img = nullptr;     // [B, Ch, H, W] rendered
  const float* gt = nullptr;      // [B, Ch, H, W] target
  const float* mask = nullptr;    // [B, 1, H, W] or null
  // ---- outputs (overwritten) ----
  float* loss = nullptr;          // [1] on `device`
  float* d_img = nullptr;         // [B, Ch, H, W] dloss/dimg (times d_loss_scale), or null
  float d_loss_scale = 1.0f;      // cotangent of the loss (d_img = d_loss_scale · dloss/dimg)
};
// Writes *p.loss (on p.device; on CUDA no synchronisation) and p.d_img.
void l1_dssim_loss(Context& ctx, const LossParams& p);
// Host convenience: runs l1_dssim_loss and returns the loss value (synchronises on CUDA).
float l1_dssim_loss_value(Context& ctx, const LossParams& p);

}  // namespace ff::splat
