// train/config.cpp — the option table of TrainConfig: JSON config files, command-line overrides, --help.
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "train/trainer.h"

namespace ff::train {

namespace {
using json = nlohmann::json;

json parse_value(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) j = text;  // a bare word: a string
  return j;
}

// Every numeric option has its valid range [lo, hi] ((lo, hi] when lo_open: e.g. adam_eps, whose 0 makes Adam's
// update 0/0 and training non-finite): values outside are refused naming the option.
struct Range {
  double lo, hi;
  bool lo_open = false;
  bool contains(double v) const { return (lo_open ? v > lo : v >= lo) && v <= hi; }
};
constexpr double kBig = 2147483647;          // INT_MAX: "no limit" for int counts
constexpr double kSteps = 1e15;              // step counts (int64)
constexpr double kU64 = 18446744073709551615.0;  // seeds: any uint64

std::string range_text(Range r) {  // "[0, 1024]"
  auto num = [](double x) {
    std::ostringstream s;
    if (x == std::floor(x) && std::fabs(x) < 1e18) s << int64_t(x);
    else s << x;
    return s.str();
  };
  return (r.lo_open ? "(" : "[") + num(r.lo) + ", " + num(r.hi) + "]";
}

template <class T>
OptionInfo make_opt(const std::string& name, const char* type, T* p, const std::string& help, Range r) {
  OptionInfo o;
  o.name = name;
  o.type = type;
  o.help = help;
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) o.range = range_text(r);
  o.get = [p]() { return json(*p).dump(); };
  o.set = [p, name, type, r](const std::string& text) {
    json j = parse_value(text);
    try {
      if constexpr (std::is_same_v<T, std::string>) {
        *p = j.is_string() ? j.get<std::string>() : j.dump();
      } else if constexpr (std::is_same_v<T, bool>) {
        if (j.is_string()) {
          std::string s = j.get<std::string>();
          FF_CHECK(s == "true" || s == "false" || s == "1" || s == "0", "option ", name, ": expected true/false, got '",
                   s, "'");
          *p = s == "true" || s == "1";
        } else if (j.is_number_integer()) {
          *p = j.get<int>() != 0;
        } else {
          *p = j.get<bool>();
        }
      } else if constexpr (std::is_integral_v<T>) {
        FF_CHECK(j.is_number_integer() || j.is_number_unsigned(), "option ", name, ": expected an integer (", type,
                 "), got ", j.dump());
        const double v = j.is_number_unsigned() ? double(j.get<uint64_t>()) : double(j.get<int64_t>());
        const bool in_range = r.contains(v);
        FF_CHECK(in_range, "option ", name, ": must be in ", range_text(r), ", got ", j.dump());
        *p = j.get<T>();
      } else {
        FF_CHECK(j.is_number(), "option ", name, ": expected a number, got ", j.dump());
        const double v = j.get<double>();
        FF_CHECK(std::isfinite(v) && r.contains(v), "option ", name, ": must be in ", range_text(r), ", got ",
                 j.dump());
        *p = j.get<T>();
      }
    } catch (const json::exception& e) {
      FF_THROW("option ", name, ": cannot use value ", j.dump(), " (", e.what(), ")");
    }
  };
  return o;
}
template <class T>
OptionInfo opt(const std::string& name, const char* type, T* p, const std::string& help) {
  static_assert(std::is_same_v<T, std::string> || std::is_same_v<T, bool>, "numeric options need a Range");
  return make_opt(name, type, p, help, {0, 0});
}
template <class T>
OptionInfo opt(const std::string& name, const char* type, T* p, const std::string& help, Range r) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "only numeric options have a Range");
  return make_opt(name, type, p, help, r);
}
}  // namespace

std::vector<OptionInfo> config_options(TrainConfig& c) {
  std::vector<OptionInfo> o;
  ModelConfig& m = c.model;
  o.push_back(opt("data_dir", "string", &c.data_dir, "NeRSemble-layout dataset folder (what `ffdata synth` writes)"));
  o.push_back(opt("max_subjects", "int", &c.max_subjects, "use at most this many training identities (-1: all)", {-1, kBig}));
  o.push_back(opt("max_heldout_subjects", "int", &c.max_heldout_subjects, "held-out identities evaluated (0: none)", {0, kBig}));
  o.push_back(opt("heldout_expressions", "bool", &c.heldout_expressions,
                  "evaluate the training identities' held-out expressions (split.json heldout_frames) when listed"));
  o.push_back(opt("heldout_views", "string", &c.heldout_views,
                  "views of training identities never trained on: auto (views V/3 and 2V/3), none, or i,j,..."));
  o.push_back(opt("fit_view", "int", &c.fit_view, "view held-out identities are fitted on (-1: most frontal)", {-1, kBig}));
  o.push_back(opt("toy", "bool", &c.toy, "train on the built-in toy scene instead of data_dir (tests, smoke runs)"));
  o.push_back(opt("toy_subjects", "int", &c.toy_subjects, "toy scene: identities", {1, 100000}));
  o.push_back(opt("toy_views", "int", &c.toy_views, "toy scene: views per identity", {1, 10000}));
  o.push_back(opt("toy_width", "int", &c.toy_width, "toy scene: image width", {1, 16384}));
  o.push_back(opt("toy_height", "int", &c.toy_height, "toy scene: image height", {1, 16384}));
  o.push_back(opt("model.code_dim", "int", &m.code_dim, "identity code size", {1, 65536}));
  o.push_back(opt("model.z_dim", "int", &m.z_dim, "generator latent size (E is z_dim x code_dim)", {1, 65536}));
  o.push_back(opt("model.feat_dim", "int", &m.feat_dim, "texture channels = anchor feature size", {1, 65536}));
  o.push_back(opt("model.tex_res", "int", &m.tex_res, "UV texture resolution (power of two)", {1, 16384}));
  o.push_back(opt("model.K", "int", &m.K, "Gaussians per anchor", {1, 1024}));
  o.push_back(opt("model.hidden", "int", &m.hidden, "decoder hidden width", {1, 65536}));
  o.push_back(opt("model.channel_base", "int", &m.channel_base, "generator channels = clamp(base/res, min, max)", {1, kBig}));
  o.push_back(opt("model.channel_max", "int", &m.channel_max, "generator channel cap", {1, 65536}));
  o.push_back(opt("model.channel_min", "int", &m.channel_min, "generator channel floor", {1, 65536}));
  o.push_back(opt("model.mapping_layers", "int", &m.mapping_layers, "mapping network FC layers", {0, 64}));
  o.push_back(opt("model.placement", "string", &m.placement, "Gaussian placement: uv (own surface point and UV) or seed"));
  o.push_back(opt("model.opacity_bias", "string", &m.opacity_bias, "mu_opac init: logit (logit(opacity_init)) or seed (raw)"));
  o.push_back(opt("model.opacity_init", "double", &m.opacity_init, "initial opacity (0.1)", {1e-6, 1 - 1e-6}));
  o.push_back(opt("model.placement_seed", "uint64", &m.placement_seed, "seed of the uv placement's surface samples", {0, kU64}));
  o.push_back(opt("model.correction_dim", "int", &m.correction_dim,
                  "expression correction coefficients (0: none; set by the trainer from expression_correction)", {0, 65536}));
  o.push_back(opt("steps", "int64", &c.steps, "total optimiser steps (0: steps_per_subject x N / batch_views)", {0, kSteps}));
  o.push_back(opt("steps_per_subject", "int64", &c.steps_per_subject, "the seed's \"epochs\": steps per identity", {0, kSteps}));
  o.push_back(opt("batch_views", "int", &c.batch_views, "(subject, view) pairs per step (1: the seed)", {1, 65536}));
  o.push_back(opt("minibatch_subjects", "int", &c.minibatch_subjects, "identities per mini-batch of the schedule", {1, kBig}));
  o.push_back(opt("minibatch_iters", "int", &c.minibatch_iters, "visits of each mini-batch before the next", {1, kBig}));
  o.push_back(opt("lr_color", "double", &c.lr_color, "colour decoder learning rate", {0, 1e3}));
  o.push_back(opt("lr_scale", "double", &c.lr_scale, "scale decoder learning rate", {0, 1e3}));
  o.push_back(opt("lr_rot", "double", &c.lr_rot, "rotation decoder learning rate", {0, 1e3}));
  o.push_back(opt("lr_opac", "double", &c.lr_opac, "opacity decoder learning rate", {0, 1e3}));
  o.push_back(opt("lr_generator", "double", &c.lr_generator, "generator learning rate", {0, 1e3}));
  o.push_back(opt("lr_embeddings", "double", &c.lr_embeddings, "E (code -> z) learning rate", {0, 1e3}));
  o.push_back(opt("lr_pos_embedding", "double", &c.lr_pos_embedding, "position embedding learning rate", {0, 1e3}));
  o.push_back(opt("lr_codes", "double", &c.lr_codes, "identity codes learning rate", {0, 1e3}));
  o.push_back(opt("lr_mu", "double", &c.lr_mu, "mu_scale, mu_rot, mu_opac learning rate", {0, 1e3}));
  o.push_back(opt("lr_xyz", "double", &c.lr_xyz, "per-subject positions learning rate", {0, 1e3}));
  o.push_back(opt("lr_correction", "double", &c.lr_correction, "expression correction's colour learning rate", {0, 1e3}));
  o.push_back(opt("lr_correction_offset", "double", &c.lr_correction_offset,
                  "expression correction's normal-offset learning rate (metres)", {0, 1e3}));
  o.push_back(opt("adam_eps", "double", &c.adam_eps, "Adam epsilon", {0, 1, true}));
  o.push_back(opt("lambda_dssim", "double", &c.lambda_dssim, "D-SSIM weight of the loss", {0, 1}));
  o.push_back(opt("loss_region", "string", &c.loss_region, "image (whole image, the seed) or mask (face mask only)"));
  o.push_back(opt("pose_views", "bool", &c.pose_views,
                  "expression data: pose the subject's Gaussians with the head rig for views with a non-neutral "
                  "expression/pose (false: render every view static)"));
  o.push_back(opt("expression_correction", "bool", &c.expression_correction,
                  "expression data: learn a linear expression-conditioned colour and normal-offset correction of the "
                  "posed Gaussians (shared by all identities, zero at start; docs/animation.md 7)"));
  o.push_back(opt("scale_reg_weight", "double", &c.scale_reg_weight, "scale regulariser weight (0: off)", {0, 1e9}));
  o.push_back(opt("scale_reg_start", "int64", &c.scale_reg_start, "step the scale regulariser starts at", {0, kSteps}));
  o.push_back(opt("max_bad_steps", "int", &c.max_bad_steps, "consecutive non-finite steps before the run stops", {1, kBig}));
  o.push_back(opt("gt_cache_mb", "int64", &c.gt_cache_mb,
                  "keep training ground truth on the device as uint8 up to this many MiB (0: upload each step)", {0, 1 << 30}));
  o.push_back(opt("seed", "uint64", &c.seed, "random seed (initialisation and schedule)", {0, kU64}));
  o.push_back(opt("device", "string", &c.device, "cpu or cuda"));
  o.push_back(opt("threads", "int", &c.threads, "CPU threads (0: all)", {0, 1024}));
  o.push_back(opt("out_dir", "string", &c.out_dir, "output folder"));
  o.push_back(opt("ckpt_every", "int64", &c.ckpt_every, "checkpoint (and .ply) every N steps (0: only at the end)", {0, kSteps}));
  o.push_back(opt("keep_ckpts", "int", &c.keep_ckpts, "checkpoints kept (0: all)", {0, kBig}));
  o.push_back(opt("export_subjects", "int", &c.export_subjects, "identities exported as .ply per saved step", {0, kBig}));
  o.push_back(opt("resume", "string", &c.resume, "checkpoint to resume from, or latest"));
  o.push_back(opt("eval_every", "int64", &c.eval_every, "evaluate every N steps (0: only at the end)", {0, kSteps}));
  o.push_back(opt("eval_subjects", "int", &c.eval_subjects, "training identities evaluated on held-out views", {0, kBig}));
  o.push_back(opt("eval_fit_steps", "int", &c.eval_fit_steps, "Adam steps fitting a held-out identity's code", {0, kBig}));
  o.push_back(opt("eval_fit_lr", "double", &c.eval_fit_lr, "learning rate of that fit", {0, 1e3}));
  o.push_back(opt("grid_rows", "int", &c.grid_rows, "rows of the evaluation PNG grid", {1, 4096}));
  o.push_back(opt("progress", "bool", &c.progress, "progress bar on stderr"));
  return o;
}

std::string config_to_json(const TrainConfig& cfg) {
  TrainConfig c = cfg;
  json j = json::object();
  for (auto& o : config_options(c)) {
    json v = json::parse(o.get());
    const size_t dot = o.name.find('.');
    if (dot == std::string::npos) j[o.name] = v;
    else j[o.name.substr(0, dot)][o.name.substr(dot + 1)] = v;
  }
  return j.dump(2);
}

void config_set(TrainConfig& cfg, const std::string& key, const std::string& value) {
  for (auto& o : config_options(cfg))
    if (o.name == key) {
      o.set(value);
      return;
    }
  FF_THROW("unknown option '", key, "' (see --help)");
}

void config_from_json(TrainConfig& cfg, const std::string& text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  FF_CHECK(!j.is_discarded() && j.is_object(), what, ": not a JSON object");
  for (auto& [k, v] : j.items()) {
    if (v.is_object()) {
      for (auto& [k2, v2] : v.items()) config_set(cfg, k + "." + k2, v2.dump());
    } else if (k.rfind("_", 0) == 0) {
      continue;  // "_comment" keys
    } else {
      config_set(cfg, k, v.dump());
    }
  }
}

std::string config_help() {
  TrainConfig c;
  std::ostringstream s;
  for (auto& o : config_options(c)) {
    std::string head = "  --" + o.name + " <" + o.type + ">";
    if (head.size() < 36) head.resize(36, ' ');
    s << head << " " << o.help << " (default " << o.get() << (o.range.empty() ? "" : ", in " + o.range) << ")\n";
  }
  return s.str();
}

ToyOptions toy_options(const TrainConfig& cfg) {
  ToyOptions t;
  t.subjects = cfg.toy_subjects, t.views = cfg.toy_views, t.width = cfg.toy_width, t.height = cfg.toy_height;
  t.seed = cfg.seed + 1;
  return t;
}

}  // namespace ff::train
