// train/fit/code_fit.h — fitting the identity code of a trained model to one photo (fit_image phase 4), with the
// helpers it needs: loading a checkpoint as a frozen model, cropping/resampling the photo, rendering a code.
//
// The problem: a photo [3,H,W] in [0,1], a soft face mask [H,W], the photo camera (viewmat = canonical → camera,
// intrinsics in the splat convention) and the Gaussian positions xyz [G,3] (the model's layout placed on the
// fitted head mesh). With an ExpressionPosing the positions are the layout placed on the NEUTRALISED head and the
// decoded Gaussians are posed into the photo's expression (train/animation.h pose_gaussians, differentiable) before
// rendering, so the fitted code is the one of the animatable neutral identity. Loss = 0.8·L1 + 0.2·(1 − SSIM) of (render·mask, photo·mask) (splat::l1_dssim_loss), on a crop
// around the mask (pixels outside the mask compare 0 with 0, so the crop changes only the normalisation).
// Every model parameter is frozen during the fit (restored afterwards); only the code (and the pose) move.
// Device: the fit runs where the model lives (load_fit_model's device). The photo/mask crops are resampled on the
// host and uploaded once per level; the L-BFGS state (code + pose, < 100 numbers) stays on the host, so each
// evaluation uploads the code and the view (two small asynchronous copies) and reads the loss and the gradients
// back in one copy — the only synchronisation per evaluation (the seed recipe's Adam runs on the device and reads
// the loss and gradient once per step for the finiteness check).
// Recipes:
//   "seed"    docs/model.md §4: code = 0.01·randn (the Context's RNG), Adam lr 1e-3 (eps 1e-15), 1000 steps,
//             full resolution, no pose refinement.
//   "default" start from the mean of the training codes; coarse-to-fine over `levels` (max crop side in px, e.g.
//             64 → 128 → 256); at each level L-BFGS (memory 8, Armijo backtracking) on the whitened code
//             (divided by the per-dimension std of the training codes) plus a small prior ½·prior·‖whitened‖²/D;
//             from level `pose_from_level` on, also the head pose as a 6-d left perturbation
//             V = [exp(ω)·R0 | exp(ω)·t0 + τ] whose gradient comes from the renderer's d_viewmats.
//
//   ff::train::ModelFile lm = ff::fit::load_fit_model(ctx, "run/checkpoints/step_00002000.ffck", "cuda");
//   ff::fit::CodeFitResult r = ff::fit::fit_code(*lm.model, problem, {});
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/formats.h"
#include "train/animation.h"
#include "train/fit/landmark_fit.h"
#include "train/model_file.h"

namespace ff::fit {

// A model file (.ffck or .ffpk, train/model_file.h) loaded for fitting on `device` ("cpu" or "cuda": where
// fit_code / render_code / code_gaussians compute). No dataset is read. Throws ff::Error naming the file.
train::ModelFile load_fit_model(Context& ctx, const std::string& path, const std::string& device = "cpu");

// Planar float image.
struct FImage {
  int width = 0, height = 0, channels = 0;
  std::vector<float> data;  // [C,H,W]
};
FImage to_float(const data::Image8& im);  // [H,W,C] u8 → [C,H,W] /255
data::Image8 to_u8(const FImage& im);
// Area-average resample of the window [x0, x0+w) × [y0, y0+h) (source pixels, may extend outside: zeros) to
// out_w × out_h.
FImage resample_area(const FImage& src, double x0, double y0, double w, double h, int out_w, int out_h);

// Gaussians decoded on the neutral head, posed into an expression (the photo's) before they are rendered or
// exported: the binding's neutral mesh is the face-mask mesh the positions were placed on (layout.place), posed_face
// the same mesh with the expression. Inactive (no binding): the Gaussians stay where the positions put them.
struct ExpressionPosing {
  const train::GaussianBinding* binding = nullptr;  // must outlive every call it is passed to
  std::vector<double> posed_face;                   // [A,3]
  bool active() const { return binding != nullptr; }
};

// Render refinement of the photo's expression (docs/animation.md §4): with a rig, the expression coefficients ψ and
// the jaw become variables of the code fit from CodeFitOptions::expr_from_level on. The posed face is then the
// rig's differentiable face (train::HeadRigTensors: N + F(ψ, jaw) − F(0, 0), the rigid part stays the viewmat's)
// instead of ExpressionPosing::posed_face, so the photo loss's gradient reaches ψ and jaw; a prior
// ½·expr_prior·(‖(ψ − ψ0)/expr_sigma‖² + ((jaw − jaw0)/jaw_sigma)²) keeps them near the landmark estimate.
// Needs an active ExpressionPosing whose binding's neutral mesh is the rig's neutral face.
struct ExpressionRefine {
  const train::HeadRig* rig = nullptr;  // the identity's neutral head (must outlive fit_code); null: off
  std::vector<double> expression;       // ψ0 [E'] (E' ≤ the head model's E): the start and the prior's centre
  double jaw = 0;                       // jaw0 (rad, FLAME's jaw joint x axis-angle)
  bool active() const { return rig != nullptr; }
};

struct CodeFitProblem {
  FImage photo;                     // [3,H,W]
  FImage mask;                      // [1,H,W] in [0,1]
  std::array<double, 16> viewmat{}; // canonical → camera
  Intrinsics K;                     // of the photo
  std::vector<float> xyz;           // [G,3] (on the neutral head when posing is active)
  ExpressionPosing posing;          // the photo's expression (inactive: xyz are rendered as they are)
  ExpressionRefine refine;          // the expression refinement (default recipe only; inactive: ψ, jaw fixed)
};

struct CodeFitOptions {
  std::string recipe = "default";   // "default" or "seed"
  // seed recipe
  int seed_steps = 1000;
  double seed_lr = 1e-3;
  // default recipe
  std::vector<int> levels = {64, 128, 256};  // max crop side per level (capped at the full-resolution crop)
  std::vector<int> iterations = {30, 15, 8}; // L-BFGS iterations per level
  int pose_from_level = 1;          // refine the pose from this level on (−1: never)
  double prior = 1e-3;              // weight of the whitened-code prior
  int lbfgs_memory = 8;
  // the expression refinement (when the problem has a rig): ψ and jaw move with the code from level
  // expr_from_level on (−1: never), then alone for expr_iterations L-BFGS steps at the last level (code and pose
  // fixed). Defaults: the alone pass only, the setting that did best on tests/train/test_fit_code.cpp's synthetic
  // smile (docs/animation.md §4).
  int expr_from_level = -1;
  int expr_iterations = 10;
  double expr_prior = 1e-4;         // weight of the prior towards the landmark estimate (see ExpressionRefine)
  double expr_sigma = 0.3;          // its scale for each expression coefficient
  double jaw_sigma = 0.1;           // its scale for the jaw (rad)
  double crop_pad = 0.08;           // crop = mask box grown by this fraction of its size on each side
  double lambda_dssim = 0.2;
  // progress: (phase text, fraction done in [0,1], current loss)
  std::function<void(const std::string&, double, double)> progress;
};

struct CodeFitResult {
  std::vector<float> code;            // [D]
  std::array<double, 16> viewmat{};   // refined (= the input when the pose was not refined)
  std::vector<double> losses;         // per accepted iteration / step
  int evaluations = 0;                // forward+backward passes
  double seconds = 0;
  double final_loss = 0;              // at the last level's resolution
  bool expression_refined = false;    // the problem had a rig and a level refined ψ and jaw
  std::vector<double> expression;     // [E'] refined ψ (= ExpressionRefine::expression when not refined)
  double jaw = 0;                     // refined jaw
};

CodeFitResult fit_code(train::IdentityModel& model, const CodeFitProblem& p, const CodeFitOptions& o);

// The mean of the training codes [D] and their per-dimension std [D].
void code_stats(const train::IdentityModel& model, std::vector<float>& mean, std::vector<float>& std);

// Renders code [D] with positions xyz [G,3] (posed by `posing` when given and active) through viewmat/intrinsics
// at W×H → [3,H,W] in [0,1] (no grad).
FImage render_code(train::IdentityModel& model, const std::vector<float>& code, const std::vector<float>& xyz,
                   const std::array<double, 16>& viewmat, const std::array<double, 4>& fxfycxcy, int W, int H,
                   FImage* alpha = nullptr, const ExpressionPosing* posing = nullptr);

// The decoded Gaussians of a code as host arrays for ffrt::write_ply (positions xyz as given; posed by `posing`
// when given and active).
ffrt::GaussianSet code_gaussians(train::IdentityModel& model, const std::vector<float>& code,
                                 const std::vector<float>& xyz, const ExpressionPosing* posing = nullptr);

// Mask box (pixels where mask > thr) grown by pad·size on each side, made square-ish: x0 y0 w h.
std::array<double, 4> mask_crop(const FImage& mask, double pad, double thr = 0.05);

}  // namespace ff::fit
