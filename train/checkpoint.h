// train/checkpoint.h — facefield's training checkpoint files (".ffck").
//
// The container of runtime/container.h (byte layout there) under the magic "FFCKPT\r\n" (the CR/LF catch text-mode
// transfers, like PNG's signature): meta = the run's full configuration as JSON (UTF-8); header records
// "ckpt/step" (optimiser steps completed) and "ckpt/rng_counter" (the Context's counter-RNG position, core/rng.h:
// all the RNG state a run has); then the tensors. Version-1 checkpoints (step / RNG counter / config in a fixed
// header) are still read; version 2 is written. The runtime reads the same files (runtime/formats.h
// parse_checkpoint).
// Tensor names: "param/<name>" (every model parameter, IdentityModel::named_parameters), "buffer/<name>"
// (generator noise and filters), "adam.m/<name>", "adam.v/<name>", "adam.step/<name>" (i64 [1]) for every
// optimised parameter, and "train/<name>" for trainer state (loss history).
// Any other names and all five dtypes may be added (tensor names must not be the header records' names).
// Files are written atomically (temp file + rename), so a kill -9 at any moment leaves either the previous
// file or the new one. Reading refuses a foreign file (wrong magic, naming the facefield kind it is when it is
// one), a newer version, a truncated or corrupt file (sizes, checksum), naming the path and the reason, and
// a well-formed file whose values are out of range (a step outside [0, kMaxCheckpointStep]) naming the value.
// Values the reader cannot know the meaning of are checked by their users: parameters must be finite
// (check_finite, used by Trainer::load_checkpoint and load_model_file), Adam steps ≥ 0.
//
//   ff::train::Checkpoint ck{step, ctx.rng_counter(), config_json, tensors};
//   ff::train::write_checkpoint("run/checkpoints/step_00001000.ffck", ck);
//   ff::train::Checkpoint back = ff::train::read_checkpoint(ctx, path);
#pragma once
#include <string>
#include <vector>

#include "runtime/container.h"
#include "tensor/io.h"

namespace ff::train {

constexpr uint32_t kCheckpointVersion = ffrt::kContainerVersion;  // written; version 1 is read too
constexpr int64_t kMaxCheckpointStep = 1000000000000000;          // 1e15: the `steps` option's upper bound

struct Checkpoint {
  int64_t step = 0;
  uint64_t rng_counter = 0;
  std::string config_json;
  NamedTensors tensors;  // any device (copied to the host when written); loaded onto the CPU
};

void write_checkpoint(const std::string& path, const Checkpoint& ck);
Checkpoint read_checkpoint(Context& ctx, const std::string& path);

// "<dir>/step_<8 digits>.ffck"
std::string checkpoint_path(const std::string& dir, int64_t step);
// checkpoints in dir sorted by step (ascending); files not named step_<digits>.ffck are ignored, and so are
// names whose number exceeds kMaxCheckpointStep (never written by write_checkpoint); never throws on names
std::vector<std::string> list_checkpoints(const std::string& dir);
// "<dir>/step_<digits>.ffck.tmp.<pid>" left by a write_checkpoint that was killed (PID dead): removed, returned
std::vector<std::string> remove_stale_checkpoint_temps(const std::string& dir);
// throws naming `name` and `file` when the floating-point tensor t holds a NaN or ±Inf (other dtypes pass)
void check_finite(const Tensor& t, const std::string& name, const std::string& file);
// delete all but the newest `keep` checkpoints (keep ≤ 0: keep all)
void prune_checkpoints(const std::string& dir, int keep);

}  // namespace ff::train
