// apps/train.cpp — `train`: learn the identity field model on a NeRSemble-layout dataset (or the toy scene).
//
//   build/train --config configs/demo.json                 # options from a JSON file
//   build/train --config configs/seed.json --device cuda --data_dir /data/nersemble
//   build/train --config configs/demo.json --resume latest # continue the run in out_dir
//   build/train --help                                     # every option with its default
// Options: --name value or --name=value; later ones override earlier ones and the config file.
#include <cstdio>
#include <cstring>
#include <string>

#include "tensor/io.h"
#include "train/trainer.h"

using namespace ff;

static void usage() {
  std::printf(
      "usage: train [--config FILE.json] [--OPTION VALUE]... [--print-config] [--help]\n\n"
      "Trains facefield's identity field model (codes -> StyleGAN2 UV texture -> MLP decoders -> 3D Gaussians)\n"
      "on a NeRSemble-layout dataset (e.g. `ffdata synth` output) and evaluates held-out views and identities.\n"
      "The JSON config uses the same names (model.* options inside a \"model\" object).\n\nOptions:\n%s",
      train::config_help().c_str());
}

int main(int argc, char** argv) {
  try {
    train::TrainConfig cfg;
    bool print_config = false;
    // the config file first, then overrides in order
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        usage();
        return 0;
      }
      if (a == "--config" && i + 1 < argc) {
        train::config_from_json(cfg, read_file(argv[i + 1]), argv[i + 1]);
        ++i;
      } else if (a.rfind("--config=", 0) == 0) {
        train::config_from_json(cfg, read_file(a.substr(9)), a.substr(9));
      }
    }
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--config") {
        ++i;
        continue;
      }
      if (a.rfind("--config=", 0) == 0) continue;
      if (a == "--print-config") {
        print_config = true;
        continue;
      }
      FF_CHECK(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (see --help)");
      std::string key = a.substr(2), value;
      const size_t eq = key.find('=');
      if (eq != std::string::npos) {
        value = key.substr(eq + 1);
        key = key.substr(0, eq);
      } else {
        FF_CHECK(i + 1 < argc, "option --", key, " needs a value");
        value = argv[++i];
      }
      train::config_set(cfg, key, value);
    }
    if (print_config) {
      std::printf("%s\n", train::config_to_json(cfg).c_str());
      return 0;
    }
    std::shared_ptr<train::Dataset> tr, ho;
    if (cfg.toy) {
      train::ToyOptions t;
      t.subjects = cfg.toy_subjects, t.views = cfg.toy_views, t.width = cfg.toy_width, t.height = cfg.toy_height;
      t.seed = cfg.seed + 1;
      tr = std::make_shared<train::InMemoryDataset>(train::make_toy_dataset(t));
      t.subjects = std::max(0, cfg.max_heldout_subjects);
      t.first_subject = 100000;
      if (t.subjects > 0) ho = std::make_shared<train::InMemoryDataset>(train::make_toy_dataset(t));
    } else {
      FF_CHECK(!cfg.data_dir.empty(), "no data: pass --data_dir DIR (a NeRSemble-layout dataset, e.g. from `ffdata "
               "synth`) or --toy true");
      tr = train::open_dataset(cfg.data_dir, "train", cfg.max_subjects);
      if (cfg.max_heldout_subjects > 0) ho = train::open_dataset(cfg.data_dir, "heldout", cfg.max_heldout_subjects);
    }
    Context ctx(cfg.seed, cfg.threads);
    train::Trainer trainer(ctx, cfg, tr, ho);
    trainer.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train: error: %s\n", e.what());
    return 1;
  }
}
