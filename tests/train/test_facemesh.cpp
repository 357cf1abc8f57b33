// tests/train/test_facemesh.cpp — the Face Mesh network (train/fit/facemesh.h): our TF.js graph reader and its ops
// against an independent NumPy implementation (tests/reference/facemesh_reference.py → tests/fixtures/
// facemesh_sine.txt), TF's asymmetric SAME padding on a graph built here, refusals of what the reader does not
// know, and the points on a real face (Grace Hopper, ../shared) against its reference 68 landmarks.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/check.h"
#include "flame/headmodel.h"
#include "tests/testing.h"
#include "train/fit/detect.h"
#include "train/fit/facemesh.h"
#include "train/fit/landmark_fit.h"

using namespace ff;

namespace {
std::vector<uint8_t> floats(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}
std::string b64(const std::string& s) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    unsigned v = unsigned(uint8_t(s[i])) << 16 | unsigned(uint8_t(s[i + 1])) << 8 | uint8_t(s[i + 2]);
    o += {t[v >> 18], t[v >> 12 & 63], t[v >> 6 & 63], t[v & 63]};
  }
  if (s.size() - i == 1) {
    unsigned v = unsigned(uint8_t(s[i])) << 16;
    o += {t[v >> 18], t[v >> 12 & 63], '=', '='};
  } else if (s.size() - i == 2) {
    unsigned v = unsigned(uint8_t(s[i])) << 16 | unsigned(uint8_t(s[i + 1])) << 8;
    o += {t[v >> 18], t[v >> 12 & 63], t[v >> 6 & 63], '='};
  }
  return o;
}
// A one-conv graph: input [1, 6, 6, 1] → 3x3 conv, stride 2, SAME (TF pads 0 before and 1 after), bias, then an
// NHWC flatten; `op` replaces the conv's op name (to test refusals).
std::string tiny_graph(const std::string& op = "_FusedConv2D") {
  std::ostringstream j;
  j << R"({"format":"graph-model","modelTopology":{"node":[)"
    << R"({"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"-1"},{"size":"6"},{"size":"6"},{"size":"1"}]}}}},)"
    << R"({"name":"w","op":"Const"},{"name":"b","op":"Const"},)"
    << R"({"name":"c","op":")" << op << R"(","input":["x","w","b"],"attr":{"strides":{"list":{"i":["1","2","2","1"]}},)"
    << R"("padding":{"s":")" << b64("SAME") << R"("},"fused_ops":{"list":{"s":[")" << b64("BiasAdd") << R"("]}}}},)"
    << R"({"name":"r","op":"Reshape","input":["c","shape"]},{"name":"shape","op":"Const"},)"
    << R"({"name":"y","op":"Identity","input":["r"]}]},)"
    << R"("signature":{"outputs":{"out":{"name":"y:0"}}},)"
    << R"("weightsManifest":[{"paths":["g.bin"],"weights":[{"name":"w","shape":[3,3,1,2],"dtype":"float32"},)"
    << R"({"name":"b","shape":[2],"dtype":"float32"},{"name":"shape","shape":[2],"dtype":"int32"}]}]})";
  return j.str();
}
std::vector<float> tiny_weights() {
  std::vector<float> w(18 + 2 + 2);
  for (int k = 0; k < 18; ++k) w[size_t(k)] = float(k % 7) - 3.f;  // [kh, kw, 1, 2]
  w[18] = 0.5f, w[19] = -1.f;                                      // bias
  int32_t shape[2] = {1, 18};
  std::memcpy(&w[20], shape, 8);
  return w;
}
}  // namespace

TEST_CASE("facemesh: TF.js reader, SAME padding puts the odd pixel after (a graph built here)") {
  Context ctx(0, 1);
  fit::TfjsGraph g(tiny_graph(), {floats(tiny_weights())}, "tiny");
  std::vector<float> x(36);
  for (int k = 0; k < 36; ++k) x[size_t(k)] = float(k) * 0.1f - 1.f;
  auto out = g.run(ctx, x, {"out"});
  REQUIRE(out[0].size() == 3 * 3 * 2);
  // direct: output (i, j, o) = b[o] + Σ w[a, b, 0, o] · x[2i + a, 2j + b], row/column 6 is the zero padding
  const std::vector<float> w = tiny_weights();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int o = 0; o < 2; ++o) {
        double s = w[size_t(18 + o)];
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) {
            const int y = 2 * i + a, xx = 2 * j + b;
            if (y < 6 && xx < 6) s += w[size_t((a * 3 + b) * 2 + o)] * x[size_t(y * 6 + xx)];
          }
        CHECK(out[0][size_t((i * 3 + j) * 2 + o)] == doctest::Approx(s).epsilon(1e-5));
      }
}

TEST_CASE("facemesh: the reader refuses what it does not implement, with the model's name") {
  Context ctx(0, 1);
  CHECK_THROWS_WITH_AS(fit::TfjsGraph(tiny_graph("Conv3D"), {floats(tiny_weights())}, "tiny"),
                       doctest::Contains("tiny: node c has op Conv3D"), ff::Error);
  std::vector<uint8_t> short_w = floats(tiny_weights());
  short_w.resize(40);
  CHECK_THROWS_WITH_AS(fit::TfjsGraph(tiny_graph(), {short_w}, "tiny"), doctest::Contains("end inside"), ff::Error);
  CHECK_THROWS_WITH_AS(fit::TfjsGraph("{\"x\":1}", {}, "tiny"), doctest::Contains("not a TF.js graph model"),
                       ff::Error);
  // a field of the wrong type (a node's name a number): named, not a JSON library's bare exception
  std::string bad = tiny_graph();
  bad.replace(bad.find("{\"name\":\"w\""), 11, "{\"name\":17");
  CHECK_THROWS_WITH_AS(fit::TfjsGraph(bad, {floats(tiny_weights())}, "tiny"), doctest::Contains("tiny: malformed"),
                       ff::Error);
  fit::TfjsGraph g(tiny_graph(), {floats(tiny_weights())}, "tiny");
  CHECK_THROWS_WITH_AS(g.run(ctx, std::vector<float>(35), {"out"}), doctest::Contains("takes 6x6x1"), ff::Error);
  CHECK_THROWS_WITH_AS(g.run(ctx, std::vector<float>(36), {"nope"}), doctest::Contains("no output named nope"),
                       ff::Error);
}

TEST_CASE("facemesh: the built-in network matches the NumPy reference (tests/reference/facemesh_reference.py)") {
  Context ctx(0, 2);
  std::vector<float> x(192 * 192 * 3);
  for (int i = 0; i < 192; ++i)
    for (int j = 0; j < 192; ++j)
      for (int c = 0; c < 3; ++c)
        x[size_t((i * 192 + j) * 3 + c)] = float(0.5 + 0.45 * std::sin(0.07 * i + 0.05 * (c + 1) * j + c));
  fit::FaceMeshNet::Output o = fit::FaceMeshNet::embedded().run(ctx, x);
  std::ifstream f(testing::fixture_path("facemesh_sine.txt"));
  REQUIRE(f.good());
  std::string line;
  std::getline(f, line);  // comment
  double score;
  f >> score;
  CHECK(o.score == doctest::Approx(score).epsilon(1e-3));
  double max_err = 0;
  for (int k = 0; k < 468 * 3; ++k) {
    double v;
    f >> v;
    max_err = std::max(max_err, std::abs(v - o.mesh[size_t(k)]));
  }
  CHECK(f.good());
  // float32 through 60 layers against float64: crop pixels (192 per side), agreement to 1e-3 px
  CHECK(max_err < 1e-3);
  std::printf("facemesh vs numpy: max |diff| %.2e crop px over 1404 values\n", max_err);
}

TEST_CASE("facemesh: on a real face (Grace Hopper) its 68 landmarks agree with the reference ones") {
  const std::string photo = testing::shared_path("data/photos/grace_hopper_512x512.jpg");
  const std::string ref = testing::shared_path("data/photos/grace_hopper_512x512.dlib68.txt");
  if (photo.empty() || ref.empty()) return;
  Context ctx(0, 2);
  fit::Photo p = fit::read_photo(photo);
  fit::Landmarks68 l = fit::read_landmarks_file(ref);
  fit::FaceMeshResult r = fit::run_facemesh(ctx, fit::FaceMeshNet::embedded(), p.rgb, fit::roi_from_landmarks68(l));
  CHECK(r.passes == 2);
  CHECK(r.score > 0.9);
  fit::Landmarks68 m = fit::landmarks68_from_facemesh(flame::builtin_head_model_ref(), r.xy);
  // the inner 51 points (brows, eyes, nose, mouth): the two annotations differ in definition by a few pixels on
  // this 512-px portrait (the face is ~200 px wide)
  double inner = 0, contour = 0;
  for (int k = 0; k < 68; ++k) {
    const double e =
        std::hypot(m.xy[size_t(k) * 2] - l.xy[size_t(k) * 2], m.xy[size_t(k) * 2 + 1] - l.xy[size_t(k) * 2 + 1]);
    (k < 17 ? contour : inner) += e / (k < 17 ? 17 : 51);
  }
  std::printf("facemesh vs reference landmarks: inner %.2f px, contour %.2f px; score %.3f\n", inner, contour, r.score);
  CHECK(inner < 6.0);
  CHECK(contour < 15.0);
  // another head model (not Face Mesh's vertices) is refused
  flame::FlameModel small = flame::builtin_head_model();
  small.V = 100;
  CHECK_THROWS_WITH_AS(fit::landmarks68_from_facemesh(small, r.xy), doctest::Contains("468"), ff::Error);
  // a ROI on the background: the network says it is no face
  fit::FaceRoi bg{40, 40, 60, 0};
  CHECK(fit::run_facemesh(ctx, fit::FaceMeshNet::embedded(), p.rgb, bg, 1).score < fit::kMinFaceMeshScore);
}

TEST_CASE("facemesh: the upper face oval lies on the built-in head model's outline, above its contour points") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  // boundary edges: used by one triangle
  std::map<std::pair<int, int>, int> edges;
  for (size_t f = 0; f < m.faces.size() / 3; ++f)
    for (int c = 0; c < 3; ++c) {
      int a = m.faces[f * 3 + size_t(c)], b = m.faces[f * 3 + size_t((c + 1) % 3)];
      ++edges[{std::min(a, b), std::max(a, b)}];
    }
  std::set<int> outline;
  for (auto& [e, n] : edges)
    if (n == 1) outline.insert(e.first), outline.insert(e.second);
  for (int v : fit::kFaceMeshUpperOval) {
    CAPTURE(v);
    CHECK(outline.count(v) == 1);
    // above the nose tip (vertex 1; y up in the model's frame): the temples and the forehead, not the jaw
    CHECK(m.v_template[size_t(v) * 3 + 1] > m.v_template[1 * 3 + 1]);
  }
}

// Where the points are: crop_roi samples crop pixel j's centre, and the network's coordinates run from the crop's
// edge, so no half-pixel shift belongs in the way back. A photo turned by 180° (pixel (x, y) → (W−1−x, H−1−y)) with
// its landmarks turned alike gives the same crop, so every point must come back at the turned position exactly; a
// half-pixel shift either way moves the sum x + x′ off W − 1 by one pixel.
TEST_CASE("facemesh: points on a photo turned by 180 degrees are the turned points (no half-pixel shift)") {
  Context ctx(0, 2);
  const int W = 301, H = 260;
  data::Image8 im(W, H, 3), turned(W, H, 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c)
        im.at(x, y)[c] = uint8_t(128 + 100 * std::sin(0.05 * x * (c + 1) + 0.09 * y + 0.02 * x * y / 60.0));
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) turned.at(W - 1 - x, H - 1 - y)[c] = im.at(x, y)[c];
  // a face's 68 landmarks in the middle of the image (the built-in head, frontal, 0.9 m from a 30° camera)
  const fit::Intrinsics K = fit::default_intrinsics(W, H);
  const auto uv = fit::project_px(K, fit::head_rotation(0, 0, 10), {0, 0, 0.9},
                                  fit::model_landmarks(flame::builtin_head_model_ref(), {}, 0));
  fit::Landmarks68 l, lt;
  for (int i = 0; i < 68; ++i) {
    l.xy[size_t(i) * 2] = uv[size_t(i) * 2], l.xy[size_t(i) * 2 + 1] = uv[size_t(i) * 2 + 1];
    lt.xy[size_t(i) * 2] = W - 1 - uv[size_t(i) * 2], lt.xy[size_t(i) * 2 + 1] = H - 1 - uv[size_t(i) * 2 + 1];
  }
  const auto a = fit::run_facemesh(ctx, fit::FaceMeshNet::embedded(), im, fit::roi_from_landmarks68(l));
  const auto b = fit::run_facemesh(ctx, fit::FaceMeshNet::embedded(), turned, fit::roi_from_landmarks68(lt));
  double worst = 0, mean_x = 0;
  for (int v = 0; v < fit::kFaceMeshPoints; ++v) {
    const double ex = a.xy[size_t(v) * 2] + b.xy[size_t(v) * 2] - (W - 1);
    const double ey = a.xy[size_t(v) * 2 + 1] + b.xy[size_t(v) * 2 + 1] - (H - 1);
    worst = std::max(worst, std::max(std::abs(ex), std::abs(ey)));
    mean_x += ex / fit::kFaceMeshPoints;
  }
  std::printf("facemesh, photo turned by 180 deg: worst |x + x' - (W-1)| %.2e px, mean %.2e\n", worst, mean_x);
  CHECK(worst < 0.01);
}

