// apps/export.cpp — `export`: a trained identity field model to viewer / runtime formats.
//
//   export --model ckpt.ffck --out face.ffpk                         # model pack: generator + all codes (runtime)
//   export --model ckpt.ffck --identities 0,4 --out two.ffpk         # model pack with a subset of identities
//   export --model face.ffpk --identity 3 --out id3.ply              # 3DGS .ply (SH-3 layout, zero f_rest)
//   export --model face.ffpk --identity 3 --up -y --out id3.ply      # .ply for y-down (COLMAP) viewers
//   export --model face.ffpk --code fit_me/fit.json --out me.splat   # .splat for web viewers
//   export --model face.ffpk --identity 3 --format gaussians --out id3.ffpk   # pack of decoded Gaussians
// Formats (--format, default from the extension): ply, splat, gaussians (.ffpk of one decoded identity), model
// (.ffpk with generator + decoders + layout + codes + positions; the default for .ffpk without --identity/--code).
#ifdef FF_HAVE_RUNTIME
#include <cstdio>

#include <filesystem>

#include "apps/common/cli.h"
#include "apps/common/model_runtime.h"

using namespace ff;

int main(int argc, char** argv) {
  apps::start_program(argv);
  try {
    apps::Options o("usage: export --model FILE --out FILE [options]\n\n"
                    "Exports a trained identity field model (checkpoint .ffck or identity pack .ffpk) as a runtime\n"
                    "identity pack, or one identity's decoded Gaussians as 3DGS .ply / .splat / Gaussian pack.",
                    {{"model", "", "checkpoint (.ffck) or identity pack (.ffpk) (required)"},
                     {"out", "", "output file (required): .ply, .splat or .ffpk"},
                     {"format", "", "ply | splat | gaussians | model (default: from --out's extension)"},
                     {"identity", "", "identity to decode for ply/splat/gaussians (default 0)"},
                     {"code", "", "or: a fit_image code file (fit.json) to decode; positions from its face.ply"},
                     {"identities", "", "model packs: identities to keep, e.g. 0,3,5 (default: all)"},
                     {"sh_degree", "3", "ply: 3 = the full SH-3 layout (45 zero f_rest, what graphdeco's loader "
                                        "expects), 0 = DC only"},
                     {"up", "y", "ply: y = facefield's frame (y up), -y = turned 180 deg about x for viewers that "
                                 "assume a y-down (COLMAP) world (runtime/formats.h)"},
                     {"threads", "0", "CPU threads (0: all)"}});
    if (!o.parse(argc, argv)) return 0;
    FF_USAGE_CHECK(o.has("model"), "--model is required (see --help)");
    FF_USAGE_CHECK(o.has("out"), "--out is required (see --help)");
    const std::string out = o.str("out"), ext = std::filesystem::path(out).extension().string();
    std::string fmt = o.str("format");
    if (fmt.empty()) {
      if (ext == ".ply") fmt = "ply";
      else if (ext == ".splat") fmt = "splat";
      else if (ext == ".ffpk") fmt = (o.has("identity") || o.has("code")) ? "gaussians" : "model";
      else FF_THROW("cannot tell the format from '", out, "': use .ply, .splat or .ffpk, or pass --format");
    }
    FF_CHECK(fmt == "ply" || fmt == "splat" || fmt == "gaussians" || fmt == "model", "--format must be ply, splat, ",
             "gaussians or model, got '", fmt, "'");
    const int sh = int(o.integer("sh_degree", 0, 3));
    FF_CHECK(sh == 0 || sh == 3, "--sh_degree must be 0 or 3");
    const bool y_down = o.choice("up", {"y", "-y"}) == "-y";
    FF_USAGE_CHECK(!y_down || fmt == "ply", "--up -y is for .ply output (", fmt, " keeps facefield's frame)");
    const int threads = o.threads();
    Context ctx(0, threads);
    const std::string model = o.str("model");
    std::vector<int> ids;
    for (const auto& s : o.list("identities")) {
      FF_CHECK(apps::is_integer(s), "--identities must be a comma-separated list of indices, got '", s, "'");
      ids.push_back(std::atoi(s.c_str()));
    }

    if (fmt == "model") {
      FF_CHECK(!o.has("identity") && !o.has("code"), "--format model exports every identity's code; use --identities",
               " to choose some (--identity / --code are for ply, splat and gaussians)");
      const train::ModelFile mf = train::load_model_file(ctx, model, Device::cpu());
      const ffrt::Pack p = train::model_pack(mf, ids);
      ffrt::write_pack(out, p);
      // verify: the runtime opens what was written
      apps::Runtime rt;
      rt.open_file(out, 1);
      std::printf("export: wrote %s (model pack: %d identities, %d Gaussians each, code_dim %d, %.1f MB)\n", out.c_str(),
                  rt.info.num_identities, rt.info.num_gaussians, rt.info.code_dim,
                  double(std::filesystem::file_size(out)) / 1e6);
      return 0;
    }

    FF_CHECK(ids.empty(), "--identities is for --format model; use --identity I for ", fmt);
    auto m = apps::open_model(ctx, model, threads);
    const apps::Runtime& rt = m->rt;
    apps::Gaussians g;
    std::string what;
    if (o.has("code")) {
      FF_CHECK(!o.has("identity"), "give either --identity or --code, not both");
      FF_CHECK(rt.info.has_generator, "--code needs a model with a generator");
      apps::CodeFile cf = apps::read_code_file(o.str("code"), rt.info.code_dim, rt.info.num_gaussians);
      g = rt.decode(cf.code, cf.xyz.empty() ? nullptr : &cf.xyz);
      what = "code " + cf.path + (cf.xyz.empty() ? " (mean positions)" : " (positions from face.ply)");
    } else {
      const int i = o.has("identity") ? int(o.integer("identity", 0, 1 << 30)) : 0;
      FF_CHECK(i < rt.info.num_identities, "--identity ", i, " out of range (the model has ", rt.info.num_identities, ")");
      g = rt.identity(i);
      what = "identity " + std::to_string(i) + (rt.name(i).empty() ? "" : " (" + rt.name(i) + ")");
    }
    const ff_format f = fmt == "ply" ? FF_FORMAT_PLY : fmt == "splat" ? FF_FORMAT_SPLAT : FF_FORMAT_PACK;
    if (f == FF_FORMAT_PLY)
      apps::check(ff_gaussians_save_ply(g.g, out.c_str(), sh, y_down ? 1 : 0), "ff_gaussians_save_ply");
    else
      apps::check(ff_gaussians_save(g.g, out.c_str(), f, sh), "ff_gaussians_save");
    std::printf("export: wrote %s (%s, %d Gaussians of %s, %.2f MB)\n", out.c_str(), fmt.c_str(), g.count(), what.c_str(),
                double(std::filesystem::file_size(out)) / 1e6);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "export: error: %s\n", apps::failure_message(e).c_str());
    return apps::exit_status(e);
  }
}
#else
#include <cstdio>
int main() {
  std::fprintf(stderr, "export: built without runtime/ (add `add_subdirectory(runtime)` to CMakeLists.txt)\n");
  return 1;
}
#endif
