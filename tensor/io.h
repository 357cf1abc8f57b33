// tensor/io.h — named-tensor files (".fft"): the container of runtime/container.h under the magic "FFTENSOR"
// (byte layout there; meta empty, no header records). Version-1 files (e.g. tests/fixtures/nn_*.fft) are still
// read; version 2 is written. Files are written atomically (temp file + rename). Loading refuses a wrong magic, an
// unknown version, a truncated file, inconsistent sizes or a bad checksum with an ff::Error naming the file and
// what is wrong.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/file.h"
#include "runtime/container.h"
#include "tensor/tensor.h"

namespace ff {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

void save_tensors(const std::string& path, const NamedTensors& tensors);
// tensors are loaded onto the CPU
NamedTensors load_tensors(Context& ctx, const std::string& path);
// convenience: look an entry up by name (throws naming the file's entries when missing)
Tensor find_tensor(const NamedTensors& t, const std::string& name);

// Named tensors as container records (copied to the host; `op` names the caller in errors), and records back as
// CPU tensors: the tensor part of .fft and .ffck (train/checkpoint.cpp).
void add_tensor_records(ffrt::ContainerWriter& w, const NamedTensors& tensors, const char* op);
NamedTensors tensors_from_records(Context& ctx, const std::vector<ffrt::RecordView>& records);

}  // namespace ff
