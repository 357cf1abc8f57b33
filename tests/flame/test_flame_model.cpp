// FLAME loaders (every upstream variant), validation errors, and the forward against the numpy reference.
#include <cmath>
#include <cstdio>

#include "flame/flame.h"
#include "flame/landmarks.h"
#include "flame/npy.h"
#include "tests/flame/flame_test_util.h"

using namespace ff;
using namespace ff::flame;
using ff::flame_test::max_abs_diff;
using ff::flame_test::reference;
using ff::flame_test::throws_with;

static FlameLoadOptions fixture_opts() {
  FlameLoadOptions o;
  o.expr_offset = flame_test::kFixtureShapeColumns;
  return o;
}

static FlameModel load_full(const char* file = "flame_model_2020.pkl") {
  FlameModel m = load_flame_model(testing::fixture_path(file), fixture_opts());
  load_flame_masks(m, testing::fixture_path("flame_masks.pkl"));
  m.static_landmarks = load_static_embedding(testing::fixture_path("flame_static_embedding.pkl"));
  m.dynamic_landmarks = load_dynamic_embedding(testing::fixture_path("flame_dynamic_embedding.npy"));
  load_landmarks_with_eyes(m, testing::fixture_path("flame_landmark_embedding_with_eyes.npy"));
  load_uv_obj(m, testing::fixture_path("flame_head_template.obj"));
  m.validate();
  return m;
}

TEST_CASE("FLAME loaders: 2023 pkl (protocol 2 and 4), 2020 Py2 chumpy pkl and npz give the same model") {
  FlameModel a = load_flame_model(testing::fixture_path("flame_model_2023_p2.pkl"), fixture_opts());
  CHECK(a.V == 32);
  CHECK(a.F == 60);
  CHECK(a.J == 5);
  CHECK(a.S == 10);
  CHECK(a.E == 5);
  CHECK(a.parents == std::vector<int32_t>{-1, 0, 1, 1, 1});
  for (const char* f : {"flame_model_2023_p4.pkl", "flame_model_2020.pkl", "flame_model.npz"}) {
    CAPTURE(f);
    FlameModel b = load_flame_model(testing::fixture_path(f), fixture_opts());
    CHECK(b.v_template == a.v_template);
    CHECK(b.faces == a.faces);
    CHECK(b.shapedirs == a.shapedirs);
    CHECK(b.exprdirs == a.exprdirs);
    CHECK(b.posedirs == a.posedirs);
    CHECK(b.j_regressor == a.j_regressor);
    CHECK(b.weights == a.weights);
    CHECK(b.parents == a.parents);
  }
  // truncation of components
  FlameLoadOptions o = fixture_opts();
  o.n_shape = 4;
  o.n_expr = 2;
  FlameModel c = load_flame_model(testing::fixture_path("flame_model_2020.pkl"), o);
  CHECK(c.S == 4);
  CHECK(c.E == 2);
  CHECK(c.exprdirs[1] == a.exprdirs[1]);
  CHECK(c.exprdirs[2] == a.exprdirs[5]);
  // default split (300): everything is shape when the file has fewer columns
  FlameModel d = load_flame_model(testing::fixture_path("flame_model_2020.pkl"));
  CHECK(d.S == 15);
  CHECK(d.E == 0);
  // our own npz conversion round-trips
  std::string p = flame_test::tmp_path("conv.npz");
  save_flame_npz(a, p);
  FlameModel e = load_flame_model(p);
  CHECK(e.shapedirs == a.shapedirs);
  CHECK(e.exprdirs == a.exprdirs);
  CHECK(e.posedirs == a.posedirs);
  std::remove(p.c_str());
}

// A .npy member of numpy unicode strings ('<U<width>', UTF-32LE), as np.savez writes the official model's
// 'bs_style' / 'bs_type' entries.
static std::vector<uint8_t> unicode_npy(const std::vector<std::string>& words, int width) {
  std::string h = "{'descr': '<U" + std::to_string(width) + "', 'fortran_order': False, 'shape': (" +
                  std::to_string(words.size()) + ",), }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(h.size()), uint8_t(h.size() >> 8)};
  b.insert(b.end(), h.begin(), h.end());
  for (const std::string& w : words)
    for (int i = 0; i < width; ++i) {
      const char c = i < int(w.size()) ? w[size_t(i)] : 0;
      b.insert(b.end(), {uint8_t(c), 0, 0, 0});
    }
  return b;
}

TEST_CASE("FLAME npz with numpy string members: the loader skips what it does not need") {
  FlameModel a = load_flame_model(testing::fixture_path("flame_model_2023_p2.pkl"), fixture_opts());
  const std::string plain = flame_test::tmp_path("plain.npz"), with_strings = flame_test::tmp_path("strings.npz");
  save_flame_npz(a, plain);
  const std::vector<uint8_t> bytes = npy::read_file_bytes(plain);
  std::vector<std::pair<std::string, std::vector<uint8_t>>> members;
  for (auto& [m, b] : npy::read_zip(bytes.data(), bytes.size(), plain)) members.emplace_back(m, b);
  members.emplace_back("bs_style.npy", unicode_npy({"lbs"}, 3));
  members.emplace_back("bs_type.npy", unicode_npy({"lrotmin", "lbs"}, 7));
  const std::vector<uint8_t> z = npy::serialize_zip(members, true);
  npy::write_file_atomic(with_strings, z.data(), z.size());

  FlameModel b = load_flame_model(with_strings);
  CHECK(b.v_template == a.v_template);
  CHECK(b.shapedirs == a.shapedirs);
  CHECK(b.posedirs == a.posedirs);
  // asked for, a string member is refused naming the file, the member and its dtype
  npy::NpzReader r(npy::read_file_bytes(with_strings), with_strings);
  CHECK(r.contains("bs_style"));
  CHECK(r.get("v_template").shape == std::vector<int64_t>{32, 3});
  CHECK_THROWS_WITH_AS(r.get("bs_type"), doctest::Contains("bs_type.npy': holds strings (numpy dtype '<U7')"), ff::Error);
  // the eager reader still refuses the whole archive, naming the member
  CHECK_THROWS_WITH_AS(npy::parse_npz(z.data(), z.size(), with_strings), doctest::Contains("bs_style.npy"), ff::Error);
  std::remove(plain.c_str());
  std::remove(with_strings.c_str());
}

TEST_CASE("FLAME side files: masks, static/dynamic/with-eyes embeddings, OBJ UVs") {
  FlameModel m = load_full();
  CHECK(m.masks.size() == 14);
  CHECK(m.masks.count("left_eye_region") == 1);
  CHECK(m.static_landmarks.count() == 51);
  CHECK(m.dynamic_landmarks.bins == 79);
  CHECK(m.dynamic_landmarks.points == 17);
  CHECK(m.full_landmarks.count() == 70);
  CHECK(m.eyes_static_landmarks.count() == 53);
  CHECK(m.uvs.size() == size_t(7 * 7 * 2));
  CHECK(m.uv_faces.size() == m.faces.size());
  CHECK(m.summary().find("vertices:    32") != std::string::npos);
}

TEST_CASE("FLAME bad input: missing keys, wrong shapes, non-finite values, truncated files") {
  auto z = npy::read_npz_file(testing::fixture_path("flame_model.npz"));
  auto write_and_load = [&](std::map<std::string, npy::NdArray> zz) {
    std::string p = flame_test::tmp_path("bad.npz");
    npy::write_npz_file(p, zz);
    struct Rm {
      std::string p;
      ~Rm() { std::remove(p.c_str()); }
    } rm{p};
    load_flame_model(p, fixture_opts());
  };
  auto zz = z;
  zz.erase("weights");
  CHECK(throws_with([&] { write_and_load(zz); }, {"bad.npz", "missing key 'weights'"}));
  zz = z;
  zz["posedirs"].shape = {32, 3, 9 * 4 / 2, 2};
  CHECK(throws_with([&] { write_and_load(zz); }, {"bad.npz", "'posedirs' has shape (32, 3, 18, 2)"}));
  zz = z;
  std::vector<double> w = zz["v_template"].to<double>();
  w[7] = NAN;
  zz["v_template"] = npy::NdArray::from<double>({32, 3}, w.data());
  CHECK(throws_with([&] { write_and_load(zz); }, {"bad.npz", "v_template has a non-finite value"}));
  zz = z;
  std::vector<int64_t> f = zz["f"].to<int64_t>();
  f[5] = 99;
  zz["f"] = npy::NdArray::from<int64_t>({60, 3}, f.data());
  CHECK(throws_with([&] { write_and_load(zz); }, {"bad.npz", "vertex index 99 out of range"}));
  zz = z;
  std::vector<int64_t> kt = zz["kintree_table"].to<int64_t>();
  kt[2] = 3;  // parent of joint 2 = 3: not topological
  zz["kintree_table"] = npy::NdArray::from<int64_t>({2, 5}, kt.data());
  CHECK(throws_with([&] { write_and_load(zz); }, {"parents[2] = 3"}));
  // truncated pkl → clean error naming the file
  auto b = npy::read_file_bytes(testing::fixture_path("flame_model_2020.pkl"));
  std::string p = flame_test::tmp_path("trunc.pkl");
  npy::write_file_atomic(p, b.data(), b.size() / 2);
  CHECK(throws_with([&] { load_flame_model(p); }, {"trunc.pkl", "truncated"}));
  std::remove(p.c_str());
  // a mask pkl is not a model
  CHECK(throws_with([&] { load_flame_model(testing::fixture_path("flame_masks.pkl")); },
                    {"flame_masks.pkl", "missing key 'v_template'"}));
  FlameModel m = load_full();
  m.weights.pop_back();
  CHECK(throws_with([&] { m.validate(); }, {"weights has 159 values, expected 160"}));
}

template <class T>
static void run_reference(double tol) {
  FlameModel m = load_full();
  const auto& r = reference();
  int B = 3;
  std::vector<T> shape = r.at("shape").template to<T>(), expr = r.at("expr").template to<T>(),
                 pose = r.at("pose").template to<T>(),
                 trans = r.at("trans").template to<T>(), scale = r.at("scale").template to<T>();
  FlameInput<T> in;
  in.batch = B;
  in.n_shape = 10;
  in.n_expr = 5;
  in.shape = shape.data();
  in.expr = expr.data();
  in.pose = pose.data();
  in.translation = trans.data();
  in.scale = scale.data();
  for (int threads : {1, 3}) {
    FlameOutput<T> out;
    flame_fwd<T>(m, in, out, nullptr, threads);
    std::vector<double> v(out.vertices.begin(), out.vertices.end()), j(out.joints.begin(), out.joints.end());
    double ev = max_abs_diff(v, r.at("vertices").template to<double>()),
           ej = max_abs_diff(j, r.at("joints").template to<double>());
    std::printf("forward<%s> threads=%d: max |dv| %.3g, |dj| %.3g\n", sizeof(T) == 8 ? "double" : "float", threads, ev, ej);
    CHECK(ev < tol);
    CHECK(ej < tol);
    // landmarks
    struct S {
      LandmarkScheme s;
      const char* key;
    };
    for (S sc : {S{LandmarkScheme::Static51, "lmk51"}, S{LandmarkScheme::Contour68, "lmk68"}, S{LandmarkScheme::WithEyes70, "lmk70"}}) {
      LandmarkSet set = make_landmark_set<T>(m, sc.s, pose.data(), B);
      std::vector<T> l(size_t(B) * set.count * 3);
      landmarks_fwd(m, set, out.vertices.data(), l.data());
      std::vector<double> ld(l.begin(), l.end());
      double el = max_abs_diff(ld, r.at(sc.key).template to<double>());
      CAPTURE(sc.key);
      CHECK(el < tol);
      if (sc.s == LandmarkScheme::Contour68) {
        auto bins = r.at("bins").template to<int>();
        CHECK(set.bins == bins);
      }
    }
  }
}

TEST_CASE("FLAME forward equals the numpy (smplx) reference to 1e-5: double") { run_reference<double>(1e-10); }
TEST_CASE("FLAME forward equals the numpy (smplx) reference to 1e-5: float") { run_reference<float>(1e-5); }

TEST_CASE("FLAME forward: zero parameters give the template; static offset adds before skinning") {
  FlameModel m = load_full();
  FlameInput<double> in;
  FlameOutput<double> out;
  flame_fwd(m, in, out);
  // R(0) = I up to the 1e-8 epsilon → template
  CHECK(max_abs_diff(out.vertices, m.v_template) < 1e-12);
  CHECK(throws_with([&] { in.n_shape = 11; flame_fwd(m, in, out); }, {"n_shape 11 exceeds the model's 10"}));
}
