// runtime/container.h — facefield's one binary container: ".fft" tensor files (tensor/io.h), ".ffck" training
// checkpoints (train/checkpoint.h) and ".ffpk" identity packs (runtime/formats.h) are the same named-array records
// under three magics, read and written here only; also the one checksum (fnv1a64) and the one atomic file writer
// (write_file) of the code base. Dependency-free (C++17 standard library, POSIX fsync/getpid), shared by the
// runtime and the engine (core/file.h, tensor/io.cpp, train/checkpoint.cpp call it).
//
// Byte layout, version 2 (every integer little-endian; x86-64 and aarch64 hosts are little-endian):
//   magic     8 bytes  "FFTENSOR" (.fft) | "FFCKPT\r\n" (.ffck) | "FFPACK\r\n" (.ffpk)   (CR/LF catch text-mode copies)
//   version   u32      2
//   meta_len  u64, meta bytes   UTF-8 text: .ffck the run's configuration JSON, .ffpk informative JSON, .fft empty
//   count     u32      number of records
//   record × count:
//     name_len  u32 (< 65536), name bytes (UTF-8)
//     dtype     u8   0 f32, 1 f64, 2 i32, 3 i64, 4 u8
//     rank      u32 (≤ 16), dims i64 × rank, each in [0, 2^40)
//     nbytes    u64  = numel · dtype size
//     data      nbytes, C order, little-endian
//   checksum  u64      FNV-1a-64 over every byte before it
// Header records: the kind-specific fields are records with reserved names, written first; a reader needs no
// JSON parser to find them, and they are not among ContainerView::records:
//   .ffck  "ckpt/step" i64 [1] (optimiser steps completed), "ckpt/rng_counter" i64 [1] (the bits of the u64
//          counter-RNG position, core/rng.h)
//   .ffpk  "pack/kind" i32 [1] (1 = decoded Gaussians, 2 = model, 3 = rig; runtime/formats.h)
//   .fft   none
// Version 1 (written by facefield before the three formats shared this code; still read, never written) has the
// same records; only the bytes between version and count differ:
//   .fft   nothing (meta is empty)
//   .ffck  step i64, rng_counter u64, config_len u64 + config bytes (→ meta)
//   .ffpk  kind u32, meta_len u64 + meta bytes
// Reading refuses, with an ffrt::Error of status kFormat whose message names the file and the reason: a wrong magic
// (naming the facefield kind the bytes are when they are one), version 0 or newer than 2, a truncated file, an
// implausible record count / name length / dtype / rank / dimension, a byte count that is not numel · dtype size
// (products checked for overflow) or does not fit in the file, a missing, repeated or malformed header record,
// trailing bytes, a checksum mismatch. Nothing is allocated before its size has been checked against the bytes left.
// Writers refuse (kInvalid) what readers would refuse: long names, rank > 16, bad dims, data of the wrong size, a
// reserved name used for an ordinary record.
//
//   ffrt::ContainerWriter w(ffrt::FileKind::kPack, {meta, 0, 0, ffrt::kPackModel});
//   w.add("E", ffrt::kF32, {n, d}, floats, n * d * 4);
//   ffrt::write_file(path, w.finish());
//   ffrt::ContainerView v = ffrt::parse_container(bytes, ffrt::FileKind::kPack, "'" + path + "'");
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/error.h"

namespace ffrt {

// ---- whole files ----
std::string read_file(const std::string& path);  // throws kIO naming the file
// Atomic: writes "<path>.tmp.<pid>", flushes and fsyncs it, then renames it over `path`, so a reader (or a crash)
// never sees a half-written file; on failure the temp file is removed and the kIO error says why.
void write_file(const std::string& path, const void* data, size_t size);
void write_file(const std::string& path, const std::string& bytes);

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL);

// ---- records ----
enum DType : uint8_t { kF32 = 0, kF64 = 1, kI32 = 2, kI64 = 3, kU8 = 4 };  // = ff::DType's codes (tensor/tensor.h)
size_t dtype_size(uint8_t dtype);  // 0 for an unknown code
const char* dtype_name(uint8_t dtype);

// an owning record
struct Array {
  std::string name;
  uint8_t dtype = kF32;
  std::vector<int64_t> shape;
  std::string data;  // raw bytes, C order
  int64_t numel() const;
  const float* f32() const { return reinterpret_cast<const float*>(data.data()); }
  std::vector<float> floats() const;  // f32 copy (f64/i32/i64/u8 converted)
};

// ---- the container ----
enum class FileKind : uint8_t { kTensors, kCheckpoint, kPack };
constexpr uint32_t kContainerVersion = 2;
const char* file_kind_name(FileKind k);  // "tensor file", "checkpoint", "identity pack"
bool has_magic(const std::string& bytes, FileKind k);

// the fields before the records: meta for every kind; step and rng_counter for .ffck; pack_kind for .ffpk
struct Header {
  std::string meta;
  int64_t step = 0;
  uint64_t rng_counter = 0;
  uint32_t pack_kind = 0;
};

// a record of a parsed container: data points into the parsed bytes (valid while they are)
struct RecordView {
  std::string name;
  uint8_t dtype = kF32;
  std::vector<int64_t> shape;
  const char* data = nullptr;
  uint64_t nbytes = 0;
  Array copy() const;
};
struct ContainerView {
  FileKind kind = FileKind::kTensors;
  uint32_t version = 0;  // as stored: 1 or 2
  Header header;
  std::vector<RecordView> records;  // in file order, header records excluded
};
// what: how messages name the bytes, e.g. "'run/step_00001000.ffck'"
ContainerView parse_container(const std::string& bytes, FileKind kind, const std::string& what);

// Builds a version-2 container in memory: the header records first, then add() per record, then finish().
class ContainerWriter {
 public:
  ContainerWriter(FileKind kind, const Header& header);
  void add(const std::string& name, uint8_t dtype, const std::vector<int64_t>& shape, const void* data,
           uint64_t nbytes);
  void add(const Array& a) { add(a.name, a.dtype, a.shape, a.data.data(), a.data.size()); }
  std::string finish();  // the file's bytes, checksum appended; the writer is empty afterwards

 private:
  void add_record(const std::string& name, uint8_t dtype, const std::vector<int64_t>& shape, const void* data,
                  uint64_t nbytes);
  FileKind kind_;
  std::string buf_;
  size_t count_pos_ = 0;
  uint32_t count_ = 0;
};

}  // namespace ffrt
