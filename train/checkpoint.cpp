// train/checkpoint.cpp — .ffck read/write (layout in checkpoint.h).
#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace ff::train {

namespace {
constexpr char kMagic[8] = {'F', 'F', 'C', 'K', 'P', 'T', '\r', '\n'};

}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& ck) {
  std::string s(kMagic, 8);
  put_le<uint32_t>(s, kCheckpointVersion);
  put_le<int64_t>(s, ck.step);
  put_le<uint64_t>(s, ck.rng_counter);
  put_le<uint64_t>(s, uint64_t(ck.config_json.size()));
  s += ck.config_json;
  put_le<uint32_t>(s, uint32_t(ck.tensors.size()));
  for (auto& [name, t] : ck.tensors) {
    FF_CHECK(t.defined(), "write_checkpoint: tensor '", name, "' is undefined");
    Tensor c = t.to(Device::cpu()).contiguous();
    put_le<uint32_t>(s, uint32_t(name.size()));
    s += name;
    put_le<uint8_t>(s, uint8_t(c.dtype()));
    put_le<uint32_t>(s, uint32_t(c.dim()));
    for (int64_t d : c.shape()) put_le<int64_t>(s, d);
    const uint64_t nb = uint64_t(c.numel()) * dtype_size(c.dtype());
    put_le<uint64_t>(s, nb);
    if (nb) s.append(static_cast<const char*>(c.raw_data()), nb);
  }
  put_le<uint64_t>(s, fnv1a64(s.data(), s.size()));
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  write_file_atomic(path, s);
}

Checkpoint read_checkpoint(Context& ctx, const std::string& path) {
  FF_CHECK(std::filesystem::exists(path), "checkpoint '", path, "' does not exist");
  std::string buf = read_file(path);
  ByteReader r(buf, path, "checkpoint");
  FF_CHECK(buf.size() >= 8 && std::memcmp(buf.data(), kMagic, 8) == 0, "'", path,
           "' is not a facefield checkpoint (its first bytes are not the .ffck magic \"FFCKPT\\r\\n\")");
  r.pos = 8;
  const uint32_t version = r.get<uint32_t>("the version");
  FF_CHECK(version == kCheckpointVersion, "checkpoint '", path, "' has format version ", version,
           "; this build reads version ", kCheckpointVersion);
  Checkpoint ck;
  ck.step = r.get<int64_t>("the step");
  ck.rng_counter = r.get<uint64_t>("the RNG counter");
  const uint64_t cl = r.get<uint64_t>("the config length");
  r.need(cl, "the config JSON");
  ck.config_json = buf.substr(r.pos, cl);
  r.pos += cl;
  const uint32_t count = r.get<uint32_t>("the tensor count");
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t nl = r.get<uint32_t>("a tensor name length");
    FF_CHECK(nl < (1u << 16), "checkpoint '", path, "': tensor ", i, " has an implausible name length ", nl);
    r.need(nl, "a tensor name");
    std::string name = buf.substr(r.pos, nl);
    r.pos += nl;
    const uint8_t dt = r.get<uint8_t>("a dtype");
    FF_CHECK(dt <= uint8_t(DType::U8), "checkpoint '", path, "': tensor '", name, "' has unknown dtype code ", int(dt));
    const uint32_t nd = r.get<uint32_t>("a rank");
    FF_CHECK(nd <= 16, "checkpoint '", path, "': tensor '", name, "' has rank ", nd);
    Shape shape;
    for (uint32_t d = 0; d < nd; ++d) {
      const int64_t v = r.get<int64_t>("a dimension");
      FF_CHECK(v >= 0 && v < (int64_t(1) << 40), "checkpoint '", path, "': tensor '", name, "' has a bad dimension ", v);
      shape.push_back(v);
    }
    const uint64_t nb = r.get<uint64_t>("a byte count");
    const uint64_t expect = uint64_t(shape_numel(shape)) * dtype_size(DType(dt));
    FF_CHECK(nb == expect, "checkpoint '", path, "': tensor '", name, "' declares ", nb, " bytes, its shape needs ", expect);
    r.need(nb, "tensor data");
    Tensor t = empty(ctx, shape, DType(dt), Device::cpu());
    if (nb) std::memcpy(t.raw_data(), buf.data() + r.pos, nb);
    r.pos += nb;
    ck.tensors.emplace_back(name, t);
  }
  const uint64_t stored = r.get<uint64_t>("the checksum");
  FF_CHECK(r.pos == buf.size(), "checkpoint '", path, "' has ", buf.size() - r.pos, " unexpected trailing bytes");
  FF_CHECK(fnv1a64(buf.data(), buf.size() - 8) == stored, "checkpoint '", path, "' is corrupt: checksum mismatch");
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
