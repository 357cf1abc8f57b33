// train/checkpoint.cpp — .ffck read/write over runtime/container.h (see checkpoint.h).
#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

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

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<long long, std::string>> found;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return {};
  for (auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    const bool digits = n.size() > 10 && n.compare(0, 5, "step_") == 0 && n.compare(n.size() - 5, 5, ".ffck") == 0 &&
                        n.find_first_not_of("0123456789", 5) == n.size() - 5;
    if (digits) {
      const long long step = std::stoll(n.substr(5, n.size() - 10));
      found.emplace_back(step, e.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

void prune_checkpoints(const std::string& dir, int keep) {
  if (keep <= 0) return;
  auto all = list_checkpoints(dir);
  for (size_t i = 0; i + size_t(keep) < all.size(); ++i) std::filesystem::remove(all[i]);
}

}  // namespace ff::train
