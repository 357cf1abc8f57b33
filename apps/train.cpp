// apps/train.cpp — `train`: learn the identity field model on a NeRSemble-layout dataset (or the toy scene).
//
//   build/train --config configs/demo.json                 # options from a JSON file
//   build/train --config configs/seed.json --device cuda --data_dir /data/nersemble
//   build/train --config configs/demo.json --resume latest # continue the run in out_dir
//   build/train --help                                     # every option with its default
//   mpirun -np 4 build/train --config C --batch_views 8    # data parallel: 4 ranks, 2 pairs each per step
//                                                          # (MPI on CPU, NCCL between GPUs; docs/distributed.md)
// Options: --name value or --name=value; later ones override earlier ones and the config file.
#include <cstdio>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "tensor/io.h"
#include "train/distributed.h"
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
  std::shared_ptr<train::Communicator> world;
  try {
    world = train::world_communicator();  // MPI when started by mpirun, this process alone otherwise
    apps::Options opts = train_options();
    if (!opts.parse(argc, argv)) return 0;
    // the config file first, then the options given on the command line (values range-checked by config_set)
    train::TrainConfig cfg;
    if (opts.has("config")) train::config_from_json(cfg, read_file(opts.str("config")), opts.str("config"));
    for (size_t i = 2; i < opts.table.size(); ++i)
      if (opts.was_given(opts.table[i].name)) {
        try {
          train::config_set(cfg, opts.table[i].name, opts.str(opts.table[i].name));
        } catch (const Error& e) {  // a value given on the command line: a usage error (exit status 2)
          throw apps::usage_error(e);
        }
      }
    const bool print_config = opts.flag("print-config");
    if (print_config) {
      if (world->rank() == 0) std::printf("%s\n", train::config_to_json(cfg).c_str());
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
    // data parallel: one GPU per rank, gradients over NCCL (a CUDA build without NCCL stages them through MPI)
    std::shared_ptr<train::Communicator> comm = world;
    int cuda_device = 0;
    if (cfg.device == "cuda") {
      cuda_device = train::cuda_device_of_rank(*world);
      if (world->size() > 1 && train::built_with_nccl()) comm = train::nccl_communicator(world, cuda_device);
    }
    Context ctx(cfg.seed, cfg.threads, cuda_device);
    train::Trainer trainer(ctx, cfg, tr, ho, comm);
    if (!cfg.toy && cfg.heldout_expressions) trainer.set_heldout_expressions(train::open_heldout_expressions(cfg.data_dir));
    trainer.run();
    return 0;
  } catch (const std::exception& e) {
    const std::string msg = apps::failure_message(e);
    if (world && world->size() > 1) world->abort("train: error: " + msg);  // stops every rank; never returns
    std::fprintf(stderr, "train: error: %s\n", msg.c_str());
    return apps::exit_status(e);
  }
}
