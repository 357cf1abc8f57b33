// train/checkpoint.h — facefield's training checkpoint files (".ffck").
//
// Byte layout (all integers little-endian):
//   magic       8 bytes  "FFCKPT\r\n"  (the CR/LF catch text-mode transfers, like PNG's signature)
//   version     u32      1
//   step        i64      optimiser steps completed
//   rng_counter u64      the Context's counter RNG position (core/rng.h): all the RNG state a run has
//   config_len  u64, config bytes  — the run's full configuration as JSON (UTF-8)
//   count       u32      number of tensors
//   tensor × count:
//     name_len u32, name bytes; dtype u8 (0 f32, 1 f64, 2 i32, 3 i64, 4 u8); ndim u32, dims i64 × ndim;
//     nbytes u64 (= numel · dtype size); data, C order
//   checksum    u64      FNV-1a over every byte before it
// Tensor names: "param/<name>" (every model parameter, IdentityModel::named_parameters), "buffer/<name>"
// (generator noise and filters), "adam.m/<name>", "adam.v/<name>", "adam.step/<name>" (i64 [1]) for every
// optimised parameter, and "train/<name>" for trainer state (loss history).
// Files are written atomically (temp file + rename), so a kill -9 at any moment leaves either the previous
// file or the new one. Reading refuses a foreign file (wrong magic), a newer version, a truncated or corrupt
// file (sizes, checksum), naming the path and the reason.
//
//   ff::train::Checkpoint ck{step, ctx.rng_counter(), config_json, tensors};
//   ff::train::write_checkpoint("run/checkpoints/step_00001000.ffck", ck);
//   ff::train::Checkpoint back = ff::train::read_checkpoint(ctx, path);
#pragma once
#include <string>
#include <vector>

#include "tensor/io.h"

namespace ff::train {

constexpr uint32_t kCheckpointVersion = 1;

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
// checkpoints in dir sorted by step (ascending); files not named step_*.ffck are ignored
std::vector<std::string> list_checkpoints(const std::string& dir);
// delete all but the newest `keep` checkpoints (keep ≤ 0: keep all)
void prune_checkpoints(const std::string& dir, int keep);

}  // namespace ff::train
