// tests/apps/test_animator.cpp — apps/common/animator.h on a small model built on the built-in head model: the neutral
// frame renders exactly like the static identity (bitwise), an open jaw changes the lower face and not the rest,
// a model file without a head-model layout is refused; the runtime's posing from the rig file (runtime/rig.h,
// ff_rig_pose) equals the engine's (train/animation.h HeadRig + pose_gaussians_host) for random parameters, and so
// do the renders (≤ 1/255), also with a non-zero expression correction (train/model.h) carried in the rig file;
// truncated and foreign rig files are refused naming the file; the rig file round-trips; its meta is valid JSON
// whatever the model file's path holds.
#include <doctest/doctest.h>

#include <filesystem>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "apps/common/animator.h"
#include "core/check.h"
#include "flame/headmodel.h"
#include "runtime/binding.h"
#include "train/data/preprocess.h"
#include "tests/train/train_test_util.h"
#include "train/model_file.h"

using namespace ff;


namespace {
// a model pack of two identities on the built-in head (random shapes), naming the head model; returns its path
// (correction: a random non-zero expression correction, train/model.h)
std::string write_test_model(Context& ctx, const std::filesystem::path& dir, bool correction = false) {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  // two identities on the built-in head (random shapes), a model pack naming the head model
  std::vector<flame::Mesh> faces;
  data::PreprocessOptions po;
  po.subdivisions = 0;
  for (int s = 0; s < 2; ++s) {
    std::vector<double> beta(8);
    for (int i = 0; i < 8; ++i) beta[size_t(i)] = std::sin(1.3 * i + 2.0 * s);
    flame::FlameInput<double> in;
    in.n_shape = 8;
    in.shape = beta.data();
    flame::FlameOutput<double> out;
    flame::flame_fwd(hm, in, out, nullptr, 1);
    faces.push_back(data::build_head_meshes(hm, out.vertices, po).facemask[0]);
  }
  train::ModelConfig cfg = testing::tiny_model();
  if (correction) cfg.correction_dim = hm.E + 3;
  const train::SurfaceLayout lay = train::build_layout(faces, cfg);
  std::vector<std::vector<float>> xyz = {lay.place(faces[0]), lay.place(faces[1])};
  std::vector<float> ref(xyz[0].size());
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = 0.5f * (xyz[0][i] + xyz[1][i]);
  train::IdentityModel model(ctx, cfg, lay, xyz, ref);
  if (correction) {
    NoGrad ng(ctx);
    model.corr_color.copy_(rand(ctx, model.corr_color.shape(), DType::F32, Device::cpu(), -0.2, 0.2));
    model.corr_offset.copy_(rand(ctx, model.corr_offset.shape(), DType::F32, Device::cpu(), -2e-3, 2e-3));
  }
  const std::string path = (dir / "m.ffpk").string();
  ffrt::write_pack(path, train::model_pack(model, {"a", "b"}, {}, {"builtin", flame::head_model_content_id(hm)}));
  return path;
}
std::filesystem::path test_dir(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / (std::string(name) + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}
}  // namespace

TEST_CASE("animator: neutral frame renders like the static identity, the jaw moves the lower face") {
  Context ctx(1, 2);
  const auto dir = test_dir("ff_test_animator_");
  const std::string path = write_test_model(ctx, dir);

  auto m = apps::open_model(ctx, path, 2);
  const flame::FlameModel head = train::find_head_model(m->file);
  const apps::Animator anim(*m, head, m->rt.code(1), m->rt.positions(1), 2);
  const Camera cam = frontal_camera(anim.neutral_means(), 96, 96);
  const float bg[3] = {0, 0, 0};
  const auto still = m->rt.render(m->rt.identity(1), runtime_camera(cam), bg);
  const auto neutral = m->rt.render(anim.pose(train::RigPose{}), runtime_camera(cam), bg);
  CHECK(neutral == still);

  train::RigPose jaw;
  jaw.pose[3 * flame::kJaw] = 0.3;
  const auto open = m->rt.render(anim.pose(jaw), runtime_camera(cam), bg);
  // rows that changed: some in the lower half, none in the top quarter
  int changed_low = 0, changed_top = 0;
  for (int y = 0; y < cam.height; ++y)
    for (int x = 0; x < cam.width; ++x) {
      const size_t i = 4 * (size_t(y) * size_t(cam.width) + size_t(x));
      if (std::abs(int(open[i]) - int(still[i])) + std::abs(int(open[i + 1]) - int(still[i + 1])) > 6) {
        if (y >= cam.height / 2) ++changed_low;
        if (y < cam.height / 4) ++changed_top;
      }
    }
  CHECK(changed_low > 20);
  CHECK(changed_top == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("rig: the runtime's posed Gaussians and renders equal the engine's (HeadRig + pose_gaussians_host)") {
  Context ctx(1, 2);
  const auto dir = test_dir("ff_test_rig_");
  auto m = apps::open_model(ctx, write_test_model(ctx, dir), 2);
  const flame::FlameModel head = train::find_head_model(m->file);
  const apps::Animator anim(*m, head, m->rt.code(0), m->rt.positions(0), 2);
  const int G = anim.count();
  std::vector<float> x0(size_t(G) * 3), s0(size_t(G) * 3), q0(size_t(G) * 4), o0((size_t(G))), c0(size_t(G) * 3);
  REQUIRE(ff_gaussians_read(anim.neutral().g, x0.data(), s0.data(), q0.data(), o0.data(), c0.data()) == FF_OK);
  const train::GaussianBinding b = train::GaussianBinding::from_layout(m->file.model->layout(), anim.rig().neutral_face());
  const Camera cam = frontal_camera(anim.neutral_means(), 128, 128);
  const float bg[3] = {0.2f, 0.1f, 0.3f};
  uint64_t state = 12345;
  auto uniform = [&](double a, double c) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return a + (c - a) * double(state >> 11) * 0x1.0p-53;
  };
  int rendered_changes = 0;
  for (int trial = 0; trial < 6; ++trial) {
    train::RigPose p;
    p.expression.resize(size_t(head.E));
    for (double& e : p.expression) e = uniform(-0.3, 0.8);
    for (int j = 0; j < 5; ++j)
      for (int k = 0; k < 3; ++k) p.pose[size_t(3 * j + k)] = uniform(-0.25, 0.25);
    p.pose[3 * flame::kJaw] = uniform(0.0, 0.35);
    double r[3] = {uniform(-0.3, 0.3), uniform(-0.3, 0.3), uniform(-0.3, 0.3)};
    double R[9];
    flame::rodrigues(r, R);
    for (int i = 0; i < 9; ++i) p.rotation[size_t(i)] = R[i];
    for (int i = 0; i < 3; ++i) p.translation[size_t(i)] = uniform(-0.02, 0.02);
    CAPTURE(trial);
    // the engine: HeadRig (flame/flame.h in f64 on the full head) + the binding in f64
    std::vector<float> x = x0, q = q0, sc = s0;
    train::pose_gaussians_host(b, anim.rig().posed_face(p), G, x.data(), q.data(), sc.data(), 1);
    // the runtime: the rig file's float forward
    const apps::Gaussians g = anim.pose(p);
    std::vector<float> rx(x.size()), rs(sc.size()), rq(q.size()), ro(o0.size()), rc(c0.size());
    REQUIRE(ff_gaussians_read(g.g, rx.data(), rs.data(), rq.data(), ro.data(), rc.data()) == FF_OK);
    double dx = 0, dq = 0, ds = 0, moved = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      dx = std::max(dx, double(std::fabs(rx[i] - x[i])));
      moved = std::max(moved, double(std::fabs(x[i] - x0[i])));
      ds = std::max(ds, double(std::fabs(rs[i] - sc[i]) / sc[i]));
    }
    for (size_t i = 0; i < q.size(); ++i) dq = std::max(dq, double(std::fabs(rq[i] - q[i])));
    CHECK(moved > 1e-3);   // the parameters do move the face (metres)
    CHECK(dx < 2e-6);      // float precision on a head of ~0.1 m
    CHECK(dq < 1e-4);
    CHECK(ds < 1e-4);
    CHECK(ro == o0);
    CHECK(rc == c0);
    // renders within 1/255
    ff_gaussians* eg = nullptr;
    REQUIRE(ff_gaussians_create(G, x.data(), sc.data(), q.data(), o0.data(), c0.data(), &eg) == FF_OK);
    const apps::Gaussians engine(eg);
    const auto a = m->rt.render(engine, runtime_camera(cam), bg), c = m->rt.render(g, runtime_camera(cam), bg);
    int worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(c[i])));
    CHECK(worst <= 1);
    const auto still = m->rt.render(anim.neutral(), runtime_camera(cam), bg);
    rendered_changes += (still != c);
  }
  CHECK(rendered_changes == 6);
  // zero parameters: the static Gaussians and render bit for bit, also through a rig file opened from disk
  const std::string rig_path = (dir / "identity.ffrig").string();
  ffrt::write_file(rig_path, anim.rig_file());
  ff_rig* rig = nullptr;
  REQUIRE(ff_rig_open(rig_path.c_str(), 2, &rig) == FF_OK);
  ff_rig_info info{};
  REQUIRE(ff_rig_get_info(rig, &info) == FF_OK);
  CHECK(info.num_gaussians == G);
  CHECK(info.has_gaussians == 1);
  CHECK(info.num_expression == head.E);
  CHECK(info.num_joints == 5);
  CHECK(info.num_faces > 0);
  ff_rig_params zero{};
  ff_gaussians* posed = nullptr;
  REQUIRE(ff_rig_pose(rig, anim.neutral().g, &zero, &posed) == FF_OK);
  const apps::Gaussians pz(posed);
  std::vector<float> zx(x0.size()), zs(s0.size()), zq(q0.size());
  REQUIRE(ff_gaussians_read(pz.g, zx.data(), zs.data(), zq.data(), nullptr, nullptr) == FF_OK);
  CHECK(zx == x0);
  CHECK(zs == s0);
  CHECK(zq == q0);
  CHECK(m->rt.render(pz, runtime_camera(cam), bg) == m->rt.render(anim.neutral(), runtime_camera(cam), bg));
  // the posed rig mesh at zero parameters is the neutral face of the engine's rig
  std::vector<float> verts(size_t(info.num_vertices) * 3);
  REQUIRE(ff_rig_posed_vertices(rig, nullptr, verts.data(), verts.size()) == FF_OK);
  const ffrt::RigData rd = ffrt::parse_rig(anim.rig_file(), "rig");
  for (int v = 0; v < info.num_vertices; ++v)
    for (int k = 0; k < 3; ++k)
      CHECK(verts[size_t(3 * v + k)] == float(anim.rig().neutral_head()[3 * size_t(rd.vertex_ids[size_t(v)]) + size_t(k)]));
  ff_rig_close(rig);
  // animate --rig-file's identity: the file's own Gaussians, posed and rendered from the file alone
  {
    const apps::RigFileIdentity fi(rig_path, 2);
    CHECK(fi.count() == G);
    CHECK(fi.neutral_means() == x0);
    fi.check_head_model(head);
    const apps::Gaussians p0 = fi.pose(train::RigPose{});
    CHECK(p0.means() == x0);
    CHECK(fi.render(p0, runtime_camera(cam), bg) == m->rt.render(anim.neutral(), runtime_camera(cam), bg));
    flame::FlameModel other = head;
    other.v_template[0] += 1e-3;
    CHECK_THROWS_WITH_AS(fi.check_head_model(other), doctest::Contains("give its head model with --head_model"),
                         ff::Error);
    ffrt::RigData without = ffrt::parse_rig(anim.rig_file(), "rig");
    without.gaussians = ffrt::GaussianSet{};
    const std::string bare = (dir / "bare.ffrig").string();
    ffrt::write_rig(bare, without);
    CHECK_THROWS_WITH_AS(apps::RigFileIdentity(bare, 1), doctest::Contains("holds no Gaussians"), ff::Error);
  }

  // truncated and foreign rig files are refused, naming the file
  const std::string bytes = anim.rig_file();
  MESSAGE("rig file of the test model: ", bytes.size(), " bytes, ", G, " Gaussians, ", info.num_vertices, " vertices");
  const std::string cut = (dir / "cut.ffrig").string();
  ffrt::write_file(cut, bytes.substr(0, bytes.size() / 2));
  CHECK(ff_rig_open(cut.c_str(), 1, &rig) == FF_ERROR_FORMAT);
  CHECK(std::string(ff_last_error()).find("cut.ffrig") != std::string::npos);
  const std::string model_path = (dir / "m.ffpk").string();
  CHECK(ff_rig_open(model_path.c_str(), 1, &rig) == FF_ERROR_FORMAT);
  CHECK(std::string(ff_last_error()).find("m.ffpk") != std::string::npos);
  CHECK(std::string(ff_last_error()).find("not a rig file") != std::string::npos);
  // a rig file is not a model
  ff_model* not_model = nullptr;
  CHECK(ff_model_open(rig_path.c_str(), 1, &not_model) == FF_ERROR_UNSUPPORTED);
  CHECK(std::string(ff_last_error()).find("rig file") != std::string::npos);
  // too many expression coefficients and a non-rotation are refused
  REQUIRE(ff_rig_open_memory(bytes.data(), bytes.size(), 1, &rig) == FF_OK);
  std::vector<float> many(size_t(head.E) + 1, 0.1f);
  ff_rig_params bad{};
  bad.expression = many.data();
  bad.num_expression = int(many.size());
  CHECK(ff_rig_pose(rig, nullptr, &bad, &posed) == FF_ERROR_INVALID_ARGUMENT);
  bad.num_expression = 0;
  bad.rotation[0] = 2;
  CHECK(ff_rig_pose(rig, nullptr, &bad, &posed) == FF_ERROR_INVALID_ARGUMENT);
  ff_rig_close(rig);
  std::filesystem::remove_all(dir);
}

TEST_CASE("animator: load_app_motion: 'photo' holds a code file's photo_pose, others are train/motion.h's; stride") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  train::RigPose photo;
  photo.expression = {0.0, 0.7};
  photo.pose[3 * flame::kJaw] = 0.15;
  const train::Motion p = apps::load_app_motion("photo", hm, 5, 2, &photo);
  REQUIRE(p.frames.size() == 3);  // frames 0, 2, 4
  for (const train::RigPose& f : p.frames) {
    CHECK(f.expression == photo.expression);
    CHECK(f.pose == photo.pose);
  }
  CHECK_THROWS_WITH_AS(apps::load_app_motion("photo", hm, 5, 1, nullptr), doctest::Contains("photo_pose"), ff::Error);
  const train::Motion talk = apps::load_app_motion("talk", hm, 12, 1, nullptr);
  const train::Motion talk3 = apps::load_app_motion("talk", hm, 12, 3, nullptr);
  REQUIRE(talk.frames.size() == 12);
  REQUIRE(talk3.frames.size() == 4);
  CHECK(talk3.frames[1].pose == talk.frames[3].pose);
  CHECK(talk3.frames[1].expression == talk.frames[3].expression);
}

TEST_CASE("rig: an expression correction reaches the rig file; the runtime's corrected Gaussians and renders equal the "
          "engine's") {
  Context ctx(1, 2);
  const auto dir = test_dir("ff_test_rig_corr_");
  auto m = apps::open_model(ctx, write_test_model(ctx, dir, true), 2);
  const train::IdentityModel& model = *m->file.model;
  REQUIRE(model.corr_color.defined());
  const flame::FlameModel head = train::find_head_model(m->file);
  const apps::Animator anim(*m, head, m->rt.code(0), m->rt.positions(0), 2);
  const ffrt::RigData rd = ffrt::parse_rig(anim.rig_file(), "rig");
  CHECK(rd.C == head.E + 3);
  CHECK(rd.corr_color == model.corr_color.to_vector<float>());
  CHECK(rd.corr_offset == model.corr_offset.to_vector<float>());
  const int G = anim.count(), C = rd.C;
  std::vector<float> x0(size_t(G) * 3), s0(size_t(G) * 3), q0(size_t(G) * 4), o0((size_t(G))), c0(size_t(G) * 3);
  REQUIRE(ff_gaussians_read(anim.neutral().g, x0.data(), s0.data(), q0.data(), o0.data(), c0.data()) == FF_OK);
  const train::GaussianBinding b = train::GaussianBinding::from_layout(model.layout(), anim.rig().neutral_face());
  const Camera cam = frontal_camera(anim.neutral_means(), 128, 128);
  const float bg[3] = {0.2f, 0.1f, 0.3f};
  const std::vector<float> wc = rd.corr_color, wn = rd.corr_offset;
  for (int trial = 0; trial < 3; ++trial) {
    CAPTURE(trial);
    train::RigPose p;
    p.expression.assign(size_t(head.E), 0.0);
    for (int e = 0; e < head.E; ++e) p.expression[size_t(e)] = 0.6 * std::sin(1.7 * e + trial);
    p.pose[3 * flame::kJaw] = 0.1 + 0.1 * trial;
    p.pose[3 * flame::kJaw + 1] = 0.03 * trial;
    // the engine: pose_gaussians_host, then the correction in f64 on the engine's posed face (train/model.h)
    std::vector<float> x = x0, q = q0, sc = s0, col = c0;
    const std::vector<double> face = anim.rig().posed_face(p);
    train::pose_gaussians_host(b, face, G, x.data(), q.data(), sc.data(), 1);
    const std::vector<double> e = model.correction_coefficients(p.expression, p.pose);
    double moved = 0, recoloured = 0;
    for (int g = 0; g < G; ++g) {
      double dn = 0;
      for (int k = 0; k < C; ++k) dn += double(wn[size_t(g * C + k)]) * e[size_t(k)];
      for (int ch = 0; ch < 3; ++ch) {
        double dc = 0;
        for (int k = 0; k < C; ++k) dc += double(wc[size_t((g * 3 + ch) * C + k)]) * e[size_t(k)];
        col[size_t(3 * g + ch)] = float(c0[size_t(3 * g + ch)] + dc);
        recoloured = std::max(recoloured, std::fabs(dc));
      }
      const int32_t* t = &b.tri[size_t(3 * g)];
      double R[9], size;
      ffrt::binding::triangle_frame(&face[size_t(3 * t[0])], &face[size_t(3 * t[1])], &face[size_t(3 * t[2])], R, &size);
      for (int i = 0; i < 3; ++i) x[size_t(3 * g + i)] = float(x[size_t(3 * g + i)] + dn * R[3 * i + 1]);
      moved = std::max(moved, std::fabs(dn));
    }
    CHECK(moved > 1e-4);
    CHECK(recoloured > 1e-2);
    const apps::Gaussians g = anim.pose(p);
    std::vector<float> rx(x.size()), rs(sc.size()), rq(q.size()), ro(o0.size()), rc(c0.size());
    REQUIRE(ff_gaussians_read(g.g, rx.data(), rs.data(), rq.data(), ro.data(), rc.data()) == FF_OK);
    double dx = 0, dc = 0;
    for (size_t i = 0; i < x.size(); ++i) dx = std::max(dx, double(std::fabs(rx[i] - x[i])));
    for (size_t i = 0; i < col.size(); ++i) dc = std::max(dc, double(std::fabs(rc[i] - col[i])));
    CHECK(dx < 2e-6);
    CHECK(dc < 1e-5);
    CHECK(ro == o0);
    ff_gaussians* eg = nullptr;
    REQUIRE(ff_gaussians_create(G, x.data(), sc.data(), q.data(), o0.data(), col.data(), &eg) == FF_OK);
    const apps::Gaussians engine(eg);
    const auto a = m->rt.render(engine, runtime_camera(cam), bg), r = m->rt.render(g, runtime_camera(cam), bg);
    int worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(r[i])));
    CHECK(worst <= 1);
  }
  // zero parameters: the neutral Gaussians bit for bit, the correction notwithstanding
  const apps::Gaussians z = anim.pose(train::RigPose{});
  std::vector<float> zx(x0.size()), zc(c0.size());
  REQUIRE(ff_gaussians_read(z.g, zx.data(), nullptr, nullptr, nullptr, zc.data()) == FF_OK);
  CHECK(zx == x0);
  CHECK(zc == c0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("rig: the rig file's meta is valid JSON naming the model file, whatever characters its path holds") {
  Context ctx(1, 2);
  const auto dir = test_dir("ff_test_rig_meta_");
  const std::filesystem::path odd = dir / "m \"quoted\" back\\slash\ttab\nline.ffpk";
  std::filesystem::rename(write_test_model(ctx, dir), odd);
  auto m = apps::open_model(ctx, odd.string(), 2);
  const apps::Animator anim(*m, train::find_head_model(m->file), m->rt.code(0), m->rt.positions(0), 2);
  const nlohmann::json meta = nlohmann::json::parse(ffrt::parse_rig(anim.rig_file(), "rig").meta);
  CHECK(meta.at("format") == "facefield rig");
  CHECK(meta.at("model") == odd.string());
  CHECK(meta.at("gaussians") == anim.count());
  // a path that is not UTF-8 (Linux allows any bytes): still valid JSON, the bad byte replaced
  const std::filesystem::path latin1 = dir / "caf\xe9.ffpk";
  std::filesystem::rename(odd, latin1);
  auto m2 = apps::open_model(ctx, latin1.string(), 2);
  const apps::Animator anim2(*m2, train::find_head_model(m2->file), m2->rt.code(0), m2->rt.positions(0), 2);
  const nlohmann::json meta2 = nlohmann::json::parse(ffrt::parse_rig(anim2.rig_file(), "rig").meta);
  CHECK(meta2.at("model").get<std::string>().find("caf") != std::string::npos);
  std::filesystem::remove_all(dir);
}
