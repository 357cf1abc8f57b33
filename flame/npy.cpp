// flame/npy.cpp — see npy.h.
#include "flame/npy.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <new>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <sstream>

namespace ff::npy {

int64_t NdArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string NdArray::dtype_str() const {
  if (kind == 'O') return "|O";
  char order = itemsize == 1 ? '|' : '<';
  return std::string(1, order) + kind + std::to_string(itemsize);
}

std::string NdArray::shape_str() const {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

// ------------------------------------------------------------------------------------------------
// files

uint64_t regular_file_size(const std::string& path) {
  struct stat st;
  FF_CHECK(::stat(path.c_str(), &st) == 0, "cannot open '", path, "' for reading: ", std::strerror(errno));
  FF_CHECK(S_ISREG(st.st_mode), "'", path, "' is not a regular file (",
           S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket", ")");
  return uint64_t(st.st_size);
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  // the size comes from stat() of a regular file, never from seeking a directory or a pipe (a directory "opens"
  // on Linux and reports a size of 2^63, which used to throw std::bad_alloc naming nothing)
  const uint64_t n = regular_file_size(path);
  FF_CHECK(n <= kMaxFileBytes, "'", path, "' is ", n, " bytes, larger than the ", kMaxFileBytes, "-byte limit for one file");
  std::ifstream f(path, std::ios::binary);
  FF_CHECK(f.good(), "cannot open '", path, "' for reading");
  std::vector<uint8_t> b;
  try {
    b.resize(static_cast<size_t>(n));
  } catch (const std::bad_alloc&) {
    FF_THROW("out of memory reading '", path, "' (", n, " bytes)");
  }
  if (n) f.read(reinterpret_cast<char*>(b.data()), std::streamsize(n));
  FF_CHECK(f.good() || f.eof(), "read error on '", path, "'");
  FF_CHECK(uint64_t(f.gcount()) == n, "'", path, "' changed while it was read (", f.gcount(), " of ", n, " bytes)");
  return b;
}

bool is_zip(const uint8_t* b, size_t n) { return n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4; }
bool is_npy(const uint8_t* b, size_t n) { return n >= 6 && std::memcmp(b, "\x93NUMPY", 6) == 0; }

// ------------------------------------------------------------------------------------------------
// npy header: a Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (5023, 3), }

namespace {

struct HeaderScanner {
  const std::string& s;
  const std::string& name;
  size_t i = 0;
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) { ++i; return true; }
    return false;
  }
  void expect(char c) { FF_CHECK(eat(c), "npy '", name, "': malformed header, expected '", c, "' at ", i, ": ", s); }
  std::string str() {
    ws();
    FF_CHECK(i < s.size() && (s[i] == '\'' || s[i] == '"'), "npy '", name, "': malformed header, expected a string: ", s);
    char q = s[i++];
    size_t b = i;
    while (i < s.size() && s[i] != q) ++i;
    FF_CHECK(i < s.size(), "npy '", name, "': unterminated string in header");
    return s.substr(b, i++ - b);
  }
  std::string word() {
    ws();
    size_t b = i;
    while (i < s.size() && (std::isalnum((unsigned char)s[i]) || s[i] == '_')) ++i;
    return s.substr(b, i - b);
  }
  int64_t integer() {
    ws();
    size_t b = i;
    while (i < s.size() && std::isdigit((unsigned char)s[i])) ++i;
    FF_CHECK(i > b && i - b <= 18, "npy '", name, "': bad dimension in header: ", s);
    int64_t v = std::stoll(s.substr(b, i - b));
    if (i < s.size() && s[i] == 'L') ++i;  // Python 2 long suffix
    return v;
  }
};

}  // namespace

NdArray parse_npy(const uint8_t* b, size_t n, const std::string& name) {
  FF_CHECK(is_npy(b, n), "npy '", name, "': not an .npy stream (bad magic)");
  FF_CHECK(n >= 10, "npy '", name, "': truncated header");
  int major = b[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = size_t(b[8]) | (size_t(b[9]) << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    FF_CHECK(n >= 12, "npy '", name, "': truncated header");
    hlen = size_t(b[8]) | (size_t(b[9]) << 8) | (size_t(b[10]) << 16) | (size_t(b[11]) << 24);
    hstart = 12;
  } else {
    FF_THROW("npy '", name, "': unsupported format version ", major, ".", int(b[7]));
  }
  FF_CHECK(hlen <= n - hstart, "npy '", name, "': truncated header (", hlen, " header bytes declared, ",
           n - hstart, " present)");
  std::string header(reinterpret_cast<const char*>(b + hstart), hlen);
  HeaderScanner sc{header, name};
  std::string descr;
  bool have_descr = false, have_order = false, have_shape = false, fortran = false;
  std::vector<int64_t> shape;
  sc.expect('{');
  while (!sc.eat('}')) {
    std::string key = sc.str();
    sc.expect(':');
    if (key == "descr") {
      sc.ws();
      FF_CHECK(sc.i < header.size() && (header[sc.i] == '\'' || header[sc.i] == '"'), "npy '", name,
               "': structured dtypes are not supported (descr is not a string)");
      descr = sc.str();
      have_descr = true;
    } else if (key == "fortran_order") {
      std::string w = sc.word();
      FF_CHECK(w == "True" || w == "False", "npy '", name, "': bad fortran_order '", w, "'");
      fortran = w == "True";
      have_order = true;
    } else if (key == "shape") {
      sc.expect('(');
      while (!sc.eat(')')) {
        shape.push_back(sc.integer());
        FF_CHECK(shape.size() <= size_t(kMaxDims), "npy '", name, "': too many dimensions");
        sc.eat(',');
      }
      have_shape = true;
    } else {
      FF_THROW("npy '", name, "': unknown header key '", key, "'");
    }
    sc.eat(',');
  }
  FF_CHECK(have_descr && have_order && have_shape, "npy '", name, "': header lacks descr/fortran_order/shape: ", header);

  const uint8_t* payload = b + hstart + hlen;
  size_t avail = n - hstart - hlen;
  if (descr.size() >= 2 && descr[1] == 'O') {
    NdArray a;
    a.shape = shape;
    a.kind = 'O';
    a.itemsize = 1;
    a.data.assign(payload, payload + avail);
    return a;
  }
  return from_raw(descr, shape, fortran, payload, avail, name);
}

NdArray from_raw(const std::string& descr, const std::vector<int64_t>& shape, bool fortran, const uint8_t* payload,
                 size_t avail, const std::string& name) {
  NdArray a;
  a.shape = shape;
  FF_CHECK(shape.size() <= size_t(kMaxDims), "npy '", name, "': too many dimensions");
  FF_CHECK(descr.size() >= 2, "npy '", name, "': bad descr '", descr, "'");
  char order = descr[0];
  char kind = descr[1];
  FF_CHECK(order == '<' || order == '>' || order == '|' || order == '=', "npy '", name, "': bad byte order in descr '",
           descr, "'");
  FF_CHECK(kind != 'U' && kind != 'S', "npy '", name, "': holds strings (numpy dtype '", descr,
           "'), not numbers; facefield reads numeric arrays only");
  FF_CHECK(kind == 'f' || kind == 'i' || kind == 'u' || kind == 'b', "npy '", name, "': unsupported dtype '", descr,
           "' (supported: f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)");
  int isz = 0;
  try {
    isz = std::stoi(descr.substr(2));
  } catch (...) {
    FF_THROW("npy '", name, "': bad dtype '", descr, "'");
  }
  bool ok = (kind == 'f' && (isz == 4 || isz == 8)) || ((kind == 'i' || kind == 'u') && (isz == 1 || isz == 2 || isz == 4 || isz == 8)) ||
            (kind == 'b' && isz == 1);
  FF_CHECK(ok, "npy '", name, "': unsupported dtype '", descr, "'");
  a.kind = kind;
  a.itemsize = isz;
  uint64_t count = 1;
  for (int64_t d : shape) {
    FF_CHECK(d >= 0 && d < (int64_t(1) << 40), "npy '", name, "': bad dimension ", d);
    FF_CHECK(d == 0 || count <= kMaxArrayBytes / uint64_t(d), "npy '", name, "': array too large ", a.shape_str());
    count *= uint64_t(d);
  }
  FF_CHECK(count <= kMaxArrayBytes / uint64_t(isz), "npy '", name, "': array too large ", a.shape_str());
  uint64_t bytes = count * uint64_t(isz);
  FF_CHECK(bytes <= avail, "npy '", name, "': truncated data: shape ", a.shape_str(), " ", descr, " needs ", bytes,
           " bytes, ", avail, " present");
  a.data.assign(payload, payload + bytes);
  if (order == '>' && isz > 1) {
    for (uint64_t e = 0; e < count; ++e) std::reverse(a.data.begin() + e * isz, a.data.begin() + (e + 1) * isz);
  }
  if (fortran && shape.size() > 1 && count > 0) {
    // Fortran order: element (i0, i1, ..., ik) is at i0 + d0*(i1 + d1*(...)). Transpose to C order.
    std::vector<uint8_t> c(a.data.size());
    size_t nd = shape.size();
    std::vector<int64_t> idx(nd, 0);
    for (uint64_t e = 0; e < count; ++e) {  // e walks C order
      uint64_t f = 0;
      for (size_t k = nd; k-- > 0;) f = f * uint64_t(shape[k]) + uint64_t(idx[k]);
      std::memcpy(&c[e * isz], &a.data[f * isz], size_t(isz));
      for (size_t k = nd; k-- > 0;) {
        if (++idx[k] < shape[k]) break;
        idx[k] = 0;
      }
    }
    a.data.swap(c);
  }
  return a;
}

NdArray read_npy_file(const std::string& path) {
  auto b = read_file_bytes(path);
  return parse_npy(b.data(), b.size(), path);
}

std::vector<uint8_t> serialize_npy(const NdArray& a) {
  FF_CHECK(a.is_numeric(), "write_npy: object arrays cannot be written");
  FF_CHECK(int64_t(a.data.size()) == a.numel() * a.itemsize, "write_npy: data size ", a.data.size(),
           " does not match shape ", a.shape_str());
  std::string h = "{'descr': '" + a.dtype_str() + "', 'fortran_order': False, 'shape': " + a.shape_str() + ", }";
  size_t pre = 10;
  size_t total = pre + h.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  int version = 1;
  if (h.size() + 1 + pad > 65535) {
    version = 2;
    pre = 12;
    total = pre + h.size() + 1;
    pad = (64 - total % 64) % 64;
  }
  h.append(pad, ' ');
  h.push_back('\n');
  std::vector<uint8_t> out(pre + h.size() + a.data.size());
  uint8_t* o = out.data();
  std::memcpy(o, "\x93NUMPY", 6);
  o[6] = uint8_t(version);
  o[7] = 0;
  uint32_t hl = uint32_t(h.size());
  for (size_t k = 0; k + 8 < pre; ++k) o[8 + k] = uint8_t((hl >> (8 * k)) & 0xff);
  std::memcpy(o + pre, h.data(), h.size());
  if (!a.data.empty()) std::memcpy(o + pre + h.size(), a.data.data(), a.data.size());
  return out;
}

void write_npy_file(const std::string& path, const NdArray& a) {
  auto b = serialize_npy(a);
  write_file_atomic(path, b.data(), b.size());
}

// ------------------------------------------------------------------------------------------------
// ZIP

namespace {

uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t rd32(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }
uint64_t rd64(const uint8_t* p) { return uint64_t(rd32(p)) | (uint64_t(rd32(p + 4)) << 32); }
void wr16(std::vector<uint8_t>& o, uint32_t v) {
  o.push_back(uint8_t(v));
  o.push_back(uint8_t(v >> 8));
}
void wr32(std::vector<uint8_t>& o, uint32_t v) {
  wr16(o, v & 0xffff);
  wr16(o, v >> 16);
}

std::vector<uint8_t> inflate_raw(const uint8_t* src, size_t csize, uint64_t usize, const std::string& what) {
  // deflate cannot expand more than ~1032:1; a larger claim is a corrupt or hostile header
  FF_CHECK(usize <= uint64_t(csize) * 1040 + 1024, what, ": implausible uncompressed size ", usize, " for ", csize,
           " compressed bytes");
  std::vector<uint8_t> out(static_cast<size_t>(usize));
  z_stream zs{};
  FF_CHECK(inflateInit2(&zs, -MAX_WBITS) == Z_OK, what, ": zlib inflateInit2 failed");
  zs.next_in = const_cast<Bytef*>(src);
  zs.avail_in = uInt(csize);
  zs.next_out = out.data();
  zs.avail_out = uInt(usize);
  int rc = inflate(&zs, Z_FINISH);
  uint64_t got = zs.total_out;
  inflateEnd(&zs);
  FF_CHECK(rc == Z_STREAM_END, what, ": corrupt deflate stream (zlib code ", rc, ")");
  FF_CHECK(got == usize, what, ": inflated ", got, " bytes, expected ", usize);
  return out;
}

}  // namespace

std::vector<ZipEntry> zip_directory(const uint8_t* b, size_t n, const std::string& name) {
  FF_CHECK(n >= 22, "zip '", name, "': too short to be a ZIP archive (", n, " bytes)");
  // end of central directory: scan back over at most a 64 KiB comment
  size_t eocd = SIZE_MAX;
  size_t lo = n >= 22 + 65535 ? n - 22 - 65535 : 0;
  for (size_t p = n - 22 + 1; p-- > lo;) {
    if (rd32(b + p) == 0x06054b50) { eocd = p; break; }
  }
  FF_CHECK(eocd != SIZE_MAX, "zip '", name, "': end-of-central-directory record not found (truncated file?)");
  uint64_t entries = rd16(b + eocd + 10);
  uint64_t cd_size = rd32(b + eocd + 12);
  uint64_t cd_off = rd32(b + eocd + 16);
  if (entries == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
    FF_CHECK(eocd >= 20 && rd32(b + eocd - 20) == 0x07064b50, "zip '", name, "': zip64 locator missing");
    uint64_t z64 = rd64(b + eocd - 20 + 8);
    FF_CHECK(z64 <= n - 56 && n >= 56 && rd32(b + z64) == 0x06064b50, "zip '", name, "': bad zip64 end record");
    entries = rd64(b + z64 + 32);
    cd_size = rd64(b + z64 + 40);
    cd_off = rd64(b + z64 + 48);
  }
  FF_CHECK(cd_off <= n && cd_size <= n - cd_off, "zip '", name, "': central directory out of range");
  FF_CHECK(entries <= cd_size / 46, "zip '", name, "': entry count ", entries, " exceeds the central directory");
  std::vector<ZipEntry> out;
  std::set<std::string> seen;
  uint64_t p = cd_off, end = cd_off + cd_size;
  for (uint64_t e = 0; e < entries; ++e) {
    FF_CHECK(p + 46 <= end && rd32(b + p) == 0x02014b50, "zip '", name, "': bad central directory entry ", e);
    ZipEntry z;
    uint16_t flags = rd16(b + p + 8);
    z.method = rd16(b + p + 10);
    z.crc = rd32(b + p + 16);
    uint64_t csize = rd32(b + p + 20);
    uint64_t usize = rd32(b + p + 24);
    uint16_t nlen = rd16(b + p + 28), xlen = rd16(b + p + 30), clen = rd16(b + p + 32);
    uint64_t loff = rd32(b + p + 42);
    FF_CHECK(p + 46 + nlen + xlen + clen <= end, "zip '", name, "': central directory entry ", e, " truncated");
    std::string member(reinterpret_cast<const char*>(b + p + 46), nlen);
    const uint8_t* x = b + p + 46 + nlen;
    for (size_t q = 0; q + 4 <= xlen;) {
      uint16_t id = rd16(x + q), sz = rd16(x + q + 2);
      FF_CHECK(q + 4 + sz <= xlen, "zip '", name, "': member '", member, "': bad extra field");
      if (id == 0x0001) {  // zip64: the 0xffffffff fields, in this order
        size_t r = q + 4, rend = q + 4 + sz;
        auto take = [&](uint64_t& v) {
          if (v != 0xffffffffu) return;
          FF_CHECK(r + 8 <= rend, "zip '", name, "': member '", member, "': short zip64 extra field");
          v = rd64(x + r);
          r += 8;
        };
        take(usize);
        take(csize);
        take(loff);
      }
      q += 4 + sz;
    }
    FF_CHECK(!(flags & 1), "zip '", name, "': member '", member, "' is encrypted");
    FF_CHECK(loff <= n && n - loff >= 30 && rd32(b + loff) == 0x04034b50, "zip '", name, "': member '", member,
             "': bad local header offset");
    uint64_t data = loff + 30 + rd16(b + loff + 26) + rd16(b + loff + 28);
    FF_CHECK(data <= n && csize <= n - data, "zip '", name, "': member '", member, "' truncated (", csize,
             " bytes declared)");
    FF_CHECK(seen.insert(member).second, "zip '", name, "': member '", member, "': duplicate member");
    z.member = std::move(member);
    z.data_offset = data;
    z.csize = csize;
    z.usize = usize;
    out.push_back(std::move(z));
    p += 46 + nlen + xlen + clen;
  }
  return out;
}

std::vector<uint8_t> zip_member_bytes(const uint8_t* b, const ZipEntry& z, const std::string& name) {
  const std::string what = "zip '" + name + "': member '" + z.member + "'";
  std::vector<uint8_t> bytes;
  if (z.method == 0) {
    FF_CHECK(z.csize == z.usize, what, ": stored size mismatch");
    bytes.assign(b + z.data_offset, b + z.data_offset + z.csize);
  } else if (z.method == 8) {
    bytes = inflate_raw(b + z.data_offset, size_t(z.csize), z.usize, what);
  } else {
    FF_THROW(what, ": unsupported compression method ", z.method, " (stored and deflate only)");
  }
  uLong c = crc32(0L, Z_NULL, 0);
  size_t off = 0;
  while (off < bytes.size()) {  // crc32's length is a uInt
    size_t chunk = std::min<size_t>(bytes.size() - off, 1u << 30);
    c = crc32(c, bytes.data() + off, uInt(chunk));
    off += chunk;
  }
  FF_CHECK(uint32_t(c) == z.crc, what, ": CRC mismatch (corrupt file)");
  return bytes;
}

std::map<std::string, std::vector<uint8_t>> read_zip(const uint8_t* b, size_t n, const std::string& name) {
  std::map<std::string, std::vector<uint8_t>> out;
  for (const ZipEntry& z : zip_directory(b, n, name)) out.emplace(z.member, zip_member_bytes(b, z, name));
  return out;
}

namespace {
std::string npz_key(const std::string& member) {
  std::string key = member;
  if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
  return key;
}

// key (member name without ".npy") → directory entry; two members with one key are refused
std::map<std::string, ZipEntry> npz_entries(const uint8_t* b, size_t n, const std::string& name) {
  FF_CHECK(is_zip(b, n), "npz '", name, "': not a ZIP archive");
  std::map<std::string, ZipEntry> out;
  for (ZipEntry& z : zip_directory(b, n, name)) {
    std::string key = npz_key(z.member);
    FF_CHECK(!out.count(key), "npz '", name, "': members '", out.at(key).member, "' and '", z.member,
             "' have the same key");
    out.emplace(std::move(key), std::move(z));
  }
  return out;
}

NdArray npz_member(const uint8_t* b, const ZipEntry& z, const std::string& name) {
  const std::vector<uint8_t> raw = zip_member_bytes(b, z, name);
  return parse_npy(raw.data(), raw.size(), name + ":" + z.member);
}

}  // namespace

NpzReader::NpzReader(std::vector<uint8_t> bytes, std::string name) : bytes_(std::move(bytes)), name_(std::move(name)) {
  entries_ = npz_entries(bytes_.data(), bytes_.size(), name_);
}

std::vector<std::string> NpzReader::keys() const {
  std::vector<std::string> k;
  for (auto& kv : entries_) k.push_back(kv.first);
  return k;
}

NdArray NpzReader::get(const std::string& key) const {
  auto it = entries_.find(key);
  FF_CHECK(it != entries_.end(), "npz '", name_, "': no member '", key, "'");
  return npz_member(bytes_.data(), it->second, name_);
}

std::map<std::string, NdArray> parse_npz(const uint8_t* b, size_t n, const std::string& name) {
  std::map<std::string, NdArray> out;
  for (auto& [key, z] : npz_entries(b, n, name)) out.emplace(key, npz_member(b, z, name));
  return out;
}

std::map<std::string, NdArray> read_npz_file(const std::string& path) {
  auto b = read_file_bytes(path);
  return parse_npz(b.data(), b.size(), path);
}

std::vector<uint8_t> serialize_npz(const std::map<std::string, NdArray>& arrays, bool use_deflate) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> members;
  for (auto& [key, arr] : arrays) members.emplace_back(key + ".npy", serialize_npy(arr));
  return serialize_zip(members, use_deflate);
}

std::vector<uint8_t> serialize_zip(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members,
                                   bool use_deflate) {
  std::vector<uint8_t> out, cd;
  uint32_t count = 0;
  for (auto& [member, raw] : members) {
    const std::string& key = member;
    FF_CHECK(member.size() < 65535, "write_npz: key too long");
    FF_CHECK(raw.size() < 0xffffffffu, "write_npz: member '", key, "' exceeds 4 GiB (zip64 writing not supported)");
    uint32_t crc = uint32_t(crc32(crc32(0L, Z_NULL, 0), raw.data(), uInt(raw.size())));
    std::vector<uint8_t> comp;
    uint16_t method = 0;
    if (use_deflate) {
      z_stream zs{};
      FF_CHECK(deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK, "write_npz: deflateInit2 failed");
      comp.resize(deflateBound(&zs, uLong(raw.size())));
      zs.next_in = const_cast<Bytef*>(raw.data());
      zs.avail_in = uInt(raw.size());
      zs.next_out = comp.data();
      zs.avail_out = uInt(comp.size());
      int rc = deflate(&zs, Z_FINISH);
      comp.resize(zs.total_out);
      deflateEnd(&zs);
      FF_CHECK(rc == Z_STREAM_END, "write_npz: deflate failed for '", key, "'");
      method = 8;
    } else {
      comp = raw;
    }
    FF_CHECK(out.size() < 0xffffffffu, "write_npz: archive exceeds 4 GiB");
    uint32_t loff = uint32_t(out.size());
    // local header
    wr32(out, 0x04034b50);
    wr16(out, 20);
    wr16(out, 0);
    wr16(out, method);
    wr16(out, 0);
    wr16(out, 0x21);  // time/date: 1980-01-01
    wr32(out, crc);
    wr32(out, uint32_t(comp.size()));
    wr32(out, uint32_t(raw.size()));
    wr16(out, uint32_t(member.size()));
    wr16(out, 0);
    out.insert(out.end(), member.begin(), member.end());
    out.insert(out.end(), comp.begin(), comp.end());
    // central directory entry
    wr32(cd, 0x02014b50);
    wr16(cd, 20);
    wr16(cd, 20);
    wr16(cd, 0);
    wr16(cd, method);
    wr16(cd, 0);
    wr16(cd, 0x21);
    wr32(cd, crc);
    wr32(cd, uint32_t(comp.size()));
    wr32(cd, uint32_t(raw.size()));
    wr16(cd, uint32_t(member.size()));
    wr16(cd, 0);
    wr16(cd, 0);
    wr16(cd, 0);
    wr16(cd, 0);
    wr32(cd, 0);
    wr32(cd, loff);
    cd.insert(cd.end(), member.begin(), member.end());
    ++count;
  }
  FF_CHECK(count < 0xffff, "write_npz: too many members");
  uint32_t cd_off = uint32_t(out.size());
  out.insert(out.end(), cd.begin(), cd.end());
  wr32(out, 0x06054b50);
  wr16(out, 0);
  wr16(out, 0);
  wr16(out, count);
  wr16(out, count);
  wr32(out, uint32_t(cd.size()));
  wr32(out, cd_off);
  wr16(out, 0);
  return out;
}

void write_npz_file(const std::string& path, const std::map<std::string, NdArray>& arrays, bool deflate) {
  auto b = serialize_npz(arrays, deflate);
  write_file_atomic(path, b.data(), b.size());
}

}  // namespace ff::npy
