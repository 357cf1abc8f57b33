// train/fit/detail_fit.h — fit_image's detail stage: after the identity-code fit, a dense layer of surface
// Gaussians ("surfels") on the fitted head mesh whose colours reproduce the photo where the photo sees the face and
// stay plausible where it does not. docs/model.md §7 explains the design and gives the ablation numbers.
//
// What it builds (all in the head's canonical frame, metres, the frame of face.ply):
//   surface   the face-mask triangles of the fitted head mesh, plus every head triangle the photo shows inside its
//             soft face mask (so the blurred mask's rim is covered too); nothing beyond the head (fit_image's mask
//             stops at the head's outline: data::render_face_mask clip_to_head);
//   surfels   per triangle a regular lattice of n² sub-triangle centroids, n chosen so that the spacing is
//             `spacing_px` photo pixels at the triangle's depth (a uniform world density: the sides the photo sees
//             at a grazing angle get as many surfels as the front); each surfel is a flattened Gaussian in the
//             triangle's plane (rotation = the triangle frame: first edge, normal), tangent σ = 0.65·√(sub-triangle
//             area), normal σ = `thickness` × that, opacity 0.995. Every surfel is bound to its triangle (tri,
//             barycentric), so it never leaves the surface and never grows huge or needle-thin.
//   colours   a linear least-squares problem solved by preconditioned conjugate gradients: the render is linear in
//             precomputed colours (image = Σ wᵢ cᵢ, splat/splat.h), so
//                min_c  Σ_px W(px)·‖render(c)(px) − photo(px)‖²  +  Σᵢ λᵢ‖cᵢ − tᵢ‖²
//             with W = face mask + 0.05 on the photo's face crop (at most `max_side` pixels), and the prior
//             λᵢ = prior·(1 − vᵢ)² + 1e-4 pulling a surfel towards its guess tᵢ where the photo sees it badly.
//             vᵢ ∈ [0,1] is the surfel's visibility in the photo: in the image, not occluded (z-buffer of the
//             whole head) and facing the camera (smoothstep of the cosine between 0.15 and 0.5).
//             The guess tᵢ: the photo colour at the surfel's mirror point (left–right symmetric vertex pairs of the
//             head model, mirror_vertices) weighted by that point's visibility, else the code fit's colour there
//             (the nearest code Gaussians) times a global per-channel gain matching the code's colours to the
//             photo's on the well-seen surfels. The solve starts from vᵢ·photoᵢ + (1 − vᵢ)·tᵢ; its solution is
//             projected onto [0,1] (the colour range of a GaussianSet).
//   view      (view_dependent, on by default) each surfel's colour then depends on the view: its solved colour
//             towards the photo's camera, its guess (scaled to the photo's shading at the mesh scale) in views that
//             would stretch what the photo saw at a grazing angle; an SH of degree 3 about its normal
//             (view_dependent_sh), so the result is a 3DGS set with f_rest. photo_colors keeps the solved colours.
// Each CG iteration is one forward and one backward render of the surfels (d_colors only), on the CPU or on
// DetailProblem::device.
//
//   ff::fit::DetailProblem p{photo, mask, viewmat, K, &head_mesh, &face_flag, mirror, code_gaussians};
//   ff::fit::DetailResult d = ff::fit::fit_detail(ctx, p, ff::fit::DetailOptions{});
//   ffrt::write_ply("face.ply", d.gaussians);
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flame/mesh.h"
#include "runtime/formats.h"
#include "splat/splat.h"
#include "train/fit/code_fit.h"

namespace ff::fit {

struct DetailOptions {
  bool enabled = true;         // fit_image --detail on|off (off: the code fit's Gaussians are the result)
  double spacing_px = 1.2;     // surfel spacing in working-resolution photo pixels, > 0
  int max_side = 512;          // the face crop is resampled so that its longer side is at most this (never upsampled)
  int max_gaussians = 300000;  // the spacing grows when the surface would need more surfels
  int iterations = 30;         // conjugate-gradient iterations (0: the initial colours)
  double symmetry = 1.0;       // weight of the mirror point's photo colour in the guess, in [0, 1] (0: off)
  double prior = 0.1;          // weight of the pull towards the guess where the photo does not see a surfel
  double damping = 0.05;       // weight of the pull towards the initial colour everywhere (damps the colour
                               // patterns overlapping surfels hide from the photo but other views show)
  double rim_mask = 0.02;      // head triangles the photo shows where the mask exceeds this join the surface
  double thickness = 0.6;      // a surfel's σ along its normal over its σ along the surface, in (0, 1]: thick
                               // enough that surfels seen at a grazing angle still cover the pixels between them
  bool view_dependent = true;  // SH colours: the solved colour towards the photo's camera, fading to the guess in
                               // views that see a surfel much larger than the photo did (view_dependent_sh)
  // progress: (phase text, fraction done in [0,1], current loss)
  std::function<void(const std::string&, double, double)> progress;
};

struct DetailProblem {
  FImage photo;                       // [3,H,W] in [0,1]
  FImage mask;                        // [1,H,W] soft face mask in [0,1]
  std::array<double, 16> viewmat{};   // canonical → photo camera (the code fit's refined pose)
  Intrinsics K;                       // of the photo (splat convention: pixel centres at i + ½)
  const flame::Mesh* head = nullptr;  // fitted head mesh, canonical
  const std::vector<uint8_t>* face_flag = nullptr;  // [head faces] 1 = face-mask triangle
  std::vector<int32_t> mirror;        // [head vertices] symmetric partner (mirror_vertices), or empty: no symmetry
  ffrt::GaussianSet prior;            // the code fit's Gaussians (canonical): colours for what the photo misses
  Device device = Device::cpu();      // where the colour solve renders (CUDA: `ctx` must be that device's
                                      // context); the surface, visibility and CG vectors stay on the host
};

struct DetailResult {
  ffrt::GaussianSet gaussians;        // the surfels, canonical frame
  std::vector<int32_t> tri;           // [N] head triangle each surfel is bound to
  std::vector<float> bary;            // [N,3] its barycentric coordinates
  std::vector<float> visibility;      // [N] vᵢ
  std::vector<float> photo_colors;    // [N,3] each surfel's colour seen from the photo's camera (= gaussians.colors
                                      // when the set has no SH): the view-independent form of the result
  int iterations = 0;                 // CG iterations run
  int width = 0, height = 0;          // working resolution (the resampled face crop)
  double spacing_px = 0;              // spacing used (≥ options.spacing_px when max_gaussians capped it)
  double psnr_start = 0, psnr_end = 0;  // masked PSNR at the working resolution, initial colours / solved
  double seconds = 0;
  // the surfels with photo_colors and no SH: what the photo's camera sees, for a .ply without SH (fit_image
  // --sh-degree 0)
  ffrt::GaussianSet view_independent() const;
};

DetailResult fit_detail(Context& ctx, const DetailProblem& p, const DetailOptions& o);

// View-dependent colour of a surfel (docs/model.md §7). A surfel the photo sees at cosine u_p (between its normal
// and the direction to the photo's camera) was sampled at a resolution ∝ u_p; a view at cosine u sees it u/u_p
// times larger, so the photo's few pixels stretch into streaks where u ≫ u_p. Its colour in a view at cosine u is
//   c(u) = guess + h(u)·(photo − guess),  h(u_p) = 1 exactly,
// h a cubic fitted by least squares to 1 while u ≤ 1.25·u_p and 0 from u ≥ 2.5·u_p, kept within about [−0.07, 1.07]
// for 0 ≤ u ≤ 1 (so exactly an SH of degree 3 about the normal; it eases in more slowly than that step), faded to
// h ≡ 1 for surfels the photo sees at u_p ≥ 0.6 (no view stretches them 2×).
// photo_weight_cubic: h's power-basis coefficients (h(u) = a₀ + a₁u + a₂u² + a₃u³).
std::array<double, 4> photo_weight_cubic(double photo_cosine);
// c(u) as the SH of runtime/formats.h GaussianSet: dc [3] (its `colors`) and rest [15,3] (its `sh_rest`), for a
// surfel with outward unit normal `normal` (canonical frame) seen by the photo at `photo_cosine`.
void view_dependent_sh(const std::array<double, 3>& normal, double photo_cosine, const float photo_rgb[3],
                       const float guess_rgb[3], float dc[3], float rest[45]);

// Left–right symmetric partner of every vertex: the nearest vertex to (2·x̄ − x, y, z), x̄ the mean x of the
// template [V,3] (head models are symmetric about their x = const plane). `residual` (optional): the largest
// distance between a mirrored vertex and its partner.
std::vector<int32_t> mirror_vertices(const std::vector<double>& template_vertices, double* residual = nullptr);

// A Gaussian set (its colours, or its SH evaluated per camera when it has them; black background) copied once to
// `device` (CUDA: `ctx` must be that
// device's context) and rendered from any number of cameras: render(viewmat (canonical → camera, row-major 4×4),
// fx, fy, cx, cy, W, H) → [3,H,W] in [0,1] on the host; alpha [1,H,W] when asked. fit_image's turntable renders one
// set from every frame's camera through one GaussianRenderer; the set need not outlive it.
class GaussianRenderer {
 public:
  GaussianRenderer(Context& ctx, const ffrt::GaussianSet& g, Device device = Device::cpu());
  FImage render(const std::array<double, 16>& viewmat, const std::array<double, 4>& fxfycxcy, int W, int H,
                FImage* alpha = nullptr) const;
  // The set through one camera as render parameters, its colours included; the camera's tensors are appended to
  // `held`, which must outlive the parameters (the detail stage's colour solve swaps in its own colours).
  splat::RenderParams params(const std::array<double, 16>& viewmat, const std::array<double, 4>& fxfycxcy, int W,
                             int H, std::vector<Tensor>& held) const;

 private:
  Context& ctx_;
  Device device_;
  int64_t n_ = 0;
  Tensor means_, scales_, rotations_, opacities_, colors_;  // on device_; scales activated (exp)
  Tensor sh_;                                               // [N,16,3] when the set has SH, else undefined
};

// One render of a set: GaussianRenderer(ctx, g, device).render(viewmat, fxfycxcy, W, H, alpha).
FImage render_gaussians(Context& ctx, const ffrt::GaussianSet& g, const std::array<double, 16>& viewmat,
                        const std::array<double, 4>& fxfycxcy, int W, int H, FImage* alpha = nullptr,
                        Device device = Device::cpu());

}  // namespace ff::fit
