// apps/render.cpp — `render`: render one identity (by index, or a code file from fit_image) with the embeddable
// runtime, from a dataset camera, the code file's photo camera, a frontal default camera, or an orbit; PNG out.
//
//   render --model run/checkpoints/step_00002000.ffck --identity 3 --camera 3:0 --out id3.png
//   render --model face.ffpk --code fit_me/fit.json --camera fit --out me.png
//   render --model face.ffpk --identity 0 --orbit 36 --out_dir orbit/      # frames orbit/frame_0000.png …
// A model file (.ffck checkpoint or .ffpk model pack) is self-contained (train/model_file.h): the surface layout
// and the training cameras come from it, no dataset is read. A pack of decoded Gaussians renders from the code
// file's camera or the default frontal camera.
#ifdef FF_HAVE_RUNTIME
#include <cstdio>

#include <filesystem>

#include "apps/common/cli.h"
#include "apps/common/model_runtime.h"
#include "core/output_dir.h"

using namespace ff;

int main(int argc, char** argv) {
  apps::start_program(argv);
  try {
    apps::Options o("usage: render --model FILE (--identity I | --code FIT.json) [options]\n\n"
                    "Renders an identity of a trained identity field model (checkpoint .ffck or identity pack .ffpk)\n"
                    "with facefield's embeddable runtime and writes PNG images.",
                    {{"model", "", "checkpoint (.ffck) or identity pack (.ffpk) (required)"},
                     {"identity", "0", "identity index (see --list)"},
                     {"code", "", "code file written by fit_image (fit.json); positions from its face.ply"},
                     {"camera", "", "IDENTITY:VIEW (a training camera), 'fit' (the code file's photo camera) or "
                                    "'front'; default: the identity's first view, else 'fit', else 'front'"},
                     {"orbit", "0", "frames of an orbit around the face (0: a single image)"},
                     {"degrees", "360", "orbit sweep: 360 = full turn, less = swing ±degrees/2 and back"},
                     {"width", "0", "output width in pixels, intrinsics rescaled (0: the camera's own size)"},
                     {"height", "512", "height of the 'front' camera (its width defaults to the same)"},
                     {"background", "0,0,0", "background colour r,g,b in [0,1]"},
                     {"alpha", "0", "1: write RGBA PNGs (alpha = accumulated opacity)"},
                     {"out", "render.png", "output PNG (single image)"},
                     {"out_dir", "render_orbit", "output folder for --orbit frames"},
                     {"threads", "0", "CPU threads (0: all)"},
                     {"list", "0", "1: list the identities and cameras and exit"}});
    if (!o.parse(argc, argv)) return 0;
    FF_USAGE_CHECK(o.has("model"), "--model is required (see --help)");
    const int threads = o.threads();
    Context ctx(0, threads > 0 ? threads : 0);
    auto m = apps::open_model(ctx, o.str("model"), threads);
    const apps::Runtime& rt = m->rt;
    if (o.integer("list", 0, 1)) {
      std::printf("%s: %d identities, %d Gaussians, code_dim %d%s\n", o.str("model").c_str(), rt.info.num_identities,
                  rt.info.num_gaussians, rt.info.code_dim, rt.info.has_generator ? "" : " (decoded Gaussians only)");
      for (int i = 0; i < rt.info.num_identities; ++i)
        std::printf("  identity %d  %-24s %d training cameras (--camera %d:0 … %d:%d)\n", i, rt.name(i).c_str(),
                    m->num_views(i), i, i, std::max(0, m->num_views(i) - 1));
      return 0;
    }

    // what to render
    apps::Gaussians g;
    apps::CodeFile cf;
    const int identity = int(o.integer("identity", 0, 1 << 30));
    if (o.has("code")) {
      FF_CHECK(rt.info.has_generator, "--code needs a model with a generator; ", o.str("model"), " holds decoded Gaussians");
      FF_USAGE_CHECK(!o.was_given("identity"), "give either --identity or --code, not both");
      cf = apps::read_code_file(o.str("code"), rt.info.code_dim, rt.info.num_gaussians);
      std::printf("render: code from %s, positions %s\n", cf.path.c_str(),
                  cf.xyz.empty() ? "= the identities' mean (no matching face.ply)" : "from face.ply");
      g = rt.decode(cf.code, cf.xyz.empty() ? nullptr : &cf.xyz);
    } else {
      FF_CHECK(identity < rt.info.num_identities, "--identity ", identity, " out of range: the model has ",
               rt.info.num_identities, " identities (see --list 1)");
      g = rt.identity(identity);
    }

    // camera
    const std::vector<float> xyz = g.means();
    std::string cam_spec = o.str("camera");
    if (cam_spec.empty()) cam_spec = (!o.has("code") && m->num_views(identity) > 0) ? std::to_string(identity) + ":0"
                                     : cf.has_camera                                   ? "fit"
                                                                                       : "front";
    Camera cam;
    if (cam_spec == "fit") {
      FF_CHECK(cf.has_camera, "--camera fit needs a code file (--code) with \"viewmat\" and \"camera\"");
      cam = cf.camera;
    } else if (cam_spec == "front") {
      const int h = int(o.integer("height", 1, 16384));
      const int w = o.was_given("width") ? int(o.integer("width", 1, 16384)) : h;
      cam = frontal_camera(xyz, w, h);
    } else {
      cam = m->camera_of(cam_spec);
    }
    cam = resized(cam, int(o.integer("width", 0, 16384)));
    const auto bg = o.color("background");
    const bool alpha = o.integer("alpha", 0, 1);
    const int frames = int(o.integer("orbit", 0, 100000));
    if (frames == 0) {
      auto img = rt.render(g, runtime_camera(cam), bg.data());
      apps::write_png_rgba(o.str("out"), img, cam.width, cam.height, alpha);
      std::printf("render: wrote %s (%dx%d, %d Gaussians)\n", o.str("out").c_str(), cam.width, cam.height, g.count());
      return 0;
    }
    OutputDir out_dir(o.str("out_dir"), "render");
    const auto path = orbit(cam, centroid(xyz), camera_up(cam), frames, o.number("degrees", 1, 360));
    for (int f = 0; f < frames; ++f) {
      auto img = rt.render(g, runtime_camera(path[size_t(f)]), bg.data());
      char name[64];
      std::snprintf(name, sizeof name, "frame_%04d.png", f);
      apps::write_png_rgba((std::filesystem::path(out_dir.path()) / name).string(), img, cam.width, cam.height, alpha);
    }
    out_dir.commit();
    std::printf("render: wrote %d orbit frames (%dx%d) to %s\n", frames, cam.width, cam.height, out_dir.target().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "render: error: %s\n", apps::failure_message(e).c_str());
    return apps::exit_status(e);
  }
}
#else
#include <cstdio>
int main() {
  std::fprintf(stderr, "render: built without runtime/ (add `add_subdirectory(runtime)` to CMakeLists.txt)\n");
  return 1;
}
#endif
