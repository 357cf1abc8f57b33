// flame/npy.h — NumPy .npy / .npz reading and writing, no Python.
//
// Reading: npy format versions 1–3 (2- or 4-byte header length; v3 = UTF-8 header), dtypes
// <f4 <f8 <i4 <i8 <u4 <u8 <i2 <u2 |i1 |u1 |b1 (big-endian '>' variants are byte-swapped to native
// little-endian on load), C or Fortran order (Fortran is transposed to C order on load, so NdArray::data
// is always C-order little-endian). Object arrays ('|O') keep the raw pickle payload in `data`
// (kind 'O'); flame/pickle.h decodes it. .npz: ZIP archives written by numpy (stored or deflated via
// zlib, zip64 extra fields in the central directory, data descriptors) — the central directory is
// authoritative; the local header is only used to find the payload.
// Writing: write_npy (v1 header, C order) and write_npz (stored or deflated), both atomic
// (temp file + rename).
//
// Every error throws ff::Error naming the file (the `name` argument) and the member/key.
//
//   auto z = ff::npy::read_npz_file("flame.npz");           // std::map<std::string, NdArray>
//   std::vector<double> v = z.at("v_template").to<double>(); // converts any numeric dtype
//   ff::npy::NdArray a = ff::npy::NdArray::from<float>({2, 3}, ptr);
//   ff::npy::write_npz_file("out.npz", {{"a", a}}, /*deflate=*/true);
#pragma once
#include "core/file.h"
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/check.h"

namespace ff::npy {

// Hard limits against malicious files.
constexpr uint64_t kMaxArrayBytes = uint64_t(4) << 30;  // 4 GiB per array
constexpr int kMaxDims = 32;

struct NdArray {
  char kind = 'f';     // 'f' float, 'i' signed, 'u' unsigned, 'b' bool, 'O' pickled object payload
  int itemsize = 8;    // bytes per element (1 for 'O': data holds the pickle stream)
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // C order, little-endian

  int64_t numel() const;
  std::string dtype_str() const;  // numpy descr, e.g. "<f8"
  std::string shape_str() const;  // "(5023, 3)"
  bool is_numeric() const { return kind == 'f' || kind == 'i' || kind == 'u' || kind == 'b'; }

  // Element i (flat, C order) converted to T. Checks the index.
  template <class T>
  T at(int64_t i) const;
  // All elements converted to T (double, float, int64_t, int32_t ...). Throws for object arrays.
  template <class T>
  std::vector<T> to() const;

  // Build an array from a typed buffer of prod(shape) elements.
  template <class T>
  static NdArray from(std::vector<int64_t> shape, const T* values);
};

// Parse one .npy byte stream. `name` is used in error messages (file or "file.npz:member").
NdArray parse_npy(const uint8_t* bytes, size_t size, const std::string& name);
// Build an array from a numpy descr ("<f8", ">i4", "|b1" ...), shape and raw element bytes in C or Fortran
// order (the pickle path uses this too). Checks that `size` covers the shape.
NdArray from_raw(const std::string& descr, const std::vector<int64_t>& shape, bool fortran, const uint8_t* data,
                 size_t size, const std::string& name);
NdArray read_npy_file(const std::string& path);
std::vector<uint8_t> serialize_npy(const NdArray& a);
void write_npy_file(const std::string& path, const NdArray& a);

// ZIP container (npz). zip_directory checks the central directory and every member's local header and extent
// without decoding anything; zip_member_bytes inflates one member and checks its CRC.
struct ZipEntry {
  std::string member;            // name in the archive (keeps its ".npy" suffix)
  uint16_t method = 0;           // 0 stored, 8 deflate
  uint32_t crc = 0;
  uint64_t data_offset = 0, csize = 0, usize = 0;
};
std::vector<ZipEntry> zip_directory(const uint8_t* bytes, size_t size, const std::string& name);
std::vector<uint8_t> zip_member_bytes(const uint8_t* bytes, const ZipEntry& entry, const std::string& name);
// member name → raw bytes, every member decoded.
std::map<std::string, std::vector<uint8_t>> read_zip(const uint8_t* bytes, size_t size, const std::string& name);
// npz: key (member name without ".npy") → array, every member decoded (one that is not a supported array fails all).
std::map<std::string, NdArray> parse_npz(const uint8_t* bytes, size_t size, const std::string& name);
// An npz read on demand: the directory is checked when it is opened; a member is decoded only when get() asks for
// it, so members a reader never needs (FLAME's 'bs_style' / 'bs_type' numpy string arrays '<U7') cost nothing
// and cannot fail the load. get() of a string array throws naming the member.
class NpzReader {
 public:
  NpzReader(std::vector<uint8_t> bytes, std::string name);
  std::vector<std::string> keys() const;  // sorted
  bool contains(const std::string& key) const { return entries_.count(key) > 0; }
  NdArray get(const std::string& key) const;
  const std::string& name() const { return name_; }

 private:
  std::vector<uint8_t> bytes_;
  std::string name_;
  std::map<std::string, ZipEntry> entries_;
};
std::map<std::string, NdArray> read_npz_file(const std::string& path);
std::vector<uint8_t> serialize_npz(const std::map<std::string, NdArray>& arrays, bool deflate);
// A ZIP archive of raw members (name, bytes) in this order, stored or deflated (serialize_npz writes through it).
std::vector<uint8_t> serialize_zip(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& members,
                                   bool deflate);
void write_npz_file(const std::string& path, const std::map<std::string, NdArray>& arrays, bool deflate = false);

// Whole-file helpers shared by the FLAME and dataset readers. The one validation step before any read:
// regular_file_size throws ff::Error naming the path when it is missing, a directory, a device or a pipe;
// read_file_bytes also refuses files over kMaxFileBytes and reports running out of memory naming the file.
constexpr uint64_t kMaxFileBytes = uint64_t(1) << 36;  // 64 GiB
uint64_t regular_file_size(const std::string& path);
std::vector<uint8_t> read_file_bytes(const std::string& path);
// atomic whole-file write (temp file + rename), shared with every layer
using ff::write_file_atomic;
bool is_zip(const uint8_t* bytes, size_t size);
bool is_npy(const uint8_t* bytes, size_t size);

// ---- template definitions ----
template <class T>
T NdArray::at(int64_t i) const {
  FF_CHECK(kind != 'O', "npy: object array has no numeric elements");
  FF_CHECK(i >= 0 && i < numel(), "npy: index ", i, " out of range for ", numel(), " elements");
  const uint8_t* p = data.data() + size_t(i) * size_t(itemsize);
  switch (kind) {
    case 'f':
      if (itemsize == 4) { float v; std::memcpy(&v, p, 4); return T(v); }
      if (itemsize == 8) { double v; std::memcpy(&v, p, 8); return T(v); }
      break;
    case 'i':
      if (itemsize == 1) return T(int8_t(p[0]));
      if (itemsize == 2) { int16_t v; std::memcpy(&v, p, 2); return T(v); }
      if (itemsize == 4) { int32_t v; std::memcpy(&v, p, 4); return T(v); }
      if (itemsize == 8) { int64_t v; std::memcpy(&v, p, 8); return T(v); }
      break;
    case 'u':
      if (itemsize == 1) return T(p[0]);
      if (itemsize == 2) { uint16_t v; std::memcpy(&v, p, 2); return T(v); }
      if (itemsize == 4) { uint32_t v; std::memcpy(&v, p, 4); return T(v); }
      if (itemsize == 8) { uint64_t v; std::memcpy(&v, p, 8); return T(v); }
      break;
    case 'b':
      return T(p[0] != 0);
  }
  FF_THROW("npy: unsupported dtype ", dtype_str());
}

template <class T>
std::vector<T> NdArray::to() const {
  int64_t n = numel();
  std::vector<T> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = at<T>(i);
  return out;
}

template <class T>
NdArray NdArray::from(std::vector<int64_t> shp, const T* values) {
  NdArray a;
  if constexpr (std::is_same_v<T, bool>) a.kind = 'b';
  else if constexpr (std::is_floating_point_v<T>) a.kind = 'f';
  else if constexpr (std::is_signed_v<T>) a.kind = 'i';
  else a.kind = 'u';
  a.itemsize = int(sizeof(T));
  a.shape = std::move(shp);
  int64_t n = a.numel();
  a.data.resize(size_t(n) * sizeof(T));
  if (n) std::memcpy(a.data.data(), values, a.data.size());
  return a;
}

}  // namespace ff::npy
