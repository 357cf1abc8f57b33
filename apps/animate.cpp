// apps/animate.cpp — `animate`: a trained or fitted identity driven by head-model parameters (expression, jaw, neck,
// eyes, head motion), rendered with the embeddable runtime; PNG frames + an animated GIF (+ MP4 when ffmpeg is on
// PATH), the motion as motion.csv, the identity's rig file (identity.ffrig, docs/rig.md), optionally a .ply per frame.
//
//   animate --model ckpt.ffck --identity 3 --motion talk --out talk/
//   animate --model face.ffpk --code me/fit.json --motion tracked_flame_params.npz --out me_anim/
//   animate --model face.ffpk --identity 0 --motion my_motion.csv --out anim/ --ply 1
//   animate --model face.ffpk --code me/fit.json --motion photo --camera fit --out me_photo/   (the photo's expression)
// The identity is decoded once (its neutral Gaussians) and its head rig built (train/animation.h HeadRig); every frame
// is posed by the runtime from the rig file's data (ff_rig_pose: runtime/rig.h head-model forward, runtime/binding.h),
// exactly what a viewer does with identity.ffrig. Motion sources and the CSV
// columns: train/motion.h; the maths: docs/animation.md.
#ifdef FF_HAVE_RUNTIME
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <unistd.h>

#include "apps/common/animator.h"
#include "apps/common/cli.h"
#include "apps/common/model_runtime.h"
#include "core/output_dir.h"
#include "train/motion.h"

using namespace ff;

namespace {
std::string clock_text(double s) {
  char b[32];
  const int t = int(s + 0.5);
  std::snprintf(b, sizeof b, "%d:%02d", t / 60, t % 60);
  return b;
}
}  // namespace

int main(int argc, char** argv) {
  apps::start_program(argv);
  try {
    apps::Options o(
        "usage: animate --model FILE (--identity I | --code FIT.json) --motion SRC --out DIR [options]\n\n"
        "Animates an identity of a trained identity field model with head-model parameters: its Gaussians follow the\n"
        "triangles of the head-model surface they are bound to. Writes PNG frames, an animated GIF, an MP4 when\n"
        "ffmpeg is on PATH, and the motion used as motion.csv.",
        {{"model", "", "checkpoint (.ffck) or model pack (.ffpk, `export --format model`) (required)"},
         {"identity", "0", "identity index"},
         {"code", "", "code file written by fit_image (fit.json) instead of --identity"},
         {"motion", "talk", "talk | smile | look_around | a NeRSemble tracked_flame_params.npz | a .csv (columns: "
                            "train/motion.h, docs/animation.md) | photo (--code's photo_pose: the fitted photo's "
                            "expression and jaw, held)"},
         {"frames", "48", "frames of a built-in motion or of 'photo'"},
         {"stride", "1", "use every n-th frame of a file motion"},
         {"head_model", "", "head model (default: the one the model file names; FF_HEAD_MODEL)"},
         {"camera", "front", "'front' (frontal, framing the neutral face), IDENTITY:VIEW (a training camera) or "
                             "'fit' (the code file's photo camera)"},
         {"width", "384", "output width in pixels (intrinsics rescaled, aspect kept)"},
         {"background", "0,0,0", "background colour r,g,b in [0,1]"},
         {"out", "animate_out", "output folder (frame_NNNN.png, animate.gif, animate.mp4, motion.csv, identity.ffrig)"},
         {"fps", "24", "frames per second of the GIF / MP4"},
         {"gif", "1", "1: write animate.gif"},
         {"mp4", "1", "1: also write animate.mp4 when ffmpeg is installed"},
         {"ply", "0", "1: also write frame_NNNN.ply (3DGS layout) per frame"},
         {"rig", "1", "1: also write identity.ffrig, the identity's rig file for viewers (runtime/rig.h, docs/rig.md)"},
         {"threads", "0", "CPU threads (0: all)"}});
    if (!o.parse(argc, argv)) return 0;
    FF_CHECK(o.has("model"), "--model is required (see --help)");
    const int threads = o.threads();
    Context ctx(0, threads);
    std::optional<apps::Step> step;  // what an out-of-memory message names
    step.emplace("reading model " + o.str("model"));
    auto m = apps::open_model(ctx, o.str("model"), threads);
    const apps::Runtime& rt = m->rt;

    // the identity: code and neutral positions
    std::vector<float> code, xyz;
    apps::CodeFile cf;
    std::string who;
    if (o.has("code")) {
      FF_CHECK(!o.was_given("identity"), "give either --identity or --code, not both");
      cf = apps::read_code_file(o.str("code"), rt.info.code_dim, rt.info.num_gaussians);
      code = cf.code;
      xyz = cf.xyz.empty() ? rt.positions(-1) : cf.xyz;
      who = cf.path + (cf.xyz.empty() ? " (positions: the identities' mean)" : "");
    } else {
      const int i = int(o.integer("identity", 0, 1 << 30));
      FF_CHECK(i < rt.info.num_identities, "--identity ", i, " out of range: the model has ", rt.info.num_identities,
               " identities");
      code = rt.code(i);
      xyz = rt.positions(i);
      who = "identity " + std::to_string(i) + (rt.name(i).empty() ? "" : " (" + rt.name(i) + ")");
    }

    // head model, the animatable identity, motion
    step.emplace("loading the head model");
    const flame::FlameModel head = train::find_head_model(m->file, o.str("head_model"));
    step.emplace("decoding the identity");
    const apps::Animator anim(*m, head, code, xyz, threads);
    train::Motion motion = apps::load_app_motion(o.str("motion"), head, int(o.integer("frames", 1, 100000)),
                                                 int(o.integer("stride", 1, 100000)), cf.has_pose ? &cf.pose : nullptr);
    for (const std::string& w : motion.warnings) std::fprintf(stderr, "animate: warning: %s\n", w.c_str());
    const int G = anim.count();

    // camera
    const int width = int(o.integer("width", 1, 16384));
    Camera cam;
    const std::string cs = o.str("camera");
    if (cs == "front") cam = frontal_camera(anim.neutral_means(), width, width);
    else if (cs == "fit") {
      FF_CHECK(cf.has_camera, "--camera fit needs a code file (--code) with \"viewmat\" and \"camera\"");
      cam = resized(cf.camera, width);
    } else {
      cam = resized(m->camera_of(cs), width);
    }

    const auto bg = o.color("background");
    const int fps = int(o.integer("fps", 1, 100));
    const bool ply = o.integer("ply", 0, 1);
    ff::OutputDir out_dir(o.str("out"), "animate");
    const std::string out = out_dir.path(), target = out_dir.target();
    apps::FrameSequence frames(out, "animate", cam.width, cam.height, fps, o.integer("gif", 0, 1));
    const int total = int(motion.frames.size());
    std::printf("animate: %s, motion %s: %d frames of %dx%d, %d Gaussians\n", who.c_str(), motion.source.c_str(), total,
                cam.width, cam.height, G);
    train::write_motion_csv((std::filesystem::path(out) / "motion.csv").string(), motion);
    if (o.integer("rig", 0, 1)) ffrt::write_file((std::filesystem::path(out) / "identity.ffrig").string(), anim.rig_file());
    step.emplace("rendering frames");
    const auto t0 = std::chrono::steady_clock::now();
    for (int f = 0; f < total; ++f) {
      const apps::Gaussians g = anim.pose(motion.frames[size_t(f)]);
      frames.add(rt.render(g, runtime_camera(cam), bg.data()));
      if (ply) {
        char name[64];
        std::snprintf(name, sizeof name, "frame_%04d.ply", f);
        apps::check(ff_gaussians_save_ply(g.g, (std::filesystem::path(out) / name).string().c_str(), 0, 0),
                    "ff_gaussians_save_ply");
      }
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (isatty(1) || f + 1 == total) {
        std::printf("\ranimate: frame %d/%d | %.1f frames/s | elapsed %s | ETA %s ", f + 1, total, (f + 1) / el,
                    clock_text(el).c_str(), clock_text(el / (f + 1) * (total - f - 1)).c_str());
        std::fflush(stdout);
      }
    }
    std::printf("\n");
    frames.finish(o.integer("mp4", 0, 1), target);
    out_dir.commit();
    std::printf("animate: wrote %d frames to %s\n", total, target.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nanimate: error: %s\n", apps::failure_message(e).c_str());
    return 1;
  }
}
#else
#include <cstdio>
int main() {
  std::fprintf(stderr, "animate: built without runtime/ (add `add_subdirectory(runtime)` to CMakeLists.txt)\n");
  return 1;
}
#endif
