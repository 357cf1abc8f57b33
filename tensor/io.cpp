#include "tensor/io.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ff {

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

namespace {
static_assert(sizeof(int64_t) == 8, "");
constexpr char kMagic[8] = {'F', 'F', 'T', 'E', 'N', 'S', 'O', 'R'};
constexpr uint32_t kVersion = 1;

}  // namespace

void save_tensors(const std::string& path, const NamedTensors& tensors) {
  std::string s(kMagic, 8);
  put_le<uint32_t>(s, kVersion);
  put_le<uint32_t>(s, uint32_t(tensors.size()));
  for (auto& [name, t] : tensors) {
    FF_CHECK(t.defined(), "save_tensors: entry '", name, "' is undefined");
    Tensor c = t.to(Device::cpu()).contiguous();
    put_le<uint32_t>(s, uint32_t(name.size()));
    s += name;
    put_le<uint8_t>(s, uint8_t(c.dtype()));
    put_le<uint32_t>(s, uint32_t(c.dim()));
    for (int64_t d : c.shape()) put_le<int64_t>(s, d);
    uint64_t nb = uint64_t(c.numel()) * dtype_size(c.dtype());
    put_le<uint64_t>(s, nb);
    if (nb) s.append(static_cast<const char*>(c.raw_data()), nb);
  }
  put_le<uint64_t>(s, fnv1a64(s.data(), s.size()));
  write_file_atomic(path, s);
}

NamedTensors load_tensors(Context& ctx, const std::string& path) {
  std::string buf = read_file(path);
  ByteReader r(buf, path);
  r.need(8, "the magic");
  FF_CHECK(std::memcmp(buf.data(), kMagic, 8) == 0, "'", path, "' is not a facefield tensor file (bad magic)");
  r.pos = 8;
  uint32_t version = r.get<uint32_t>("the version");
  FF_CHECK(version == kVersion, "'", path, "' has tensor-file version ", version, "; this build reads version ", kVersion);
  FF_CHECK(buf.size() >= 8 + 8, "'", path, "' is truncated");
  uint64_t stored;
  std::memcpy(&stored, buf.data() + buf.size() - 8, 8);
  uint32_t count = r.get<uint32_t>("the entry count");
  NamedTensors out;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t nl = r.get<uint32_t>("a name length");
    FF_CHECK(nl < (1u << 16), "'", path, "': entry ", i, " has an implausible name length ", nl);
    r.need(nl, "a name");
    std::string name = buf.substr(r.pos, nl);
    r.pos += nl;
    uint8_t dt = r.get<uint8_t>("a dtype");
    FF_CHECK(dt <= uint8_t(DType::U8), "'", path, "': entry '", name, "' has unknown dtype code ", int(dt));
    uint32_t nd = r.get<uint32_t>("a rank");
    FF_CHECK(nd <= 16, "'", path, "': entry '", name, "' has rank ", nd);
    Shape shape;
    for (uint32_t d = 0; d < nd; ++d) {
      int64_t v = r.get<int64_t>("a dimension");
      FF_CHECK(v >= 0 && v < (int64_t(1) << 40), "'", path, "': entry '", name, "' has a bad dimension ", v);
      shape.push_back(v);
    }
    uint64_t nb = r.get<uint64_t>("a byte count");
    uint64_t expect = uint64_t(shape_numel(shape)) * dtype_size(DType(dt));
    FF_CHECK(nb == expect, "'", path, "': entry '", name, "' declares ", nb, " bytes but shape ", shape, " of ",
             dtype_name(DType(dt)), " needs ", expect);
    r.need(nb + 8, "tensor data");
    Tensor t = empty(ctx, shape, DType(dt), Device::cpu());
    if (nb) std::memcpy(t.raw_data(), buf.data() + r.pos, nb);
    r.pos += nb;
    out.emplace_back(name, t);
  }
  FF_CHECK(r.pos + 8 == buf.size(), "'", path, "' has ", buf.size() - r.pos - 8, " unexpected trailing bytes");
  FF_CHECK(fnv1a64(buf.data(), buf.size() - 8) == stored, "'", path, "' is corrupt: checksum mismatch");
  return out;
}

Tensor find_tensor(const NamedTensors& t, const std::string& name) {
  std::string names;
  for (auto& [n, v] : t) {
    if (n == name) return v;
    names += (names.empty() ? "" : ", ") + n;
  }
  FF_THROW("no tensor named '", name, "' (entries: ", names, ")");
}

}  // namespace ff
