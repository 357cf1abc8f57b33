// apps/animate.cpp — `animate`: a trained or fitted identity driven by head-model parameters (expression, jaw, neck,
// eyes, head motion), rendered with the embeddable runtime; PNG frames + an animated GIF (+ MP4 when ffmpeg is on
// PATH), the motion as motion.csv, the identity's rig file (identity.ffrig, docs/rig.md), optionally a .ply per frame.
//
//   animate --model ckpt.ffck --identity 3 --motion talk --out talk/
//   animate --model face.ffpk --code me/fit.json --motion tracked_flame_params.npz --out me_anim/
//   animate --model face.ffpk --identity 0 --motion my_motion.csv --out anim/ --ply 1
//   animate --model face.ffpk --code me/fit.json --motion photo --camera fit --out me_photo/   (the photo's expression)
//   animate --rig-file me/face.ffrig --code me/fit.json --motion talk --out me_talk/   (the photo fit's own surfels)
// The identity is decoded once (its neutral Gaussians) and its head rig built (train/animation.h HeadRig); every frame
// is posed by the runtime from the rig file's data (ff_rig_pose: runtime/rig.h head-model forward, runtime/binding.h),
// exactly what a viewer does with identity.ffrig. With --rig-file the identity is a rig file's own Gaussians (fit_image's
// face.ffrig: the detail stage's surfels on the fitted neutral head), and no model is needed. Motion sources and the CSV
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
#include "flame/headmodel.h"
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
        "usage: animate --model FILE (--identity I | --code FIT.json) --motion SRC --out DIR [options]\n"
        "       animate --rig-file FACE.ffrig [--code FIT.json] --motion SRC --out DIR [options]\n\n"
        "Animates an identity of a trained identity field model with head-model parameters: its Gaussians follow the\n"
        "triangles of the head-model surface they are bound to. Writes PNG frames, an animated GIF, an MP4 when\n"
        "ffmpeg is on PATH, and the motion used as motion.csv.",
        {{"model", "", "checkpoint (.ffck) or model pack (.ffpk, `export --format model`) (required without --rig-file)"},
         {"rig-file", "", "animate the Gaussians a rig file holds instead of a model's identity: fit_image's face.ffrig "
                          "(the photo fit's detail surfels) or an identity.ffrig; --code then only gives the photo "
                          "camera and pose"},
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
    const bool from_rig = o.has("rig-file");
    FF_USAGE_CHECK(from_rig || o.has("model"), "--model (or --rig-file) is required (see --help)");
    FF_CHECK(!(from_rig && o.has("model")), "give either --model or --rig-file, not both");
    const int threads = o.threads();
    Context ctx(0, threads);
    std::optional<apps::Step> step;  // what an out-of-memory message names
    std::unique_ptr<apps::OpenedModel> m;
    std::unique_ptr<apps::Animator> anim;
    std::unique_ptr<apps::RigFileIdentity> rig_identity;
    apps::CodeFile cf;
    std::string who;
    flame::FlameModel head;
    if (from_rig) {
      step.emplace("reading rig file " + o.str("rig-file"));
      FF_CHECK(!o.was_given("identity"), "--identity needs --model: a rig file holds one identity");
      rig_identity = std::make_unique<apps::RigFileIdentity>(o.str("rig-file"), threads);
      if (o.has("code")) cf = apps::read_code_file(o.str("code"), -1, -1);
      who = o.str("rig-file") + " (its " + std::to_string(rig_identity->count()) + " Gaussians)";
      head = o.has("head_model") ? flame::load_head_model(o.str("head_model")) : flame::builtin_head_model_ref();
      rig_identity->check_head_model(head);
    } else {
      step.emplace("reading model " + o.str("model"));
      m = apps::open_model(ctx, o.str("model"), threads);
      const apps::Runtime& rt = m->rt;
      // the identity: code and neutral positions
      std::vector<float> code, xyz;
      if (o.has("code")) {
        FF_USAGE_CHECK(!o.was_given("identity"), "give either --identity or --code, not both");
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
      // head model, the animatable identity
      step.emplace("loading the head model");
      head = train::find_head_model(m->file, o.str("head_model"));
      step.emplace("decoding the identity");
      anim = std::make_unique<apps::Animator>(*m, head, code, xyz, threads);
    }
    train::Motion motion = apps::load_app_motion(o.str("motion"), head, int(o.integer("frames", 1, 100000)),
                                                 int(o.integer("stride", 1, 100000)), cf.has_pose ? &cf.pose : nullptr);
    for (const std::string& w : motion.warnings) std::fprintf(stderr, "animate: warning: %s\n", w.c_str());
    const int G = from_rig ? rig_identity->count() : anim->count();
    const std::vector<float> neutral_means = from_rig ? rig_identity->neutral_means() : anim->neutral_means();
    auto pose = [&](const train::RigPose& p) { return from_rig ? rig_identity->pose(p) : anim->pose(p); };
    auto render = [&](const apps::Gaussians& g, const ff_camera& c, const float* bg) {
      return from_rig ? rig_identity->render(g, c, bg) : m->rt.render(g, c, bg);
    };

    // camera
    const int width = int(o.integer("width", 1, 16384));
    Camera cam;
    const std::string cs = o.str("camera");
    if (cs == "front") cam = frontal_camera(neutral_means, width, width);
    else if (cs == "fit") {
      FF_CHECK(cf.has_camera, "--camera fit needs a code file (--code) with \"viewmat\" and \"camera\"");
      cam = resized(cf.camera, width);
    } else {
      FF_CHECK(!from_rig, "--camera ", cs, ": a training camera needs --model; with --rig-file use front or fit");
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
    if (o.integer("rig", 0, 1) && !from_rig)  // with --rig-file the rig is the input
      ffrt::write_file((std::filesystem::path(out) / "identity.ffrig").string(), anim->rig_file());
    step.emplace("rendering frames");
    const auto t0 = std::chrono::steady_clock::now();
    for (int f = 0; f < total; ++f) {
      const apps::Gaussians g = pose(motion.frames[size_t(f)]);
      frames.add(render(g, runtime_camera(cam), bg.data()));
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
    return apps::exit_status(e);
  }
}
#else
#include <cstdio>
int main() {
  std::fprintf(stderr, "animate: built without runtime/ (add `add_subdirectory(runtime)` to CMakeLists.txt)\n");
  return 1;
}
#endif
