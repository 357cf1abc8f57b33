// flame/headmodel_mediapipe.cpp — see headmodel_mediapipe.h.
#include "flame/headmodel_mediapipe.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/check.h"

namespace ff::flame::mediapipe {

namespace {

enum Wire : int { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

// A bounded cursor over one (sub)message; offsets in messages are relative to the start of the file.
struct Reader {
  const uint8_t* base;  // start of the file
  size_t pos, end;      // absolute offsets
  const std::string& what;

  bool done() const { return pos >= end; }

  [[noreturn]] void fail(size_t at, const std::string& msg) const {
    FF_THROW("MediaPipe geometry metadata '", what, "': ", msg, " at byte ", at);
  }

  uint64_t varint() {
    size_t at = pos;
    uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos >= end) fail(at, "truncated varint");
      uint8_t c = base[pos++];
      if (i == 9 && c > 1) fail(at, "varint longer than 64 bits");
      v |= uint64_t(c & 0x7f) << (7 * i);
      if (!(c & 0x80)) return v;
    }
    fail(at, "varint longer than 10 bytes");
  }
  uint32_t fixed32() {
    if (end - pos < 4) fail(pos, "truncated fixed32 field");
    uint32_t v = uint32_t(base[pos]) | uint32_t(base[pos + 1]) << 8 | uint32_t(base[pos + 2]) << 16 |
                 uint32_t(base[pos + 3]) << 24;
    pos += 4;
    return v;
  }
  float float32() {
    size_t at = pos;
    uint32_t u = fixed32();
    float f;
    std::memcpy(&f, &u, 4);
    if (!std::isfinite(f)) fail(at, "non-finite float");
    return f;
  }
  // Sub-reader over a length-delimited payload.
  Reader sub() {
    size_t at = pos;
    uint64_t n = varint();
    if (n > end - pos) fail(at, "length-delimited field of " + std::to_string(n) + " bytes runs past the end (" +
                                    std::to_string(end - pos) + " bytes left)");
    Reader r{base, pos, pos + size_t(n), what};
    pos += size_t(n);
    return r;
  }
  // Reads a tag; returns false at the end of the message.
  bool tag(int& field, int& wire, size_t& at) {
    if (done()) return false;
    at = pos;
    uint64_t t = varint();
    field = int(t >> 3);
    wire = int(t & 7);
    if (t >> 3 == 0 || t >> 3 > 0x1fffffff) fail(at, "invalid field number " + std::to_string(t >> 3));
    if (wire == kStartGroup || wire == kEndGroup) fail(at, "protobuf groups are not supported");
    if (wire > kFixed32) fail(at, "invalid wire type " + std::to_string(wire));
    return true;
  }
  void skip(int wire) {
    switch (wire) {
      case kVarint: varint(); break;
      case kFixed64:
        if (end - pos < 8) fail(pos, "truncated fixed64 field");
        pos += 8;
        break;
      case kLen: sub(); break;
      case kFixed32: fixed32(); break;
      default: fail(pos, "invalid wire type");
    }
  }
  void expect(int wire, int want, size_t at, const char* field) const {
    if (wire != want)
      fail(at, std::string("field ") + field + " has wire type " + std::to_string(wire) + ", expected " +
                   std::to_string(want));
  }
};

void read_mesh(Reader r, CanonicalMesh& m) {
  int field, wire;
  size_t at;
  int vertex_type = 0, primitive_type = 0;
  std::vector<float> vb;
  std::vector<uint64_t> ib;
  while (r.tag(field, wire, at)) {
    if (field == 1 || field == 2) {
      r.expect(wire, kVarint, at, field == 1 ? "Mesh3d.vertex_type" : "Mesh3d.primitive_type");
      (field == 1 ? vertex_type : primitive_type) = int(r.varint());
    } else if (field == 3) {  // repeated float: unpacked (fixed32) or packed (len)
      if (wire == kFixed32) {
        vb.push_back(r.float32());
      } else {
        r.expect(wire, kLen, at, "Mesh3d.vertex_buffer");
        Reader p = r.sub();
        if ((p.end - p.pos) % 4) r.fail(at, "packed vertex_buffer length is not a multiple of 4");
        while (!p.done()) vb.push_back(p.float32());
      }
    } else if (field == 4) {  // repeated uint32: unpacked (varint) or packed (len)
      if (wire == kVarint) {
        ib.push_back(r.varint());
      } else {
        r.expect(wire, kLen, at, "Mesh3d.index_buffer");
        Reader p = r.sub();
        while (!p.done()) ib.push_back(p.varint());
      }
    } else {
      r.skip(wire);
    }
  }
  const std::string& w = r.what;
  FF_CHECK(vertex_type == 0, "MediaPipe geometry metadata '", w, "': vertex_type ", vertex_type,
           " is not VERTEX_PT (0)");
  FF_CHECK(primitive_type == 0, "MediaPipe geometry metadata '", w, "': primitive_type ", primitive_type,
           " is not TRIANGLE (0)");
  FF_CHECK(!vb.empty() && vb.size() % 5 == 0, "MediaPipe geometry metadata '", w, "': vertex_buffer has ", vb.size(),
           " floats, expected a positive multiple of 5 (x y z u v)");
  FF_CHECK(!ib.empty() && ib.size() % 3 == 0, "MediaPipe geometry metadata '", w, "': index_buffer has ", ib.size(),
           " indices, expected a positive multiple of 3");
  size_t n = vb.size() / 5;
  m.vertices.resize(n * 3);
  m.uvs.resize(n * 2);
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) m.vertices[i * 3 + size_t(k)] = vb[i * 5 + size_t(k)];
    for (int k = 0; k < 2; ++k) m.uvs[i * 2 + size_t(k)] = vb[i * 5 + 3 + size_t(k)];
  }
  m.faces.resize(ib.size());
  for (size_t i = 0; i < ib.size(); ++i) {
    FF_CHECK(ib[i] < n, "MediaPipe geometry metadata '", w, "': index_buffer[", i, "] = ", ib[i],
             " out of range [0, ", n, ")");
    m.faces[i] = int32_t(ib[i]);
  }
}

}  // namespace

CanonicalMesh parse_geometry_metadata(const uint8_t* data, size_t size, const std::string& what) {
  FF_CHECK(data != nullptr && size > 0, "MediaPipe geometry metadata '", what, "': empty input");
  Reader r{data, 0, size, what};
  CanonicalMesh m;
  bool have_mesh = false;
  int field, wire;
  size_t at;
  while (r.tag(field, wire, at)) {
    if (field == 1) {
      r.expect(wire, kLen, at, "GeometryPipelineMetadata.canonical_mesh");
      FF_CHECK(!have_mesh, "MediaPipe geometry metadata '", what, "': canonical_mesh appears twice (byte ", at, ")");
      read_mesh(r.sub(), m);
      have_mesh = true;
    } else if (field == 2) {
      r.expect(wire, kLen, at, "GeometryPipelineMetadata.procrustes_landmark_basis");
      Reader s = r.sub();
      int f2, w2;
      size_t at2;
      uint64_t id = 0;
      double weight = 0;
      while (s.tag(f2, w2, at2)) {
        if (f2 == 1) {
          s.expect(w2, kVarint, at2, "WeightedLandmarkRef.landmark_id");
          id = s.varint();
        } else if (f2 == 2) {
          s.expect(w2, kFixed32, at2, "WeightedLandmarkRef.weight");
          weight = s.float32();
        } else {
          s.skip(w2);
        }
      }
      FF_CHECK(id < (1u << 30), "MediaPipe geometry metadata '", what, "': procrustes landmark id ", id, " too large");
      m.procrustes_ids.push_back(int32_t(id));
      m.procrustes_weights.push_back(weight);
    } else if (field == 3) {
      r.expect(wire, kVarint, at, "GeometryPipelineMetadata.input_source");
      m.input_source = int(r.varint());
    } else {
      r.skip(wire);
    }
  }
  FF_CHECK(have_mesh, "MediaPipe geometry metadata '", what, "': no canonical_mesh (field 1) in ", size, " bytes");
  for (int32_t id : m.procrustes_ids)
    FF_CHECK(id < m.num_vertices(), "MediaPipe geometry metadata '", what, "': procrustes landmark id ", id,
             " out of range [0, ", m.num_vertices(), ")");
  return m;
}

CanonicalMesh read_geometry_metadata(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FF_CHECK(f.good(), "cannot open MediaPipe geometry metadata '", path, "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parse_geometry_metadata(bytes.data(), bytes.size(), path);
}

CanonicalMesh embedded_canonical_mesh() {
  size_t n = 0;
  const unsigned char* p = embedded_geometry_metadata(&n);
  return parse_geometry_metadata(p, n, "<embedded third_party/mediapipe/geometry_pipeline_metadata_landmarks.binarypb>");
}

}  // namespace ff::flame::mediapipe
