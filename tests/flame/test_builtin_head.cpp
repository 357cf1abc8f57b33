// tests/flame/test_builtin_head.cpp — the built-in head model (MediaPipe canonical mesh + procedural bases),
// its protobuf reader and the shaded mesh render (rasterize_mesh).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "flame/flame.h"
#include "flame/headmodel.h"
#include "flame/headmodel_mediapipe.h"
#include "flame/landmarks.h"
#include "flame/mesh.h"
#include "flame/mesh_raster.h"
#include "tests/flame/flame_test_util.h"

namespace {

using ff::flame_test::throws_with;
namespace fl = ff::flame;

std::vector<uint8_t> embedded_bytes() {
  size_t n = 0;
  const unsigned char* p = fl::mediapipe::embedded_geometry_metadata(&n);
  return std::vector<uint8_t>(p, p + n);
}

std::vector<double> forward(const fl::FlameModel& m, std::vector<double> shape, std::vector<double> expr,
                            std::vector<double> pose = {}) {
  fl::FlameInput<double> in;
  in.n_shape = int(shape.size());
  in.n_expr = int(expr.size());
  in.shape = shape.empty() ? nullptr : shape.data();
  in.expr = expr.empty() ? nullptr : expr.data();
  if (pose.empty()) pose.assign(size_t(m.J) * 3, 0.0);
  in.pose = pose.data();
  fl::FlameOutput<double> out;
  fl::flame_fwd(m, in, out);
  return out.vertices;
}

double coord(const std::vector<double>& v, int i, int k) { return v[size_t(i) * 3 + size_t(k)]; }

std::vector<double> landmarks(const fl::FlameModel& m, const std::vector<double>& verts, fl::LandmarkScheme s) {
  auto set = fl::make_landmark_set<double>(m, s, nullptr, 1);
  std::vector<double> l(size_t(set.count) * 3);
  fl::landmarks_fwd(m, set, verts.data(), l.data());
  return l;
}

}  // namespace

TEST_CASE("mediapipe: the vendored file, the embedded copy and the parse agree") {
  std::ifstream f(std::string(FF_SOURCE_DIR) + "/third_party/mediapipe/geometry_pipeline_metadata_landmarks.binarypb",
                  std::ios::binary);
  REQUIRE(f.good());
  std::vector<uint8_t> file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(file.size() == 19376);
  CHECK(file == embedded_bytes());
  auto m = fl::mediapipe::parse_geometry_metadata(file.data(), file.size(), "vendored");
  CHECK(m.num_vertices() == 468);
  CHECK(m.num_faces() == 898);
  CHECK(m.uvs.size() == 468 * 2);
  CHECK(m.procrustes_ids.size() == 33);
  CHECK(m.input_source == 1);
  // nose tip (vertex 4) is the most forward point, centimetres
  CHECK(m.vertices[4 * 3 + 2] == doctest::Approx(7.5866).epsilon(1e-4));
  for (int v = 0; v < m.num_vertices(); ++v) CHECK_LE(m.vertices[size_t(v) * 3 + 2], m.vertices[4 * 3 + 2] + 1e-9);
}

TEST_CASE("mediapipe: the protobuf reader refuses truncated and corrupt input with ff::Error") {
  std::vector<uint8_t> good = embedded_bytes();
  auto parse = [](const std::vector<uint8_t>& b) {
    return [b] { fl::mediapipe::parse_geometry_metadata(b.data(), b.size(), "test.binarypb"); };
  };
  // every truncation fails cleanly (none may crash or succeed with a partial mesh)
  for (size_t n : {size_t(0), size_t(1), size_t(2), size_t(3), size_t(10), size_t(100), size_t(4096), good.size() / 2,
                   good.size() - 700, good.size() - 1}) {
    std::vector<uint8_t> t(good.begin(), good.begin() + std::ptrdiff_t(n));
    if (n == 0) {
      CHECK(throws_with(parse(t), {"test.binarypb", "empty input"}));
      continue;
    }
    CHECK(throws_with(parse(t), {"test.binarypb"}));
  }
  CHECK(throws_with(parse(std::vector<uint8_t>(good.begin(), good.begin() + 3)), {"truncated varint", "byte 1"}));
  CHECK(throws_with(parse(std::vector<uint8_t>(good.begin(), good.begin() + 5)), {"runs past the end", "byte 1"}));
  {  // wire type 3 (group) at top level
    std::vector<uint8_t> b = {0x0b};
    CHECK(throws_with(parse(b), {"groups are not supported", "byte 0"}));
  }
  {  // field number 0
    std::vector<uint8_t> b = {0x00, 0x01};
    CHECK(throws_with(parse(b), {"invalid field number 0"}));
  }
  {  // over-long varint
    std::vector<uint8_t> b = {0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK(throws_with(parse(b), {"varint"}));
  }
  {  // canonical_mesh with the wrong wire type
    std::vector<uint8_t> b = {0x08, 0x01};
    CHECK(throws_with(parse(b), {"canonical_mesh", "wire type 0"}));
  }
  {  // no mesh at all: only input_source
    std::vector<uint8_t> b = {0x18, 0x01};
    CHECK(throws_with(parse(b), {"no canonical_mesh"}));
  }
  {  // an index past the vertices: mesh with 1 vertex (5 packed floats) and triangle (0, 0, 7)
    std::vector<uint8_t> mesh = {0x1a, 20};
    for (int i = 0; i < 20; ++i) mesh.push_back(0);
    mesh.insert(mesh.end(), {0x22, 3, 0, 0, 7});
    std::vector<uint8_t> b = {0x0a, uint8_t(mesh.size())};
    b.insert(b.end(), mesh.begin(), mesh.end());
    CHECK(throws_with(parse(b), {"index_buffer[2] = 7 out of range"}));
    // the same with index 0 parses (packed floats and packed indices are accepted)
    b[b.size() - 1] = 0;
    auto m = fl::mediapipe::parse_geometry_metadata(b.data(), b.size(), "tiny");
    CHECK(m.num_vertices() == 1);
    CHECK(m.num_faces() == 1);
  }
  {  // a NaN vertex coordinate
    std::vector<uint8_t> b = good;
    // first vertex_buffer float follows "0a ea 94 01 08 00 10 00 1d"
    REQUIRE(b[8] == 0x1d);
    b[9] = 0x00, b[10] = 0x00, b[11] = 0xc0, b[12] = 0x7f;
    CHECK(throws_with(parse(b), {"non-finite float", "byte 9"}));
  }
  {  // a length that runs past the end of the enclosing message
    std::vector<uint8_t> b = good;
    b[1] = 0xff, b[2] = 0xff;  // canonical_mesh length 0xff 0xff 0x01 = 32767 > file
    CHECK(throws_with(parse(b), {"runs past the end"}));
  }
  {  // vertex_buffer not a multiple of 5: drop the last unpacked float (5 bytes) of the mesh, fix the length
    std::vector<uint8_t> b = {0x0a, 10, 0x1d, 0, 0, 0, 0, 0x1d, 0, 0, 0, 0};
    CHECK(throws_with(parse(b), {"vertex_buffer has 2 floats"}));
  }
  CHECK(throws_with([] { fl::mediapipe::read_geometry_metadata("/nonexistent/x.binarypb"); }, {"cannot open"}));
}

TEST_CASE("builtin head model: validates, counts, construction time, determinism") {
  auto t0 = std::chrono::steady_clock::now();
  const fl::FlameModel& m = fl::builtin_head_model_ref();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("builtin head model built in %.3f s\n", secs);
  CHECK(secs < 1.0);
  m.validate();
  CHECK(m.V == 468);
  CHECK(m.F == 898);
  CHECK(m.J == 5);
  CHECK(m.S >= 50);
  CHECK(m.S == fl::kBuiltinShapeModes);
  CHECK(m.E == fl::kBuiltinExprModes);
  CHECK(m.parents == std::vector<int32_t>{-1, 0, 1, 1, 1});
  CHECK(m.uvs.size() == 468 * 2);
  CHECK(m.uv_faces == m.faces);
  // a second construction path gives identical data
  fl::FlameModel c = fl::load_head_model("builtin");
  CHECK(c.shapedirs == m.shapedirs);
  CHECK(c.exprdirs == m.exprdirs);
  fl::FlameLoadOptions o;
  o.n_shape = 10;
  o.n_expr = 3;
  fl::FlameModel t = fl::load_head_model("builtin", o);
  CHECK(t.S == 10);
  CHECK(t.E == 3);
  CHECK(t.shapedirs[5 * 10 + 7] == m.shapedirs[5 * size_t(m.S) + 7]);
  o.n_shape = 1000;
  CHECK(throws_with([&] { fl::load_head_model("builtin", o); }, {"n_shape", "1000"}));
  // metres, FLAME's axes: nose tip forward (+z), forehead up (+y), subject's left eye at +x
  const auto& v = m.v_template;
  CHECK(coord(v, 4, 2) == doctest::Approx(0.075866).epsilon(1e-4));
  CHECK(coord(v, 10, 1) > 0.07);
  CHECK(coord(v, 263, 0) > 0.04);  // left eye outer corner
  CHECK(coord(v, 33, 0) < -0.04);  // right eye outer corner
  // skinning weights are a partition of unity
  for (int i = 0; i < m.V; ++i) {
    double s = 0;
    for (int j = 0; j < m.J; ++j) s += m.weights[size_t(i) * 5 + size_t(j)];
    CHECK(s == doctest::Approx(1.0).epsilon(1e-12));
  }
  // J_regressor rows are affine (sum 1), so joints follow translations of the mesh
  for (int j = 0; j < m.J; ++j) {
    double s = 0;
    for (int i = 0; i < m.V; ++i) s += m.j_regressor[size_t(j) * size_t(m.V) + size_t(i)];
    CHECK(s == doctest::Approx(1.0).epsilon(1e-9));
  }
}

TEST_CASE("builtin head model: shape modes are orthogonal, rigid-free, smooth-scaled and symmetric") {
  const fl::FlameModel& m = fl::builtin_head_model_ref();
  const auto& info = fl::builtin_head_info();
  const size_t N = size_t(m.V) * 3, S = size_t(m.S);
  REQUIRE(info.shape_names.size() == S);
  std::vector<double> norms(S);
  for (size_t a = 0; a < S; ++a) {
    double s = 0;
    for (size_t i = 0; i < N; ++i) s += m.shapedirs[i * S + a] * m.shapedirs[i * S + a];
    norms[a] = std::sqrt(s);
    CHECK(norms[a] > 0);
  }
  double worst = 0;
  for (size_t a = 0; a < S; ++a)
    for (size_t b = a + 1; b < S; ++b) {
      double s = 0;
      for (size_t i = 0; i < N; ++i) s += m.shapedirs[i * S + a] * m.shapedirs[i * S + b];
      worst = std::max(worst, std::fabs(s / (norms[a] * norms[b])));
    }
  std::printf("max |cos| between shape modes: %.3g\n", worst);
  CHECK(worst < 1e-10);
  // orthogonal to translations: every mode has zero mean displacement
  for (size_t a = 0; a < S; ++a)
    for (int k = 0; k < 3; ++k) {
      double s = 0;
      for (int v = 0; v < m.V; ++v) s += m.shapedirs[(size_t(v) * 3 + size_t(k)) * S + a];
      CHECK(std::fabs(s) < 1e-10);
    }
  // coefficient 1 moves the most-affected vertex by shape_sigma_mm
  for (size_t a = 0; a < S; ++a) {
    double mx = 0;
    for (int v = 0; v < m.V; ++v) {
      double d = 0;
      for (int k = 0; k < 3; ++k) d += std::pow(m.shapedirs[(size_t(v) * 3 + size_t(k)) * S + a], 2);
      mx = std::max(mx, std::sqrt(d));
    }
    CHECK(mx * 1e3 == doctest::Approx(info.shape_sigma_mm[a]).epsilon(1e-9));
    CHECK(info.shape_sigma_mm[a] >= 0.5);
    CHECK(info.shape_sigma_mm[a] <= 5.0);
  }
  // the first mode is overall size: positive coefficient moves the forehead up and the chin down
  auto big = forward(m, {1.0}, {});
  CHECK(coord(big, 10, 1) > coord(m.v_template, 10, 1));
  CHECK(coord(big, 152, 1) < coord(m.v_template, 152, 1));
  // mirror symmetry of the named symmetric modes (e.g. nose_width) : d(mirror v) = M d(v)
  int nose_width = int(std::find(info.shape_names.begin(), info.shape_names.end(), "nose_width") - info.shape_names.begin());
  REQUIRE(nose_width < m.S);
  for (int v = 0; v < m.V; ++v) {
    int w = info.mirror[size_t(v)];
    CHECK(m.shapedirs[(size_t(v) * 3 + 0) * S + size_t(nose_width)] ==
          doctest::Approx(-m.shapedirs[(size_t(w) * 3 + 0) * S + size_t(nose_width)]).epsilon(1e-9));
    CHECK(m.shapedirs[(size_t(v) * 3 + 1) * S + size_t(nose_width)] ==
          doctest::Approx(m.shapedirs[(size_t(w) * 3 + 1) * S + size_t(nose_width)]).epsilon(1e-9));
  }
}

TEST_CASE("builtin head model: 68 landmarks land on the expected regions") {
  const fl::FlameModel& m = fl::builtin_head_model_ref();
  const auto& info = fl::builtin_head_info();
  REQUIRE(m.static_landmarks.count() == 51);
  REQUIRE(m.dynamic_landmarks.bins == 79);
  REQUIRE(m.dynamic_landmarks.points == 17);
  REQUIRE(m.full_landmarks.count() == 70);
  REQUIRE(m.eyes_static_landmarks.count() == 53);
  auto L = landmarks(m, m.v_template, fl::LandmarkScheme::Contour68);
  REQUIRE(L.size() == 68 * 3);
  auto lx = [&](int i) { return L[size_t(i) * 3]; };
  auto ly = [&](int i) { return L[size_t(i) * 3 + 1]; };
  auto lz = [&](int i) { return L[size_t(i) * 3 + 2]; };
  // the same points as WithEyes70's first 68
  auto L70 = landmarks(m, m.v_template, fl::LandmarkScheme::WithEyes70);
  for (size_t i = 0; i < 68 * 3; ++i) CHECK(L70[i] == doctest::Approx(L[i]));
  // nose tip (30) is the most forward landmark and within 1 mm of the mesh's most forward point
  double zmax = -1;
  for (int v = 0; v < m.V; ++v) zmax = std::max(zmax, coord(m.v_template, v, 2));
  for (int i = 0; i < 68; ++i)
    if (i != 30) CHECK(lz(i) < lz(30));
  CHECK(zmax - lz(30) < 1e-3);
  // chin (8) is the lowest landmark, on the midline
  for (int i = 0; i < 68; ++i)
    if (i != 8) CHECK(ly(i) > ly(8));
  CHECK(std::fabs(lx(8)) < 1e-9);
  // left-right symmetry of the iBUG pairs (image left = subject's right, x < 0)
  const int pairs[][2] = {{0, 16}, {1, 15}, {2, 14}, {3, 13}, {4, 12}, {5, 11}, {6, 10}, {7, 9},   {17, 26},
                          {18, 25}, {19, 24}, {20, 23}, {21, 22}, {31, 35}, {32, 34}, {36, 45}, {37, 44}, {38, 43},
                          {39, 42}, {40, 47}, {41, 46}, {48, 54}, {49, 53}, {50, 52}, {59, 55}, {58, 56}, {60, 64},
                          {61, 63}, {67, 65}};
  for (auto& p : pairs) {
    CAPTURE(p[0]);
    CHECK(lx(p[0]) < 0);
    CHECK(lx(p[0]) == doctest::Approx(-lx(p[1])).epsilon(1e-9));
    CHECK(ly(p[0]) == doctest::Approx(ly(p[1])).epsilon(1e-9));
    CHECK(lz(p[0]) == doctest::Approx(lz(p[1])).epsilon(1e-9));
  }
  for (int i : {27, 28, 29, 30, 33, 51, 57, 62, 66}) CHECK(std::fabs(lx(i)) < 1e-9);
  // vertical order: brows above eyes above nose base above mouth above chin
  CHECK(ly(19) > ly(37));
  CHECK(ly(37) > ly(41));
  CHECK(ly(39) > ly(33));
  CHECK(ly(33) > ly(51));
  CHECK(ly(51) > ly(62));
  CHECK(ly(66) > ly(57));
  CHECK(ly(57) > ly(8));
  // nose bridge runs down and forward from 27 to 30
  for (int i = 27; i < 30; ++i) {
    CHECK(ly(i) > ly(i + 1));
    CHECK(lz(i) < lz(i + 1));
  }
  // eye corners: outer corners wider than inner ones; inter-ocular distance ~ 9 cm (outer), ~ 3.7 cm (inner)
  CHECK(lx(45) - lx(36) == doctest::Approx(0.089).epsilon(0.05));
  CHECK(lx(42) - lx(39) == doctest::Approx(0.037).epsilon(0.05));
  // contour: point 0/16 at about eye height, monotone down to the chin
  CHECK(std::fabs(ly(0) - ly(36)) < 0.01);
  for (int i = 0; i < 8; ++i) CHECK(ly(i) > ly(i + 1));
  // the vertex table agrees with the embedding for the inner points placed on vertices
  for (int i = 30; i < 68; ++i) {
    int v = info.ibug68_vertex[size_t(i)];
    CHECK(lx(i) == doctest::Approx(coord(m.v_template, v, 0)));
    CHECK(ly(i) == doctest::Approx(coord(m.v_template, v, 1)));
  }
  // pupils (68, 69) sit between the eye corners
  CHECK(L70[68 * 3] < lx(39));
  CHECK(L70[68 * 3] > lx(36));
  CHECK(L70[69 * 3] > lx(42));
  CHECK(L70[69 * 3] < lx(45));
}

TEST_CASE("builtin head model: jaw opening, expressions and poses move the right regions") {
  const fl::FlameModel& m = fl::builtin_head_model_ref();
  const int jaw_open = fl::builtin_expression_index("jaw_open");
  REQUIRE(jaw_open == 0);
  CHECK(fl::builtin_expression_index("no_such") == -1);
  std::vector<double> e(size_t(m.E), 0.0);
  e[size_t(jaw_open)] = 1.0;
  auto open = forward(m, {}, e);
  const auto& rest = m.v_template;
  // chin (152) and lower lip (14) go down by centimetres; forehead (10), nose (4), upper lip (13) stay
  CHECK(coord(open, 152, 1) < coord(rest, 152, 1) - 0.01);
  CHECK(coord(open, 14, 1) < coord(rest, 14, 1) - 0.01);
  for (int v : {10, 4, 13, 33, 263, 168})
    for (int k = 0; k < 3; ++k) CHECK(coord(open, v, k) == doctest::Approx(coord(rest, v, k)).epsilon(1e-12));
  // the jaw joint does the same
  std::vector<double> pose(15, 0.0);
  pose[fl::kJaw * 3] = 0.3;
  auto jaw = forward(m, {}, {}, pose);
  CHECK(coord(jaw, 152, 1) < coord(rest, 152, 1) - 0.01);
  CHECK(coord(jaw, 14, 1) < coord(rest, 14, 1) - 0.005);
  for (int v : {10, 4, 13})
    for (int k = 0; k < 3; ++k) CHECK(coord(jaw, v, k) == doctest::Approx(coord(rest, v, k)).epsilon(1e-12));
  // eye joints move nothing (no eyeballs)
  std::vector<double> eyes(15, 0.0);
  eyes[9] = 0.4, eyes[13] = -0.3;
  auto ey = forward(m, {}, {}, eyes);
  for (size_t i = 0; i < ey.size(); ++i) CHECK(ey[i] == doctest::Approx(rest[i]).epsilon(1e-12));
  // eye_close_left closes the left eye (upper lid 386 meets lower lid 374) and leaves the right eye
  std::vector<double> blink(size_t(m.E), 0.0);
  blink[size_t(fl::builtin_expression_index("eye_close_left"))] = 1.0;
  auto bl = forward(m, {}, blink);
  CHECK(std::fabs(coord(bl, 386, 1) - coord(bl, 374, 1)) < 2e-4);
  CHECK(coord(bl, 159, 1) == doctest::Approx(coord(rest, 159, 1)));
  CHECK(coord(bl, 374, 1) == doctest::Approx(coord(rest, 374, 1)));
  // smile raises the mouth corners; brow_raise raises the brows
  std::vector<double> sm(size_t(m.E), 0.0);
  sm[size_t(fl::builtin_expression_index("smile"))] = 1.0;
  auto s = forward(m, {}, sm);
  CHECK(coord(s, 61, 1) > coord(rest, 61, 1) + 0.003);
  CHECK(coord(s, 291, 1) > coord(rest, 291, 1) + 0.003);
  std::vector<double> br(size_t(m.E), 0.0);
  br[size_t(fl::builtin_expression_index("brow_raise"))] = 1.0;
  auto b = forward(m, {}, br);
  CHECK(coord(b, 105, 1) > coord(rest, 105, 1) + 0.004);
  CHECK(coord(b, 152, 1) == doctest::Approx(coord(rest, 152, 1)));
  // a neck rotation turns the whole face rigidly about the neck joint (distances preserved)
  std::vector<double> neck(15, 0.0);
  neck[fl::kNeck * 3 + 1] = 0.5;
  auto nk = forward(m, {}, {}, neck);
  auto dist = [](const std::vector<double>& v, int a, int c) {
    double s2 = 0;
    for (int k = 0; k < 3; ++k) s2 += std::pow(coord(v, a, k) - coord(v, c, k), 2);
    return std::sqrt(s2);
  };
  CHECK(dist(nk, 10, 152) == doctest::Approx(dist(rest, 10, 152)).epsilon(1e-9));
  CHECK(coord(nk, 4, 0) > 0.02);  // yaw +0.5 turns the nose towards +x
}

TEST_CASE("builtin head model: random faces through flame_fwd are finite and landmarks project") {
  const fl::FlameModel& m = fl::builtin_head_model_ref();
  const int B = 4;
  std::vector<double> shape(size_t(B) * m.S), expr(size_t(B) * m.E), pose(size_t(B) * 15, 0.0);
  for (size_t i = 0; i < shape.size(); ++i) shape[i] = std::sin(double(i) * 1.7) * 2.0;
  for (size_t i = 0; i < expr.size(); ++i) expr[i] = 0.5 + 0.5 * std::cos(double(i));
  for (int b = 0; b < B; ++b) pose[size_t(b) * 15 + 6] = 0.1 * b, pose[size_t(b) * 15 + 4] = 0.2 * b;
  fl::FlameInput<float> in;
  std::vector<float> sf(shape.begin(), shape.end()), ef(expr.begin(), expr.end()), pf(pose.begin(), pose.end());
  in.batch = B;
  in.n_shape = m.S;
  in.n_expr = m.E;
  in.shape = sf.data();
  in.expr = ef.data();
  in.pose = pf.data();
  fl::FlameOutput<float> out;
  fl::FlameCache<float> cache;
  fl::flame_fwd(m, in, out, &cache);
  REQUIRE(out.vertices.size() == size_t(B) * m.V * 3);
  for (float x : out.vertices) REQUIRE(std::isfinite(x));
  // a random face (coefficients ~ N(0, 1), no expression or pose) stays a face: vertices move < 3 cm, and by
  // a few millimetres on average
  for (int b = 0; b < B; ++b) {
    std::vector<double> beta(size_t(m.S));
    for (int s = 0; s < m.S; ++s) beta[size_t(s)] = ff::rng::normal_at(uint64_t(b), uint64_t(s));
    auto v = forward(m, beta, {});
    double mx = 0, rms = 0;
    for (int i = 0; i < m.V; ++i) {
      double d = 0;
      for (int k = 0; k < 3; ++k) d += std::pow(coord(v, i, k) - coord(m.v_template, i, k), 2);
      mx = std::max(mx, std::sqrt(d));
      rms += d;
    }
    rms = std::sqrt(rms / m.V);
    std::printf("random face %d: max displacement %.1f mm, rms %.1f mm\n", b, mx * 1e3, rms * 1e3);
    CHECK(mx < 0.03);
    CHECK(rms > 0.002);
    CHECK(rms < 0.012);
  }
  auto set = fl::make_landmark_set<float>(m, fl::LandmarkScheme::Contour68, pf.data(), B);
  std::vector<float> lmk(size_t(B) * set.count * 3);
  fl::landmarks_fwd(m, set, out.vertices.data(), lmk.data());
  for (float x : lmk) CHECK(std::isfinite(x));
  // the backward runs too
  std::vector<float> dv(out.vertices.size(), 1.0f);
  fl::FlameGrads<float> g;
  fl::flame_bwd(m, in, cache, dv.data(), nullptr, g);
  CHECK(g.d_shape.size() == size_t(B) * m.S);
  for (float x : g.d_pose) CHECK(std::isfinite(x));
}

TEST_CASE("builtin head model: masks work with the seed's face-mask region list") {
  const fl::FlameModel& m = fl::builtin_head_model_ref();
  auto fm = fl::make_face_mask(m, fl::seed_face_mask_regions());
  CHECK(fm.vertex_ids.size() == 468);
  CHECK(fm.faces.size() == 898 * 3);
  fl::Mesh mesh = fl::face_mask_mesh(m, m.v_template, fm);
  CHECK(mesh.uv_faces.size() == 898 * 3);
  CHECK(m.masks.at("left_eyeball").empty());
  CHECK(m.masks.at("boundary").size() == 36);
  for (int v : m.masks.at("nose")) CHECK(std::fabs(coord(m.v_template, v, 0)) < 0.02);
  for (int v : m.masks.at("left_eye_region")) CHECK(coord(m.v_template, v, 0) > 0);
  for (int v : m.masks.at("lips")) CHECK(coord(m.v_template, v, 1) < -0.025);
}

TEST_CASE("mesh_raster: z-buffer, face ids and shading of a known scene") {
  // two squares facing the camera, the nearer one smaller and in front
  std::vector<double> V = {-1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 1, 0,                    // far square z = 0
                           -0.5, -0.5, 0.5, 0.5, -0.5, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.5};  // near z = 0.5
  std::vector<int32_t> F = {0, 1, 2, 0, 2, 3, 4, 5, 6, 4, 6, 7};
  auto cam = fl::look_at_camera({0, 0, 5}, {0, 0, 0}, {0, 1, 0}, 100, 100, 32, 32);  // the image centre
  fl::RasterOptions o;
  o.width = o.height = 64;
  auto img = fl::rasterize_mesh(V.data(), 8, F.data(), 4, cam, o);
  auto at = [&](int x, int y) { return img.face_id[size_t(y) * 64 + size_t(x)]; };
  CHECK((at(32, 32) == 2 || at(32, 32) == 3));  // centre: the near square
  CHECK(img.depth[32 * 64 + 32] == doctest::Approx(4.5f).epsilon(1e-5));
  CHECK((at(32, 15) == 0 || at(32, 15) == 1));  // between the squares' edges: the far square
  CHECK(img.depth[15 * 64 + 32] == doctest::Approx(5.0f).epsilon(1e-5));
  CHECK(at(0, 0) == -1);                        // outside: background
  CHECK(img.rgb[0] == 255);
  // barycentrics sum to 1 where covered
  for (size_t i = 0; i < size_t(64) * 64; ++i)
    if (img.face_id[i] >= 0) CHECK(img.bary[i * 3] + img.bary[i * 3 + 1] + img.bary[i * 3 + 2] == doctest::Approx(1.0f));
  // image up is world +y: the top image row of the far square is at world y > 0
  auto up = fl::look_at_camera({0, 0, 5}, {0, 0, 0}, {0, 1, 0}, 100, 100, 31.5, 31.5);
  double p[3] = {0, 0.9, 0}, uv[2];
  fl::project_points(up, p, 1, uv);
  CHECK(uv[1] < 31.5);
  // PNG output and an unwritable path
  std::string path = "/tmp/ff_test_raster_" + std::to_string(::getpid()) + ".png";
  fl::write_png(path, 64, 64, 3, img.rgb.data());
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  CHECK(std::string(sig + 1, 3) == "PNG");
  std::remove(path.c_str());
  CHECK(throws_with([&] { fl::write_png("/nonexistent/dir/x.png", 64, 64, 3, img.rgb.data()); }, {"cannot write"}));
  CHECK(throws_with([&] { fl::write_png(path, 64, 64, 3, img.rgb.data(), 0); }, {"compression level 0", "1..9"}));
  CHECK_FALSE(std::ifstream(path).good());  // refused before anything was written
  // downsample averages
  std::vector<uint8_t> two = {0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255};
  auto one = fl::downsample(two, 2, 2, 3, 2);
  CHECK(int(one[0]) == 128);
}

TEST_CASE("builtin head model: a rendered front view shows the face where expected") {
  const fl::FlameModel& m = fl::builtin_head_model_ref();
  auto cam = fl::look_at_camera({0, 0, 0.8}, {0, 0, 0}, {0, 1, 0}, 600, 600, 128, 128);  // the image centre
  fl::RasterOptions o;
  o.width = o.height = 256;
  auto img = fl::rasterize_mesh(m.v_template.data(), m.V, m.faces.data(), m.F, cam, o);
  size_t covered = 0;
  for (int32_t f : img.face_id) covered += f >= 0;
  CHECK(covered > 256 * 256 / 8);
  // the nose tip projects to the image centre column and is the nearest surface there
  double tip[3] = {coord(m.v_template, 4, 0), coord(m.v_template, 4, 1), coord(m.v_template, 4, 2)}, uv[2], z;
  fl::project_points(cam, tip, 1, uv, &z);
  int x = int(std::floor(uv[0])), y = int(std::floor(uv[1]));  // the pixel holding (u, v): centres at integer + ½
  CHECK(x == doctest::Approx(127.5).epsilon(0.01));
  CHECK(img.depth[size_t(y) * 256 + size_t(x)] == doctest::Approx(z).epsilon(2e-3));
}
