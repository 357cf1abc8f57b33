// tests/train/test_model.cpp — identity model: layout, shapes, placement, FD gradient of the decoder head (f64).
#include <doctest/doctest.h>

#include <cmath>

#include "tests/gradcheck.h"
#include "tests/train/train_test_util.h"

using namespace ff;

namespace {
std::vector<flame::Mesh> scene_meshes(const train::InMemoryDataset& ds) {
  std::vector<flame::Mesh> m;
  for (int s = 0; s < ds.num_subjects(); ++s) m.push_back(ds.face_mesh(s));
  return m;
}

std::unique_ptr<train::IdentityModel> make_model(Context& ctx, const train::ModelConfig& cfg,
                                                 const train::InMemoryDataset& ds) {
  auto meshes = scene_meshes(ds);
  train::SurfaceLayout lay = train::build_layout(meshes, cfg);
  std::vector<std::vector<float>> xyz;
  std::vector<float> ref(size_t(lay.G) * 3, 0.f);
  for (auto& m : meshes) {
    xyz.push_back(lay.place(m));
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += xyz.back()[i] / float(meshes.size());
  }
  return std::make_unique<train::IdentityModel>(ctx, cfg, lay, xyz, ref);
}
}  // namespace

TEST_CASE("model: decode shapes and value ranges, both placements") {
  auto ds = testing::tiny_scene(2, 2);
  for (std::string placement : {"uv", "seed"}) {
    CAPTURE(placement);
    Context ctx(3, 2);
    train::ModelConfig cfg = testing::tiny_model(placement);
    auto model = make_model(ctx, cfg, *ds);
    const int A = 25, G = A * cfg.K;
    CHECK(model->layout().A == A);
    CHECK(model->layout().G == G);
    CHECK(model->xyz.shape() == Shape{2, G, 3});
    CHECK(model->codes.shape() == Shape{2, cfg.code_dim});
    Tensor idx = from_vector<int64_t>(ctx, {1, 0}, {2});
    train::GaussianBatch gb = model->decode(model->code_rows(idx));
    CHECK(gb.texture.shape() == Shape{2, cfg.feat_dim, cfg.tex_res, cfg.tex_res});
    CHECK(gb.colors.shape() == Shape{2, G, 3});
    CHECK(gb.log_scales.shape() == Shape{2, G, 3});
    CHECK(gb.rotations.shape() == Shape{2, G, 4});
    CHECK(gb.opacities.shape() == Shape{2, G});
    auto c = gb.colors.to_vector<float>();
    auto o = gb.opacities.to_vector<float>();
    for (float v : c) REQUIRE((v > 0 && v < 1));
    for (float v : o) REQUIRE((v > 0 && v < 1));
    // gradients reach every parameter group
    backward(sum(gb.colors) + sum(gb.log_scales) + sum(gb.rotations) + sum(gb.opacities));
    for (auto& p : model->named_parameters())
      if (p.name != "xyz") CHECK_MESSAGE(p.tensor.grad().defined(), p.name);
    // the codes' gradient is zero on no row: both subjects were decoded
    CHECK(model->parameter_count() > 0);
  }
}

TEST_CASE("model: seed placement puts Gaussian g at subdivided vertex g; uv placement stays near its anchor") {
  auto ds = testing::tiny_scene(1, 1);
  flame::Mesh mesh = ds->face_mesh(0);
  train::ModelConfig cfg = testing::tiny_model("seed");
  cfg.K = 4;  // 100 Gaussians > 25 vertices: needs a subdivision level (25 + 56 edges = 81 < 100 → two levels)
  train::SurfaceLayout seed = train::build_layout({mesh}, cfg);
  CHECK(seed.subdiv_levels == 2);
  auto p = seed.place(mesh);
  flame::Mesh s2 = flame::subdivide_midpoint(flame::subdivide_midpoint(mesh));
  for (int g = 0; g < seed.G; ++g)
    for (int c = 0; c < 3; ++c) REQUIRE(p[3 * g + c] == doctest::Approx(s2.vertices[3 * g + c]).epsilon(1e-6));
  for (int a = 0; a < seed.A; ++a) CHECK(seed.row_anchor[a] == a);

  cfg.placement = "uv";
  train::SurfaceLayout uv = train::build_layout({mesh}, cfg);
  auto q = uv.place(mesh);
  double max_edge = 0;
  for (int f = 0; f < mesh.num_faces(); ++f)
    for (int j = 0; j < 3; ++j) {
      const double* a = &mesh.vertices[3 * mesh.faces[3 * f + j]];
      const double* b = &mesh.vertices[3 * mesh.faces[3 * f + (j + 1) % 3]];
      max_edge = std::max(max_edge, std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]));
    }
  for (int g = 0; g < uv.G; ++g) {
    const int a = int(uv.row_anchor[g]);
    CHECK(a == g / cfg.K);
    const double* v = &mesh.vertices[3 * a];
    double d = std::hypot(q[3 * g] - v[0], q[3 * g + 1] - v[1], q[3 * g + 2] - v[2]);
    REQUIRE(d <= max_edge * 2.0 / 3.0 + 1e-9);  // inside a's barycentric dual cell
    double wsum = uv.bary[3 * g] + uv.bary[3 * g + 1] + uv.bary[3 * g + 2];
    REQUIRE(wsum == doctest::Approx(1.0));
    REQUIRE(std::abs(uv.row_uv[2 * g]) <= 1.0f);
  }
  // the toy mesh has per-vertex UVs u = col/(cols-1), v = row/(rows-1): the uv sample points interpolate them
  auto vuv = train::vertex_uvs(mesh);
  CHECK(vuv[2 * 6] == doctest::Approx(0.25));
  CHECK(vuv[2 * 6 + 1] == doctest::Approx(0.25));
}

TEST_CASE("model: knn mean squared distance is exact") {
  std::vector<float> pts = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 10, 0, 0};
  auto d = train::knn_mean_sq_dist(pts, 3);
  CHECK(d[0] == doctest::Approx((1 + 4 + 9) / 3.0));
  CHECK(d[4] == doctest::Approx((81 + 100 + 104) / 3.0));
}

TEST_CASE("model: finite-difference gradient of the decoder head in f64 (both placements)") {
  for (std::string placement : {"uv", "seed"}) {
    CAPTURE(placement);
    Context ctx(5, 1);
    train::ModelConfig cfg = testing::tiny_model(placement);
    cfg.dtype = DType::F64;
    cfg.code_dim = 3;
    cfg.z_dim = 4;
    cfg.feat_dim = 3;
    cfg.hidden = 5;
    cfg.K = 2;
    cfg.tex_res = 4;
    train::ToyOptions t;
    t.subjects = 2, t.views = 1, t.rows = 3, t.cols = 3, t.width = 8, t.height = 8;
    auto small = train::make_toy_dataset(t);
    auto model = make_model(ctx, cfg, small);
    auto f = [&](const std::vector<Tensor>&) {
      train::GaussianBatch gb = model->decode(model->codes);
      return concat({reshape(gb.colors, {-1}), reshape(gb.log_scales, {-1}), reshape(gb.rotations, {-1}),
                     reshape(gb.opacities, {-1})},
                    0);
    };
    std::vector<Tensor> inputs = {model->codes, model->E, model->pos_embedding, model->mu_scale, model->mu_rot,
                                  model->mu_opac};
    for (auto& d : model->decoders) inputs.insert(inputs.end(), {d.w1, d.b1, d.w2, d.b2});
    testing::gradcheck("decoder head (" + placement + ")", f, inputs, {1e-6, 1e-6, 1e-5});
  }
}
