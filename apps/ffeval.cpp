// apps/ffeval.cpp — `make eval`: a trained model measured on its synthetic dataset, on photos and on held-out
// identities' novel views, written as OUT/report.md with PNG plots. A thin CLI over train/fit/fit_eval.h;
// scripts/eval.sh picks the model (or trains the demo one) and the photo folder.
//
//   ffeval --model runs/demo/checkpoints/step_00008000.ffck --photos ../shared/data/photos --out eval
#include <cstdio>
#include <string>

#include "apps/common/cli.h"
#include "core/output_dir.h"
#include "core/check.h"
#include "core/context.h"
#include "train/fit/fit_eval.h"

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
       {"seed-steps", std::to_string(o.fit.code.seed_steps),
        "N: the seed recipe's Adam steps (most of make eval's time), in [0, 1000000]"},
       {"threads", std::to_string(threads), "N: CPU threads (0: all), in [0, 1024]"},
       {"seed", std::to_string(seed), "N: RNG seed (the seed recipe's initial code)"},
       {"progress", "true", "BOOL: progress lines with ETA on stderr"}},
      "outputs in DIR: report.md dataset.png photos_psnr.png photos_ssim.png synthetic_views.png photos/*.png fits/\n"
      "exit codes: 0 ok, 1 failure, 2 bad usage\n");
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
    o.fit.code.seed_steps = int(opts.integer("seed-steps", 0, 1000000));
    threads = opts.threads();
    seed = uint64_t(opts.uinteger("seed", ~0ull));
    o.progress = opts.boolean("progress");
    FF_CHECK(!o.model_path.empty(), "--model is required (see --help)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ffeval: %s\n", ff::apps::failure_message(e).c_str());
    return 2;
  }
  try {
    ff::Context ctx(seed, threads);
    ff::OutputDir out(opts.str("out"), "ffeval");
    o.out = out.path();
    ff::fit::EvalReport r = ff::fit::run_eval(ctx, o);
    out.commit();
    std::printf("ffeval: %s/report.md (%zu files) in %.0f s\n", out.target().c_str(), r.files.size(), r.seconds);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ffeval: error: %s\n", ff::apps::failure_message(e).c_str());
    return 1;
  }
}
