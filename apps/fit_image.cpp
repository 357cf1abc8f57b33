// apps/fit_image.cpp — one photo → a 3D Gaussian face. A thin CLI over train/fit/fit_image.h.
//
//   fit_image --model run/checkpoints/step_00002000.ffck --image me.jpg --out fit_me
//   fit_image --image me.jpg --landmarks me.dlib68.txt          (landmarks given; no model: head fit + mask only)
//   fit_image --device cuda --model CKPT --image me.jpg --out fit_me   (identity fit + renders on the GPU)
// The photo is turned upright by its EXIF orientation; detections that are not faces are rejected and listed
// (stderr, fit.json/metrics.json "rejected"; --face counts accepted faces only); mirrored landmarks or an
// implausible pose are warned about (stderr, metrics.json "warnings"); --out must be absent, empty or an earlier
// fit_image output (core/output_dir.h), checked before any work. See docs/reliability.md.
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "core/check.h"
#include "core/context.h"
#include "train/fit/fit_image.h"

namespace {
std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}
std::string num(double d) {
  std::ostringstream s;
  s << d;
  return s.str();
}
std::vector<int> to_int(const std::vector<long>& v) { return std::vector<int>(v.begin(), v.end()); }
std::string b(bool v) { return v ? "true" : "false"; }
}  // namespace

int main(int argc, char** argv) {
  ff::apps::start_program(argv);
  ff::fit::FitImageOptions o;
  int threads = 0;
  uint64_t seed = 0;
  // the table's defaults are FitImageOptions' (train/fit/fit_image.h)
  ff::apps::Options opts(
      "fit_image — one photo -> a 3D Gaussian face (detection, 68 landmarks, head pose/shape, face mask,\n"
      "identity code, outputs).\n\nusage: fit_image --model FILE --image PHOTO [--out DIR] [options]",
      {{"model", o.model_path,
        "FILE: trained model file: checkpoint (.ffck) or model pack (.ffpk); without it only landmarks, head fit and mask"},
       {"image", o.image, "PHOTO: input photo (JPEG/PNG; required)"},
       {"out", o.out, "DIR: output folder: absent, empty or an earlier fit_image output (anything else is refused); "
                      "replaced atomically when complete"},
       {"device", o.device, "cpu|cuda: where the model runs: identity fit, renders, turntable (landmarks/head fit: CPU)"},
       {"landmarks", o.landmarks, "FILE: 68 landmarks 'index x y' per line (skips detection; none: detect with dlib)"},
       {"face-mesh", o.face_mesh,
        "auto|on|off: after detection, MediaPipe Face Mesh's 468 points (the built-in head model's vertices) as the "
        "landmarks; auto: with the built-in head model and detected landmarks"},
       {"forehead-outline", o.forehead_outline ? "on" : "off",
        "on|off: with Face Mesh, also fit the face oval above the contour (the forehead ends where the photo's does: "
        "a cap or fringe is not painted on it; off: the forehead's height comes from the shape prior)"},
       {"face", std::to_string(o.face), "I: which accepted face, largest first, in [0, 1000]"},
       {"head-model", o.head_model,
        "PATH: head model: builtin or a FLAME file; checked against the one the model file names (none: the model "
        "file's; FF_HEAD_MODEL overrides)"},
       {"recipe", o.code.recipe, "default|seed: identity fit: default (mean code, coarse-to-fine L-BFGS + pose) or seed "
                                 "(Adam 1000 steps)"},
       {"fov", num(o.fov_deg), "DEG: vertical field of view when EXIF has no focal length, in [1, 179]"},
       {"focal", num(o.focal_px), "PX: force the focal length in pixels (0: EXIF or --fov), in [0, 1e+06]"},
       {"remove-background", b(o.remove_background),
        "BOOL: also write photo_masked.png (photo outside the face mask removed)"},
       {"levels", join(o.code.levels), "LIST: default recipe: max crop side per coarse-to-fine level, each in [8, 16384]"},
       {"iterations", join(o.code.iterations), "LIST: default recipe: L-BFGS iterations per level, each in [0, 100000]"},
       {"pose-from-level", std::to_string(o.code.pose_from_level),
        "N: default recipe: refine the head pose from this level (-1: never), in [-1, 64]"},
       {"code-prior", num(o.code.prior), "W: default recipe: weight of the whitened-code prior, in [0, 1e+06]"},
       {"seed-steps", std::to_string(o.code.seed_steps), "N: seed recipe: Adam steps, in [0, 1000000]"},
       {"seed-lr", num(o.code.seed_lr), "LR: seed recipe: Adam learning rate, in [0, 1000]"},
       {"shape-modes", std::to_string(o.head.n_shape), "N: head fit: shape coefficients, in [0, 1000]"},
       {"shape-reg", num(o.head.shape_reg), "W: head fit: weight of the N(0,I) shape prior, in [0, 1e+06]"},
       {"expression-modes", std::to_string(o.head.n_expr),
        "N: head fit: expression coefficients estimated from the landmarks (capped at the head model's; 0: neutral), "
        "in [0, 1000]"},
       {"expression-reg", num(o.head.expr_reg),
        "W: head fit: weight of the N(0,I) expression prior, in [1e-06, 1e+06]"},
       {"contour-weight", num(o.head.contour_weight),
        "W: head fit: weight of the 17 jaw-contour landmarks, in [0, 1000]"},
       {"expression-refine", o.expression_refine ? "on" : "off",
        "on|off: refine the landmark estimate of the photo's expression and jaw by the photo loss during the code "
        "fit (fit.json photo_pose, mesh.ply follow it)"},
       {"detail", o.detail.enabled ? "on" : "off",
        "on|off: detail stage after the code fit: surface Gaussians coloured from the photo (off: the code fit alone)"},
       {"detail-spacing", num(o.detail.spacing_px), "PX: detail stage: surfel spacing in photo pixels, in [0.5, 16]"},
       {"detail-max-side", std::to_string(o.detail.max_side),
        "PX: detail stage: the face crop's longer side is resampled to at most this, in [64, 4096]"},
       {"detail-iterations", std::to_string(o.detail.iterations),
        "N: detail stage: conjugate-gradient iterations of the colour solve, in [0, 1000]"},
       {"detail-symmetry", num(o.detail.symmetry),
        "W: detail stage: weight of the mirrored photo colour where the photo misses a point, in [0, 1]"},
       {"detail-prior", num(o.detail.prior),
        "W: detail stage: pull towards the mirrored/code colour where the photo sees a point badly, in [0, 1000]"},
       {"detail-damping", num(o.detail.damping),
        "W: detail stage: pull of every surfel towards its initial colour (damps patterns the photo cannot see), in "
        "[0, 1000]"},
       {"detail-thickness", num(o.detail.thickness),
        "R: detail stage: a surfel's thickness along its normal over its width, in [0.01, 1]"},
       {"detail-view-dependent", o.detail.view_dependent ? "on" : "off",
        "on|off: detail stage: colours that depend on the view (SH): the photo's towards its camera, the mirrored/code "
        "colour where a view stretches what the photo saw at a grazing angle (off: the photo's everywhere)"},
       {"up", "y", "y|-y: face.ply's up axis: y (facefield's frame) or -y (turned for y-down/COLMAP viewers)"},
       {"sh-degree", std::to_string(o.ply_sh_degree),
        "0|3: face.ply's SH layout: 3 = DC + 45 f_rest (graphdeco's; the detail stage's view-dependent colours), 0 = "
        "DC only (the colours the photo's camera sees)"},
       {"turntable-frames", std::to_string(o.turntable_frames), "N: turntable frames (0: none), in [0, 3600]"},
       {"turntable-size", std::to_string(o.turntable_size), "PX: turntable frame size, in [16, 8192]"},
       {"turntable-yaw", num(o.turntable_yaw_deg), "DEG: turntable swing (±), in [0, 180]"},
       {"threads", std::to_string(threads), "N: CPU threads (0: all), in [0, 1024]"},
       {"seed", std::to_string(seed), "N: RNG seed (the seed recipe's initial code)"},
       {"progress", b(o.progress), "BOOL: progress lines with ETA on stderr"}},
      "outputs in DIR: face.ply (code.ply, face.ffrig) fit.json landmarks.txt (face_mesh.txt) mask.png mesh.ply overlay.png turntable/ turntable.gif "
      "metrics.json\n"
      "failures (exit 1): no face, an unreadable image, a bad model file, an --out that is not its own...\n");
  // every option is parsed and range-checked before any work; a bad one is bad usage (exit 2)
  try {
    if (!opts.parse(argc, argv)) return 0;
    o.model_path = opts.str("model");
    o.image = opts.str("image");
    o.out = opts.str("out");
    o.device = opts.choice("device", {"cpu", "cuda"});
    o.landmarks = opts.str("landmarks");
    o.face_mesh = opts.choice("face-mesh", {"auto", "on", "off"});
    o.forehead_outline = opts.choice("forehead-outline", {"on", "off"}) == "on";
    o.face = int(opts.integer("face", 0, 1000));
    o.head_model = opts.str("head-model");
    o.code.recipe = opts.choice("recipe", {"default", "seed"});
    o.fov_deg = opts.number("fov", 1, 179);
    o.focal_px = opts.number("focal", 0, 1e6);
    o.remove_background = opts.boolean("remove-background");
    o.code.levels = to_int(opts.integers("levels", 8, 16384));
    o.code.iterations = to_int(opts.integers("iterations", 0, 100000));
    o.code.pose_from_level = int(opts.integer("pose-from-level", -1, 64));
    o.code.prior = opts.number("code-prior", 0, 1e6);
    o.code.seed_steps = int(opts.integer("seed-steps", 0, 1000000));
    o.code.seed_lr = opts.number("seed-lr", 0, 1000);
    o.head.n_shape = int(opts.integer("shape-modes", 0, 1000));
    o.head.shape_reg = opts.number("shape-reg", 0, 1e6);
    o.head.n_expr = int(opts.integer("expression-modes", 0, 1000));
    o.head.expr_reg = opts.number("expression-reg", 1e-6, 1e6);
    o.head.contour_weight = opts.number("contour-weight", 0, 1000);
    o.expression_refine = opts.choice("expression-refine", {"on", "off"}) == "on";
    o.detail.enabled = opts.choice("detail", {"on", "off"}) == "on";
    o.detail.spacing_px = opts.number("detail-spacing", 0.5, 16);
    o.detail.max_side = int(opts.integer("detail-max-side", 64, 4096));
    o.detail.iterations = int(opts.integer("detail-iterations", 0, 1000));
    o.detail.symmetry = opts.number("detail-symmetry", 0, 1);
    o.detail.prior = opts.number("detail-prior", 0, 1000);
    o.detail.damping = opts.number("detail-damping", 0, 1000);
    o.detail.thickness = opts.number("detail-thickness", 0.01, 1);
    o.detail.view_dependent = opts.choice("detail-view-dependent", {"on", "off"}) == "on";
    o.ply_y_down = opts.choice("up", {"y", "-y"}) == "-y";
    o.ply_sh_degree = std::stoi(opts.choice("sh-degree", {"0", "3"}));
    o.turntable_frames = int(opts.integer("turntable-frames", 0, 3600));
    o.turntable_size = int(opts.integer("turntable-size", 16, 8192));
    o.turntable_yaw_deg = opts.number("turntable-yaw", 0, 180);
    threads = opts.threads();
    seed = uint64_t(opts.uinteger("seed", ~0ull));
    o.progress = opts.boolean("progress");
    FF_CHECK(o.code.levels.size() == o.code.iterations.size(), "--levels and --iterations need as many entries, got ",
             o.code.levels.size(), " and ", o.code.iterations.size());
    FF_USAGE_CHECK(!o.image.empty(), "--image is required (see --help)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fit_image: %s\n", ff::apps::failure_message(e).c_str());
    return 2;
  }
  try {
    ff::Context ctx(seed, threads);
    ff::fit::FitImageReport r = ff::fit::fit_image(ctx, o);
    std::printf("fit_image: %s -> %s\n", o.image.c_str(), r.out.c_str());
    std::printf("  landmarks (%s): head fit rms %.2f px, mean %.2f px; yaw %.1f pitch %.1f roll %.1f deg; focal %s\n",
                r.landmarks.source.c_str(), r.head.rms_px, r.head.mean_px, r.head.yaw_deg, r.head.pitch_deg,
                r.head.roll_deg, r.head.K.source.c_str());
    if (r.has_face_mesh)
      std::printf("  face mesh: score %.3f, %s\n", r.face_mesh.score,
                  r.used_face_mesh ? "its 468 points give the landmarks" : "below 0.5: its points are not used");
    if (r.has_model)
      std::printf("  identity (%s, %s): masked PSNR %.2f dB SSIM %.4f (mean code %.2f dB / %.4f), %d evaluations "
                  "in %.3f s\n",
                  o.code.recipe.c_str(), o.device.c_str(), r.code_psnr_mask, r.code_ssim_mask, r.mean_code_psnr_mask,
                  r.mean_code_ssim_mask, r.code.evaluations, r.code.seconds);
    if (r.has_detail)
      std::printf("  detail: masked PSNR %.2f dB SSIM %.4f with %zu surfels (spacing %.2f px, %d CG iterations) in "
                  "%.3f s\n",
                  r.psnr_mask, r.ssim_mask, r.gaussians.size(), r.detail.spacing_px, r.detail.iterations,
                  r.detail.seconds);
    std::printf("  seconds:");
    for (auto& [k, v] : r.seconds) std::printf(" %s %.2f", k.c_str(), v);
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fit_image: error: %s\n", ff::apps::failure_message(e).c_str());
    return ff::apps::exit_status(e);
  }
}
