// The NeRSemble reader: camera_params.json (shared / per camera, errors), intrinsics conversion, tracking npz,
// transforms, a broken-layout fixture (missing camera, wrong-size image, corrupt npz,
// camera without image, unreadable image) reported and skipped / refused under strict, and the view cache
// (prefetch, LRU bound, disk cache).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/check.h"
#include "flame/npy.h"
#include "tests/train/test_data_util.h"
#include "train/data/nersemble_reader.h"
#include "train/data/image.h"
#include "train/data/nersemble.h"

using namespace ff;
using namespace ff::data;
namespace fs = std::filesystem;
using namespace ff::data_test;

namespace {

const char* kSharedJson = R"({"intrinsics": [[7400.5, 0, 1100.25], [0, 7401, 1603.75], [0, 0, 1]],
  "world_2_cam": {"222200037": [[1,0,0,0.01],[0,1,0,0.02],[0,0,1,1.0],[0,0,0,1]],
                  "220700191": [[0,0,-1,0],[0,1,0,0],[1,0,0,1.0],[0,0,0,1]]}})";

}  // namespace

TEST_CASE("camera_params.json: shared and per-camera intrinsics, rescale to splat.h convention, round trip") {
  CameraParams p = parse_camera_params(kSharedJson, "shared.json");
  CHECK(p.shared_intrinsics);
  CHECK(p.serials() == std::vector<std::string>{"220700191", "222200037"});
  CHECK(p.intrinsics.at("220700191").fx == 7400.5);
  CHECK(p.world_2_cam.at("222200037")[3] == 0.01);
  // exact pixel-centre rescale to images-2x: c' = (c + 0.5)·s in splat.h's edge-based pixels
  Intrinsics k = to_splat_intrinsics(p.intrinsics.at("222200037"), 1100, 1604);
  CHECK(k.fx == doctest::Approx(3700.25));
  CHECK(k.fy == doctest::Approx(3700.5));
  CHECK(k.cx == doctest::Approx((1100.25 + 0.5) * 0.5));
  CHECK(k.cy == doctest::Approx((1603.75 + 0.5) * 0.5));
  Intrinsics ks = to_splat_intrinsics(p.intrinsics.at("222200037"), 1100, 1604, PrincipalPoint::Seed);
  CHECK(ks.cx == doctest::Approx(1100.25 * 0.5));  // the seed's K·0.5
  Intrinsics back = nersemble_intrinsics(k, 1100, 1604);
  CHECK(back.cx == doctest::Approx(1100.25));
  CHECK(back.fy == doctest::Approx(7401));
  // per-camera variant (benchmark) and write → parse round trip
  p.shared_intrinsics = false;
  p.intrinsics["220700191"].cx = 1000;
  CameraParams q = parse_camera_params(camera_params_json(p), "rt.json");
  CHECK_FALSE(q.shared_intrinsics);
  CHECK(q.intrinsics.at("220700191").cx == 1000);
  CHECK(q.intrinsics.at("222200037").cx == 1100.25);
  CHECK(q.world_2_cam == p.world_2_cam);
  // a K scaled as a whole (the seed's K·0.5, K[2][2] = 0.5) normalises to the same camera
  CameraParams h = parse_camera_params(
      R"({"intrinsics": [[3700, 0, 550], [0, 3700, 802], [0, 0, 0.5]], "world_2_cam": {"1": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}})",
      "half.json");
  CHECK(h.intrinsics.at("1").fx == 7400);
}

TEST_CASE("camera_params.json errors name the file and the problem") {
  CHECK(throws_with([] { parse_camera_params("{", "a.json"); }, "a.json: not valid JSON"));
  CHECK(throws_with([] { parse_camera_params("[]", "b.json"); }, "top level must be an object"));
  CHECK(throws_with([] { parse_camera_params(R"({"intrinsics": [[1,0,0],[0,1,0],[0,0,1]]})", "c.json"); }, "world_2_cam"));
  CHECK(throws_with(
      [] {
        parse_camera_params(R"({"intrinsics": [[1,0,0],[0,1,0],[0,0,1]], "world_2_cam": {"1": [[2,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}})",
                            "d.json");
      },
      "not a rotation"));
  CHECK(throws_with(
      [] {
        parse_camera_params(R"({"intrinsics": [[1,0,0],[0,1,0]], "world_2_cam": {"1": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}})",
                            "e.json");
      },
      "3 rows"));
  CHECK(throws_with(
      [] {
        parse_camera_params(R"({"intrinsics": {"2": [[1,0,0],[0,1,0],[0,0,1]]}, "world_2_cam": {"1": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}})",
                            "f.json");
      },
      "no intrinsics"));
  CHECK(throws_with(
      [] {
        parse_camera_params(R"({"intrinsics": [[-1,0,0],[0,1,0],[0,0,1]], "world_2_cam": {"1": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}})",
                            "g.json");
      },
      "fx/fy"));
  CHECK(throws_with(
      [] {
        parse_camera_params(R"({"intrinsics": [[1,0,0],[0,1,0],[0,0,1]], "world_2_cam": {"../x": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}})",
                            "h.json");
      },
      "not a plain serial"));
}

TEST_CASE("split.json: parse, errors, round trip") {
  SplitFile s = parse_split(R"({"train": ["001", "002"], "heldout": ["003"], "note": 1})", "split.json");
  CHECK(s.train == std::vector<std::string>{"001", "002"});
  CHECK(s.heldout == std::vector<std::string>{"003"});
  CHECK(throws_with([] { parse_split(R"({"train": [1]})", "s.json"); }, "entries must be strings"));
  CHECK(throws_with([] { parse_split(R"({"heldout": "003"})", "s.json"); }, "must be a list"));
  CHECK(throws_with([] { parse_split("nope", "s.json"); }, "not valid JSON"));
  data_test::TempDir td("split");
  CHECK(read_split(td.path).train.empty());
  write_split(td.path, s);
  CHECK(read_split(td.path).heldout == s.heldout);
}

TEST_CASE("tracking npz: write/read round trip (float32-exact), dtype tolerance, cano2world") {
  data_test::TempDir td("tracking");
  FlameTracking t = small_tracking();
  for (double* v : {&t.rotation[0], &t.rotation[1], &t.rotation[2], &t.translation[0], &t.scale}) *v = double(float(*v));
  std::string f = td.path + "/t.npz";
  write_tracking(f, t);
  FlameTracking r = read_tracking(f);
  CHECK(r.T == 1);
  CHECK(r.shape == t.shape);
  CHECK(r.rotation == t.rotation);
  CHECK(r.scale == t.scale);
  CHECK(r.frames == t.frames);
  CHECK(r.rotation_matrices.size() == 9);
  // Euler XYZ = Rx·Ry·Rz (scipy 'XYZ'): check against an explicit product for one angle per axis
  double ax[3] = {0.3, 0, 0}, ay[3] = {0, 0.3, 0};
  auto Rx = euler_xyz_to_matrix(ax), Ry = euler_xyz_to_matrix(ay);
  CHECK(Rx[5] == doctest::Approx(-std::sin(0.3)));
  CHECK(Ry[2] == doctest::Approx(std::sin(0.3)));
  double axy[3] = {0.3, 0.3, 0};
  auto Rxy = euler_xyz_to_matrix(axy);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += Rx[size_t(i * 3 + k)] * Ry[size_t(k * 3 + j)];
      CHECK(Rxy[size_t(i * 3 + j)] == doctest::Approx(s));
    }
  // cano2world: [s·R | t] in the txt; the rigid transform removes the scale (seed: uptoscale_transform)
  Mat34 sc = tracking_cano2world_scaled(r, 0);
  Mat4 rig = rigid_from_scaled(sc);
  CHECK(rig[0] == doctest::Approx(sc[0] / r.scale).epsilon(1e-6));
  CHECK(rig[3] == sc[3]);
  write_cano2world_txt(td.path + "/c.txt", sc);
  CHECK(read_cano2world_txt(td.path + "/c.txt") == sc);
  // float64 / int64 variant of the same keys (real files' dtypes are unverified)
  auto z = npy::read_npz_file(f);
  std::vector<double> shp = z.at("shape").to<double>();
  z["shape"] = npy::NdArray::from<double>({1, int64_t(shp.size())}, shp.data());
  int64_t fr = 0;
  z["frames"] = npy::NdArray::from<int64_t>({1}, &fr);
  npy::write_npz_file(td.path + "/t64.npz", z);
  CHECK(read_tracking(td.path + "/t64.npz").shape == t.shape);
  // missing key / wrong shape
  z.erase("jaw");
  npy::write_npz_file(td.path + "/bad.npz", z);
  CHECK(throws_with([&] { read_tracking(td.path + "/bad.npz"); }, "missing key 'jaw'"));
  CHECK(throws_with([&] { r.index_of_frame(7); }, "frame 7"));
}

TEST_CASE("broken layout: missing camera, wrong-size image, corrupt npz, camera without image, unreadable image") {
  data_test::TempDir td("broken");
  write_fixture_subject(td.path, {"001"});
  write_fixture_subject(td.path, {"002", true});
  write_fixture_subject(td.path, {"003", false, true});
  write_fixture_subject(td.path, {"004", false, false, true});
  write_fixture_subject(td.path, {"005", false, false, false, true});
  write_fixture_subject(td.path, {"006", false, false, false, false, true});
  write_fixture_subject(td.path, {"007"});
  write_fixture_subject(td.path, {"008", false, false, false, false, false, true});
  fs::create_directories(td.path + "/not_a_subject");  // ignored: no calibration/ or sequences/

  ValidationReport r = validate_dataset(td.path);
  CHECK(r.subjects.size() == 8);
  CHECK(r.width == 110);
  CHECK(r.height == 160);
  CHECK(r.cameras.size() == 3);
  CHECK(has_problem(r, "002", "missing camera"));
  CHECK(has_problem(r, "003", "wrong-size image: 100x160, expected 110x160"));
  CHECK(has_problem(r, "004", "FLAME tracking unusable"));
  CHECK(has_problem(r, "005", "camera without an image"));
  CHECK(has_problem(r, "006", "unreadable image"));
  CHECK(has_problem(r, "002", "skipped", Severity::Warning));
  CHECK(has_problem(r, "008", "fewer than half of the subjects", Severity::Warning));  // extra camera: ignored
  CHECK(r.usable() == 3);
  CHECK(r.errors() == 5);
  std::string text = r.text();
  CHECK(text.find("SKIPPED 004") != std::string::npos);
  CHECK(text.find("ok      001") != std::string::npos);

  // non-strict: the bad subjects are skipped
  NersembleReader ds = NersembleReader::open(td.path);
  CHECK(ds.num_subjects() == 3);
  CHECK(ds.subject(0).name == "001");
  CHECK(ds.subject(1).name == "007");
  CHECK(ds.subject(2).cameras.size() == 3);  // 008 without its extra camera
  CHECK(ds.subject(0).cameras.size() == 3);
  CHECK(ds.width() == 110);
  // strict: refused, with the report in the message
  DatasetOptions so;
  so.strict = true;
  CHECK(throws_with([&] { NersembleReader::open(td.path, so); }, "refused (strict)"));
  CHECK(throws_with([&] { NersembleReader::open(td.path, so); }, "missing camera"));
  // strict on the good subjects alone is fine (warnings, like 008's extra camera, do not refuse)
  so.subjects = {"001", "007", "008"};
  NersembleReader good = NersembleReader::open(td.path, so);
  CHECK(good.num_subjects() == 3);
  // a requested subject that does not exist is an error
  so.subjects = {"001", "999"};
  CHECK(throws_with([&] { NersembleReader::open(td.path, so); }, "requested subject not found"));
  // an explicit expected size turns every image into a wrong-size one
  DatasetOptions wo;
  wo.width = 220;
  wo.height = 320;
  CHECK(validate_dataset(td.path, wo).usable() == 0);
  CHECK(throws_with([&] { NersembleReader::open(td.path, wo); }, "no usable subject"));
}

TEST_CASE("reader: cameras are rescaled to the image and moved to the canonical frame; raw images and masks") {
  data_test::TempDir td("reader");
  write_fixture_subject(td.path, {"001"});
  NersembleReader ds = NersembleReader::open(td.path);
  const Subject& s = ds.subject(0);
  CHECK_FALSE(s.preprocessed);
  const int ci = s.camera_index("222200037");
  const Camera& c = s.cameras[size_t(ci)];
  CHECK(c.fx() == doctest::Approx(7400.0 * 110 / 2200));
  CHECK(c.fy() == doctest::Approx(7400.0 * 160 / 3208));
  CHECK(c.cx() == doctest::Approx(1100.0 * 110 / 2200));  // (1099.5 + 0.5)·s
  // viewmat = world_2_cam · cano2world, cano2world = [R(euler) | t] without the scale
  FlameTracking t = small_tracking();
  auto R = euler_xyz_to_matrix(t.rotation.data());
  Mat4 c2w = mat4_identity();
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) c2w[size_t(a * 4 + b)] = R[size_t(a * 3 + b)];
    c2w[size_t(a * 4 + 3)] = t.translation[size_t(a)];
  }
  Mat4 want = mat4_mul(s.world_2_cam[size_t(ci)], c2w);
  for (int i = 0; i < 16; ++i) CHECK(c.viewmat[size_t(i)] == doctest::Approx(want[size_t(i)]).epsilon(1e-6));
  auto vf = c.viewmat_f();
  CHECK(vf[15] == 1.0f);
  // image: solid colour 40 + 50·index of the serial in the fixture's order; mask all ones (no alpha_map)
  std::vector<float> img(3 * 160 * 110), mask(160 * 110);
  ds.load(0, s.camera_index("220700191"), img.data(), mask.data());
  CHECK(img[0] == doctest::Approx(90 / 255.0));
  CHECK(img[2 * 160 * 110 + 5] == doctest::Approx(90 / 255.0));
  CHECK(mask[77] == 1.0f);
}

TEST_CASE("view cache: prefetch thread, LRU bound, disk cache") {
  data_test::TempDir td("cache");
  write_fixture_subject(td.path, {"001"});
  write_fixture_subject(td.path, {"002"});
  DatasetOptions o;
  o.disk_cache = td.path + "/cache";
  o.prefetch_threads = 1;
  {
    NersembleReader ds = NersembleReader::open(td.path, o);
    ds.prefetch_subject(0);
    ds.prefetch_subject(1);
    ds.wait_prefetch();
    CacheStats st = ds.cache_stats();
    CHECK(st.decoded == 6);
    CHECK(st.entries == 6);
    std::vector<float> img(3 * 160 * 110);
    for (int c = 0; c < 3; ++c) ds.load(1, c, img.data(), nullptr);
    st = ds.cache_stats();
    CHECK(st.hits == 3);
    CHECK(st.misses == 0);
    CHECK(st.bytes == size_t(6) * 110 * 160 * 4);
  }
  {  // re-open: every view comes from the disk cache, no PNG decode
    NersembleReader ds = NersembleReader::open(td.path, o);
    ds.preload_all(2);
    CacheStats st = ds.cache_stats();
    CHECK(st.disk_hits == 6);
    CHECK(st.decoded == 0);
    auto v = ds.view_u8(0, 0);
    CHECK(v->rgb[0] == 40 + 50 * 1);  // cameras sorted by serial: 220700191 (index 1 in the fixture) first
  }
  {  // a cache of two views' size evicts the least recently used
    DatasetOptions small = o;
    small.disk_cache.clear();
    small.cache_bytes = size_t(2) * 110 * 160 * 4;
    NersembleReader ds = NersembleReader::open(td.path, small);
    for (int c = 0; c < 3; ++c) ds.view_u8(0, c);
    CacheStats st = ds.cache_stats();
    CHECK(st.entries == 2);
    CHECK(st.evictions == 1);
    ds.view_u8(0, 2);  // still cached
    CHECK(ds.cache_stats().hits == 1);
    ds.view_u8(0, 0);  // evicted earlier: decoded again
    CHECK(ds.cache_stats().misses == 4);
  }
  // a corrupt disk-cache file is ignored (re-decoded), never trusted
  for (auto& e : fs::recursive_directory_iterator(td.path + "/cache"))
    if (e.is_regular_file()) {
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);
      f.put('\x7f');
    }
  NersembleReader ds = NersembleReader::open(td.path, o);
  ds.preload_all(1);
  CHECK(ds.cache_stats().decoded == 6);
}
