// apps/upgrade_model.cpp — `upgrade_model`: rewrite a checkpoint written before model files were self-contained
// (train/model_file.h) into one that is: the only program that still opens a training dataset to rebuild the
// surface layout. The new checkpoint keeps the step, RNG position, optimiser state and loss history, so training
// resumes from it as from the old one.
//
//   upgrade_model --model runs/old/checkpoints/step_00008000.ffck --data_dir data/demo --out step_00008000.v2.ffck
#include <cstdio>
#include <filesystem>

#include "apps/common/cli.h"
#include "train/checkpoint.h"
#include "train/model_file.h"
#include "train/trainer.h"

using namespace ff;

int main(int argc, char** argv) {
  apps::start_program(argv);
  try {
    apps::Options o("usage: upgrade_model --model OLD.ffck --out NEW.ffck [--data_dir DIR]\n\n"
                    "Rewrites a checkpoint from an older facefield, which needs its training dataset to rebuild the\n"
                    "Gaussian layout, into a self-contained one (layout, cameras, names and head model inside) that\n"
                    "render, export, interpolate and fit_image open anywhere.",
                    {{"model", "", "the old checkpoint (.ffck) (required)"},
                     {"data_dir", "", "its training dataset (default: the data_dir in its config)"},
                     {"out", "", "the new checkpoint (required; must not exist)"}});
    if (!o.parse(argc, argv)) return 0;
    FF_CHECK(o.has("model") && o.has("out"), "--model and --out are required (see --help)");
    const std::string in = o.str("model"), out = o.str("out");
    FF_CHECK(!std::filesystem::exists(out), "--out '", out, "' exists; upgrade_model never replaces a file");
    Context ctx(0);
    train::Checkpoint ck = train::read_checkpoint(ctx, in);
    train::TrainConfig cfg;
    train::config_from_json(cfg, ck.config_json, in + " (its config)");
    if (o.has("data_dir")) cfg.data_dir = o.str("data_dir"), cfg.toy = false;
    cfg.device = "cpu", cfg.progress = false, cfg.max_heldout_subjects = 0, cfg.gt_cache_mb = 0;
    cfg.resume.clear();
    std::shared_ptr<train::IdentityDataset> ds;
    if (cfg.toy) {
      train::ToyOptions t = train::toy_options(cfg);
      ds = std::make_shared<train::InMemoryDataset>(train::make_toy_dataset(t));
    } else {
      FF_CHECK(!cfg.data_dir.empty(), "'", in, "' names no data_dir: pass --data_dir DIR (its training dataset)");
      ds = train::open_dataset(cfg.data_dir, "train", cfg.max_subjects);
    }
    train::Trainer trainer(ctx, cfg, ds, nullptr);
    trainer.load_checkpoint(in);
    trainer.save_checkpoint(out);
    const train::ModelFile check = train::load_model_file(ctx, out);  // it opens without the dataset
    std::printf("upgrade_model: wrote %s (step %lld, %d identities, %d Gaussians each, head model '%s')\n", out.c_str(),
                static_cast<long long>(check.step), check.model->num_subjects(), check.model->layout().G,
                check.head.spec.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "upgrade_model: error: %s\n", apps::failure_message(e).c_str());
    return apps::exit_status(e);
  }
}
