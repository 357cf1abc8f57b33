// tests/train/test_fit.cpp — fit_image building blocks: EXIF focal length and orientation (JPEGs written here with
// the tag), landmark files, the GIF encoder, and the head-model landmark fit on synthetic projections (yaw 0°, ±25°,
// with noise).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "core/check.h"
#include "core/file.h"
#include "flame/headmodel.h"
#include "tests/testing.h"
#include "tests/train/train_test_util.h"
#include "train/animation.h"
#include "train/data/nersemble.h"
#include "train/data/preprocess.h"
#include "train/fit/detect.h"
#include "train/fit/dlib_format.h"
#include "train/fit/facemesh.h"
#include "train/fit/fit_image.h"
#include "train/fit/gif.h"
#include "train/fit/landmark_fit.h"

using namespace ff;

namespace {
// A TIFF block (the body of an APP1 Exif segment) in either byte order.
struct Tiff {
  bool le;
  std::vector<uint8_t> t;
  explicit Tiff(bool little) : le(little) { t.push_back(le ? 'I' : 'M'), t.push_back(le ? 'I' : 'M'); }
  void u16(uint32_t v) {
    if (le) t.push_back(v & 255), t.push_back(v >> 8 & 255);
    else t.push_back(v >> 8 & 255), t.push_back(v & 255);
  }
  void u32(uint32_t v) {
    if (le) for (int i = 0; i < 4; ++i) t.push_back(v >> (8 * i) & 255);
    else for (int i = 3; i >= 0; --i) t.push_back(v >> (8 * i) & 255);
  }
  // the APP1 segment: FF E1, length, "Exif\0\0", the TIFF block
  std::vector<uint8_t> app1() const {
    std::vector<uint8_t> j = {0xFF, 0xE1};
    size_t len = 2 + 6 + t.size();
    j.push_back(uint8_t(len >> 8)), j.push_back(uint8_t(len & 255));
    const char* ex = "Exif\0\0";
    j.insert(j.end(), ex, ex + 6);
    j.insert(j.end(), t.begin(), t.end());
    return j;
  }
};

// A JPEG prefix with an APP1 Exif block (little or big endian) holding FocalLength, FocalLengthIn35mmFilm and
// PixelXDimension in the Exif sub-IFD; no image data (the parser stops at SOS / end).
std::vector<uint8_t> exif_jpeg(bool le, double focal_mm, int f35, int pixel_x) {
  Tiff t(le);
  t.u16(42);
  t.u32(8);  // IFD0 at 8
  t.u16(1);  // one entry: ExifIFD pointer
  t.u16(0x8769), t.u16(4), t.u32(1), t.u32(26);
  t.u32(0);  // next IFD
  // Exif IFD at 26: 3 entries (2 + 3·12 + 4 = 42 bytes) then the rational at 68
  t.u16(3);
  t.u16(0x920A), t.u16(5), t.u32(1), t.u32(68);
  t.u16(0xA405), t.u16(3), t.u32(1);
  t.u16(uint32_t(f35)), t.u16(0);
  t.u16(0xA002), t.u16(4), t.u32(1), t.u32(uint32_t(pixel_x));
  t.u32(0);
  t.u32(uint32_t(std::lround(focal_mm * 100))), t.u32(100);
  std::vector<uint8_t> j = {0xFF, 0xD8};
  const std::vector<uint8_t> a = t.app1();
  j.insert(j.end(), a.begin(), a.end());
  j.push_back(0xFF), j.push_back(0xD9);
  return j;
}

// A JPEG of `im` (stb_image_write, quality 95) with an APP1 Exif block right after SOI whose IFD0 holds the
// Orientation tag (0x0112, SHORT) = `orientation`, as a camera writes it.
std::vector<uint8_t> jpeg_with_orientation(const data::Image8& im, int orientation, bool le = true) {
  std::vector<uint8_t> jpg;
  stbi_write_jpg_to_func([](void* ctx, void* data, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + n);
  }, &jpg, im.width, im.height, im.channels, im.pixels.data(), 95);
  REQUIRE(jpg.size() > 4);
  Tiff t(le);  // header, IFD0 with one entry
  t.u16(42);
  t.u32(8);
  t.u16(1);
  t.u16(0x0112), t.u16(3), t.u32(1), t.u16(uint32_t(orientation)), t.u16(0);  // SHORT, left-justified in the field
  t.u32(0);
  const std::vector<uint8_t> a = t.app1();
  jpg.insert(jpg.begin() + 2, a.begin(), a.end());
  return jpg;
}
void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  REQUIRE(bool(f));
}
void write_bytes(const std::string& path, const std::string& b) {
  write_bytes(path, std::vector<uint8_t>(b.begin(), b.end()));
}

std::string tmpdir(const std::string& n) {
  auto d = std::filesystem::temp_directory_path() / ("ff_fit_" + n + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}
}  // namespace

TEST_CASE("fit: EXIF focal length, both byte orders") {
  for (bool le : {true, false}) {
    auto j = exif_jpeg(le, 4.25, 26, 4032);
    fit::ExifInfo e = fit::parse_exif(j.data(), j.size());
    REQUIRE(e.found);
    CHECK(e.focal_mm == doctest::Approx(4.25));
    CHECK(e.focal_35mm == 26);
    CHECK(e.pixel_x == 4032);
    std::string how;
    double f = fit::exif_focal_px(e, 4032, 3024, &how);
    CHECK(f == doctest::Approx(26.0 * 5040.0 / std::hypot(36.0, 24.0)).epsilon(1e-9));
    CHECK(how.find("35mm") != std::string::npos);
  }
  // damaged / absent
  std::vector<uint8_t> junk = {0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x40, 'E', 'x'};
  CHECK_FALSE(fit::parse_exif(junk.data(), junk.size()).found);
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G'};
  CHECK_FALSE(fit::parse_exif(png.data(), png.size()).found);
  auto j = exif_jpeg(true, 4.25, 26, 4032);
  for (size_t cut = 0; cut < j.size(); cut += 7) fit::parse_exif(j.data(), cut);  // never reads out of bounds
  // default field of view when nothing is known
  fit::Intrinsics k = fit::default_intrinsics(512, 512);
  CHECK(k.fy == doctest::Approx(256.0 / std::tan(15.0 * M_PI / 180.0)));
}

TEST_CASE("fit: EXIF orientation 1..8 turns the photo upright (pixels, size, EXIF pixel dimensions)") {
  const std::string d = tmpdir("orient");
  // stored 48x32: grey, with a red block at the stored top-left and a blue one at the stored top-right
  const int W = 48, H = 32;
  data::Image8 im(W, H, 3, 128);
  auto block = [&](int x0, int y0, uint8_t r, uint8_t g, uint8_t b) {
    for (int y = y0; y < y0 + 8; ++y)
      for (int x = x0; x < x0 + 8; ++x) im.at(x, y)[0] = r, im.at(x, y)[1] = g, im.at(x, y)[2] = b;
  };
  block(0, 0, 255, 0, 0);
  block(W - 8, 0, 0, 0, 255);
  // where the stored top-left / top-right corners are shown, for each orientation (display corner as x, y in {0,1})
  struct Want { int w, h; int red[2], blue[2]; };
  const Want want[9] = {{W, H, {0, 0}, {1, 0}},                                               // 0: no tag
                        {W, H, {0, 0}, {1, 0}}, {W, H, {1, 0}, {0, 0}}, {W, H, {1, 1}, {0, 1}},  // 1, 2, 3
                        {W, H, {0, 1}, {1, 1}}, {H, W, {0, 0}, {0, 1}}, {H, W, {1, 0}, {1, 1}},  // 4, 5, 6
                        {H, W, {1, 1}, {1, 0}}, {H, W, {0, 1}, {0, 0}}};                      // 7, 8
  for (int o = 1; o <= 8; ++o) {
    CAPTURE(o);
    const std::string path = d + "/o" + std::to_string(o) + ".jpg";
    write_bytes(path, jpeg_with_orientation(im, o, o % 2 == 0));
    fit::Photo p = fit::read_photo(path);
    CHECK(p.exif.orientation == o);
    REQUIRE(p.width() == want[o].w);
    REQUIRE(p.height() == want[o].h);
    auto at = [&](const int c[2]) { return p.rgb.at(c[0] ? p.width() - 4 : 3, c[1] ? p.height() - 4 : 3); };
    const uint8_t* r = at(want[o].red);
    const uint8_t* b = at(want[o].blue);
    CHECK(r[0] > 200);
    CHECK(r[2] < 60);
    CHECK(b[2] > 200);
    CHECK(b[0] < 60);
    // intrinsics refer to the upright image: principal point at its centre
    fit::Intrinsics K = fit::photo_intrinsics(p);
    CHECK(K.cx == doctest::Approx(want[o].w / 2.0));
    CHECK(K.cy == doctest::Approx(want[o].h / 2.0));
  }
  // an invalid value leaves the image as stored
  write_bytes(d + "/o9.jpg", jpeg_with_orientation(im, 9));
  CHECK(fit::read_photo(d + "/o9.jpg").width() == W);
  std::filesystem::remove_all(d);
}

TEST_CASE("fit: a portrait phone photo stored sideways (EXIF 6, also 3 and 8) is detected like the upright one") {
  const std::string photo = ff::testing::shared_path("data/photos/grace_hopper_512x512.jpg");
  if (photo.empty()) return;
  if (!ff::testing::dlib_or_skip()) return;
  const std::string d = tmpdir("orient_photo");
  fit::Photo up = fit::read_photo(photo);
  const fit::Landmarks68 ref = fit::detect_landmarks(up, 0);
  // store the photo as a camera held that way would: the inverse of what each tag shows
  for (int o : {3, 6, 8}) {
    CAPTURE(o);
    const int inverse = o == 6 ? 8 : o == 8 ? 6 : 3;
    write_bytes(d + "/p.jpg", jpeg_with_orientation(fit::apply_exif_orientation(up.rgb, inverse), o));
    fit::Photo p = fit::read_photo(d + "/p.jpg");
    REQUIRE(p.width() == up.width());
    fit::Landmarks68 l = fit::detect_landmarks(p, 0);
    double e = 0;
    for (int i = 0; i < 68; ++i) e += std::hypot(l.xy[i * 2] - ref.xy[i * 2], l.xy[i * 2 + 1] - ref.xy[i * 2 + 1]) / 68;
    CHECK(e < 3.0);  // the same face at the same place (JPEG re-encoding moves landmarks by ~1 px)
  }
  std::filesystem::remove_all(d);
}

TEST_CASE("fit: landmark files round-trip and reject bad input") {
  std::string d = tmpdir("lmk");
  std::string ref = ff::testing::shared_path("data/photos/grace_hopper_512x512.dlib68.txt");
  if (ref.empty()) return;
  fit::Landmarks68 l = fit::read_landmarks_file(ref);
  CHECK(l.xy[0] == 175);
  CHECK(l.xy[1] == 187);
  fit::write_landmarks_file(d + "/a.txt", l, "test");
  fit::Landmarks68 b = fit::read_landmarks_file(d + "/a.txt");
  for (int i = 0; i < 136; ++i) CHECK(b.xy[i] == doctest::Approx(l.xy[i]));
  {
    std::ofstream f(d + "/bad.txt");
    for (int i = 0; i < 67; ++i) f << i << " 1 2\n";
  }
  CHECK_THROWS_WITH_AS(fit::read_landmarks_file(d + "/bad.txt"), doctest::Contains("index 67 missing"), ff::Error);
  {
    std::ofstream f(d + "/bad2.txt");
    f << "0 1 zz\n";
  }
  CHECK_THROWS_WITH_AS(fit::read_landmarks_file(d + "/bad2.txt"), doctest::Contains("line 1"), ff::Error);
  CHECK_THROWS_AS(fit::read_landmarks_file(d + "/missing.txt"), ff::Error);
  std::filesystem::remove_all(d);
}

TEST_CASE("fit: unreadable and corrupt images give clear errors") {
  std::string d = tmpdir("img");
  CHECK_THROWS_WITH_AS(fit::read_photo(d + "/none.jpg"), doctest::Contains("no such file"), ff::Error);
  {
    std::ofstream f(d + "/corrupt.jpg", std::ios::binary);
    f << "\xFF\xD8\xFF\xE0 this is not a jpeg";
  }
  CHECK_THROWS_WITH_AS(fit::read_photo(d + "/corrupt.jpg"), doctest::Contains("cannot read image"), ff::Error);
  std::filesystem::remove_all(d);
}

TEST_CASE("fit: GIF LZW round-trips, including table resets") {
  std::mt19937 rng(3);
  for (size_t n : {size_t(1), size_t(2), size_t(300), size_t(70000)}) {
    std::vector<uint8_t> idx(n);
    for (size_t i = 0; i < n; ++i) idx[i] = uint8_t((i / 7 + (rng() % 3 == 0 ? rng() % 251 : 0)) % 252);
    auto enc = fit::gif_lzw_encode(idx.data(), n, 8);
    auto dec = fit::gif_lzw_decode(enc.data(), enc.size(), n);
    CHECK(dec == idx);
  }
  // a whole file: header, frames, trailer
  const int W = 33, H = 17;
  fit::GifWriter g(W, H, 5);
  std::vector<uint8_t> rgb(W * H * 3);
  for (int f = 0; f < 3; ++f) {
    for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t((i * 7 + f * 40) & 255);
    g.add_frame(rgb.data());
  }
  const auto& b = g.bytes();
  CHECK(std::string(b.begin(), b.begin() + 6) == "GIF89a");
  CHECK(b.back() == 0x3B);
  CHECK(g.frames() == 3);
  // the palette reproduces its own colours exactly
  for (int i = 0; i < 252; ++i) {
    uint8_t c[3];
    fit::GifWriter::palette_rgb(i, c);
    CHECK(fit::GifWriter::quantize(c, 1, 2) == i);
  }
}

namespace {
struct Synthetic {
  fit::Landmarks68 lmk;
  fit::Intrinsics K;
  std::array<double, 9> R;
  std::array<double, 3> t;
  std::vector<double> beta;
};
// Landmarks of a random identity (β ~ 0.7·N(0, I)) with expression ψ and jaw opening `jaw`, projected with yaw/pitch
// (roll 3°) and Gaussian pixel noise.
Synthetic make_synthetic(const flame::FlameModel& m, double yaw, double pitch, double noise_px, uint64_t seed,
                         const std::vector<double>& expression = {}, double jaw = 0.05) {
  Synthetic s;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01(0, 1);
  s.beta.assign(50, 0.0);
  for (auto& b : s.beta) b = 0.7 * n01(rng);
  s.K = fit::default_intrinsics(512, 512);
  s.R = fit::head_rotation(yaw, pitch, 3.0);
  s.t = {0.01, -0.015, 0.85};
  auto L = fit::model_landmarks(m, s.beta, jaw, nullptr, expression);
  auto uv = fit::project_px(s.K, s.R, s.t, L);
  for (int i = 0; i < 136; ++i) s.lmk.xy[i] = uv[i] + noise_px * n01(rng);
  return s;
}
// Mean pixel distance between a head fit's upper face oval (facemesh.h kFaceMeshUpperOval), projected, and `xy`
// ([13, 2], the same points as observed).
double upper_oval_error(const fit::HeadFit& h, const std::vector<double>& xy) {
  std::vector<double> pts;
  for (int v : fit::kFaceMeshUpperOval)
    for (int c = 0; c < 3; ++c) pts.push_back(h.vertices[size_t(v) * 3 + c]);
  const std::vector<double> uv = fit::project_px(h.K, h.R, h.t, pts);
  double e = 0;
  for (size_t k = 0; k < uv.size() / 2; ++k) e += std::hypot(uv[k * 2] - xy[k * 2], uv[k * 2 + 1] - xy[k * 2 + 1]);
  return e / double(uv.size() / 2);
}
// A W×H uniform grey photo (d/photo.png) with the 68 landmarks of a frontal built-in head 0.9 m in front of its
// default camera (d/<landmarks>, mirrored left-right when asked): the options of a head fit to them (no model).
fit::FitImageOptions grey_photo_fit(const std::string& d, int W, int H, const std::string& landmarks, bool mirrored) {
  data::write_png(d + "/photo.png", data::Image8(W, H, 3, 120));
  const fit::Intrinsics K = fit::default_intrinsics(W, H);
  const auto uv = fit::project_px(K, fit::head_rotation(0, 0, 0), {0, 0, 0.9},
                                  fit::model_landmarks(flame::builtin_head_model_ref(), {}, 0));
  fit::Landmarks68 l;
  for (int i = 0; i < 68; ++i) l.xy[size_t(i) * 2] = mirrored ? W - 1 - uv[size_t(i) * 2] : uv[size_t(i) * 2];
  for (int i = 0; i < 68; ++i) l.xy[size_t(i) * 2 + 1] = uv[size_t(i) * 2 + 1];
  fit::write_landmarks_file(d + "/" + landmarks, l);
  fit::FitImageOptions o;
  o.image = d + "/photo.png";
  o.landmarks = d + "/" + landmarks;
  o.head_model = "builtin";
  o.progress = false;
  return o;
}
}  // namespace

TEST_CASE("fit: head model fit to synthetic landmarks recovers pose (yaw 0, ±25°) with noise") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  for (double yaw : {0.0, 25.0, -25.0}) {
    CAPTURE(yaw);
    Synthetic s = make_synthetic(m, yaw, 6.0, 1.0, uint64_t(100 + yaw));
    fit::HeadFit h = fit::fit_head(m, s.lmk, s.K, {});
    std::printf("[fit] yaw %+5.1f: fitted yaw %+6.2f pitch %+5.2f roll %+5.2f, landmark rms %.2f px, t (%.3f %.3f %.3f), "
                "%d LM iterations\n",
                yaw, h.yaw_deg, h.pitch_deg, h.roll_deg, h.rms_px, h.t[0], h.t[1], h.t[2], h.iterations);
    CHECK(std::abs(h.yaw_deg - yaw) < 3.0);
    CHECK(std::abs(h.pitch_deg - 6.0) < 3.0);
    CHECK(std::abs(h.roll_deg - 3.0) < 1.5);
    CHECK(h.rms_px < 1.5);  // noise σ = 1 px per coordinate → rms ≈ 1.4 before fitting, less after
    CHECK(std::abs(h.t[2] - s.t[2]) / s.t[2] < 0.05);
    // ground-truth landmarks (noise-free) vs fit: the model explains the face, not the noise
    auto uv = fit::project_px(s.K, s.R, s.t, fit::model_landmarks(m, s.beta, 0.05));
    double e = 0;
    for (int l = 0; l < 68; ++l) e += std::hypot(h.projected[l * 2] - uv[l * 2], h.projected[l * 2 + 1] - uv[l * 2 + 1]) / 68;
    CHECK(e < 1.5);
  }
}

// Face Mesh's upper face oval (the temples and the forehead's top, facemesh.h kFaceMeshUpperOval) as vertex
// observations: the 68 landmarks say nothing about where the forehead ends, so without them the fitted forehead is
// the shape prior's; with them it follows the observations.
TEST_CASE("fit: vertex observations (the forehead's outline) are fitted like landmarks") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  Synthetic s = make_synthetic(m, 15.0, 4.0, 0.0, 77);
  // the true head's forehead outline, with a forehead 6 % taller than the 68 points' shape gives (a real face's
  // proportions the landmarks do not determine): moved away from the eyes' centre along the face's up axis
  std::vector<double> verts;
  fit::model_landmarks(m, s.beta, 0.05, &verts);
  std::vector<double> oval_xyz;
  for (int v : fit::kFaceMeshUpperOval)
    for (int c = 0; c < 3; ++c) oval_xyz.push_back(verts[size_t(v) * 3 + c] + (c == 1 ? 0.006 : 0.0));
  const std::vector<double> oval_uv = fit::project_px(s.K, s.R, s.t, oval_xyz);
  fit::VertexObservations extra;
  extra.vertex.assign(std::begin(fit::kFaceMeshUpperOval), std::end(fit::kFaceMeshUpperOval));
  extra.xy = oval_uv;
  auto oval_error = [&](const fit::HeadFit& h) { return upper_oval_error(h, oval_uv); };
  const fit::HeadFit without = fit::fit_head(m, s.lmk, s.K, {});
  const fit::HeadFit with = fit::fit_head(m, s.lmk, s.K, {}, extra);
  std::printf("[fit] forehead outline: %.2f px from the observations without them, %.2f px with; 68-point rms %.2f -> "
              "%.2f px\n", oval_error(without), oval_error(with), without.rms_px, with.rms_px);
  CHECK(oval_error(without) > 3.0);
  CHECK(oval_error(with) < 0.35 * oval_error(without));
  CHECK(with.rms_px < 1.5);  // the 68 points still fit to about a pixel
  // a vertex the model does not have, and positions that do not match the vertices, are refused
  fit::VertexObservations bad = extra;
  bad.vertex[0] = m.V;
  CHECK_THROWS_WITH_AS(fit::fit_head(m, s.lmk, s.K, {}, bad), doctest::Contains("not on the model's mesh"), ff::Error);
  bad = extra;
  bad.xy.pop_back();
  CHECK_THROWS_WITH_AS(fit::fit_head(m, s.lmk, s.K, {}, bad), doctest::Contains("observed vertices"), ff::Error);
}

TEST_CASE("fit: face_mask (rendered in the head's window) equals the whole photo's mask, also where the border cuts the head") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  const Synthetic s = make_synthetic(m, 20.0, 6.0, 0.0, 7);
  const fit::HeadFit h = fit::fit_head(m, s.lmk, s.K, {});
  const fit::FittedMeshes meshes = fit::fitted_meshes(m, h.vertices);
  const double blur1100 = 5.0 * data::kImages2xWidth / s.K.width;  // σ = 5 px
  for (double shift : {0.0, 0.3 * s.K.width, -0.3 * s.K.height}) {  // the head inside, cut by the right/top border
    CAPTURE(shift);
    fit::Intrinsics K = s.K;
    (shift > 0 ? K.cx : K.cy) += shift;
    fit::FImage clipped;
    const fit::FImage mask = fit::face_mask(meshes, h.viewmat(), K, blur1100, &clipped);
    flame::RasterView rv;
    rv.viewmat = h.viewmat();
    rv.fx = K.fx, rv.fy = K.fy, rv.cx = K.cx, rv.cy = K.cy, rv.width = K.width, rv.height = K.height;
    data::Image8 ref_clipped;
    const data::Image8 ref = data::render_face_mask(meshes.head, meshes.face_flag, rv, 2, blur1100, &ref_clipped);
    REQUIRE(mask.width == K.width);
    REQUIRE(mask.height == K.height);
    REQUIRE(clipped.data.size() == mask.data.size());
    double worst = 0, sum = 0, ref_sum = 0;
    for (size_t i = 0; i < mask.data.size(); ++i) {
      worst = std::max({worst, std::abs(mask.data[i] - ref.pixels[i] / 255.0),
                        std::abs(clipped.data[i] - ref_clipped.pixels[i] / 255.0)});
      sum += mask.data[i], ref_sum += ref.pixels[i] / 255.0;
    }
    CHECK(ref_sum > 1000);          // the head covers thousands of pixels
    CHECK(worst <= 1.0 / 255 + 1e-6);  // at most one u8 step (the window's pixel centres round differently)
    CHECK(std::abs(sum - ref_sum) < 1e-3 * ref_sum);
  }
}

// The built-in model's 14 expression modes are semantic and not orthogonal (jaw_open is mostly the jaw rotation;
// smile, mouth_stretch and upper_lip_raise move the mouth corners alike), and 68 landmarks see a few of them only
// together with the identity's shape: single coefficients are not identifiable, the expression's geometry is. The
// state checked is therefore the expression displacement field FLAME(β̂, ψ̂, ĵ) − FLAME(β̂, 0, 0) against the true
// one (RMS over all vertices), the smile coefficient, and the effective jaw opening ĵ + 0.25·ψ̂_jaw_open (a jaw_open
// of 1 is ≈ 0.25 rad, flame/headmodel.h).
TEST_CASE("fit: the landmark fit recovers the photo's expression and jaw; a neutral face gives ~0") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  const int smile = flame::builtin_expression_index("smile"), jaw_open = flame::builtin_expression_index("jaw_open");
  REQUIRE(smile >= 0);
  REQUIRE(jaw_open >= 0);
  std::vector<double> smiling(size_t(m.E), 0.0), neutral(size_t(m.E), 0.0);
  smiling[size_t(smile)] = 0.8;
  struct Case {
    bool smiles;
    double yaw;
  };
  for (const Case& c : {Case{true, 10.0}, Case{true, -20.0}, Case{false, 0.0}, Case{false, 15.0}}) {
    CAPTURE(c.smiles);
    CAPTURE(c.yaw);
    const std::vector<double>& expr = c.smiles ? smiling : neutral;
    const double jaw = c.smiles ? 0.2 : 0.0;
    Synthetic s = make_synthetic(m, c.yaw, 4.0, 0.5, 11, expr, jaw);
    fit::HeadFit h = fit::fit_head(m, s.lmk, s.K, {});
    REQUIRE(int(h.expression.size()) == m.E);
    std::vector<double> true_posed, true_neutral;
    fit::model_landmarks(m, s.beta, jaw, &true_posed, expr);
    fit::model_landmarks(m, s.beta, 0.0, &true_neutral);
    double err2 = 0, mag2 = 0;
    for (size_t i = 0; i < true_posed.size(); ++i) {
      const double dt = true_posed[i] - true_neutral[i], df = h.vertices[i] - h.neutral_vertices[i];
      err2 += (dt - df) * (dt - df), mag2 += dt * dt;
    }
    const double nv = double(m.V), err_mm = 1e3 * std::sqrt(err2 / nv), mag_mm = 1e3 * std::sqrt(mag2 / nv);
    const double eff_jaw = h.jaw + 0.25 * h.expression[size_t(jaw_open)];
    double max_coef = 0;
    for (double e : h.expression) max_coef = std::max(max_coef, std::abs(e));
    std::printf("[fit] %-7s yaw %+5.1f: smile %.3f (true %.1f), jaw %.3f + 0.25 x jaw_open %.3f = %.3f (true %.1f), "
                "max |coef| %.3f; expression displacement error %.2f mm rms of %.2f mm; landmark rms %.2f px\n",
                c.smiles ? "smile" : "neutral", c.yaw, h.expression[size_t(smile)], expr[size_t(smile)], h.jaw,
                h.expression[size_t(jaw_open)], eff_jaw, jaw, max_coef, err_mm, mag_mm, h.rms_px);
    CHECK(std::abs(eff_jaw - jaw) < 0.04);
    CHECK(h.rms_px < 1.0);
    if (c.smiles) {
      CHECK(h.expression[size_t(smile)] > 0.4);
      CHECK(h.expression[size_t(smile)] < 1.0);
      CHECK(err_mm < 0.3 * mag_mm);
    } else {
      CHECK(std::abs(h.expression[size_t(smile)]) < 0.1);
      CHECK(max_coef < 0.2);
      CHECK(err_mm < 0.6);
    }
    // the neutralised head, posed by the head rig with the estimate, is the photo's head
    train::HeadRig rig(m, h.neutral_vertices);
    const std::vector<double> posed = rig.posed_head(h.rig_pose());
    REQUIRE(posed.size() == h.vertices.size());
    double dmax = 0;
    for (size_t i = 0; i < posed.size(); ++i) dmax = std::max(dmax, std::abs(posed[i] - h.vertices[i]));
    CHECK(dmax < 1e-9);
  }
}

TEST_CASE("fit: the landmark fit is robust to outliers (Huber)") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  Synthetic s = make_synthetic(m, 10.0, 0.0, 0.5, 7);
  for (int l : {3, 30, 48}) s.lmk.xy[l * 2] += 40, s.lmk.xy[l * 2 + 1] -= 30;  // three gross outliers
  fit::HeadFit h = fit::fit_head(m, s.lmk, s.K, {});
  CHECK(std::abs(h.yaw_deg - 10.0) < 3.0);
  CHECK(h.mean_px_inner < 4.0);
}

// The faces of the shared photos (>= 80 px high) are accepted. One detection >= 80 px is no face: in group_sample2 the
// detector put a 124-px box on a profile's eye and cheek, and the shape predictor laid a whole small face there (its
// "nose" on the real eye); fitted, it came back as an eye painted over a frontal head. Face Mesh finds the real
// profile in that box, far from those landmarks (face_mesh_disagreement), which is how it is rejected.
TEST_CASE("fit: detections in the group photos: every face >= 80 px high accepted, non-faces rejected") {
  if (!ff::testing::dlib_or_skip()) return;
  const std::pair<const char*, int> photos[] = {{"group_sample2.jpg", 2}, {"group_sample4.jpg", 4},
                                                {"grace_hopper_512x512.jpg", 1}};  // faces >= 80 px high
  for (const auto& [name, faces] : photos) {
    CAPTURE(name);
    const std::string path = ff::testing::shared_path(std::string("data/photos/") + name);
    if (path.empty()) continue;
    fit::Photo p = fit::read_photo(path);
    std::vector<fit::FaceCandidate> c = fit::detect_face_candidates(p);
    std::printf("[fit] %s (%dx%d): %zu detections\n", name, p.width(), p.height(), c.size());
    for (size_t i = 0; i < c.size(); ++i) {
      const double h = c[i].box[3] - c[i].box[1];
      std::printf("  box %4.0f %4.0f %4.0f %4.0f (%3.0f px high) score %+.3f eye-mouth %.2f iod %.1f texture %5.2f "
                  "face mesh %.3f (score %.2f) nose %d mirrored %d: %s\n",
                  c[i].box[0], c[i].box[1], c[i].box[2], c[i].box[3], h, c[i].score, c[i].shape.eye_mouth_ratio,
                  c[i].shape.interocular_px, c[i].texture, c[i].mesh_disagreement, c[i].mesh_score,
                  int(c[i].shape.nose_between),
                  int(c[i].shape.mirrored), c[i].rejected.empty() ? "face" : c[i].rejected.c_str());
      const bool profile_eye = std::string(name) == "group_sample2.jpg" && std::abs(c[i].box[0] - 355) < 20 &&
                               std::abs(c[i].box[1] - 176) < 20;
      if (profile_eye)
        CHECK_MESSAGE(c[i].rejected.find("not on the face's features") != std::string::npos,
                      "the box on a profile's eye and cheek: ", c[i].rejected);
      else if (h >= 80)
        CHECK_MESSAGE(c[i].rejected.empty(), "a face >= 80 px high rejected: ", c[i].rejected);
    }
    const fit::Landmarks68 l = fit::detect_landmarks(p, 0);
    CHECK(l.faces_found == faces);
    CHECK(l.faces_found + l.rejected.size() == c.size());
  }
}

TEST_CASE("fit: judge_face rejects a uniform patch, a mirrored layout and a low score; a drawn face passes them") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  Synthetic s = make_synthetic(m, 0.0, 0.0, 0.0, 11);  // a frontal face's 68 landmarks in a 512x512 photo
  const auto& xy = s.lmk.xy;
  // a skin-coloured patch with sensor noise (±3 grey levels): what a shoulder looks like to the detector
  data::Image8 patch(512, 512, 3);
  std::mt19937_64 rng(5);
  for (size_t i = 0; i < patch.pixels.size(); i += 3) {
    const int n = int(rng() % 7) - 3;
    patch.pixels[i] = uint8_t(200 + n), patch.pixels[i + 1] = uint8_t(160 + n), patch.pixels[i + 2] = uint8_t(140 + n);
  }
  fit::FaceCandidate c;
  c.box = {150, 150, 360, 360};
  c.score = 0.5;
  c.xy = xy;
  CHECK_MESSAGE(fit::judge_face(patch, c).find("uniform patch") != std::string::npos, fit::judge_face(patch, c));
  CHECK(c.texture < fit::kMinFaceTexture);
  // the same patch with a face drawn on it (dark eyes, brows, nostrils, lips at the landmarks): accepted
  data::Image8 face = patch;
  auto disc = [&](double cx, double cy, double r, uint8_t v) {
    for (int y = int(cy - r); y <= int(cy + r); ++y)
      for (int x = int(cx - r); x <= int(cx + r); ++x)
        if (std::hypot(x - cx, y - cy) <= r) face.at(x, y)[0] = face.at(x, y)[1] = face.at(x, y)[2] = v;
  };
  const double iod = fit::landmark_shape(xy).interocular_px;
  for (int i = 17; i < 68; ++i) disc(xy[i * 2], xy[i * 2 + 1], iod * (i >= 36 && i < 48 ? 0.06 : 0.04), 40);
  CHECK_MESSAGE(fit::judge_face(face, c).empty(), fit::judge_face(face, c));
  CHECK(c.texture >= fit::kMinFaceTexture);
  CHECK_FALSE(c.shape.mirrored);
  CHECK(c.shape.nose_between);
  // the landmarks mirrored left-right (x -> W-1-x, indices kept): a layout no face produces
  fit::FaceCandidate mir = c;
  for (int i = 0; i < 68; ++i) mir.xy[i * 2] = 511 - xy[i * 2];
  CHECK(fit::judge_face(face, mir).find("mirrored") != std::string::npos);
  // a 180-degree rotated face is not mirrored (rotation keeps handedness)
  std::array<double, 136> rot = xy;
  for (int i = 0; i < 136; ++i) rot[i] = 511 - xy[i];
  CHECK_FALSE(fit::landmark_shape(rot).mirrored);
  // a collapsed layout (every point at the eyes' height)
  fit::FaceCandidate flat = c;
  for (int i = 0; i < 68; ++i) flat.xy[i * 2 + 1] = xy[37 * 2 + 1];
  CHECK(fit::judge_face(face, flat).find("not a face") != std::string::npos);
  // the detector's score below the threshold
  fit::FaceCandidate low = c;
  low.score = fit::kMinFaceScore - 0.1;
  CHECK(fit::judge_face(face, low).find("detector score") != std::string::npos);
  std::printf("[fit] drawn face: Face Mesh disagreement %.3f (score %.2f)\n", c.mesh_disagreement, c.mesh_score);
}

// The last rule (face_mesh_disagreement) on a real face: its reference landmarks are accepted; the same landmarks
// moved down by an eye distance (the "eyes" on the nose, the "mouth" on the chin, as on group_sample2's profile) are
// rejected.
TEST_CASE("fit: judge_face accepts a real face's landmarks and rejects them moved off its features") {
  const std::string photo = ff::testing::shared_path("data/photos/grace_hopper_512x512.jpg");
  const std::string ref = ff::testing::shared_path("data/photos/grace_hopper_512x512.dlib68.txt");
  if (photo.empty() || ref.empty()) return;
  const fit::Photo p = fit::read_photo(photo);
  fit::FaceCandidate c;
  c.box = {161, 113, 376, 328};
  c.score = 1.5;
  c.xy = fit::read_landmarks_file(ref).xy;
  CHECK_MESSAGE(fit::judge_face(p.rgb, c).empty(), fit::judge_face(p.rgb, c));
  CHECK(c.mesh_disagreement < 0.1);
  CHECK(c.mesh_score > 0.9);
  fit::FaceCandidate moved = c;
  const double iod = fit::landmark_shape(c.xy).interocular_px;
  for (int i = 0; i < 68; ++i) moved.xy[i * 2 + 1] += iod;
  const std::string why = fit::judge_face(p.rgb, moved);
  CHECK_MESSAGE(why.find("not on the face's features") != std::string::npos, why);
  CHECK(moved.mesh_disagreement > fit::kMaxFaceMeshDisagreement);
  std::printf("[fit] Grace Hopper: Face Mesh disagreement %.3f, moved by an eye distance %.3f\n", c.mesh_disagreement,
              moved.mesh_disagreement);
}

TEST_CASE("fit_image: detected landmarks with the built-in head model come from Face Mesh (--face-mesh auto|on|off)") {
  const std::string photo = ff::testing::shared_path("data/photos/grace_hopper_512x512.jpg");
  if (photo.empty()) return;
  if (!ff::testing::dlib_or_skip()) return;
  const std::string d = tmpdir("facemesh_fit");
  Context ctx(0, 2);
  fit::FitImageOptions o;
  o.image = photo;
  o.head_model = "builtin";
  o.out = d + "/auto";
  o.progress = false;
  const fit::FitImageReport r = fit::fit_image(ctx, o);
  CHECK(r.has_face_mesh);
  CHECK(r.used_face_mesh);
  CHECK(r.face_mesh.score > 0.9);
  CHECK(r.landmarks.source == "dlib+facemesh");
  CHECK(r.detector_landmarks.source == "dlib");
  CHECK(r.landmarks.faces_found == 1);
  // --forehead-outline on: the fitted head's forehead outline is where Face Mesh saw it (vertex observations), within
  // 2 px; off (the default), where the shape prior puts it (Grace Hopper's cap: ~13 px higher)
  auto forehead_error = [](const fit::FitImageReport& f) {
    std::vector<double> seen;  // Face Mesh's points of the oval
    for (int v : fit::kFaceMeshUpperOval)
      seen.insert(seen.end(), {f.face_mesh.xy[size_t(v) * 2], f.face_mesh.xy[size_t(v) * 2 + 1]});
    return upper_oval_error(f.head, seen);
  };
  o.forehead_outline = true;
  o.out = d + "/forehead";
  const fit::FitImageReport r_fh = fit::fit_image(ctx, o);
  std::printf("[fit] Grace Hopper's forehead outline: %.2f px from Face Mesh's, %.2f px with --forehead-outline\n",
              forehead_error(r), forehead_error(r_fh));
  CHECK(forehead_error(r_fh) < 2.0);
  CHECK(forehead_error(r) > 3 * forehead_error(r_fh));
  o.forehead_outline = false;
  std::ifstream pf(d + "/auto/face_mesh.txt");
  int lines = 0;
  for (std::string line; std::getline(pf, line);) lines += line.empty() || line[0] == '#' ? 0 : 1;
  CHECK(lines == 468);
  std::ifstream jf(d + "/auto/fit.json");
  const std::string fitj((std::istreambuf_iterator<char>(jf)), {});
  CHECK(fitj.find("\"face_mesh\": {") != std::string::npos);
  // off: the detector's landmarks, no face_mesh.txt
  o.face_mesh = "off";
  o.out = d + "/off";
  const fit::FitImageReport r_off = fit::fit_image(ctx, o);
  CHECK_FALSE(r_off.has_face_mesh);
  CHECK(r_off.landmarks.source == "dlib");
  CHECK_FALSE(std::filesystem::exists(d + "/off/face_mesh.txt"));
  // on, with a head model whose vertices are not Face Mesh's: refused before anything is written
  o.face_mesh = "on";
  o.head_model = ff::testing::fixture_path("flame_model.npz");
  o.out = d + "/on";
  CHECK_THROWS_WITH_AS(fit::fit_image(ctx, o), doctest::Contains("needs the built-in head model"), ff::Error);
  CHECK_FALSE(std::filesystem::exists(d + "/on"));
  std::filesystem::remove_all(d);
}

TEST_CASE("fit_image: where Face Mesh sees no face (score < 0.5) the given landmarks are kept, with a warning") {
  const std::string d = tmpdir("facemesh_low");
  fit::FitImageOptions o = grey_photo_fit(d, 640, 480, "face.txt", false);  // a face's landmarks on a grey photo
  Context ctx(0, 2);
  o.face_mesh = "on";  // "auto" leaves given landmarks alone
  o.out = d + "/fit";
  const fit::FitImageReport r = fit::fit_image(ctx, o);
  CHECK(r.has_face_mesh);
  CHECK_FALSE(r.used_face_mesh);
  CHECK(r.face_mesh.score < fit::kMinFaceMeshScore);
  CHECK(r.landmarks.source == d + "/face.txt");
  bool warned = false;
  for (const std::string& w : r.warnings) warned = warned || w.find("its points are not used") != std::string::npos;
  CHECK(warned);
  std::filesystem::remove_all(d);
}

TEST_CASE("fit: mirrored landmarks and an implausible pose are warned about") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  Synthetic s = make_synthetic(m, 10.0, 0.0, 0.5, 3);
  fit::HeadFit h = fit::fit_head(m, s.lmk, s.K, {});
  CHECK(fit::fit_warnings(s.lmk, h).empty());
  fit::Landmarks68 mirrored = s.lmk;
  for (int i = 0; i < 68; ++i) mirrored.xy[i * 2] = s.K.width - 1 - s.lmk.xy[i * 2];
  fit::HeadFit hm = fit::fit_head(m, mirrored, s.K, {});
  std::printf("[fit] mirrored landmarks: fitted yaw %.1f pitch %.1f roll %.1f, rms %.2f px\n", hm.yaw_deg,
              hm.pitch_deg, hm.roll_deg, hm.rms_px);
  const std::vector<std::string> w = fit::fit_warnings(mirrored, hm);
  REQUIRE(!w.empty());
  CHECK(w[0].find("mirrored") != std::string::npos);
  // a pose no frontal landmark set gives (as a mirrored file's fit has): warned even when the layout looks fine
  fit::HeadFit turned = h;
  turned.yaw_deg = 178;
  const std::vector<std::string> wt = fit::fit_warnings(s.lmk, turned);
  REQUIRE(wt.size() == 1);
  CHECK(wt[0].find("faces away") != std::string::npos);
}

TEST_CASE("fit_image (no model): --out d/ works, reruns replace it, warnings in metrics.json, overlay downscaled") {
  namespace fs = std::filesystem;
  const std::string d = tmpdir("fit_out");
  // a 1100x700 grey photo and the 68 landmarks of a frontal head in it, mirrored left-right
  fit::FitImageOptions o = grey_photo_fit(d, 1100, 700, "mirrored.txt", true);
  Context ctx(0, 2);
  o.out = d + "/fit/";
  fit::FitImageReport r = fit::fit_image(ctx, o);
  CHECK(r.out == d + "/fit");
  CHECK(fs::exists(d + "/fit/.facefield-fit_image"));
  REQUIRE(!r.warnings.empty());
  std::ifstream mf(d + "/fit/metrics.json");
  const std::string metrics((std::istreambuf_iterator<char>(mf)), {});
  CHECK(metrics.find("\"warnings\"") != std::string::npos);
  CHECK(metrics.find("mirrored") != std::string::npos);
  CHECK(metrics.find("\"rejected\": []") != std::string::npos);
  // the overlay: three panels of the photo halved (k = ceil(1100 / 1024) = 2), a 24-px title row
  data::ImageInfo ov = data::probe_image(d + "/fit/overlay.png");
  CHECK(ov.width == 3 * 550);
  CHECK(ov.height == 350 + 24);
  // a second run replaces the earlier output (recognised by its marker); nothing else is left beside it
  fs::remove(d + "/fit/mask.png");
  fit::fit_image(ctx, o);
  CHECK(fs::exists(d + "/fit/mask.png"));
  size_t entries = 0;
  for (auto& e : fs::directory_iterator(d)) entries += e.path().filename().string().rfind("fit", 0) == 0;
  CHECK(entries == 1);
  // a folder fit_image did not write is refused before any work, and left as it was
  o.out = d;
  CHECK_THROWS_WITH_AS(fit::fit_image(ctx, o), doctest::Contains("refusing to write into"), ff::Error);
  CHECK(fs::exists(d + "/photo.png"));
  fs::remove_all(d);
}

TEST_CASE("fit: dlib's models load fast: the shape predictor read from memory is dlib's byte for byte; the detector "
          "cache is used, rebuilt when damaged, and a foreign file in its place is left alone") {
  if (!ff::testing::dlib_or_skip()) return;
  CHECK(fit::shape_predictor_reader_matches_dlib(fit::find_shape_predictor()));
  // a truncated predictor file is refused by both readers, naming it
  const std::string d = tmpdir("dlib_models");
  {
    const std::string bytes = ff::read_file(fit::find_shape_predictor());
    write_bytes(d + "/short.dat", bytes.substr(0, bytes.size() / 3));
    CHECK_THROWS_WITH(fit::shape_predictor_reader_matches_dlib(d + "/short.dat"), doctest::Contains("short.dat"));
  }
  // the detector cache, under a HOME of our own
  const char* old_home = std::getenv("HOME");
  const std::string saved = old_home ? old_home : "";
  setenv("HOME", d.c_str(), 1);
  const std::filesystem::path cache_dir = std::filesystem::path(d) / ".cache" / "facefield";
  bool cached = true;
  const std::string built = fit::face_detector_bytes(&cached);
  CHECK(!cached);
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(cache_dir))
    if (e.path().filename().string().rfind("dlib_frontal_face_detector_", 0) == 0) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  const std::string cache = files[0].string();
  CHECK(fit::face_detector_bytes(&cached) == built);
  CHECK(cached);
  // one flipped byte in the cached detector: the hash refuses it, the detector is built again and the cache rewritten
  std::string bytes = ff::read_file(cache);
  bytes[bytes.size() / 2] ^= 0x5A;
  write_bytes(cache, bytes);
  CHECK(fit::face_detector_bytes(&cached) == built);
  CHECK(!cached);
  CHECK(fit::face_detector_bytes(&cached) == built);
  CHECK(cached);
  // a file facefield did not write: used for nothing, and never replaced
  write_bytes(cache, "somebody else's file\n");
  CHECK(fit::face_detector_bytes(&cached) == built);
  CHECK(!cached);
  CHECK(ff::read_file(cache) == "somebody else's file\n");
  if (old_home) setenv("HOME", saved.c_str(), 1); else unsetenv("HOME");
  std::filesystem::remove_all(d);
}

#if defined(FF_WITH_DLIB)
TEST_CASE("fit: dlib_format reads a shape predictor the test builds exactly as dlib writes it; truncated and damaged "
          "bytes throw, never crash") {
  // 3 parts, 2 cascades of 3 trees of depth 2 (3 splits, 4 leaves), 5 feature pixels per cascade. Shape and pixel
  // coordinates on a 1/64 grid, so anchor point + delta reproduces each pixel exactly; thresholds and leaf values
  // anything, ±inf included
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> grid(-128, 128);
  std::uniform_real_distribution<float> any(-3, 3);
  dlib::matrix<float, 0, 1> initial(6);
  for (long i = 0; i < 6; ++i) initial(i) = grid(rng) / 64.f;
  std::vector<std::vector<dlib::impl::regression_tree>> forests(2);
  std::vector<std::vector<dlib::vector<float, 2>>> pixels(2);
  int value = 0;
  for (int c = 0; c < 2; ++c) {
    for (int p = 0; p < 5; ++p) pixels[size_t(c)].push_back(dlib::vector<float, 2>(grid(rng) / 64.f, grid(rng) / 64.f));
    forests[size_t(c)].resize(3);
    for (dlib::impl::regression_tree& t : forests[size_t(c)]) {
      for (int s = 0; s < 3; ++s) t.splits.push_back({static_cast<unsigned long>(rng() % 5), static_cast<unsigned long>(rng() % 5), any(rng)});
      t.leaf_values.resize(4);
      for (auto& leaf : t.leaf_values) {
        leaf.set_size(6);
        for (long i = 0; i < 6; ++i) {
          const int k = value++ % 9;
          leaf(i) = k == 0 ? std::numeric_limits<float>::infinity()
                  : k == 1 ? -std::numeric_limits<float>::infinity()
                  : k == 2 ? 1e-30f * any(rng)
                  : k == 3 ? 1e30f * any(rng)
                  : k == 4 ? 0.f
                           : any(rng);
        }
      }
    }
  }
  const dlib::shape_predictor built(initial, forests, pixels);
  std::ostringstream out;
  dlib::serialize(built, out);
  const std::string bytes = out.str();
  const dlib::shape_predictor read = fit::read_shape_predictor(bytes.data(), bytes.size());
  std::ostringstream again;
  dlib::serialize(read, again);
  CHECK(again.str() == bytes);
  CHECK(read.num_parts() == 3);
  // every truncation throws
  int refused = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    try {
      fit::read_shape_predictor(bytes.data(), n);
    } catch (const std::exception&) {
      ++refused;
    }
  }
  CHECK(refused == int(bytes.size()));
  // trailing bytes throw; damaged bytes either throw or give some predictor, never crash
  CHECK_THROWS(fit::read_shape_predictor((bytes + "x").data(), bytes.size() + 1));
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bad = bytes;
    for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = char(rng());
    try {
      fit::read_shape_predictor(bad.data(), bad.size());
    } catch (const std::exception&) {
    }
  }
}
#endif
