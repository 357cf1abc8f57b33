// apps/interpolate.cpp — `interpolate`: a morph between two or more identities (codes AND Gaussian positions
// linearly interpolated) along a camera path (rotation slerp, centre and intrinsics linear between key cameras),
// rendered with the embeddable runtime; PNG frames + an animated GIF (+ MP4 when ffmpeg is installed).
//
//   interpolate --model ckpt.ffck --keys 0,3,7 --frames 24 --out_dir morph/
//   interpolate --model face.ffpk --keys 2,fit_me/fit.json --subject 5 --cameras 5:0,5:4,5:8
//   interpolate --model face.ffpk --keys 0,3 --motion talk --out_dir morph_talk/     (animated while it morphs)
// Keys are identity indices or fit_image code files. --motion poses every morph frame with the head model
// (apps/common/animator.h, the same motion sources as `animate`, looped over the morph; 'photo' blends the keys'
// photo_pose, neutral for identity keys), the interpolated identity's neutral head recovered from its positions. Cameras: --cameras lists training cameras stored in the model
// file (IDENTITY:VIEW, any identity's calibration); default: every training view of --subject, or the frontal
// default camera swinging ±--degrees/2 when the model file holds no cameras.
#ifdef FF_HAVE_RUNTIME
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <unistd.h>

#include <filesystem>

#include "apps/common/animator.h"
#include "apps/common/cli.h"
#include "apps/common/model_runtime.h"
#include "core/output_dir.h"

using namespace ff;

int main(int argc, char** argv) {
  apps::start_program(argv);
  try {
    apps::Options o("usage: interpolate --model FILE --keys K1,K2[,...] [options]\n\n"
                    "Morphs between identities (codes and positions interpolated linearly) along a camera path\n"
                    "(rotation slerp between key cameras) with facefield's embeddable runtime; writes PNG frames,\n"
                    "an animated GIF, and an MP4 when ffmpeg is on PATH.",
                    {{"model", "", "checkpoint (.ffck) or model identity pack (.ffpk) (required)"},
                     {"keys", "0,1", "key identities: indices and/or fit_image code files (fit.json), ≥ 2"},
                     {"frames", "24", "frames per key-to-key segment"},
                     {"hold", "4", "extra frames holding each key identity"},
                     {"cameras", "", "key cameras IDENTITY:VIEW,... (default: all training views of --subject)"},
                     {"subject", "0", "identity whose training cameras give the default camera path"},
                     {"loop", "1", "1: return to the first key (identities and cameras) at the end"},
                     {"degrees", "40", "without stored cameras: swing of the frontal camera (degrees)"},
                     {"width", "384", "output width in pixels (intrinsics rescaled, aspect kept)"},
                     {"background", "0,0,0", "background colour r,g,b in [0,1]"},
                     {"out_dir", "interpolate_out", "output folder (frame_NNNN.png, interpolate.gif, .mp4)"},
                     {"gif", "1", "1: write interpolate.gif"},
                     {"fps", "12", "frames per second of the GIF / MP4"},
                     {"mp4", "1", "1: also write interpolate.mp4 when ffmpeg is installed"},
                     {"motion", "", "animate while morphing: talk | smile | look_around | a NeRSemble .npz | a .csv "
                                    "(train/motion.h; looped) | photo (the keys' fit.json photo_pose blended); "
                                    "none: a static morph"},
                     {"motion_frames", "48", "frames of a built-in motion"},
                     {"stride", "1", "use every n-th frame of a file motion"},
                     {"head_model", "", "head model for --motion (default: the one the model file names)"},
                     {"threads", "0", "CPU threads (0: all)"}});
    if (!o.parse(argc, argv)) return 0;
    FF_USAGE_CHECK(o.has("model"), "--model is required (see --help)");
    const int threads = o.threads();
    Context ctx(0, threads);
    auto m = apps::open_model(ctx, o.str("model"), threads);
    const apps::Runtime& rt = m->rt;
    FF_CHECK(rt.info.has_generator, o.str("model"), " holds one identity's decoded Gaussians; interpolation needs a ",
             "model (a checkpoint or a model pack from `export --format model`)");

    // keys: (code, positions)
    struct Key {
      std::string label;
      std::vector<float> code, xyz;
      train::RigPose pose;  // a code file's photo_pose, else neutral (--motion photo)
    };
    std::vector<Key> keys;
    for (const std::string& k : o.list("keys")) {
      Key key;
      if (apps::is_integer(k)) {
        const int i = std::atoi(k.c_str());
        FF_CHECK(i >= 0 && i < rt.info.num_identities, "--keys: identity ", i, " out of range (the model has ",
                 rt.info.num_identities, ")");
        key.label = "identity " + k + (rt.name(i).empty() ? "" : " (" + rt.name(i) + ")");
        key.code = rt.code(i);
        key.xyz = rt.positions(i);
      } else {
        apps::CodeFile cf = apps::read_code_file(k, rt.info.code_dim, rt.info.num_gaussians);
        key.label = k;
        key.code = cf.code;
        key.xyz = cf.xyz.empty() ? rt.positions(-1) : cf.xyz;
        if (cf.has_pose) key.pose = cf.pose;
      }
      keys.push_back(std::move(key));
    }
    FF_CHECK(keys.size() >= 2, "--keys needs at least two identities or code files, got ", keys.size());
    const bool loop = o.integer("loop", 0, 1);
    if (loop) keys.push_back(keys.front());

    // key cameras
    const int width = int(o.integer("width", 1, 16384));
    std::vector<Camera> cams;
    if (o.has("cameras")) {
      for (const std::string& c : o.list("cameras")) cams.push_back(resized(m->camera_of(c), width));
    } else if (m->has_cameras()) {
      const int s = int(o.integer("subject", 0, 1 << 30));
      FF_CHECK(s < rt.info.num_identities, "--subject ", s, " out of range (", rt.info.num_identities, " identities)");
      FF_CHECK(m->num_views(s) > 0, "--subject ", s, " has no training cameras in ", o.str("model"));
      for (int v = 0; v < m->num_views(s); ++v) cams.push_back(resized(m->file.cameras[size_t(s)][size_t(v)], width));
    } else {
      const Camera front = frontal_camera(keys[0].xyz, width, width);
      const double half = o.number("degrees", 0, 180) / 2;
      const auto c = centroid(keys[0].xyz);
      for (double a : {-half, half}) {
        auto p = orbit(front, c, camera_up(front), 4, 2 * a);  // frame 1 of a 4-frame swing: angle a
        cams.push_back(p[1]);
      }
    }
    FF_CHECK(!cams.empty(), "no cameras");
    if (loop && cams.size() > 1) cams.push_back(cams.front());

    // the motion (optional): one head-model pose per morph frame
    const std::string motion_spec = o.str("motion");
    std::optional<flame::FlameModel> head;
    train::Motion motion;
    if (!motion_spec.empty()) {
      head.emplace(train::find_head_model(m->file, o.str("head_model")));
      if (motion_spec != "photo") {
        motion = apps::load_app_motion(motion_spec, *head, int(o.integer("motion_frames", 1, 100000)),
                                       int(o.integer("stride", 1, 100000)), nullptr);
        for (const std::string& w : motion.warnings) std::fprintf(stderr, "interpolate: warning: %s\n", w.c_str());
      }
    }

    const int per = int(o.integer("frames", 1, 100000)), hold = int(o.integer("hold", 0, 100000));
    const int segs = int(keys.size()) - 1;
    const int total = segs * (per + hold) + (loop ? 0 : hold + 1);  // loop: the last segment returns to key 0
    const auto bg = o.color("background");
    OutputDir out_dir(o.str("out_dir"), "interpolate");
    const std::string out = out_dir.path(), target = out_dir.target();
    const int W = cams[0].width, H = cams[0].height;
    apps::FrameSequence frames(out, "interpolate", W, H, int(o.integer("fps", 1, 100)), o.integer("gif", 0, 1));
    std::printf("interpolate: %d keys, %d frames of %dx%d, %zu key cameras\n", int(keys.size()) - (loop ? 1 : 0), total,
                W, H, cams.size() - (loop && cams.size() > 1 ? 1 : 0));
    int f = 0;
    auto emit = [&](int seg, double u) {
      const Key &a = keys[size_t(seg)], &b = keys[size_t(std::min(seg + 1, segs))];
      std::vector<float> code(a.code.size()), xyz(a.xyz.size());
      for (size_t i = 0; i < code.size(); ++i) code[i] = float((1 - u) * a.code[i] + u * b.code[i]);
      for (size_t i = 0; i < xyz.size(); ++i) xyz[i] = float((1 - u) * a.xyz[i] + u * b.xyz[i]);
      std::optional<apps::Gaussians> posed;
      if (head) {
        train::RigPose p;
        if (motion_spec == "photo") {  // the keys' photo poses blended (expression, joint axis-angles; no rigid motion)
          p.expression.assign(std::max(a.pose.expression.size(), b.pose.expression.size()), 0.0);
          for (size_t k = 0; k < p.expression.size(); ++k)
            p.expression[k] = (1 - u) * (k < a.pose.expression.size() ? a.pose.expression[k] : 0.0) +
                              u * (k < b.pose.expression.size() ? b.pose.expression[k] : 0.0);
          for (size_t k = 0; k < p.pose.size(); ++k) p.pose[k] = (1 - u) * a.pose.pose[k] + u * b.pose.pose[k];
        } else {
          p = motion.frames[size_t(f) % motion.frames.size()];
        }
        posed.emplace(apps::Animator(*m, *head, code, xyz, threads).pose(p));
      }
      const apps::Gaussians g = posed ? std::move(*posed) : rt.decode(code, &xyz);
      // camera: position along the whole sequence mapped onto the key-camera path
      const double tpos = total > 1 ? double(f) / (loop ? total : total - 1) * double(cams.size() - 1) : 0.0;
      const int ci = std::min(int(tpos), int(cams.size()) - 1);
      const Camera cam = ci + 1 < int(cams.size()) ? interpolate_camera(cams[size_t(ci)], cams[size_t(ci + 1)], tpos - ci)
                                                   : cams[size_t(ci)];
      frames.add(rt.render(g, runtime_camera(cam), bg.data()));
      ++f;
      if (isatty(1) || f == total) {
        std::printf("\rinterpolate: frame %d/%d", f, total);
        std::fflush(stdout);
      }
    };
    for (int s = 0; s < segs; ++s) {
      for (int h = 0; h < hold; ++h) emit(s, 0.0);
      for (int i = 0; i < per; ++i) emit(s, double(i) / per);
    }
    if (!loop) {
      for (int h = 0; h < hold; ++h) emit(segs, 0.0);
      emit(segs, 0.0);
    }
    std::printf("\n");
    frames.finish(o.integer("mp4", 0, 1), target);
    out_dir.commit();
    std::printf("interpolate: wrote %d frames to %s\n", total, target.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\ninterpolate: error: %s\n", apps::failure_message(e).c_str());
    return apps::exit_status(e);
  }
}
#else
#include <cstdio>
int main() {
  std::fprintf(stderr, "interpolate: built without runtime/ (add `add_subdirectory(runtime)` to CMakeLists.txt)\n");
  return 1;
}
#endif
