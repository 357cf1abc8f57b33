// apps/ffdata.cpp — the `ffdata` CLI: synthetic NeRSemble-layout datasets, one-command preprocessing, validation.
//
//   ffdata synth --out DIR [--n 64 --seed 0 --width 275 --height 401 --heldout 8]
//   ffdata preprocess --root DIR [--model builtin|FLAME file --masks FLAME_masks.pkl]
//   ffdata check --root DIR [--strict] [--deep]
// Errors print one line and exit 1 (check: exit 1 when nothing is usable, or when --strict and there is an error).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "flame/flame.h"
#include "flame/mesh.h"
#include "flame/npy.h"
#if __has_include("flame/headmodel.h")
#include "flame/headmodel.h"
#define FFDATA_HAVE_BUILTIN 1
#endif
#include "train/data/dataset.h"
#include "train/data/preprocess.h"
#include "train/data/synth.h"

namespace {

const char* kHelp = R"(ffdata — NeRSemble-layout datasets for facefield

usage:
  ffdata synth --out DIR [options]        write a synthetic multi-view dataset (then preprocess it)
  ffdata preprocess --root DIR [options]  build meshes, face masks and masked GT (only missing outputs)
  ffdata check --root DIR [options]       print the validation report
  ffdata <command> --help                 the options of one command
)";

const char* kModelHelp = R"(head model (synth, preprocess):
  --model NAME|FILE         "builtin" (facefield's built-in head model) or a FLAME file: flame2023.pkl,
                            generic_model.pkl or an .npz conversion (default: builtin; preprocess: the model
                            recorded in the dataset's synth.json, else builtin)
  --masks FILE              FLAME_masks.pkl (face-mask regions; needed with a FLAME file)
  --uv-obj FILE             head_template_mesh.obj (UVs; synth needs UVs)
  --landmarks-with-eyes FILE  landmark_embedding_with_eyes.npy (synth places eyes/brows/lips with them)
  --expr-offset N           shapedirs column where expressions start (default 300)
)";

const char* kSynthHelp = R"(ffdata synth --out DIR [options]

Writes N identities in the NeRSemble layout (calibration/camera_params.json, the FLAME tracking npz,
timesteps/frame_00000/images-2x/cam_<serial>.png, alpha_map/), split.json, synth.json and two contact sheets,
then runs `ffdata preprocess` on it. Deterministic for a seed.

options:
  --out DIR                 dataset root (required; created)
  --n N                     identities (default 64)
  --seed S                  random seed (default 0)
  --width W                 image width (default 275 = 2200/8)
  --height H                image height (default 401 = 3208/8)
  --heldout K               identities held out in split.json (default 8)
  --texture N               procedural texture size in texels (default 512)
  --supersample K           anti-aliasing samples per pixel axis (default 2)
  --shape-std X             shape coefficients ~ N(0, X²) (default 1)
  --n-shape N               shape modes sampled (default -1: all the model has, at most 300)
  --distance M              camera distance in metres (default 1.0)
  --focal F                 fx = fy at the 2200x3208 calibration resolution (default 8800)
  --sequence NAME           sequence folder (default EXP-1-head)
  --threads N               worker threads (default 0: all hardware threads)
  --png-level N             PNG compression 1..9 (default 4)
  --no-preprocess           skip the preprocessing step
  --no-contact-sheets       skip contact_sheet_centre.png / contact_sheet_views.png
  --quiet                   no per-identity lines
)";

const char* kPreprocessHelp = R"(ffdata preprocess --root DIR [options]

Per subject: 00000.ply (tracked neutral head, canonical), flame_cano2world.txt, 00000_facemask.ply and its
subdivisions, flamemask_proj/cam_<serial>.png (soft face mask, occluded by the whole head) and
filled_masked_images/cam_<serial>.png (masked GT on black). Only missing outputs are written.

options:
  --root DIR                dataset root (required)
  --subjects a,b,...        only these subjects (default: all, held-out included)
  --sequence NAME           sequence folder (default EXP-1-head)
  --frame T                 tracked frame / timesteps/frame_<T> (default 0)
  --image-folder NAME       raw image folder (default images-2x)
  --subdivisions N          face-mask subdivision levels (default 3)
  --regions a,b,...         face-mask regions (default: the seed's new_mouth,face,left_eyeball,right_eyeball,
                            lips,nose,left_eye_region,right_eye_region)
  --no-close-mouth          do not add the seed's 30 mouth faces (FLAME 5023-vertex models only)
  --blur S                  mask blur sigma in pixels at 1100 px width (default 7, scaled with the width)
  --supersample K           mask anti-aliasing (default 2)
  --cull-backfaces          drop back-facing triangles like the seed's pyvista render (default off)
  --principal-point exact|seed  intrinsics conversion (default exact; see train/data/nersemble.h)
  --force                   rebuild every output
  --threads N               worker threads (default 0: all)
  --png-level N             PNG compression 1..9 (default 6)
  --quiet                   no per-subject lines
)";

const char* kCheckHelp = R"(ffdata check --root DIR [options]

Scans the dataset like the trainer's reader and prints the validation report: subjects, cameras, image sizes and
every problem (missing camera, wrong-size image, camera without an image, unreadable file, ...).

options:
  --root DIR                dataset root (required)
  --strict                  exit 1 when there is any error (the reader's strict mode refuses such data)
  --deep                    also decode every image and mask (reads everything once)
  --split train|heldout|all subjects loaded by --deep (default all)
  --subjects a,b,...        only these subjects (default all)
  --cameras a,b,...         expected camera serials (default: the union over subjects)
  --sequence NAME           sequence folder (default EXP-1-head)
  --frame T                 tracked frame (default 0)
  --image-folder NAME       raw image folder (default images-2x)
  --width W --height H      expected image size (default: the most common size)
  --gt auto|masked|raw      ground truth source (default auto: masked when preprocessed)
  --require-preprocessed    treat missing preprocessed outputs as errors
  --principal-point exact|seed  intrinsics conversion (default exact)
  --disk-cache DIR          with --deep: write/read the decoded-view disk cache there
  --threads N               decode threads for --deep (default 0: all)
  --json                    print the report as JSON instead of text
)";

struct Args {
  std::map<std::string, std::string> kv;
  std::map<std::string, bool> flags;
  bool has(const std::string& k) const { return kv.count(k) > 0; }
  std::string str(const std::string& k, const std::string& def) const { return has(k) ? kv.at(k) : def; }
  long num(const std::string& k, long def) const {
    if (!has(k)) return def;
    char* end = nullptr;
    long v = std::strtol(kv.at(k).c_str(), &end, 10);
    FF_CHECK(end && *end == 0, "option ", k, ": '", kv.at(k), "' is not an integer");
    return v;
  }
  double real(const std::string& k, double def) const {
    if (!has(k)) return def;
    char* end = nullptr;
    double v = std::strtod(kv.at(k).c_str(), &end);
    FF_CHECK(end && *end == 0, "option ", k, ": '", kv.at(k), "' is not a number");
    return v;
  }
  bool flag(const std::string& k) const { return flags.count(k) > 0; }
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, ','))
    if (!t.empty()) v.push_back(t);
  return v;
}

Args parse(int argc, char** argv, int first, const std::vector<std::string>& valued, const std::vector<std::string>& flags) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string k = argv[i];
    if (std::find(valued.begin(), valued.end(), k) != valued.end()) {
      FF_CHECK(i + 1 < argc, "option ", k, " needs a value");
      a.kv[k] = argv[++i];
    } else if (std::find(flags.begin(), flags.end(), k) != flags.end()) {
      a.flags[k] = true;
    } else {
      FF_THROW("unknown option '", k, "' (see --help)");
    }
  }
  return a;
}

const std::vector<std::string> kModelOpts = {"--model", "--masks", "--uv-obj", "--landmarks-with-eyes", "--expr-offset"};

ff::flame::FlameModel load_model(const Args& a, const std::string& def) {
  std::string name = a.str("--model", def);
  ff::flame::FlameLoadOptions lo;
  lo.expr_offset = int(a.num("--expr-offset", ff::flame::kFlameShapeColumns));
  ff::flame::FlameModel m;
#ifdef FFDATA_HAVE_BUILTIN
  m = ff::flame::load_head_model(name, lo);
#else
  FF_CHECK(name != "builtin", "the built-in head model is not available in this build; pass --model FILE");
  m = ff::flame::load_flame_model(name, lo);
#endif
  if (a.has("--masks")) ff::flame::load_flame_masks(m, a.kv.at("--masks"));
  if (a.has("--uv-obj")) ff::flame::load_uv_obj(m, a.kv.at("--uv-obj"));
  if (a.has("--landmarks-with-eyes")) ff::flame::load_landmarks_with_eyes(m, a.kv.at("--landmarks-with-eyes"));
  m.validate();
  return m;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

int cmd_synth(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("%s\n%s", kSynthHelp, kModelHelp);
    return 0;
  }
  Args a = parse(argc, argv, 2,
                 concat({"--out", "--n", "--seed", "--width", "--height", "--heldout", "--texture", "--supersample",
                         "--shape-std", "--n-shape", "--distance", "--focal", "--sequence", "--threads", "--png-level"},
                        kModelOpts),
                 {"--no-preprocess", "--no-contact-sheets", "--quiet"});
  ff::data::SynthOptions o;
  FF_CHECK(a.has("--out"), "synth: --out DIR is required");
  o.out = a.kv.at("--out");
  o.n = int(a.num("--n", 64));
  o.seed = uint64_t(a.num("--seed", 0));
  o.width = int(a.num("--width", 275));
  o.height = int(a.num("--height", 401));
  o.heldout = int(a.num("--heldout", 8));
  o.texture_size = int(a.num("--texture", 512));
  o.supersample = int(a.num("--supersample", 2));
  o.shape_std = a.real("--shape-std", 1.0);
  o.n_shape = int(a.num("--n-shape", -1));
  o.camera_distance = a.real("--distance", 1.0);
  o.focal = a.real("--focal", 8800);
  o.sequence = a.str("--sequence", ff::data::kDefaultSequence);
  o.threads = int(a.num("--threads", 0));
  o.png_compression = int(a.num("--png-level", 4));
  o.preprocess = !a.flag("--no-preprocess");
  o.contact_sheets = !a.flag("--no-contact-sheets");
  o.verbose = !a.flag("--quiet");
  o.model_name = a.str("--model", "builtin");
  ff::flame::FlameModel m = load_model(a, "builtin");
  ff::data::SynthReport r = ff::data::write_synth_dataset(m, o);
  std::printf("%s", r.text().c_str());
  std::printf("wrote %s (contact sheets: %s/contact_sheet_centre.png, %s/contact_sheet_views.png)\n", o.out.c_str(),
              o.out.c_str(), o.out.c_str());
  return 0;
}

ff::data::PrincipalPoint principal_point(const Args& a) {
  std::string p = a.str("--principal-point", "exact");
  FF_CHECK(p == "exact" || p == "seed", "--principal-point must be exact or seed");
  return p == "exact" ? ff::data::PrincipalPoint::Exact : ff::data::PrincipalPoint::Seed;
}

int cmd_preprocess(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("%s\n%s", kPreprocessHelp, kModelHelp);
    return 0;
  }
  Args a = parse(argc, argv, 2,
                 concat({"--root", "--subjects", "--sequence", "--frame", "--image-folder", "--subdivisions", "--regions",
                         "--blur", "--supersample", "--principal-point", "--threads", "--png-level"},
                        kModelOpts),
                 {"--no-close-mouth", "--cull-backfaces", "--force", "--quiet"});
  FF_CHECK(a.has("--root"), "preprocess: --root DIR is required");
  std::string root = a.kv.at("--root");
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
  ff::flame::FlameModel m = load_model(a, def);
  ff::data::PreprocessOptions o;
  if (a.has("--subjects")) o.subjects = split_list(a.kv.at("--subjects"));
  o.sequence = a.str("--sequence", ff::data::kDefaultSequence);
  o.frame = int(a.num("--frame", 0));
  o.image_folder = a.str("--image-folder", ff::data::kDefaultImageFolder);
  o.subdivisions = int(a.num("--subdivisions", 3));
  if (a.has("--regions")) o.regions = split_list(a.kv.at("--regions"));
  o.close_mouth = !a.flag("--no-close-mouth");
  o.blur_sigma = a.real("--blur", 7.0);
  o.supersample = int(a.num("--supersample", 2));
  o.cull_backfaces = a.flag("--cull-backfaces");
  o.principal_point = principal_point(a);
  o.force = a.flag("--force");
  o.threads = int(a.num("--threads", 0));
  o.png_compression = int(a.num("--png-level", 6));
  o.verbose = !a.flag("--quiet");
  auto t0 = std::chrono::steady_clock::now();
  ff::data::PreprocessReport r = ff::data::preprocess_dataset(root, m, o);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.skipped) std::printf("%s", r.validation.c_str());
  std::printf("%s(%.2f s)\n", r.text().c_str(), s);
  return 0;
}

int cmd_check(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::printf("%s", kCheckHelp);
    return 0;
  }
  Args a = parse(argc, argv, 2,
                 {"--root", "--split", "--subjects", "--cameras", "--sequence", "--frame", "--image-folder", "--width",
                  "--height", "--gt", "--principal-point", "--disk-cache", "--threads"},
                 {"--strict", "--deep", "--require-preprocessed", "--json"});
  FF_CHECK(a.has("--root"), "check: --root DIR is required");
  ff::data::DatasetOptions o;
  std::string split = a.str("--split", "all");
  FF_CHECK(split == "train" || split == "heldout" || split == "all", "--split must be train, heldout or all");
  o.split = split == "train" ? ff::data::Split::Train : split == "heldout" ? ff::data::Split::Heldout : ff::data::Split::All;
  if (a.has("--subjects")) o.subjects = split_list(a.kv.at("--subjects"));
  if (a.has("--cameras")) o.cameras = split_list(a.kv.at("--cameras"));
  o.sequence = a.str("--sequence", ff::data::kDefaultSequence);
  o.frame = int(a.num("--frame", 0));
  o.image_folder = a.str("--image-folder", ff::data::kDefaultImageFolder);
  o.width = int(a.num("--width", 0));
  o.height = int(a.num("--height", 0));
  std::string gt = a.str("--gt", "auto");
  FF_CHECK(gt == "auto" || gt == "masked" || gt == "raw", "--gt must be auto, masked or raw");
  o.gt = gt == "auto" ? ff::data::GtSource::Auto : gt == "masked" ? ff::data::GtSource::Masked : ff::data::GtSource::Raw;
  o.require_preprocessed = a.flag("--require-preprocessed");
  o.principal_point = principal_point(a);
  o.disk_cache = a.str("--disk-cache", "");
  o.prefetch_threads = 0;
  std::string root = a.kv.at("--root");
  ff::data::ValidationReport rep = ff::data::validate_dataset(root, o);
  if (a.flag("--json")) {
    nlohmann::json j;
    j["root"] = rep.root;
    j["width"] = rep.width;
    j["height"] = rep.height;
    j["cameras"] = rep.cameras;
    j["errors"] = rep.errors();
    j["warnings"] = rep.warnings();
    for (auto& s : rep.subjects)
      j["subjects"].push_back({{"name", s.name}, {"ok", s.ok}, {"heldout", s.heldout}, {"preprocessed", s.preprocessed},
                               {"cameras", s.cameras}, {"gt", s.gt}});
    for (auto& p : rep.problems)
      j["problems"].push_back({{"severity", p.severity == ff::data::Severity::Error ? "error" : "warning"},
                               {"subject", p.subject}, {"camera", p.camera}, {"file", p.file}, {"what", p.what}});
    std::printf("%s\n", j.dump(1).c_str());
  } else {
    std::printf("%s", rep.text().c_str());
  }
  if (a.flag("--deep") && rep.usable() > 0) {
    auto t0 = std::chrono::steady_clock::now();
    ff::data::Dataset ds = ff::data::Dataset::open(root, o);
    ds.preload_all(int(a.num("--threads", 0)));
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto st = ds.cache_stats();
    int views = 0;
    for (int i = 0; i < ds.num_subjects(); ++i) views += int(ds.subject(i).cameras.size());
    std::printf("deep check: decoded %d views of %d subjects in %.2f s (%llu from PNG/JPEG, %llu from the disk cache, %.1f MiB cached)\n",
                views, ds.num_subjects(), s, (unsigned long long)st.decoded, (unsigned long long)st.disk_hits,
                double(st.bytes) / (1 << 20));
  }
  if (rep.usable() == 0) return 1;
  if (a.flag("--strict") && rep.errors() > 0) return 1;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
      std::printf("%s", kHelp);
      return argc < 2 ? 1 : 0;
    }
    std::string cmd = argv[1];
    if (cmd == "synth") return cmd_synth(argc, argv);
    if (cmd == "preprocess") return cmd_preprocess(argc, argv);
    if (cmd == "check") return cmd_check(argc, argv);
    std::fprintf(stderr, "ffdata: unknown command '%s'\n%s", cmd.c_str(), kHelp);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ffdata: %s\n", e.what());
    return 1;
  }
}
