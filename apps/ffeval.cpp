// apps/ffeval.cpp — `make eval`: a trained model measured on its synthetic dataset, on photos and on held-out
// identities' novel views, written as OUT/report.md with PNG plots. A thin CLI over train/fit/fit_eval.h;
// scripts/eval.sh picks the model (or trains the demo one) and the photo folder. When the dataset lists held-out
// expressions (split.json heldout_frames), a section "Held-out expressions" is appended to the report: the training
// identities' unseen expression frames rendered static (neutral) and animated (posed by the head rig),
// train::Trainer::evaluate_expressions (docs/animation.md §7); plot expressions.png.
//
//   ffeval --model runs/demo/checkpoints/step_00008000.ffck --photos ../shared/data/photos --out eval
#include <cstdio>
#include <filesystem>
#include <string>

#include "apps/common/cli.h"
#include "core/output_dir.h"
#include "core/check.h"
#include "core/context.h"
#include "core/file.h"
#include "train/eval.h"
#include "train/model_file.h"
#include "train/fit/fit_eval.h"

namespace {

// The held-out-expression section of report.md (empty when the dataset lists none) and its plot, in out_dir.
std::string expression_section(ff::Context& ctx, const ff::fit::EvalOptions& o, const std::string& out_dir) {
  namespace train = ff::train;
  const train::ModelFile mf = train::load_model_file(ctx, o.model_path);
  if (mf.train_config_json.empty()) return "";  // a model pack: no training configuration, no dataset
  train::TrainConfig cfg;
  train::config_from_json(cfg, mf.train_config_json, o.model_path);
  if (cfg.toy) return "";
  if (!o.data_dir.empty()) cfg.data_dir = o.data_dir;
  std::shared_ptr<train::IdentityDataset> expr = train::open_heldout_expressions(cfg.data_dir);
  if (!expr) return "";
  cfg.progress = false;
  cfg.threads = 0;  // keep the Context's
  cfg.device = o.fit.device;
  train::Trainer trainer(ctx, cfg, train::open_dataset(cfg.data_dir, "train", cfg.max_subjects), nullptr);
  trainer.load_checkpoint(o.model_path);
  const std::vector<train::SetMetrics> m = trainer.evaluate_expressions(*expr);
  const train::SetMetrics& posed = m.at(0);
  const train::SetMetrics& neutral = m.at(1);
  // the expression correction's ablation (docs/animation.md §7): the same model posed with the correction set to zero
  const bool has_correction = trainer.model().corr_color.defined();
  std::vector<train::SetMetrics> without;
  if (has_correction) {
    trainer.model().corr_color.zero_();
    trainer.model().corr_offset.zero_();
    without = trainer.evaluate_expressions(*expr);
  }
  if (o.progress)
    std::fprintf(stderr, "[eval] held-out expressions, %d images: PSNR animated %.2f dB, static %.2f dB\n", posed.images,
                 posed.psnr, neutral.psnr);
  char line[256];
  std::string md = "\n## Held-out expressions\n\n";
  md += "The training identities' expression frames that training never saw (split.json `heldout_frames`, " +
        std::to_string(posed.images) + " images), rendered with the identity's own code: **static** = the decoded "
        "neutral Gaussians, **animated** = posed per frame by the head rig (docs/animation.md), beside the mean code. "
        "PSNR in dB.\n\n| model | PSNR | PSNR (face mask) | SSIM | SSIM (face mask) |\n| --- | --- | --- | --- | --- |\n";
  auto row = [&](const char* name, double p, double pm, double ss, double ssm) {
    std::snprintf(line, sizeof line, "| %s | %.2f | %.2f | %.4f | %.4f |\n", name, p, pm, ss, ssm);
    md += line;
  };
  row(has_correction ? "animated (posed), with the expression correction" : "animated (posed)", posed.psnr,
      posed.psnr_mask, posed.ssim, posed.ssim_mask);
  if (has_correction) {
    const train::SetMetrics& w = without.at(0);
    row("animated (posed), correction set to zero", w.psnr, w.psnr_mask, w.ssim, w.ssim_mask);
  }
  row("static (neutral)", neutral.psnr, neutral.psnr_mask, neutral.ssim, neutral.ssim_mask);
  row("mean code, posed", posed.base_psnr, posed.base_psnr_mask, posed.base_ssim, posed.base_ssim_mask);
  row("mean code, static", neutral.base_psnr, neutral.base_psnr_mask, neutral.base_ssim, neutral.base_ssim_mask);
  md += "\nThe model was trained with `pose_views` = " + std::string(cfg.pose_views ? "true" : "false") +
        " (false: a static model of every frame) and " +
        (has_correction ? std::string("the linear expression correction (its row set to zero is the ablation)")
                        : std::string("without the expression correction (`expression_correction` false; the "
                                      "with/without ablation of training runs is in docs/animation.md §7)")) +
        ".\n\n"
        "![held-out expressions](expressions.png)\n";
  train::write_bar_chart((std::filesystem::path(out_dir) / "expressions.png").string(),
                         "held-out expressions: PSNR (dB)", {"whole image", "face mask"},
                         {{"animated", {posed.psnr, posed.psnr_mask}}, {"static", {neutral.psnr, neutral.psnr_mask}},
                          {"mean code, posed", {posed.base_psnr, posed.base_psnr_mask}}},
                         "PSNR (dB)", 10);
  return md;
}

}  // namespace

int main(int argc, char** argv) {
  ff::apps::start_program(argv);
  ff::fit::EvalOptions o;
  int threads = 0;
  uint64_t seed = 0;
  ff::apps::Options opts(
      "ffeval — make eval: held-out views and identities of the synthetic dataset, photos (mean code / seed recipe /\n"
      "code fit / detail stage), held-out identities' novel views; writes OUT/report.md and PNG plots.\n\n"
      "usage: ffeval --model CKPT [--photos DIR] [--out DIR] [options]",
      {{"model", "", "FILE: trained checkpoint (.ffck; its training config names the dataset); required"},
       {"data", "", "DIR: the synthetic dataset (none: the checkpoint's data_dir)"},
       {"photos", "",
        "DIR: folder with grace_hopper_512x512.jpg, group_sample2.jpg, group_sample4.jpg (none: the "
        "photo section is skipped)"},
       {"out", o.out, "DIR: output folder (absent, empty or an earlier ffeval output; replaced when complete)"},
       {"device", o.fit.device, "cpu|cuda: where the model runs"},
       {"min-face", std::to_string(o.min_face_px),
        "PX: photo faces at least this high (detection box), in [1, 100000]"},
       {"max-synthetic", std::to_string(o.max_synthetic),
        "N: held-out identities fitted on their frontal view (-1: all), in [-1, 100000]"},
       {"dataset", "true", "BOOL: run the dataset section (Trainer::evaluate)"},
       {"detail", "true", "BOOL: the detail stage after the code fit (false: its columns are n/a)"},
       {"face-mesh", "auto", "auto|on|off: Face Mesh's points as the landmarks (fit_image --face-mesh)"},
       {"forehead-outline", "off", "on|off: with Face Mesh, fit the forehead's outline too (fit_image --forehead-outline)"},
       {"synthetic-landmarks", "truth",
        "truth|detected: held-out identities are fitted from their ground-truth landmarks or from the detector's "
        "(with Face Mesh as --face-mesh says): the whole pipeline's geometry scored on novel views"},
       {"seed-steps", std::to_string(o.fit.code.seed_steps),
        "N: the seed recipe's Adam steps (most of make eval's time), in [0, 1000000]"},
       {"threads", std::to_string(threads), "N: CPU threads (0: all), in [0, 1024]"},
       {"seed", std::to_string(seed), "N: RNG seed (the seed recipe's initial code)"},
       {"progress", "true", "BOOL: progress lines with ETA on stderr"}},
      "outputs in DIR: report.md dataset.png photos_psnr.png photos_ssim.png synthetic_views.png photos/*.png fits/\n");
  try {
    if (!opts.parse(argc, argv)) return 0;
    o.model_path = opts.str("model");
    o.data_dir = opts.str("data");
    o.photos_dir = opts.str("photos");
    o.fit.device = opts.choice("device", {"cpu", "cuda"});
    o.min_face_px = int(opts.integer("min-face", 1, 100000));
    o.max_synthetic = int(opts.integer("max-synthetic", -1, 100000));
    o.dataset_section = opts.boolean("dataset");
    o.fit.detail.enabled = opts.boolean("detail");
    o.fit.face_mesh = opts.choice("face-mesh", {"auto", "on", "off"});
    o.fit.forehead_outline = opts.choice("forehead-outline", {"on", "off"}) == "on";
    o.synthetic_detected = opts.choice("synthetic-landmarks", {"truth", "detected"}) == "detected";
    o.fit.code.seed_steps = int(opts.integer("seed-steps", 0, 1000000));
    threads = opts.threads();
    seed = uint64_t(opts.uinteger("seed", ~0ull));
    o.progress = opts.boolean("progress");
    FF_USAGE_CHECK(!o.model_path.empty(), "--model is required (see --help)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ffeval: %s\n", ff::apps::failure_message(e).c_str());
    return 2;
  }
  try {
    ff::Context ctx(seed, threads);
    ff::OutputDir out(opts.str("out"), "ffeval");
    o.out = out.path();
    ff::fit::EvalReport r = ff::fit::run_eval(ctx, o);
    if (o.dataset_section) {
      const std::string section = expression_section(ctx, o, out.path());
      if (!section.empty()) {
        const std::string report = (std::filesystem::path(out.path()) / "report.md").string();
        ff::write_file_atomic(report, ff::read_file(report) + section);
        r.files.push_back("expressions.png");
      }
    }
    out.commit();
    std::printf("ffeval: %s/report.md (%zu files) in %.0f s\n", out.target().c_str(), r.files.size(), r.seconds);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ffeval: error: %s\n", ff::apps::failure_message(e).c_str());
    return ff::apps::exit_status(e);
  }
}
