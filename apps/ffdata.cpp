// apps/ffdata.cpp — the `ffdata` CLI: synthetic NeRSemble-layout datasets, one-command preprocessing, validation.
//
//   ffdata synth --out DIR [--n 64 --seed 0 --width 275 --height 401 --heldout K (default min(8, n/4))]
//                [--sequences Q --timesteps T --expression-std X --heldout-sequences H]   (expressions; default 1 × 1)
//   ffdata preprocess --root DIR [--model builtin|FLAME file --masks FLAME_masks.pkl] [--sequences a,b|*]
//   ffdata check --root DIR [--strict] [--deep] [--sequences a,b|*]
// Errors print one line and exit 1 (check: exit 1 when nothing is usable, split.json is invalid, or when --strict and
// there is an error).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "core/check.h"
#include "core/output_dir.h"
#include "core/parallel.h"
#include "flame/flame.h"
#include "flame/mesh.h"
#include "flame/npy.h"
#if __has_include("flame/headmodel.h")
#include "flame/headmodel.h"
#define FFDATA_HAVE_BUILTIN 1
#endif
#include "train/data/nersemble_reader.h"
#include "train/data/preprocess.h"
#include "train/data/synth.h"

namespace {

using ff::apps::Options;
using Opt = ff::apps::Options::Opt;

const char* kUsage = "ffdata — NeRSemble-layout datasets for facefield\n\nusage: ffdata <command> [options]";

// head model options (synth, preprocess); `model_default`: the --model default of the command
std::vector<Opt> model_options(const std::string& model_default, const std::string& model_help) {
  return {{"model", model_default,
           "NAME|FILE: \"builtin\" (facefield's built-in head model) or a FLAME file: flame2023.pkl, generic_model.pkl "
           "or an .npz conversion" + model_help},
          {"masks", "", "FILE: FLAME_masks.pkl (face-mask regions; needed with a FLAME file)"},
          {"uv-obj", "", "FILE: head_template_mesh.obj (UVs; synth needs UVs)"},
          {"landmarks-with-eyes", "", "FILE: landmark_embedding_with_eyes.npy (synth places eyes/brows/lips with them)"},
          {"expr-offset", std::to_string(ff::flame::kFlameShapeColumns), "N: shapedirs column where expressions start"}};
}

std::vector<Opt> concat(std::vector<Opt> a, const std::vector<Opt>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Options synth_options() {
  return Options(
      R"(usage: ffdata synth --out DIR [options]

Writes N identities in the NeRSemble layout (calibration/camera_params.json, the FLAME tracking npz,
timesteps/frame_00000/images-2x/cam_<serial>.png, alpha_map/), split.json, synth.json and two contact sheets,
then runs `ffdata preprocess` on it. Deterministic for a seed.
With --sequences Q and/or --timesteps T (> 1), every identity gets Q sequences (EXP-1-head, EXP-2-eyes, ...) of T
timesteps with expressions (the built-in head model's named expressions, jaw, neck, eyes, small head motion), each
sequence with its own tracking npz; the reference frame (EXP-1-head frame 0) is neutral; split.json's heldout_frames
holds out the last --heldout-sequences sequences of every training identity, and contact_sheet_expressions.png
shows identity 0's frames.)",
      concat({{"out", "", "DIR: dataset root (required; created)"},
              {"n", "64", "N: identities, in [1, 100000]"},
              {"seed", "0", "S: random seed"},
              {"width", "275", "W: image width (275 = 2200/8), in [1, 16384]"},
              {"height", "401", "H: image height (401 = 3208/8), in [1, 16384]"},
              {"heldout", "", "K: identities held out in split.json, in [0, n-1] (default min(8, n/4))"},
              {"texture", "512", "N: procedural texture size in texels, in [1, 16384]"},
              {"supersample", "2", "K: anti-aliasing samples per pixel axis, in [1, 16]"},
              {"shape-std", "1", "X: shape coefficients ~ N(0, X^2), in [0, 100]"},
              {"n-shape", "-1", "N: shape modes sampled (-1: all the model has, at most 300), in [-1, 300]"},
              {"distance", "1.0", "M: camera distance in metres, in [0.001, 1000]"},
              {"focal", "8800", "F: fx = fy at the 2200x3208 calibration resolution, in [1, 1e7]"},
              {"sequence", ff::data::kDefaultSequence, "NAME: sequence folder (the reference sequence)"},
              {"sequences", "1", "Q: sequences per identity (NeRSemble's names), in [1, 10]"},
              {"timesteps", "1", "T: timesteps per sequence, in [1, 10000]"},
              {"expression-std", "0.5", "X: typical expression coefficient (jaw/neck/eyes scale with it), in [0, 3]"},
              {"head-motion", "3", "DEG: sigma of the per-frame head rotation in degrees, in [0, 45]"},
              {"heldout-sequences", "",
               "H: last sequences held out per training identity, in [0, Q-1] (default 1 when Q >= 2, else 0)"},
              {"threads", "0", "N: worker threads (0: all hardware threads), in [0, 1024]"},
              {"png-level", "4", "N: PNG compression, in [1, 9]"},
              {"no-preprocess", "", "skip the preprocessing step", true},
              {"no-contact-sheets", "", "skip contact_sheet_centre.png / contact_sheet_views.png", true},
              {"quiet", "", "no per-identity lines", true}},
             model_options("builtin", "")));
}

Options preprocess_options() {
  return Options(
      R"(usage: ffdata preprocess --root DIR [options]

Per subject: 00000.ply (tracked neutral head, canonical), flame_cano2world.txt, 00000_facemask.ply and its
subdivisions, flamemask_proj/cam_<serial>.png (soft face mask, occluded by the whole head) and
filled_masked_images/cam_<serial>.png (masked GT on black). Only missing outputs are written.)",
      concat({{"root", "", "DIR: dataset root (required)"},
              {"subjects", "", "a,b,...: only these subjects (none: all, held-out included)"},
              {"sequence", ff::data::kDefaultSequence, "NAME: reference sequence folder"},
              {"frame", "0", "T: reference frame / timesteps/frame_<T>, in [0, 1000000]"},
              {"sequences", "*", "a,b,...|*: the other frames preprocessed too: every timestep of these sequences (*: all)"},
              {"reference-only", "", "only the reference frame (the seed's single frame)", true},
              {"max-timesteps", "0", "N: at most the first N timesteps per sequence (0: all), in [0, 1000000]"},
              {"image-folder", ff::data::kDefaultImageFolder, "NAME: raw image folder"},
              {"subdivisions", "3", "N: face-mask subdivision levels, in [0, 8]"},
              {"regions", "",
               "a,b,...: face-mask regions (none: the seed's new_mouth,face,left_eyeball,right_eyeball,lips,nose,"
               "left_eye_region,right_eye_region)"},
              {"no-close-mouth", "", "do not add the seed's 30 mouth faces (FLAME 5023-vertex models only)", true},
              {"blur", "7", "S: mask blur sigma in pixels at 1100 px width (scaled with the width), in [0, 1000]"},
              {"supersample", "2", "K: mask anti-aliasing, in [1, 16]"},
              {"cull-backfaces", "", "drop back-facing triangles like the seed's pyvista render", true},
              {"principal-point", "exact", "exact|seed: intrinsics conversion (see train/data/nersemble.h)"},
              {"force", "", "rebuild every output", true},
              {"threads", "0", "N: worker threads (0: all), in [0, 1024]"},
              {"png-level", "6", "N: PNG compression, in [1, 9]"},
              {"quiet", "", "no per-subject lines", true}},
             model_options("", " (none: the model recorded in the dataset's synth.json, else builtin)")));
}

Options check_options() {
  return Options(
      R"(usage: ffdata check --root DIR [options]

Scans the dataset like the trainer's reader and prints the validation report: subjects, cameras, image sizes and
every problem (missing camera, wrong-size image, camera without an image, unreadable file, ...).)",
      {{"root", "", "DIR: dataset root (required)"},
       {"strict", "", "exit 1 when there is any error (the reader's strict mode refuses such data)", true},
       {"deep", "", "also decode every image and mask (reads everything once)", true},
       {"split", "all", "train|heldout|heldout_expr|all: subjects (and frames) reported and loaded by --deep"},
       {"subjects", "", "a,b,...: only these subjects (none: all)"},
       {"cameras", "", "a,b,...: expected camera serials (none: the union over subjects)"},
       {"sequence", ff::data::kDefaultSequence, "NAME: reference sequence folder"},
       {"frame", "0", "T: reference tracked frame, in [0, 1000000]"},
       {"sequences", "*", "a,b,...|*: the other frames checked too: every timestep of these sequences (*: all)"},
       {"reference-only", "", "only the reference frame (the seed's single frame)", true},
       {"max-timesteps", "0", "N: at most the first N timesteps per sequence (0: all), in [0, 1000000]"},
       {"image-folder", ff::data::kDefaultImageFolder, "NAME: raw image folder"},
       {"width", "0", "W: expected image width (0: the most common size), in [0, 16384]"},
       {"height", "0", "H: expected image height (0: the most common size), in [0, 16384]"},
       {"gt", "auto", "auto|masked|raw: ground truth source (auto: masked when preprocessed)"},
       {"require-preprocessed", "", "treat missing preprocessed outputs as errors", true},
       {"principal-point", "exact", "exact|seed: intrinsics conversion"},
       {"disk-cache", "", "DIR: with --deep, write/read the decoded-view disk cache there"},
       {"threads", "0", "N: decode threads for --deep (0: all), in [0, 1024]"},
       {"json", "", "print the report as JSON instead of text", true}});
}

ff::flame::FlameModel load_model(const Options& a, const std::string& name) {
  ff::flame::FlameLoadOptions lo;
  lo.expr_offset = int(a.integer("expr-offset", 0, 1 << 20));
  ff::flame::FlameModel m;
#ifdef FFDATA_HAVE_BUILTIN
  m = ff::flame::load_head_model(name, lo);
#else
  FF_CHECK(name != "builtin", "the built-in head model is not available in this build; pass --model FILE");
  m = ff::flame::load_flame_model(name, lo);
#endif
  if (a.has("masks")) ff::flame::load_flame_masks(m, a.str("masks"));
  if (a.has("uv-obj")) ff::flame::load_uv_obj(m, a.str("uv-obj"));
  if (a.has("landmarks-with-eyes")) ff::flame::load_landmarks_with_eyes(m, a.str("landmarks-with-eyes"));
  m.validate();
  return m;
}

ff::data::PrincipalPoint principal_point(const Options& a) {
  return a.choice("principal-point", {"exact", "seed"}) == "exact" ? ff::data::PrincipalPoint::Exact
                                                                   : ff::data::PrincipalPoint::Seed;
}

int cmd_synth(const Options& a) {
  ff::data::SynthOptions o;
  FF_USAGE_CHECK(a.has("out"), "synth: --out DIR is required");
  o.n = int(a.integer("n", 1, 100000));
  o.seed = uint64_t(a.uinteger("seed", ~0ull));
  o.width = int(a.integer("width", 1, 16384));
  o.height = int(a.integer("height", 1, 16384));
  if (a.has("heldout")) {
    o.heldout = int(a.integer("heldout", 0, 100000));
    FF_CHECK(o.heldout < o.n, "synth: --heldout ", o.heldout, " must be less than --n ", o.n,
             " (at least one identity must train)");
  }
  o.texture_size = int(a.integer("texture", 1, 16384));
  o.supersample = int(a.integer("supersample", 1, 16));
  o.shape_std = a.number("shape-std", 0, 100);
  o.n_shape = int(a.integer("n-shape", -1, 300));
  o.camera_distance = a.number("distance", 1e-3, 1000);
  o.focal = a.number("focal", 1, 1e7);
  o.sequence = a.str("sequence");
  o.sequences = int(a.integer("sequences", 1, int(ff::data::nersemble_sequences().size())));
  o.timesteps = int(a.integer("timesteps", 1, 10000));
  o.expression_std = a.number("expression-std", 0, 3);
  o.head_motion_deg = a.number("head-motion", 0, 45);
  if (a.has("heldout-sequences")) {
    o.heldout_sequences = int(a.integer("heldout-sequences", 0, 9));
    FF_CHECK(o.heldout_sequences < o.sequences, "synth: --heldout-sequences ", o.heldout_sequences,
             " must be less than --sequences ", o.sequences, " (the reference sequence is never held out)");
  }
  o.threads = a.threads();
  o.png_compression = int(a.integer("png-level", 1, 9));
  o.preprocess = !a.flag("no-preprocess");
  o.contact_sheets = !a.flag("no-contact-sheets");
  o.verbose = !a.flag("quiet");
  o.model_name = a.str("model");
  ff::OutputDir out_dir(a.str("out"), "ffdata-synth");  // written aside, renamed into place when complete
  o.out = out_dir.path();
  ff::flame::FlameModel m = load_model(a, o.model_name);
  ff::data::SynthReport r = ff::data::write_synth_dataset(m, o);
  out_dir.commit();
  const char* out = out_dir.target().c_str();
  std::printf("%s", r.text().c_str());
  std::printf("wrote %s (contact sheets: %s/contact_sheet_centre.png, %s/contact_sheet_views.png%s)\n", out, out, out,
              ff::data::synth_has_expressions(o) ? (std::string(", ") + out + "/contact_sheet_expressions.png").c_str() : "");
  return 0;
}

int cmd_preprocess(const Options& a) {
  FF_USAGE_CHECK(a.has("root"), "preprocess: --root DIR is required");
  std::string root = a.str("root");
  std::string def = "builtin";
  std::string sj = root + "/synth.json";
  if (std::filesystem::exists(sj)) {
    auto b = ff::npy::read_file_bytes(sj);
    try {
      auto j = nlohmann::json::parse(b.begin(), b.end());
      if (j.contains("model") && j["model"].is_string()) def = j["model"].get<std::string>();
    } catch (const nlohmann::json::exception&) {
    }
  }
  // every option is checked before the model is loaded
  ff::data::PreprocessOptions o;
  if (a.has("subjects")) o.subjects = a.list("subjects");
  o.sequence = a.str("sequence");
  o.frame = int(a.integer("frame", 0, 1000000));
  if (!a.flag("reference-only")) o.sequences = a.list("sequences");
  o.max_timesteps = int(a.integer("max-timesteps", 0, 1000000));
  o.image_folder = a.str("image-folder");
  o.subdivisions = int(a.integer("subdivisions", 0, 8));
  if (a.has("regions")) o.regions = a.list("regions");
  o.close_mouth = !a.flag("no-close-mouth");
  o.blur_sigma = a.number("blur", 0, 1000);
  o.supersample = int(a.integer("supersample", 1, 16));
  o.cull_backfaces = a.flag("cull-backfaces");
  o.principal_point = principal_point(a);
  o.force = a.flag("force");
  o.threads = a.threads();
  o.png_compression = int(a.integer("png-level", 1, 9));
  o.verbose = !a.flag("quiet");
  ff::flame::FlameModel m = load_model(a, a.has("model") ? a.str("model") : def);
  auto t0 = std::chrono::steady_clock::now();
  ff::data::PreprocessReport r = ff::data::preprocess_dataset(root, m, o);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.skipped) std::printf("%s", r.validation.c_str());
  std::printf("%s(%.2f s)\n", r.text().c_str(), s);
  return 0;
}

int cmd_check(const Options& a) {
  FF_USAGE_CHECK(a.has("root"), "check: --root DIR is required");
  ff::data::DatasetOptions o;
  const std::string split = a.choice("split", {"train", "heldout", "heldout_expr", "all"});
  o.split = split == "train" || split == "heldout_expr" ? ff::data::Split::Train
            : split == "heldout"                         ? ff::data::Split::Heldout
                                                         : ff::data::Split::All;
  o.frames = split == "heldout_expr" ? ff::data::FrameSplit::Heldout
             : split == "all"        ? ff::data::FrameSplit::All
                                     : ff::data::FrameSplit::Train;
  if (a.has("subjects")) o.subjects = a.list("subjects");
  if (a.has("cameras")) o.cameras = a.list("cameras");
  o.sequence = a.str("sequence");
  o.frame = int(a.integer("frame", 0, 1000000));
  if (!a.flag("reference-only")) o.sequences = a.list("sequences");
  o.max_timesteps = int(a.integer("max-timesteps", 0, 1000000));
  o.image_folder = a.str("image-folder");
  o.width = int(a.integer("width", 0, 16384));
  o.height = int(a.integer("height", 0, 16384));
  const std::string gt = a.choice("gt", {"auto", "masked", "raw"});
  o.gt = gt == "auto" ? ff::data::GtSource::Auto : gt == "masked" ? ff::data::GtSource::Masked : ff::data::GtSource::Raw;
  o.require_preprocessed = a.flag("require-preprocessed");
  o.principal_point = principal_point(a);
  o.disk_cache = a.str("disk-cache");
  o.prefetch_threads = 0;
  const int threads = a.threads();
  std::string root = a.str("root");
  ff::data::ValidationReport rep = ff::data::validate_dataset(root, o);
  if (a.flag("json")) {
    nlohmann::json j;
    j["root"] = rep.root;
    j["width"] = rep.width;
    j["height"] = rep.height;
    j["cameras"] = rep.cameras;
    j["errors"] = rep.errors();
    j["warnings"] = rep.warnings();
    if (!rep.split_error.empty()) j["split_error"] = rep.split_error;
    for (auto& s : rep.subjects)
      j["subjects"].push_back({{"name", s.name}, {"ok", s.ok}, {"heldout", s.heldout}, {"preprocessed", s.preprocessed},
                               {"cameras", s.cameras}, {"gt", s.gt}, {"frames", s.frames},
                               {"heldout_frames", s.heldout_frames}});
    for (auto& p : rep.problems)
      j["problems"].push_back({{"severity", p.severity == ff::data::Severity::Error ? "error" : "warning"},
                               {"subject", p.subject}, {"camera", p.camera}, {"file", p.file}, {"what", p.what}});
    std::printf("%s\n", j.dump(1).c_str());
  } else {
    std::printf("%s", rep.text().c_str());
  }
  if (a.flag("deep") && rep.usable() > 0 && rep.split_error.empty()) {
    auto t0 = std::chrono::steady_clock::now();
    ff::data::NersembleReader ds = ff::data::NersembleReader::open(root, o);
    ds.preload_all(threads);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto st = ds.cache_stats();
    int views = 0;
    for (int i = 0; i < ds.num_subjects(); ++i) views += int(ds.subject(i).cameras.size());
    std::printf("deep check: decoded %d views of %d subjects in %.2f s (%llu from PNG/JPEG, %llu from the disk cache, %.1f MiB cached)\n",
                views, ds.num_subjects(), s, (unsigned long long)st.decoded, (unsigned long long)st.disk_hits,
                double(st.bytes) / (1 << 20));
  }
  if (rep.usable() == 0) return 1;
  if (!rep.split_error.empty()) return 1;  // train refuses such a dataset
  if (a.flag("strict") && rep.errors() > 0) return 1;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ff::apps::start_program(argv);
  try {
    ff::apps::Commands commands(kUsage, {{"synth", "--out DIR [options]    write a synthetic multi-view dataset (then preprocess it)",
                                          synth_options()},
                                         {"preprocess", "--root DIR [options]  build meshes, face masks and masked GT "
                                          "(only missing outputs)", preprocess_options()},
                                         {"check", "--root DIR [options]  print the validation report", check_options()}});
    if (argc < 2) {
      commands.print_help();
      return 1;
    }
    ff::apps::Command* cmd = commands.parse(argc, argv);
    if (!cmd) return 0;
    if (cmd->name == "synth") return cmd_synth(cmd->options);
    if (cmd->name == "preprocess") return cmd_preprocess(cmd->options);
    return cmd_check(cmd->options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ffdata: %s\n", ff::apps::failure_message(e).c_str());
    return ff::apps::exit_status(e);
  }
}
