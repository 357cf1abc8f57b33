// apps/train.cpp — `train`: learn the identity field model on a NeRSemble-layout dataset (or the toy scene).
//
//   build/train --config configs/demo.json                 # options from a JSON file
//   build/train --config configs/seed.json --device cuda --data_dir /data/nersemble
//   build/train --config configs/demo.json --resume latest # continue the run in out_dir
//   build/train --help                                     # every option with its default
// Options: --name value or --name=value; later ones override earlier ones and the config file.
#include <cstdio>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "tensor/io.h"
#include "train/trainer.h"

using namespace ff;

// The option table: --config, --print-config and every TrainConfig key (train/config.cpp config_options) with
// its default, type and valid range.
static apps::Options train_options() {
  train::TrainConfig defaults;
  std::vector<apps::Options::Opt> table = {
      {"config", "", "JSON config file (same names, model.* inside a \"model\" object); the options given here override it"},
      {"print-config", "", "print the resulting configuration as JSON and exit", true}};
  for (auto& o : train::config_options(defaults)) {
    std::string def = o.get();
    if (def.size() >= 2 && def.front() == '"') def = def.substr(1, def.size() - 2);  // JSON string -> text
    table.push_back({o.name, def, "<" + o.type + "> " + o.help + (o.range.empty() ? "" : ", in " + o.range)});
  }
  return apps::Options(
      "usage: train [--config FILE.json] [--OPTION VALUE]... [--print-config] [--help]\n\n"
      "Trains facefield's identity field model (codes -> StyleGAN2 UV texture -> MLP decoders -> 3D Gaussians)\n"
      "on a NeRSemble-layout dataset (e.g. `ffdata synth` output) and evaluates held-out views and identities.",
      table);
}

int main(int argc, char** argv) {
  apps::start_program(argv);
  try {
    apps::Options opts = train_options();
    if (!opts.parse(argc, argv)) return 0;
    // the config file first, then the options given on the command line (values range-checked by config_set)
    train::TrainConfig cfg;
    if (opts.has("config")) train::config_from_json(cfg, read_file(opts.str("config")), opts.str("config"));
    for (size_t i = 2; i < opts.table.size(); ++i)
      if (opts.was_given(opts.table[i].name)) train::config_set(cfg, opts.table[i].name, opts.str(opts.table[i].name));
    const bool print_config = opts.flag("print-config");
    if (print_config) {
      std::printf("%s\n", train::config_to_json(cfg).c_str());
      return 0;
    }
    std::shared_ptr<train::IdentityDataset> tr, ho;
    if (cfg.toy) {
      train::ToyOptions t = train::toy_options(cfg);
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
    std::fprintf(stderr, "train: error: %s\n", apps::failure_message(e).c_str());
    return 1;
  }
}
