// runtime/container.cpp — the .fft / .ffck / .ffpk container, whole-file I/O, FNV-1a-64; see container.h.
#include "runtime/container.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ffrt {

namespace {

static_assert(sizeof(int64_t) == 8 && sizeof(double) == 8 && sizeof(float) == 4, "");

constexpr char kMagics[3][8] = {{'F', 'F', 'T', 'E', 'N', 'S', 'O', 'R'},
                                {'F', 'F', 'C', 'K', 'P', 'T', '\r', '\n'},
                                {'F', 'F', 'P', 'A', 'C', 'K', '\r', '\n'}};
constexpr const char* kMagicText[3] = {"FFTENSOR", "FFCKPT\\r\\n", "FFPACK\\r\\n"};
constexpr const char* kKindName[3] = {"tensor file", "checkpoint", "identity pack"};
constexpr const char* kKindExt[3] = {".fft", ".ffck", ".ffpk"};

// header record names (container.h)
constexpr char kStep[] = "ckpt/step";
constexpr char kRng[] = "ckpt/rng_counter";
constexpr char kPackKindName[] = "pack/kind";

constexpr uint32_t kMaxNameLen = 1u << 16;  // exclusive
constexpr uint32_t kMaxRank = 16;
constexpr int64_t kMaxDim = int64_t(1) << 40;  // exclusive
constexpr uint64_t kMaxBytes = uint64_t(1) << 62;
// the smallest record: name_len, dtype, rank, nbytes
constexpr uint64_t kMinRecordBytes = 4 + 1 + 4 + 8;

int index_of(FileKind k) { return int(k); }

// numel of a shape whose dims are in [0, kMaxDim); kMaxBytes (never a valid count) when numel · 8 would overflow
uint64_t checked_numel(const std::vector<int64_t>& shape) {
  for (int64_t v : shape)
    if (v == 0) return 0;
  uint64_t numel = 1;
  for (int64_t v : shape) {
    if (numel > kMaxBytes / 8 / uint64_t(v)) return kMaxBytes;
    numel *= uint64_t(v);
  }
  return numel;
}

bool is_header_name(FileKind k, const std::string& name) {
  if (k == FileKind::kCheckpoint) return name == kStep || name == kRng;
  if (k == FileKind::kPack) return name == kPackKindName;
  return false;
}

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

struct Reader {
  const std::string& buf;
  const std::string& what;
  size_t pos = 0;
  size_t left() const { return buf.size() - pos; }
  void need(uint64_t n, const char* field) const {
    if (n > left())
      fail(kFormat, what, " is truncated: reading ", field, " needs ", n, " bytes at offset ", pos, " but it has ",
           buf.size(), " bytes");
  }
  template <class T>
  T get(const char* field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, buf.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
};

RecordView read_record(Reader& r, uint32_t i) {
  RecordView a;
  const uint32_t nl = r.get<uint32_t>("a record name length");
  if (nl >= kMaxNameLen) fail(kFormat, r.what, ": record ", i, " has an implausible name length ", nl);
  r.need(nl, "a record name");
  a.name = r.buf.substr(r.pos, nl);
  r.pos += nl;
  a.dtype = r.get<uint8_t>("a dtype");
  if (dtype_size(a.dtype) == 0) fail(kFormat, r.what, ": record '", a.name, "' has unknown dtype code ", int(a.dtype));
  const uint32_t rank = r.get<uint32_t>("a rank");
  if (rank > kMaxRank) fail(kFormat, r.what, ": record '", a.name, "' has rank ", rank, " (at most 16)");
  r.need(uint64_t(rank) * 8, "the dimensions");
  a.shape.resize(rank);
  for (uint32_t d = 0; d < rank; ++d) {
    const int64_t v = r.get<int64_t>("a dimension");
    if (v < 0 || v >= kMaxDim) fail(kFormat, r.what, ": record '", a.name, "' has a bad dimension ", v);
    a.shape[d] = v;
  }
  const uint64_t numel = checked_numel(a.shape);
  if (numel == kMaxBytes) fail(kFormat, r.what, ": record '", a.name, "' is implausibly large");
  const uint64_t expect = numel * dtype_size(a.dtype);
  a.nbytes = r.get<uint64_t>("a byte count");
  if (a.nbytes != expect)
    fail(kFormat, r.what, ": record '", a.name, "' declares ", a.nbytes, " bytes but its ", dtype_name(a.dtype),
         " shape needs ", expect);
  r.need(a.nbytes, "record data");
  a.data = r.buf.data() + r.pos;
  r.pos += size_t(a.nbytes);
  return a;
}

// a header record: one integer (i32 or i64, shape [1])
int64_t header_int(const RecordView& a, const std::string& what) {
  const bool ok = a.shape.size() == 1 && a.shape[0] == 1 && (a.dtype == kI32 || a.dtype == kI64);
  if (!ok) fail(kFormat, what, ": header record '", a.name, "' must be one i32 or i64, it is ", dtype_name(a.dtype),
                " of rank ", a.shape.size());
  if (a.dtype == kI32) {
    int32_t v;
    std::memcpy(&v, a.data, 4);
    return v;
  }
  int64_t v;
  std::memcpy(&v, a.data, 8);
  return v;
}

}  // namespace

// ---- whole files ----------------------------------------------------------------------------------------
std::string read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(kIO, "cannot open '", path, "' for reading: ", std::strerror(errno));
  std::string s;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  const bool err = std::ferror(f);
  std::fclose(f);
  if (err) fail(kIO, "error reading '", path, "'");
  return s;
}

void write_file(const std::string& path, const void* data, size_t size) {
  const std::string tmp = path + ".tmp." + std::to_string(long(::getpid()));
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(kIO, "cannot open '", tmp, "' for writing: ", std::strerror(errno));
  const size_t w = size ? std::fwrite(data, 1, size, f) : 0;
  bool ok = w == size && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  const int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail(kIO, "writing '", tmp, "' failed (", w, " of ", size, " bytes): ", std::strerror(err ? err : errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(kIO, "cannot rename '", tmp, "' to '", path, "': ", std::strerror(e));
  }
}

void write_file(const std::string& path, const std::string& bytes) { write_file(path, bytes.data(), bytes.size()); }

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

// ---- records --------------------------------------------------------------------------------------------
size_t dtype_size(uint8_t dt) {
  switch (dt) {
    case kF32: return 4;
    case kF64: return 8;
    case kI32: return 4;
    case kI64: return 8;
    case kU8: return 1;
  }
  return 0;
}

const char* dtype_name(uint8_t dt) {
  switch (dt) {
    case kF32: return "f32";
    case kF64: return "f64";
    case kI32: return "i32";
    case kI64: return "i64";
    case kU8: return "u8";
  }
  return "unknown dtype";
}

int64_t Array::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> Array::floats() const {
  const int64_t n = numel();
  std::vector<float> out(static_cast<size_t>(n));
  const char* p = data.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case kF32: std::memcpy(&out[i], p + 4 * i, 4); break;
      case kF64: {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = float(d);
        break;
      }
      case kI32: {
        int32_t d;
        std::memcpy(&d, p + 4 * i, 4);
        out[i] = float(d);
        break;
      }
      case kI64: {
        int64_t d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = float(d);
        break;
      }
      default: out[i] = float(uint8_t(p[i])); break;
    }
  }
  return out;
}

Array RecordView::copy() const {
  Array a;
  a.name = name;
  a.dtype = dtype;
  a.shape = shape;
  a.data.assign(data, size_t(nbytes));
  return a;
}

// ---- the container --------------------------------------------------------------------------------------
const char* file_kind_name(FileKind k) { return kKindName[index_of(k)]; }

bool has_magic(const std::string& b, FileKind k) {
  return b.size() >= 8 && std::memcmp(b.data(), kMagics[index_of(k)], 8) == 0;
}

ContainerView parse_container(const std::string& b, FileKind kind, const std::string& what) {
  const int ki = index_of(kind);
  if (!has_magic(b, kind)) {
    std::string is;
    for (FileKind other : {FileKind::kTensors, FileKind::kCheckpoint, FileKind::kPack})
      if (has_magic(b, other))
        is = cat("; it is a facefield ", file_kind_name(other), " (", kKindExt[index_of(other)], ")");
    fail(kFormat, what, " is not a facefield ", kKindName[ki], " (bad magic: its first bytes are not \"",
         kMagicText[ki], "\")", is);
  }
  Reader r{b, what, 8};
  ContainerView v;
  v.kind = kind;
  v.version = r.get<uint32_t>("the version");
  if (v.version == 0 || v.version > kContainerVersion)
    fail(kFormat, what, " has ", kKindName[ki], " format version ", v.version, "; this build reads versions 1 to ",
         kContainerVersion);
  std::vector<RecordView> header;  // v1: the fixed header fields, seen as the v2 header records
  auto header_field = [&](const char* name, uint8_t dtype, const char* field) {
    RecordView h;
    h.name = name;
    h.dtype = dtype;
    h.shape = {1};
    h.nbytes = dtype_size(dtype);
    r.need(h.nbytes, field);
    h.data = b.data() + r.pos;
    r.pos += size_t(h.nbytes);
    header.push_back(std::move(h));
  };
  if (v.version == 1 && kind == FileKind::kCheckpoint) {
    header_field(kStep, kI64, "the step");
    header_field(kRng, kI64, "the RNG counter");
  } else if (v.version == 1 && kind == FileKind::kPack) {
    header_field(kPackKindName, kI32, "the pack kind");
  }
  if (!(v.version == 1 && kind == FileKind::kTensors)) {
    const uint64_t ml = r.get<uint64_t>("the meta length");
    r.need(ml, "the meta text");
    v.header.meta = b.substr(r.pos, size_t(ml));
    r.pos += size_t(ml);
  }
  const uint32_t count = r.get<uint32_t>("the record count");
  if (count > r.left() / kMinRecordBytes)
    fail(kFormat, what, " is truncated or corrupt: it declares ", count, " records but has ", r.left(),
         " bytes left");
  for (uint32_t i = 0; i < count; ++i) {
    RecordView a = read_record(r, i);
    if (!is_header_name(kind, a.name)) {
      v.records.push_back(std::move(a));
    } else if (v.version == 1) {
      fail(kFormat, what, ": record '", a.name, "' has a reserved name");
    } else {
      for (auto& h : header)
        if (h.name == a.name) fail(kFormat, what, " has header record '", a.name, "' twice");
      header.push_back(std::move(a));
    }
  }
  const uint64_t stored = r.get<uint64_t>("the checksum");
  if (r.pos != b.size()) fail(kFormat, what, " has ", b.size() - r.pos, " unexpected trailing bytes");
  if (fnv1a64(b.data(), b.size() - 8) != stored) fail(kFormat, what, " is corrupt: checksum mismatch");
  auto take = [&](const char* name) -> int64_t {
    for (auto& h : header)
      if (h.name == name) return header_int(h, what);
    fail(kFormat, what, " has no header record '", name, "'");
  };
  if (kind == FileKind::kCheckpoint) {
    v.header.step = take(kStep);
    v.header.rng_counter = uint64_t(take(kRng));
  } else if (kind == FileKind::kPack) {
    const int64_t k = take(kPackKindName);
    if (k < 0 || k > int64_t(UINT32_MAX)) fail(kFormat, what, " has pack kind ", k);
    v.header.pack_kind = uint32_t(k);
  }
  return v;
}

ContainerWriter::ContainerWriter(FileKind kind, const Header& h) : kind_(kind) {
  buf_.assign(kMagics[index_of(kind)], 8);
  put<uint32_t>(buf_, kContainerVersion);
  put<uint64_t>(buf_, uint64_t(h.meta.size()));
  buf_ += h.meta;
  count_pos_ = buf_.size();
  put<uint32_t>(buf_, 0);  // patched by finish()
  if (kind == FileKind::kCheckpoint) {
    const int64_t rng = int64_t(h.rng_counter);
    add_record(kStep, kI64, {1}, &h.step, 8);
    add_record(kRng, kI64, {1}, &rng, 8);
  } else if (kind == FileKind::kPack) {
    const int32_t k = int32_t(h.pack_kind);
    add_record(kPackKindName, kI32, {1}, &k, 4);
  }
}

void ContainerWriter::add(const std::string& name, uint8_t dtype, const std::vector<int64_t>& shape,
                          const void* data, uint64_t nbytes) {
  if (is_header_name(kind_, name))
    fail(kInvalid, "writing a ", kKindName[index_of(kind_)], ": the name '", name, "' is reserved for the header");
  add_record(name, dtype, shape, data, nbytes);
}

void ContainerWriter::add_record(const std::string& name, uint8_t dtype, const std::vector<int64_t>& shape,
                                 const void* data, uint64_t nbytes) {
  const char* w = kKindName[index_of(kind_)];
  if (name.size() >= kMaxNameLen) fail(kInvalid, "writing a ", w, ": record name of ", name.size(), " bytes is too long");
  if (dtype_size(dtype) == 0) fail(kInvalid, "writing a ", w, ": record '", name, "' has unknown dtype code ", int(dtype));
  if (shape.size() > kMaxRank) fail(kInvalid, "writing a ", w, ": record '", name, "' has rank ", shape.size());
  for (int64_t d : shape)
    if (d < 0 || d >= kMaxDim) fail(kInvalid, "writing a ", w, ": record '", name, "' has a bad dimension ", d);
  const uint64_t numel = checked_numel(shape);
  if (numel == kMaxBytes || nbytes != numel * dtype_size(dtype))
    fail(kInvalid, "writing a ", w, ": record '", name, "' holds ", nbytes, " bytes, its ", dtype_name(dtype),
         " shape needs ", numel * dtype_size(dtype));
  if (count_ == UINT32_MAX) fail(kInvalid, "writing a ", w, ": too many records");
  put<uint32_t>(buf_, uint32_t(name.size()));
  buf_ += name;
  put<uint8_t>(buf_, dtype);
  put<uint32_t>(buf_, uint32_t(shape.size()));
  for (int64_t d : shape) put<int64_t>(buf_, d);
  put<uint64_t>(buf_, nbytes);
  if (nbytes) buf_.append(static_cast<const char*>(data), size_t(nbytes));
  ++count_;
}

std::string ContainerWriter::finish() {
  std::memcpy(&buf_[count_pos_], &count_, 4);
  put<uint64_t>(buf_, fnv1a64(buf_.data(), buf_.size()));
  std::string out = std::move(buf_);
  buf_.clear();
  count_ = 0;
  return out;
}

}  // namespace ffrt
