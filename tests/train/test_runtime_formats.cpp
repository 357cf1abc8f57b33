// tests/train/test_runtime_formats.cpp — the embeddable runtime (runtime/) against the engine:
//   * .ply / .splat / .ffpk round trips through runtime/formats.h (the engine's .ply exports use it too), the 3DGS
//     .ply layout and its stored raw values;
//   * C API round trip: engine IdentityModel → identity pack → ff_model_open_memory → ff_decode_identity equals the
//     engine's decode, and ff_render equals the engine's splat::render_fwd to ≤ 1/255 (uv and seed placements,
//     several generator sizes), also for codes/mixes; a checkpoint with its layout opens directly, one without
//     is refused with FF_ERROR_UNSUPPORTED;
//   * the bench scene (36,084 Gaussians @512×512): runtime render vs engine render ≤ 1/255.
// Compiled only when runtime/CMakeLists.txt wires the runtime into test_train (FF_HAVE_RUNTIME).
#ifdef FF_HAVE_RUNTIME
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/geometry.h"
#include "runtime/include/facefield.hpp"
#include "core/rng.h"
#include "splat/splat.h"
#include "tests/testing.h"
#include "tests/train/train_test_util.h"
#include "train/checkpoint.h"
#include "train/model_file.h"
#include "train/trainer.h"

using namespace ff;

namespace {

ffrt::GaussianSet random_set(int n, uint64_t seed) {
  ffrt::GaussianSet g;
  g.resize(size_t(n));
  uint64_t i = 0;
  auto U = [&](double a, double b) { return float(a + (b - a) * rng::uniform_at(seed, i++)); };
  for (int k = 0; k < n; ++k) {
    for (int c = 0; c < 3; ++c) {
      g.means[3 * k + c] = U(-0.2, 0.2) + (c == 2 ? 1.2f : 0.f);
      g.log_scales[3 * k + c] = U(-6, -3.5);
      g.colors[3 * k + c] = U(0.01, 0.99);
    }
    for (int c = 0; c < 4; ++c) g.rotations[4 * k + c] = U(-1, 1);
    g.rotations[4 * k] += 1.5f;
    g.opacities[k] = U(0.02, 0.98);
  }
  return g;
}

double qnorm(const float* q) { return std::sqrt(double(q[0]) * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]); }

// engine render (float CHW) of decoded Gaussians
std::vector<float> engine_render(Context& ctx, const std::vector<float>& means, const std::vector<float>& scales,
                                 const std::vector<float>& rots, const std::vector<float>& opac,
                                 const std::vector<float>& colors, const ff_camera& cam) {
  splat::RenderParams p;
  p.num_gaussians = int(opac.size());
  p.width = cam.width;
  p.height = cam.height;
  p.means = means.data();
  p.scales = scales.data();
  p.rotations = rots.data();
  p.opacities = opac.data();
  p.colors = colors.data();
  p.viewmats = cam.viewmat;
  const float intr[4] = {cam.fx, cam.fy, cam.cx, cam.cy};
  p.intrinsics = intr;
  std::vector<float> img(size_t(3) * cam.width * cam.height);
  p.image = img.data();
  splat::RenderState st;
  splat::render_fwd(ctx, p, st);
  return img;
}

// max |runtime u8/255 − engine float (clamped)| over RGB
double max_rgb_diff(const std::vector<uint8_t>& rgba, const std::vector<float>& chw, int W, int H) {
  double m = 0;
  const size_t HW = size_t(W) * H;
  for (size_t i = 0; i < HW; ++i)
    for (int c = 0; c < 3; ++c) {
      const double e = std::min(1.0, std::max(0.0, double(chw[size_t(c) * HW + i])));
      m = std::max(m, std::abs(rgba[4 * i + size_t(c)] / 255.0 - e));
    }
  return m;
}

ff_camera to_ff(const Camera& k, int width = 0) { return runtime_camera(resized(k, width)); }

std::vector<std::string> subject_names(const train::IdentityDataset& ds) {
  std::vector<std::string> n;
  for (int s = 0; s < ds.num_subjects(); ++s) n.push_back(ds.subject_name(s));
  return n;
}

struct Decoded {
  std::vector<float> means, scales, rots, opac, colors;
};
Decoded engine_decode(train::IdentityModel& m, const Tensor& codes, const Tensor& xyz) {
  NoGrad ng(m.ctx());
  train::GaussianBatch gb = m.decode(codes);
  Decoded d;
  d.means = xyz.to(DType::F32).to_vector<float>();
  d.scales = exp(select(gb.log_scales, 0, 0)).to(DType::F32).to_vector<float>();
  d.rots = select(gb.rotations, 0, 0).to(DType::F32).to_vector<float>();
  d.opac = select(gb.opacities, 0, 0).to(DType::F32).to_vector<float>();
  d.colors = select(gb.colors, 0, 0).to(DType::F32).to_vector<float>();
  return d;
}
Decoded runtime_read(const facefield::Gaussians& g) {
  Decoded d;
  const size_t n = size_t(g.count());
  d.means.resize(3 * n), d.scales.resize(3 * n), d.rots.resize(4 * n), d.opac.resize(n), d.colors.resize(3 * n);
  facefield::check(ff_gaussians_read(g.g, d.means.data(), d.scales.data(), d.rots.data(), d.opac.data(), d.colors.data()),
                 "read");
  return d;
}
double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]) / (std::abs(double(b[i])) + 1e-3));
  return m;
}

// A model with non-trivial values everywhere (noise strengths and means that the init leaves at zero).
std::unique_ptr<train::IdentityModel> make_model(Context& ctx, const train::ModelConfig& cfg,
                                                 const train::InMemoryDataset& ds) {
  std::vector<flame::Mesh> meshes;
  for (int s = 0; s < ds.num_subjects(); ++s) meshes.push_back(ds.face_mesh(s));
  train::SurfaceLayout lay = train::build_layout(meshes, cfg);
  std::vector<std::vector<float>> xyz;
  std::vector<float> ref(size_t(lay.G) * 3, 0.f);
  for (auto& m : meshes) {
    xyz.push_back(lay.place(m));
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += xyz.back()[i] / float(meshes.size());
  }
  auto m = std::make_unique<train::IdentityModel>(ctx, cfg, lay, xyz, ref);
  NoGrad ng(ctx);
  uint64_t k = 0;
  for (auto& np : m->named_parameters()) {
    if (np.name.find("noise_strength") != std::string::npos) np.tensor.fill_(0.3 * (1 + (k++ % 3)));
    if (np.name == "codes") np.tensor.copy_(randn(ctx, np.tensor.shape(), np.tensor.dtype(), Device::cpu(), 0.0, 1.0));
  }
  return m;
}

void check_model_roundtrip(const train::ModelConfig& cfg) {
  Context ctx(5, 2);
  auto ds = ff::testing::tiny_scene(3, 2);
  auto model = make_model(ctx, cfg, *ds);
  facefield::Runtime rt;
  const std::string pack = ffrt::pack_bytes(train::model_pack(*model, subject_names(*ds)));
  rt.open_memory(pack.data(), pack.size(), 2);
  CHECK(rt.info.num_identities == 3);
  CHECK(rt.info.code_dim == cfg.code_dim);
  CHECK(rt.info.num_gaussians == model->layout().G);
  CHECK(rt.info.has_generator == 1);
  CHECK(rt.name(1) == ds->subject_name(1));
  const ff_camera cam = to_ff(ds->camera(0, 0), 96);
  for (int s = 0; s < 3; ++s) {
    Tensor idx = from_vector<int64_t>(ctx, {int64_t(s)}, {1});
    Decoded e = engine_decode(*model, model->code_rows(idx), model->positions(s));
    facefield::Gaussians g = rt.identity(s);
    Decoded r = runtime_read(g);
    CHECK(r.means == e.means);
    CHECK(max_rel(r.scales, e.scales) < 1e-4);
    CHECK(max_rel(r.rots, e.rots) < 1e-4);
    CHECK(max_rel(r.opac, e.opac) < 1e-4);
    CHECK(max_rel(r.colors, e.colors) < 1e-4);
    std::vector<float> ref = engine_render(ctx, e.means, e.scales, e.rots, e.opac, e.colors, cam);
    std::vector<uint8_t> img = rt.render(g, cam, nullptr);
    const double d = max_rgb_diff(img, ref, cam.width, cam.height);
    INFO("identity ", s, " max |runtime − engine| = ", d * 255, "/255");
    if (s == 0) MESSAGE("model round trip (", cfg.placement, "): max |runtime u8 − engine| = ", d * 255, "/255");
    CHECK(d <= 1.0 / 255.0 + 1e-6);
    double sum = 0;
    for (float v : ref) sum += v;
    CHECK(sum > 1.0);  // the camera sees the face
  }
  // a code and positions given explicitly: the blend of identities 0 and 2
  {
    std::vector<float> c0 = rt.code(0), c2 = rt.code(2), x0 = rt.positions(0), x2 = rt.positions(2);
    std::vector<float> c(c0.size()), x(x0.size());
    for (size_t i = 0; i < c.size(); ++i) c[i] = 0.25f * c0[i] + 0.75f * c2[i];
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * x0[i] + 0.75f * x2[i];
    Tensor codes = from_vector<float>(ctx, c, {1, int64_t(c.size())}).to(model->codes.dtype());
    Decoded e = engine_decode(*model, codes, from_vector<float>(ctx, x, {int64_t(x.size() / 3), 3}));
    facefield::Gaussians g = rt.decode(c, &x);
    Decoded r = runtime_read(g);
    CHECK(max_rel(r.colors, e.colors) < 1e-4);
    CHECK(max_rel(r.scales, e.scales) < 1e-4);
    const int ids[2] = {0, 2};
    const float w[2] = {0.25f, 0.75f};
    ff_gaussians* gm = nullptr;
    REQUIRE(ff_decode_mix(rt.model, 2, ids, w, &gm) == FF_OK);
    facefield::Gaussians mix(gm);
    Decoded rm = runtime_read(mix);
    CHECK(max_rel(rm.colors, r.colors) < 1e-5);
    CHECK(max_rel(rm.means, r.means) < 1e-5);
    std::vector<float> ref = engine_render(ctx, e.means, e.scales, e.rots, e.opac, e.colors, cam);
    CHECK(max_rgb_diff(rt.render(g, cam, nullptr), ref, cam.width, cam.height) <= 1.0 / 255.0 + 1e-6);
    // no positions: the identities' mean
    facefield::Gaussians gmean = rt.decode(c, nullptr);
    std::vector<float> xm = rt.positions(-1), got = gmean.means();
    CHECK(max_rel(got, xm) < 1e-6);
    // wrong code length / bad identity are argument errors, not crashes
    ff_gaussians* bad = nullptr;
    CHECK(ff_decode_code(rt.model, c.data(), int(c.size()) - 1, nullptr, 0, &bad) == FF_ERROR_INVALID_ARGUMENT);
    CHECK(ff_decode_identity(rt.model, 3, &bad) == FF_ERROR_INVALID_ARGUMENT);
    CHECK(bad == nullptr);
  }
}

}  // namespace

TEST_CASE("runtime: .ply round trip, 3DGS layout, stored raw values, file read-back") {
  ffrt::GaussianSet g = random_set(257, 3);
  for (int deg : {0, 3}) {
    const std::string bytes = ffrt::ply_bytes(g, deg);
    int found = -1;
    ffrt::GaussianSet b = ffrt::parse_ply(bytes, "test", &found);
    CHECK(found == deg);
    REQUIRE(b.size() == g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      for (int c = 0; c < 3; ++c) {
        CHECK(b.means[3 * i + c] == g.means[3 * i + c]);
        CHECK(b.log_scales[3 * i + c] == g.log_scales[3 * i + c]);
        CHECK(std::abs(b.colors[3 * i + c] - g.colors[3 * i + c]) < 1e-6);
      }
      CHECK(std::abs(b.opacities[i] - g.opacities[i]) < 1e-6);
      const double n = qnorm(&g.rotations[4 * i]);
      for (int c = 0; c < 4; ++c) CHECK(std::abs(b.rotations[4 * i + c] - g.rotations[4 * i + c] / n) < 1e-6);
    }
    // exact header: property order of the official 3DGS ply
    const size_t he = bytes.find("end_header\n") + 11;
    std::string header = bytes.substr(0, he);
    std::string expect = "ply\nformat binary_little_endian 1.0\nelement vertex 257\n";
    for (const char* p : {"x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"})
      expect += std::string("property float ") + p + "\n";
    for (int k = 0; k < (deg ? 45 : 0); ++k) expect += "property float f_rest_" + std::to_string(k) + "\n";
    for (const char* p : {"opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"})
      expect += std::string("property float ") + p + "\n";
    expect += "end_header\n";
    CHECK(header == expect);
    CHECK(bytes.size() - he == g.size() * 4 * (deg ? 62 : 17));
    // raw values: logit opacity, log scale, SH DC
    std::vector<float> rec(deg ? 62 : 17);
    std::memcpy(rec.data(), bytes.data() + he, rec.size() * 4);
    CHECK(rec[3] == 0.f);
    CHECK(std::abs(rec[6] - (g.colors[0] - 0.5) / ffrt::kSH_C0) < 1e-5);
    if (deg) CHECK(rec[9] == 0.f);  // f_rest padding
    const float opacity_raw = rec[deg ? 9 + 45 : 9];
    CHECK(std::abs(opacity_raw - std::log(g.opacities[0] / (1 - g.opacities[0]))) < 1e-4);
  }
  // the file: stored records by name, and read back
  const std::string dir = ff::testing::temp_dir("runtime_ply");
  ffrt::write_ply(dir + "/rt.ply", g, 0);
  ff::testing::PlyRecords t = ff::testing::ply_records(dir + "/rt.ply");
  CHECK(t.rows == g.size());
  CHECK(t.column("scale_1") >= 0);
  CHECK(t.at(0, "scale_1") == g.log_scales[1]);
  ffrt::GaussianSet e = ffrt::read_ply(dir + "/rt.ply");
  REQUIRE(e.size() == g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    CHECK(e.means[3 * i] == g.means[3 * i]);
    CHECK(std::abs(e.opacities[i] - g.opacities[i]) < 1e-5);
    CHECK(std::abs(e.colors[3 * i + 2] - g.colors[3 * i + 2]) < 1e-5);
  }
  // ascii and other property types / orders, with an extra property, are read too
  std::string ascii = "ply\nformat ascii 1.0\ncomment test\nelement vertex 2\nproperty double rot_0\nproperty float x\n"
                      "property float y\nproperty float z\nproperty uchar binding_0\nproperty float f_dc_0\n"
                      "property float f_dc_1\nproperty float f_dc_2\nproperty float opacity\nproperty float scale_0\n"
                      "property float scale_1\nproperty float scale_2\nproperty float rot_1\nproperty float rot_2\n"
                      "property float rot_3\nend_header\n1 0.1 0.2 0.3 7 0 0 0 0 -3 -3 -3 0 0 0\n"
                      "0.5 1 2 3 9 1 1 1 2 -2 -2 -2 0.5 0 0\n";
  ffrt::GaussianSet a = ffrt::parse_ply(ascii, "ascii");
  REQUIRE(a.size() == 2);
  CHECK(a.means[4] == 2.f);
  CHECK(std::abs(a.opacities[0] - 0.5f) < 1e-6);
  CHECK(a.rotations[4] == 0.5f);
  CHECK(std::abs(a.colors[3] - float(0.5 + ffrt::kSH_C0)) < 1e-6);
  // refusals: truncated body, missing property, foreign header
  const std::string good = ffrt::ply_bytes(g, 0);
  CHECK_THROWS_WITH_AS(ffrt::parse_ply(good.substr(0, good.size() - 5), "t.ply"), doctest::Contains("truncated"),
                       ffrt::Error);
  CHECK_THROWS_AS(ffrt::parse_ply("ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nend_header\n",
                                  "x.ply"),
                  ffrt::Error);
  CHECK_THROWS_AS(ffrt::parse_ply("PK\x03\x04 not a ply", "zip"), ffrt::Error);
  std::filesystem::remove_all(dir);
}

// the y-down .ply (runtime/formats.h): the file holds the world turned 180° about x, says so, and reads back as the
// canonical set; seen by a camera turned alike, the stored (turned) Gaussians render as the originals
TEST_CASE("runtime: .ply with up -y (COLMAP-style viewers): stored turned, read back canonical, same image") {
  const ffrt::GaussianSet g = random_set(400, 11);
  const std::string bytes = ffrt::ply_bytes(g, 3, true);
  CHECK(bytes.find(std::string("\n") + ffrt::kPlyYDownComment) != std::string::npos);
  int deg = -1;
  const ffrt::GaussianSet back = ffrt::parse_ply(bytes, "down.ply", &deg);
  CHECK(deg == 3);
  REQUIRE(back.size() == g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    for (int c = 0; c < 3; ++c) CHECK(back.means[3 * i + c] == g.means[3 * i + c]);
    const double n = qnorm(&g.rotations[4 * i]);
    for (int c = 0; c < 4; ++c) CHECK(std::abs(back.rotations[4 * i + c] - g.rotations[4 * i + c] / n) < 1e-6);
  }
  // what a viewer sees: the same bytes without the comment (same length, so the body stays where it is)
  std::string foreign = bytes;
  const size_t at = foreign.find(ffrt::kPlyYDownComment);
  foreign.replace(at, std::strlen(ffrt::kPlyYDownComment), "comment elsewhere  xx y");
  const ffrt::GaussianSet turned = ffrt::parse_ply(foreign, "viewer");
  CHECK(turned.means[1] == -g.means[1]);
  CHECK(turned.means[2] == -g.means[2]);
  CHECK(turned.means[0] == g.means[0]);
  auto render = [](const ffrt::GaussianSet& s, const float* V) {
    std::vector<float> sc(s.log_scales.size());
    for (size_t i = 0; i < sc.size(); ++i) sc[i] = std::exp(s.log_scales[i]);
    ff_gaussians* h = nullptr;
    REQUIRE(ff_gaussians_create(int(s.size()), s.means.data(), sc.data(), s.rotations.data(), s.opacities.data(),
                                s.colors.data(), &h) == FF_OK);
    ff_renderer* r = nullptr;
    REQUIRE(ff_renderer_create(1, &r) == FF_OK);
    ff_camera cam = {{0}, 300, 300, 48, 40, 96, 80};
    std::memcpy(cam.viewmat, V, sizeof cam.viewmat);
    std::vector<uint8_t> img(96 * 80 * 4);
    REQUIRE(ff_render(r, h, &cam, nullptr, img.data(), 0) == FF_OK);
    ff_renderer_free(r);
    ff_gaussians_free(h);
    return img;
  };
  const float V[16] = {1, 0, 0, 0.01f, 0, 1, 0, -0.02f, 0, 0, 1, 0.1f, 0, 0, 0, 1};
  const float Vt[16] = {1, 0, 0, 0.01f, 0, -1, 0, -0.02f, 0, 0, -1, 0.1f, 0, 0, 0, 1};  // V · diag(1, −1, −1, 1)
  const std::vector<uint8_t> a = render(g, V), b = render(turned, Vt);
  int worst = 0, covered = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
    covered += (i % 4 == 3 && a[i] > 0);
  }
  CHECK(covered > 500);
  CHECK(worst <= 1);
}

TEST_CASE("runtime: view-dependent colours (SH): .ply and .ffpk keep them, up -y turns them, ff_render = engine") {
  ffrt::GaussianSet g = random_set(300, 21);
  g.sh_rest.assign(g.size() * ffrt::kShRest * 3, 0.f);
  {
    uint64_t i = 0;
    for (float& v : g.sh_rest) v = float(0.3 * (rng::uniform_at(22, i++) - 0.5));
  }
  // .ply SH-3: f_rest channel-major, read back bitwise; the DC term is not clamped when SH is present
  g.colors[0] = -0.2f;
  int deg = -1;
  const ffrt::GaussianSet back = ffrt::parse_ply(ffrt::ply_bytes(g, 3), "sh.ply", &deg);
  CHECK(deg == 3);
  REQUIRE(back.has_sh());
  CHECK(back.sh_rest == g.sh_rest);
  CHECK(std::abs(back.colors[0] + 0.2f) < 1e-6);
  {  // the file's own order: f_rest_(c·15 + k) of Gaussian 0 is sh_rest[0, k, c]
    const std::string b = ffrt::ply_bytes(g, 3);
    const size_t body = b.find("end_header\n") + 11;
    float rec[62];
    std::memcpy(rec, b.data() + body, sizeof rec);
    CHECK(rec[9 + 2 * 15 + 4] == g.sh_rest[4 * 3 + 2]);
    CHECK(rec[9 + 1 * 15 + 0] == g.sh_rest[0 * 3 + 1]);
  }
  CHECK_THROWS_WITH_AS(ffrt::ply_bytes(g, 0), doctest::Contains("view-dependent"), ffrt::Error);
  // the SH-3 layout's 45 zeros read back as no SH
  CHECK_FALSE(ffrt::parse_ply(ffrt::ply_bytes(random_set(5, 3), 3), "zeros.ply").has_sh());
  // .ffpk kind 1 keeps them
  const ffrt::GaussianSet fromp = ffrt::gaussians_from_pack(ffrt::parse_pack(ffrt::pack_bytes(ffrt::pack_from_gaussians(g)), "p"), "p");
  CHECK(fromp.sh_rest == g.sh_rest);
  g.colors[0] = 0.4f;
  // up −y: a viewer that does not turn the file back sees the turned world with colours turned alike (the sign
  // table of turn_sh_about_x): colour along the turned direction = colour along the original one
  {
    std::string foreign = ffrt::ply_bytes(g, 3, true);
    const size_t at = foreign.find(ffrt::kPlyYDownComment);
    foreign.replace(at, std::strlen(ffrt::kPlyYDownComment), "comment elsewhere  xx y");
    const ffrt::GaussianSet turned = ffrt::parse_ply(foreign, "viewer");
    const ffrt::GaussianSet canon = ffrt::parse_ply(ffrt::ply_bytes(g, 3, true), "down.ply");
    double worst = 0, worst_canon = 0;
    uint64_t i = 100;
    for (size_t k = 0; k < g.size(); ++k) {
      float d[3] = {float(rng::normal_at(5, i++)), float(rng::normal_at(5, i++)), float(rng::normal_at(5, i++))};
      const float n = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      for (float& x : d) x /= n;
      const float dt[3] = {d[0], -d[1], -d[2]};
      float a[3], b[3], c[3];
      ffrt::sh_color(g, k, d, a);
      ffrt::sh_color(turned, k, dt, b);
      ffrt::sh_color(canon, k, d, c);
      for (int ch = 0; ch < 3; ++ch)
        worst = std::max(worst, double(std::abs(a[ch] - b[ch]))), worst_canon = std::max(worst_canon, double(std::abs(a[ch] - c[ch])));
    }
    CHECK(worst < 1e-5);
    CHECK(worst_canon < 1e-5);
  }
  // ShRotation: a set turned by R shows along R·d the colours it showed along d
  for (int trial = 0; trial < 5; ++trial) {
    uint64_t i = 1000 + uint64_t(trial) * 100;
    std::array<double, 4> q{rng::normal_at(6, i++), rng::normal_at(6, i++), rng::normal_at(6, i++), rng::normal_at(6, i++)};
    const double qn = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    for (double& x : q) x /= qn;
    const std::array<double, 9> R = quat_to_mat(q);
    const ffrt::ShRotation rot(R.data());
    ffrt::GaussianSet turned = g;
    for (size_t k = 0; k < g.size(); ++k) rot.apply(&g.sh_rest[k * 45], &turned.sh_rest[k * 45]);
    double worst = 0;
    for (size_t k = 0; k < g.size(); ++k) {
      float d[3] = {float(rng::normal_at(7, i++)), float(rng::normal_at(7, i++)), float(rng::normal_at(7, i++))};
      const float n = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      for (float& x : d) x /= n;
      float Rd[3];
      for (int r = 0; r < 3; ++r) Rd[r] = float(R[size_t(r) * 3] * d[0] + R[size_t(r) * 3 + 1] * d[1] + R[size_t(r) * 3 + 2] * d[2]);
      float a[3], b[3];
      ffrt::sh_color(g, k, d, a);
      ffrt::sh_color(turned, k, Rd, b);
      for (int ch = 0; ch < 3; ++ch) worst = std::max(worst, double(std::abs(a[ch] - b[ch])));
    }
    INFO("trial ", trial);
    CHECK(worst < 1e-5);
  }
  {  // the identity leaves the coefficients as they are
    const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    float out[45];
    ffrt::ShRotation(I).apply(g.sh_rest.data(), out);
    for (int k = 0; k < 45; ++k) CHECK(std::abs(out[k] - g.sh_rest[size_t(k)]) < 1e-6);
  }
  // ff_render of the loaded file evaluates the SH for its camera as the engine's renderer does
  const std::string dir = ff::testing::temp_dir("runtime_sh");
  ffrt::write_ply(dir + "/sh.ply", g);
  ff_gaussians* h = nullptr;
  REQUIRE(ff_gaussians_load((dir + "/sh.ply").c_str(), &h) == FF_OK);
  facefield::Gaussians hold(h);
  ff_renderer* r = nullptr;
  REQUIRE(ff_renderer_create(1, &r) == FF_OK);
  Context ctx(1, 2);
  for (float yaw : {0.f, 0.6f}) {
    ff_camera cam{};
    const float cy = std::cos(yaw), sy = std::sin(yaw);
    const float V[16] = {cy, 0, -sy, 1.2f * sy, 0, 1, 0, 0.01f, sy, 0, cy, 1.2f * (1 - cy) + 0.05f, 0, 0, 0, 1};
    std::memcpy(cam.viewmat, V, sizeof V);
    cam.fx = cam.fy = 400, cam.cx = 48, cam.cy = 40, cam.width = 96, cam.height = 80;
    std::vector<float> img(size_t(3) * 96 * 80), alpha(96 * 80);
    REQUIRE(ff_render_float(r, h, &cam, nullptr, img.data(), alpha.data()) == FF_OK);
    // the engine: SH [N,16,3] with the DC from the colours
    const std::vector<float> sh = ffrt::sh_coefficients(g);
    std::vector<float> sc(g.log_scales.size());
    for (size_t k = 0; k < sc.size(); ++k) sc[k] = std::exp(g.log_scales[k]);
    splat::RenderParams p;
    p.num_gaussians = int(g.size()), p.width = 96, p.height = 80;
    p.means = g.means.data(), p.scales = sc.data(), p.rotations = g.rotations.data(), p.opacities = g.opacities.data();
    p.sh = sh.data(), p.sh_degree = 3, p.sh_coeffs = 16;
    p.viewmats = cam.viewmat;
    const float intr[4] = {cam.fx, cam.fy, cam.cx, cam.cy};
    p.intrinsics = intr;
    std::vector<float> ref(img.size());
    p.image = ref.data();
    splat::RenderState st;
    splat::render_fwd(ctx, p, st);
    double d = 0, covered = 0;
    for (size_t k = 0; k < img.size(); ++k) d = std::max(d, double(std::abs(img[k] - ref[k])));
    for (float a : alpha) covered += a > 0.5f;
    INFO("yaw ", yaw, ": max |runtime − engine| = ", d);
    CHECK(covered > 300);
    CHECK(d < 1e-4);
  }
  ff_renderer_free(r);
}

TEST_CASE("runtime: .splat round trip (32-byte records, importance order, quantisation)") {
  ffrt::GaussianSet g = random_set(300, 4);
  const std::string b = ffrt::splat_bytes(g);
  REQUIRE(b.size() == 32 * g.size());
  ffrt::GaussianSet r = ffrt::parse_splat(b, "t.splat");
  REQUIRE(r.size() == g.size());
  // records are sorted by descending exp(Σ log s)·opacity; match each back to its source by position
  double prev = 1e300;
  for (size_t j = 0; j < r.size(); ++j) {
    size_t i = 0;
    while (i < g.size() && !(g.means[3 * i] == r.means[3 * j] && g.means[3 * i + 1] == r.means[3 * j + 1])) ++i;
    REQUIRE(i < g.size());
    const double gi = std::exp(double(g.log_scales[3 * i]) + g.log_scales[3 * i + 1] + g.log_scales[3 * i + 2]) *
                      g.opacities[i];
    CHECK(gi <= prev);
    prev = gi;
    for (int c = 0; c < 3; ++c) {
      CHECK(std::abs(std::exp(r.log_scales[3 * j + c]) / std::exp(g.log_scales[3 * i + c]) - 1) < 1e-6);
      CHECK(std::abs(r.colors[3 * j + c] - g.colors[3 * i + c]) <= 0.5 / 255 + 1e-6);
    }
    CHECK(std::abs(r.opacities[j] - g.opacities[i]) <= 0.5 / 255 + 1e-6);
    const double n = qnorm(&g.rotations[4 * i]);
    for (int c = 0; c < 4; ++c)  // ±0.5/128 rounding, 1/128 where q·128+128 reaches 256 and clamps to 255
      CHECK(std::abs(r.rotations[4 * j + c] - g.rotations[4 * i + c] / n) <= 1.0 / 128 + 1e-6);
    // the byte layout: RGBA then (w,x,y,z)·128+128
    const uint8_t* u = reinterpret_cast<const uint8_t*>(b.data() + 32 * j + 24);
    CHECK(u[3] == uint8_t(std::nearbyint(g.opacities[i] * 255.0)));
    CHECK(u[4] == uint8_t(std::nearbyint(std::min(255.0, g.rotations[4 * i] / n * 128 + 128))));
  }
  CHECK_THROWS_WITH_AS(ffrt::parse_splat(b.substr(0, 100), "t.splat"), doctest::Contains("multiple of 32"), ffrt::Error);
}

TEST_CASE("runtime: identity packs refuse truncated, corrupt, foreign and newer files") {
  ffrt::GaussianSet g = random_set(40, 5);
  const std::string b = ffrt::pack_bytes(ffrt::pack_from_gaussians(g));
  ffrt::GaussianSet r = ffrt::gaussians_from_pack(ffrt::parse_pack(b, "p"), "p");
  CHECK(r.means == g.means);
  CHECK(r.log_scales == g.log_scales);
  CHECK(r.rotations == g.rotations);
  CHECK(r.opacities == g.opacities);
  CHECK(r.colors == g.colors);
  for (size_t cut : {size_t(3), size_t(12), size_t(40), b.size() / 2, b.size() - 1})
    CHECK_THROWS_AS(ffrt::parse_pack(b.substr(0, cut), "p"), ffrt::Error);
  std::string c = b;
  c[c.size() / 2] ^= 1;
  CHECK_THROWS_WITH_AS(ffrt::parse_pack(c, "p"), doctest::Contains("checksum"), ffrt::Error);
  std::string v = b;
  v[8] = 3;
  CHECK_THROWS_WITH_AS(ffrt::parse_pack(v, "p"), doctest::Contains("version"), ffrt::Error);
  CHECK_THROWS_WITH_AS(ffrt::parse_model_file("GIF89a......", "p"), doctest::Contains("neither"), ffrt::Error);
  CHECK_THROWS_AS(ffrt::parse_pack(b + "x", "p"), ffrt::Error);  // trailing bytes
}

TEST_CASE("runtime: version-1 packs and checkpoints still open; v2 packs carry every dtype; wrong kinds refused by name") {
  // tests/reference/container_v1_fixtures.py (the v1 layouts of runtime/container.h)
  const std::string v1_pack = read_file(ff::testing::fixture_path("container_v1.ffpk"));
  REQUIRE(v1_pack[8] == 1);
  const ffrt::Pack p = ffrt::parse_model_file(v1_pack, "container_v1.ffpk");
  CHECK(p.kind == ffrt::kPackGaussians);
  CHECK(p.meta.find("\"gaussians\":2") != std::string::npos);
  REQUIRE(p.arrays.size() == 9);
  const ffrt::GaussianSet g = ffrt::load_gaussians(ff::testing::fixture_path("container_v1.ffpk"));
  REQUIRE(g.size() == 2);
  CHECK(g.means == std::vector<float>{0, 0, 1, 0.5f, -0.5f, 2});
  CHECK(g.opacities == std::vector<float>{0.75f, 0.25f});
  CHECK(p.get("extra/f64", "p").dtype == ffrt::kF64);
  CHECK(p.get("extra/i32", "p").floats() == std::vector<float>{-7, 9});
  CHECK(p.get("names", "p").data == "ann\nb");
  // re-written as v2 (every dtype kept) and read back
  const std::string v2 = ffrt::pack_bytes(p);
  CHECK(v2[8] == 2);
  const ffrt::Pack q = ffrt::parse_pack(v2, "v2");
  CHECK(q.kind == p.kind);
  CHECK(q.meta == p.meta);
  REQUIRE(q.arrays.size() == p.arrays.size());
  for (size_t i = 0; i < p.arrays.size(); ++i) {
    CHECK(q.arrays[i].name == p.arrays[i].name);
    CHECK(q.arrays[i].dtype == p.arrays[i].dtype);
    CHECK(q.arrays[i].shape == p.arrays[i].shape);
    CHECK(q.arrays[i].data == p.arrays[i].data);
  }
  // a v1 checkpoint through the runtime: parameters, buffers and layout, f64 → f32, config as meta
  const std::string v1_ck = read_file(ff::testing::fixture_path("container_v1.ffck"));
  const ffrt::Pack c = ffrt::parse_model_file(v1_ck, "container_v1.ffck");
  CHECK(c.kind == ffrt::kPackModel);
  CHECK(c.meta == "{\"steps\": 1234, \"model\": {\"K\": 2}}");
  REQUIRE(c.arrays.size() == 3);
  CHECK(c.get("x", "c").floats() == std::vector<float>{0.5f, -1, 2, 3.25f, -0.125f, 8});
  CHECK(c.get("G.filter", "c").dtype == ffrt::kF32);
  CHECK(c.get("G.filter", "c").floats() == std::vector<float>{0.25f, -4.5f});
  CHECK(c.find("layout/row_uv") != nullptr);
  // the wrong reader names what the file is
  CHECK_THROWS_WITH_AS(ffrt::parse_pack(v1_ck, "'m.ffck'"),
                       doctest::Contains("'m.ffck' is not a facefield identity pack (bad magic: its first bytes are "
                                         "not \"FFPACK\\r\\n\"); it is a facefield checkpoint (.ffck)"),
                       ffrt::Error);
  CHECK_THROWS_WITH_AS(ffrt::parse_checkpoint(v2, "'p.ffpk'"),
                       doctest::Contains("is not a facefield checkpoint (bad magic: its first bytes are not "
                                         "\"FFCKPT\\r\\n\"); it is a facefield identity pack (.ffpk)"),
                       ffrt::Error);
  CHECK_THROWS_WITH_AS(ffrt::parse_model_file(read_file(ff::testing::fixture_path("nn_blocks.fft")), "'t.fft'"),
                       doctest::Contains("neither"), ffrt::Error);
  // a pack kind other than 1, 2 or 3 is refused
  ffrt::Pack odd = p;
  odd.kind = 7;
  CHECK_THROWS_WITH_AS(ffrt::parse_pack(ffrt::pack_bytes(odd), "'o'"), doctest::Contains("unknown pack kind 7"),
                       ffrt::Error);
}

TEST_CASE("runtime: C API decode + render match the engine (uv placement)") {
  check_model_roundtrip(ff::testing::tiny_model("uv"));
}

TEST_CASE("runtime: C API decode + render match the engine (seed placement, larger generator)") {
  train::ModelConfig m = ff::testing::tiny_model("seed");
  m.code_dim = 10;
  m.z_dim = 12;
  m.feat_dim = 16;
  m.tex_res = 16;
  m.K = 3;
  m.hidden = 24;
  m.channel_base = 256;
  m.channel_max = 40;
  m.channel_min = 12;
  m.mapping_layers = 3;
  check_model_roundtrip(m);
}

TEST_CASE("runtime: checkpoints open directly when they store the layout; refused (UNSUPPORTED) without") {
  Context ctx(6, 2);
  auto ds = ff::testing::tiny_scene(2, 2);
  auto model = make_model(ctx, ff::testing::tiny_model("uv"), *ds);
  const std::string dir = ff::testing::temp_dir("runtime_ckpt");
  train::Checkpoint ck;
  ck.config_json = "{}";
  for (auto& p : model->named_parameters()) ck.tensors.emplace_back("param/" + p.name, p.tensor);
  for (auto& b : model->named_buffers()) ck.tensors.emplace_back("buffer/" + b.name, b.tensor);
  ck.tensors.emplace_back("adam.m/E", model->E);
  train::write_checkpoint(dir + "/no_layout.ffck", ck);
  ff_model* m = nullptr;
  CHECK(ff_model_open((dir + "/no_layout.ffck").c_str(), 1, &m) == FF_ERROR_UNSUPPORTED);
  CHECK(std::string(ff_last_error()).find("layout") != std::string::npos);
  CHECK(m == nullptr);
  const auto& L = model->layout();
  ck.tensors.emplace_back("layout/row_uv", from_vector<float>(ctx, L.row_uv, {int64_t(L.rows), 2}));
  train::write_checkpoint(dir + "/with_layout.ffck", ck);
  REQUIRE(ff_model_open((dir + "/with_layout.ffck").c_str(), 1, &m) == FF_OK);
  ff_gaussians* g = nullptr;
  REQUIRE(ff_decode_identity(m, 1, &g) == FF_OK);
  facefield::Gaussians hold(g);
  Tensor idx = from_vector<int64_t>(ctx, {1}, {1});
  Decoded e = engine_decode(*model, model->code_rows(idx), model->positions(1));
  CHECK(max_rel(runtime_read(hold).colors, e.colors) < 1e-4);
  ff_model_close(m);
  // the model pack written to a file opens the same way, and a corrupt checkpoint is a format error
  ffrt::write_pack(dir + "/m.ffpk", train::model_pack(*model, subject_names(*ds), {}, {}, {1}));
  REQUIRE(ff_model_open((dir + "/m.ffpk").c_str(), 1, &m) == FF_OK);
  ff_model_info info;
  REQUIRE(ff_model_get_info(m, &info) == FF_OK);
  CHECK(info.num_identities == 1);  // the subset
  ff_gaussians* g1 = nullptr;
  REQUIRE(ff_decode_identity(m, 0, &g1) == FF_OK);
  facefield::Gaussians hold1(g1);
  CHECK(max_rel(runtime_read(hold1).colors, e.colors) < 1e-4);
  ff_model_close(m);
  std::string bytes = read_file(dir + "/with_layout.ffck");
  bytes[bytes.size() - 20] ^= 7;
  m = nullptr;
  CHECK(ff_model_open_memory(bytes.data(), bytes.size(), 1, &m) == FF_ERROR_FORMAT);
  std::filesystem::remove_all(dir);
}

TEST_CASE("runtime: bench scene (36,084 Gaussians @512x512) renders as the engine's splat to <= 1/255") {
  Context ctx(1, 2);
  const int N = 36084, W = 512, H = 512;
  std::vector<float> m, s, q, o, c;
  uint64_t i = 0, seed = 7;
  auto U = [&](double a, double b) { return float(a + (b - a) * rng::uniform_at(seed, i++)); };
  auto G = [&]() { return float(rng::normal_at(seed, i++)); };
  for (int n = 0; n < N; ++n) {  // bench_splat.cpp / bench_runtime.c face scene
    float x, y, r2;
    do {
      x = U(-1, 1), y = U(-1, 1);
      r2 = x * x + y * y;
    } while (r2 > 1);
    m.insert(m.end(), {0.1f * x, 0.13f * y, 1.0f - 0.08f * (1 - r2)});
    float base = 0.002f * std::exp(0.3f * G());
    s.insert(s.end(), {base * U(0.7, 1.3), base * U(0.7, 1.3), base * U(0.2, 0.5)});
    q.insert(q.end(), {G(), G(), G(), G()});
    o.push_back(U(0.5, 1.0));
    c.insert(c.end(), {U(0.2, 0.9), U(0.1, 0.7), U(0.1, 0.6)});
  }
  ff_camera cam{};
  cam.viewmat[0] = cam.viewmat[5] = cam.viewmat[10] = cam.viewmat[15] = 1;
  cam.fx = cam.fy = 3.0f * W, cam.cx = W / 2.0f, cam.cy = H / 2.0f, cam.width = W, cam.height = H;
  ff_gaussians* g = nullptr;
  REQUIRE(ff_gaussians_create(N, m.data(), s.data(), q.data(), o.data(), c.data(), &g) == FF_OK);
  facefield::Gaussians hold(g);
  ff_renderer* r = nullptr;
  REQUIRE(ff_renderer_create(2, &r) == FF_OK);
  std::vector<uint8_t> img(size_t(W) * H * 4);
  REQUIRE(ff_render(r, g, &cam, nullptr, img.data(), 0) == FF_OK);
  std::vector<float> fl(size_t(3) * W * H), al(size_t(W) * H);
  REQUIRE(ff_render_float(r, g, &cam, nullptr, fl.data(), al.data()) == FF_OK);
  ff_renderer_free(r);
  std::vector<float> ref = engine_render(ctx, m, s, q, o, c, cam);
  const double d = max_rgb_diff(img, ref, W, H);
  INFO("max |runtime u8 − engine| = ", d * 255, "/255");
  CHECK(d <= 1.0 / 255.0 + 1e-6);
  double fd = 0;
  for (size_t k = 0; k < fl.size(); ++k) fd = std::max(fd, double(std::abs(fl[k] - ref[k])));
  INFO("max |runtime float − engine| = ", fd);
  MESSAGE("bench scene: max |runtime u8 − engine| = ", d * 255, "/255, float ", fd);
  CHECK(fd < 1e-3);
}
TEST_CASE("runtime: a checkpoint written by the trainer opens directly (layout stored) and decodes as the engine") {
  Context ctx(3, 2);
  std::string dir = testing::temp_dir("trainer_ckpt");
  auto cfg = testing::tiny_train(dir);
  cfg.heldout_views = "none";
  train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 3), nullptr);
  for (int i = 0; i < 2; ++i) REQUIRE(tr.step().ok);
  std::string path = dir + "/trained.ffck";
  tr.save_checkpoint(path);
  ff_model* m = nullptr;
  REQUIRE_MESSAGE(ff_model_open(path.c_str(), 1, &m) == FF_OK, ff_last_error());
  ff_gaussians* g = nullptr;
  REQUIRE(ff_decode_identity(m, 1, &g) == FF_OK);
  facefield::Gaussians hold(g);
  train::IdentityModel& model = tr.model();
  NoGrad ng(ctx);
  Decoded e = engine_decode(model, model.code_rows(from_vector<int64_t>(ctx, {1}, {1})), model.positions(1));
  CHECK(max_rel(runtime_read(hold).colors, e.colors) < 1e-4);
  ff_model_close(m);
}
#endif  // FF_HAVE_RUNTIME
