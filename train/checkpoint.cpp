// train/checkpoint.cpp — .ffck read/write over runtime/container.h (see checkpoint.h).
#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/file.h"
#include "tensor/kernels.h"

namespace ff::train {

void write_checkpoint(const std::string& path, const Checkpoint& ck) {
  ffrt::Header h;
  h.meta = ck.config_json;
  h.step = ck.step;
  h.rng_counter = ck.rng_counter;
  ffrt::ContainerWriter w(ffrt::FileKind::kCheckpoint, h);
  add_tensor_records(w, ck.tensors, "write_checkpoint");
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  write_file_atomic(path, w.finish());
}

Checkpoint read_checkpoint(Context& ctx, const std::string& path) {
  FF_CHECK(std::filesystem::exists(path), "checkpoint '", path, "' does not exist");
  const std::string buf = read_file(path);
  const ffrt::ContainerView v =
      rethrow_as_ff([&] { return ffrt::parse_container(buf, ffrt::FileKind::kCheckpoint, "'" + path + "'"); });
  FF_CHECK(v.header.step >= 0 && v.header.step <= kMaxCheckpointStep, "checkpoint '", path, "' holds step ",
           v.header.step, ", outside [0, ", kMaxCheckpointStep, "] (a damaged or foreign file)");
  Checkpoint ck;
  ck.step = v.header.step;
  ck.rng_counter = v.header.rng_counter;
  ck.config_json = v.header.meta;
  ck.tensors = tensors_from_records(ctx, v.records);
  return ck;
}

std::string checkpoint_path(const std::string& dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof(name), "step_%08lld.ffck", static_cast<long long>(step));
  return (std::filesystem::path(dir) / name).string();
}

namespace {
// the step of a name "step_<digits>.ffck", or −1 (another name, or a number above kMaxCheckpointStep)
int64_t checkpoint_name_step(const std::string& n) {
  const bool digits = n.size() > 10 && n.compare(0, 5, "step_") == 0 && n.compare(n.size() - 5, 5, ".ffck") == 0 &&
                      n.find_first_not_of("0123456789", 5) == n.size() - 5;
  if (!digits) return -1;
  int64_t step = 0;
  for (size_t i = 5; i + 5 < n.size(); ++i) {
    step = step * 10 + (n[i] - '0');
    if (step > kMaxCheckpointStep) return -1;  // no overflow: checked at every digit
  }
  return step;
}
}  // namespace

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return {};
  for (auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const int64_t step = checkpoint_name_step(e.path().filename().string());
    if (step >= 0) found.emplace_back(step, e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::vector<std::string> remove_stale_checkpoint_temps(const std::string& dir) {
  return remove_stale_temp_files(dir, [](const std::string& target) { return checkpoint_name_step(target) >= 0; });
}

void check_finite(const Tensor& t, const std::string& name, const std::string& file) {
  if (!t.defined() || t.numel() == 0 || !is_floating(t.dtype())) return;
  FF_CHECK(kernels::all_finite(t), "'", file, "': tensor '", name, "' holds non-finite values (NaN or Inf)");
}

void prune_checkpoints(const std::string& dir, int keep) {
  if (keep <= 0) return;
  auto all = list_checkpoints(dir);
  for (size_t i = 0; i + size_t(keep) < all.size(); ++i) std::filesystem::remove(all[i]);
}

}  // namespace ff::train
