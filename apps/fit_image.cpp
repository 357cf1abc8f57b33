// apps/fit_image.cpp — one photo → a 3D Gaussian face. A thin CLI over train/fit/fit_image.h.
//
//   fit_image --model run/checkpoints/step_00002000.ffck --image me.jpg --out fit_me
//   fit_image --image me.jpg --landmarks me.dlib68.txt          (landmarks given; no model: head fit + mask only)
//   fit_image --device cuda --model CKPT --image me.jpg --out fit_me   (identity fit + renders on the GPU)
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/context.h"
#include "train/fit/fit_image.h"

namespace {
struct Opt {
  std::string name, arg, help;
  std::function<std::string()> get;
  std::function<void(const std::string&)> set;
};

std::vector<int> parse_ints(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) v.push_back(std::stoi(x));
  return v;
}
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
}  // namespace

int main(int argc, char** argv) {
  ff::fit::FitImageOptions o;
  int threads = 0;
  uint64_t seed = 0;
  bool help = false;
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  auto parse_bool = [](const std::string& s) { return s == "1" || s == "true" || s == "yes" || s == "on"; };
  std::vector<Opt> opts = {
      {"model", "FILE", "trained model file: checkpoint (.ffck) or model pack (.ffpk); without it only landmarks, head fit and mask",
       [&] { return o.model_path.empty() ? "(none)" : o.model_path; }, [&](auto& s) { o.model_path = s; }},
      {"image", "PHOTO", "input photo (JPEG/PNG)", [&] { return o.image.empty() ? "(required)" : o.image; },
       [&](auto& s) { o.image = s; }},
      {"out", "DIR", "output folder (replaced atomically when complete)", [&] { return o.out; }, [&](auto& s) { o.out = s; }},
      {"device", "cpu|cuda", "where the model runs: identity fit, renders, turntable (landmarks/head fit: CPU)",
       [&] { return o.device; },
       [&](auto& s) {
         if (s != "cpu" && s != "cuda") throw std::invalid_argument("device");
         o.device = s;
       }},
      {"landmarks", "FILE", "68 landmarks 'index x y' per line (skips detection)",
       [&] { return o.landmarks.empty() ? "(detect with dlib)" : o.landmarks; }, [&](auto& s) { o.landmarks = s; }},
      {"face", "I", "which detected face, largest first", [&] { return std::to_string(o.face); },
       [&](auto& s) { o.face = std::stoi(s); }},
      {"head-model", "PATH", "head model: builtin or a FLAME file; checked against the one the model file names",
       [&] { return o.head_model.empty() ? "(the model file's; FF_HEAD_MODEL overrides)" : o.head_model; },
       [&](auto& s) { o.head_model = s; }},
      {"recipe", "NAME", "identity fit: default (mean code, coarse-to-fine L-BFGS + pose) or seed (Adam 1000 steps)",
       [&] { return o.code.recipe; }, [&](auto& s) { o.code.recipe = s; }},
      {"fov", "DEG", "vertical field of view when EXIF has no focal length", [&] { return num(o.fov_deg); },
       [&](auto& s) { o.fov_deg = std::stod(s); }},
      {"focal", "PX", "force the focal length in pixels (0: EXIF or --fov)", [&] { return num(o.focal_px); },
       [&](auto& s) { o.focal_px = std::stod(s); }},
      {"remove-background", "BOOL", "also write photo_masked.png (photo outside the face mask removed)",
       [&] { return b(o.remove_background); }, [&](auto& s) { o.remove_background = parse_bool(s); }},
      {"levels", "LIST", "default recipe: max crop side per coarse-to-fine level", [&] { return join(o.code.levels); },
       [&](auto& s) { o.code.levels = parse_ints(s); }},
      {"iterations", "LIST", "default recipe: L-BFGS iterations per level", [&] { return join(o.code.iterations); },
       [&](auto& s) { o.code.iterations = parse_ints(s); }},
      {"pose-from-level", "N", "default recipe: refine the head pose from this level (-1: never)",
       [&] { return std::to_string(o.code.pose_from_level); }, [&](auto& s) { o.code.pose_from_level = std::stoi(s); }},
      {"code-prior", "W", "default recipe: weight of the whitened-code prior", [&] { return num(o.code.prior); },
       [&](auto& s) { o.code.prior = std::stod(s); }},
      {"seed-steps", "N", "seed recipe: Adam steps", [&] { return std::to_string(o.code.seed_steps); },
       [&](auto& s) { o.code.seed_steps = std::stoi(s); }},
      {"seed-lr", "LR", "seed recipe: Adam learning rate", [&] { return num(o.code.seed_lr); },
       [&](auto& s) { o.code.seed_lr = std::stod(s); }},
      {"shape-modes", "N", "head fit: shape coefficients", [&] { return std::to_string(o.head.n_shape); },
       [&](auto& s) { o.head.n_shape = std::stoi(s); }},
      {"shape-reg", "W", "head fit: weight of the N(0,I) shape prior", [&] { return num(o.head.shape_reg); },
       [&](auto& s) { o.head.shape_reg = std::stod(s); }},
      {"contour-weight", "W", "head fit: weight of the 17 jaw-contour landmarks", [&] { return num(o.head.contour_weight); },
       [&](auto& s) { o.head.contour_weight = std::stod(s); }},
      {"turntable-frames", "N", "turntable frames (0: none)", [&] { return std::to_string(o.turntable_frames); },
       [&](auto& s) { o.turntable_frames = std::stoi(s); }},
      {"turntable-size", "PX", "turntable frame size", [&] { return std::to_string(o.turntable_size); },
       [&](auto& s) { o.turntable_size = std::stoi(s); }},
      {"turntable-yaw", "DEG", "turntable swing (±)", [&] { return num(o.turntable_yaw_deg); },
       [&](auto& s) { o.turntable_yaw_deg = std::stod(s); }},
      {"threads", "N", "CPU threads (0: all)", [&] { return std::to_string(threads); },
       [&](auto& s) { threads = std::stoi(s); }},
      {"seed", "N", "RNG seed (the seed recipe's initial code)", [&] { return std::to_string(seed); },
       [&](auto& s) { seed = std::stoull(s); }},
      {"progress", "BOOL", "progress lines with ETA on stderr", [&] { return b(o.progress); },
       [&](auto& s) { o.progress = parse_bool(s); }},
  };
  auto usage = [&](FILE* f) {
    std::fprintf(f,
                 "fit_image — one photo -> a 3D Gaussian face (detection, 68 landmarks, head pose/shape, face mask,\n"
                 "identity code, outputs).\n\nusage: fit_image --model FILE --image PHOTO [--out DIR] [options]\n\n"
                 "options (--name value or --name=value):\n");
    for (auto& op : opts) {
      std::string head = "  --" + op.name + " " + op.arg;
      if (head.size() < 30) head.resize(30, ' ');
      std::fprintf(f, "%s %s (default %s)\n", head.c_str(), op.help.c_str(), op.get().c_str());
    }
    std::fprintf(f, "  --help                       this text\n\n"
                    "outputs in DIR: face.ply fit.json landmarks.txt mask.png mesh.ply overlay.png turntable/ "
                    "turntable.gif metrics.json\nexit codes: 0 ok, 1 failure (no face, unreadable image, bad "
                    "model...), 2 bad usage\n");
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      help = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) {
      std::fprintf(stderr, "fit_image: unexpected argument '%s' (see --help)\n", a.c_str());
      return 2;
    }
    std::string name = a.substr(2), val;
    size_t eq = name.find('=');
    bool has_val = eq != std::string::npos;
    if (has_val) val = name.substr(eq + 1), name = name.substr(0, eq);
    Opt* op = nullptr;
    for (auto& x : opts)
      if (x.name == name) op = &x;
    if (!op) {
      std::fprintf(stderr, "fit_image: unknown option --%s (see --help)\n", name.c_str());
      return 2;
    }
    if (!has_val) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fit_image: --%s needs a value\n", name.c_str());
        return 2;
      }
      val = argv[++i];
    }
    try {
      op->set(val);
    } catch (const std::exception&) {
      std::fprintf(stderr, "fit_image: bad value '%s' for --%s\n", val.c_str(), name.c_str());
      return 2;
    }
  }
  if (help) {
    usage(stdout);
    return 0;
  }
  if (o.image.empty()) {
    usage(stderr);
    std::fprintf(stderr, "\nfit_image: --image is required\n");
    return 2;
  }
  try {
    ff::Context ctx(seed, threads);
    ff::fit::FitImageReport r = ff::fit::fit_image(ctx, o);
    std::printf("fit_image: %s -> %s\n", o.image.c_str(), r.out.c_str());
    std::printf("  landmarks (%s): head fit rms %.2f px, mean %.2f px; yaw %.1f pitch %.1f roll %.1f deg; focal %s\n",
                r.landmarks.source.c_str(), r.head.rms_px, r.head.mean_px, r.head.yaw_deg, r.head.pitch_deg,
                r.head.roll_deg, r.head.K.source.c_str());
    if (r.has_model)
      std::printf("  identity (%s, %s): masked PSNR %.2f dB SSIM %.4f (mean code %.2f dB / %.4f), %d evaluations "
                  "in %.3f s\n",
                  o.code.recipe.c_str(), o.device.c_str(), r.psnr_mask, r.ssim_mask, r.mean_code_psnr_mask,
                  r.mean_code_ssim_mask, r.code.evaluations, r.code.seconds);
    std::printf("  seconds:");
    for (auto& [k, v] : r.seconds) std::printf(" %s %.2f", k.c_str(), v);
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fit_image: error: %s\n", e.what());
    return 1;
  }
}
