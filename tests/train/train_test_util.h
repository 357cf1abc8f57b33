// tests/train/train_test_util.h — tiny configurations shared by the train tests (fast on 2 CPU cores).
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

#include "train/trainer.h"

namespace ff::testing {

inline train::ModelConfig tiny_model(const std::string& placement = "uv") {
  train::ModelConfig m;
  m.code_dim = 6;
  m.z_dim = 8;
  m.feat_dim = 8;
  m.tex_res = 8;
  m.K = 2;
  m.hidden = 8;
  m.channel_base = 64;
  m.channel_max = 8;
  m.channel_min = 4;
  m.placement = placement;
  return m;
}

inline train::TrainConfig tiny_train(const std::string& out_dir) {
  train::TrainConfig c;
  c.model = tiny_model();
  c.steps = 6;
  c.out_dir = out_dir;
  c.progress = false;
  c.threads = 2;
  c.minibatch_subjects = 2;
  c.minibatch_iters = 2;
  c.eval_fit_steps = 5;
  c.ckpt_every = 0;
  return c;
}

inline std::shared_ptr<train::InMemoryDataset> tiny_scene(int subjects = 3, int views = 4, int first = 0) {
  train::ToyOptions t;
  t.subjects = subjects;
  t.views = views;
  t.width = 24;
  t.height = 32;
  t.rows = 5;
  t.cols = 5;
  t.first_subject = first;
  return std::make_shared<train::InMemoryDataset>(train::make_toy_dataset(t));
}

inline std::string temp_dir(const std::string& name) {
  std::string d = "/tmp/ff_train_test_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace ff::testing
