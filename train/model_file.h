// train/model_file.h — a trained identity field model as one self-contained file (.ffck checkpoint or .ffpk model
// pack), and back, with no Trainer and no dataset.
//
// Every model file holds, besides the parameters and buffers (train/model.h names; "param/"/"buffer/" prefixed in
// checkpoints, bare in packs), these records (same names and dtypes in both kinds; byte layout of the containers:
// docs/conventions.md):
//   model/config        u8   JSON of the ModelConfig (train/config.cpp keys without the "model." prefix)
//   layout/info         i64  [5]  A, G, K, rows, subdiv_levels          (train/model.h SurfaceLayout)
//   layout/placement    u8   "uv" or "seed"
//   layout/row_uv       f32  [rows,2];  layout/row_anchor i32 [rows]
//   layout/tri          i32  [G,3];     layout/bary       f64 [G,3]     (uv placement; empty for seed)
//   names               u8   identity names, each followed by '\n'
//   cameras/identity    i32  [C]  identity each training camera belongs to
//   cameras/size        i32  [C,2] width, height;  cameras/viewmat f64 [C,16];  cameras/intrinsics f64 [C,4]
//   cameras/names       u8   camera names, each followed by '\n'
//   head/spec           u8   the head model the surface was built on: "builtin" or the FLAME file's name
//   head/content_id     u8   flame::head_model_content_id of that model (checked when the fit loads it)
// A FLAME model is named and checked by content id, never embedded (licence): find_head_model looks for it.
//
//   ff::train::ModelFile mf = ff::train::load_model_file(ctx, "x.ffck", ff::Device::cpu());
//   ff::train::GaussianBatch gb = mf.model->decode(mf.model->code_rows(...));
//   ffrt::write_pack("x.ffpk", ff::train::model_pack(mf));
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "flame/flame.h"
#include "runtime/formats.h"
#include "tensor/io.h"
#include "train/identity_dataset.h"
#include "train/model.h"

namespace ff::train {

struct ModelFile {
  std::string path;                          // where it was read from ("" when built in memory)
  std::unique_ptr<IdentityModel> model;      // parameters loaded, on the requested device
  std::vector<std::string> names;            // [N] identity names ("" where unknown)
  std::vector<std::vector<Camera>> cameras;  // [N][views] each identity's training cameras (may be empty)
  HeadModelRef head;                         // spec "" when the surface came from no head model (toy scene)
  std::string train_config_json;             // checkpoints: the run's whole config; packs: ""
  int64_t step = -1;                         // checkpoints: optimiser steps done; packs: −1
};

// The records above for `model` (host tensors), added by Trainer::save_checkpoint and model_pack.
NamedTensors model_records(Context& ctx, const IdentityModel& model, const std::vector<std::string>& names,
                           const std::vector<std::vector<Camera>>& cameras, const HeadModelRef& head);

// A .ffck or .ffpk (by magic) → the model on `device`. Throws ff::Error naming the file: unreadable, foreign,
// truncated, corrupt, a decoded-Gaussians pack (no generator), or a file written before model files were
// self-contained (the message says how to upgrade it with `upgrade_model`).
ModelFile load_model_file(Context& ctx, const std::string& path, Device device = Device::cpu());

// The model (identities `subset` in that order; empty = all) as a kind-2 runtime pack: parameters, buffers and the
// records above. What `export --format model` writes and the runtime opens.
ffrt::Pack model_pack(const IdentityModel& model, const std::vector<std::string>& names,
                      const std::vector<std::vector<Camera>>& cameras = {}, const HeadModelRef& head = {},
                      const std::vector<int>& subset = {});
inline ffrt::Pack model_pack(const ModelFile& m, const std::vector<int>& subset = {}) {
  return model_pack(*m.model, m.names, m.cameras, m.head, subset);
}

// The head model a file names, loaded and checked against its content id: `override_spec` (e.g. fit_image
// --head_model) or the FF_HEAD_MODEL environment variable (as in training) replace the stored spec; for a FLAME
// file named only by its file name, the folder of FF_HEAD_MODEL / FF_FLAME_DIR is searched. Throws when the model
// has no head model or the content id differs (naming both ids).
flame::FlameModel find_head_model(const ModelFile& m, const std::string& override_spec = "");

}  // namespace ff::train
