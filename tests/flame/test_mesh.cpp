// Face mask (seed semantics), trimesh-compatible midpoint subdivision (vertices, faces, UVs), nested prefixes,
// PLY/OBJ export round trips.
#include <cmath>
#include <cstdio>

#include "flame/flame.h"
#include "flame/mesh.h"
#include "tests/flame/flame_test_util.h"

using namespace ff;
using namespace ff::flame;
using ff::flame_test::max_abs_diff;
using ff::flame_test::reference;
using ff::flame_test::throws_with;

static FlameModel mesh_model() {
  FlameLoadOptions o;
  o.expr_offset = flame_test::kFixtureShapeColumns;
  FlameModel m = load_flame_model(testing::fixture_path("flame_model.npz"), o);
  load_flame_masks(m, testing::fixture_path("flame_masks.pkl"));
  load_uv_obj(m, testing::fixture_path("flame_head_template.obj"));
  return m;
}

TEST_CASE("face mask + two subdivisions equal the numpy transcription of the seed / trimesh") {
  FlameModel m = mesh_model();
  const auto& r = reference();
  std::vector<int32_t> mouth = r.at("mouth_faces").to<int32_t>();
  FaceMask fm = make_face_mask(m, seed_face_mask_regions(), mouth);
  CHECK(fm.vertex_ids == r.at("mask_regions_vertices").to<int32_t>());
  CHECK(fm.faces == r.at("mask_faces").to<int32_t>());
  std::vector<double> v0 = r.at("vertices").to<double>();
  v0.resize(size_t(m.V) * 3);  // item 0 of the reference batch
  Mesh s0 = face_mask_mesh(m, v0, fm);
  Mesh s1 = subdivide_midpoint(s0);
  Mesh s2 = subdivide_midpoint(s1);
  CHECK(max_abs_diff(s1.vertices, r.at("subd1_vertices").to<double>()) < 1e-15);
  CHECK(s1.faces == r.at("subd1_faces").to<int32_t>());
  CHECK(max_abs_diff(s2.vertices, r.at("subd2_vertices").to<double>()) < 1e-15);
  CHECK(s2.faces == r.at("subd2_faces").to<int32_t>());
  // nested prefixes
  for (size_t i = 0; i < s0.vertices.size(); ++i) REQUIRE(s1.vertices[i] == s0.vertices[i]);
  for (size_t i = 0; i < s1.vertices.size(); ++i) REQUIRE(s2.vertices[i] == s1.vertices[i]);
  std::printf("fixture face mask: %d vertices, %d faces → subd1 %d → subd2 %d vertices\n", s0.num_vertices(),
              s0.num_faces(), s1.num_vertices(), s2.num_vertices());
  // Euler: V_new = V + E, F_new = 4F
  CHECK(s1.num_faces() == 4 * s0.num_faces());
  // missing region → error naming it; mouth faces beyond the mesh → error
  CHECK(throws_with([&] { make_face_mask(m, {"face", "no_such_region"}); }, {"'no_such_region' not found"}));
  CHECK(throws_with([&] { make_face_mask(m, seed_face_mask_regions(), seed_mouth_faces()); }, {"5023-vertex"}));
  CHECK(seed_mouth_faces().size() == 90);
}

TEST_CASE("subdivision: wedge UVs follow the trimesh rule; edge list and attribute averaging") {
  FlameModel m = mesh_model();
  const auto& r = reference();
  Mesh full;
  full.vertices = m.v_template;
  full.faces = m.faces;
  full.uvs = m.uvs;
  full.uv_faces = m.uv_faces;
  full.colors.assign(m.v_template.size(), 100);
  std::vector<std::array<int32_t, 2>> edges;
  Mesh s = subdivide_midpoint(full, &edges);
  CHECK(max_abs_diff(s.uvs, r.at("uv_subd1").to<double>()) < 1e-15);
  CHECK(s.uv_faces == r.at("uv_faces_subd1").to<int32_t>());
  // closed sphere: E = 3F/2, V − E + F = 2
  CHECK(edges.size() == size_t(m.F) * 3 / 2);
  CHECK(m.V - int(edges.size()) + m.F == 2);
  for (size_t e = 1; e < edges.size(); ++e)  // ordered by (larger, smaller)
    CHECK((edges[e - 1][1] < edges[e][1] || (edges[e - 1][1] == edges[e][1] && edges[e - 1][0] < edges[e][0])));
  CHECK(s.colors.size() == s.vertices.size());
  CHECK(s.colors.back() == 100);
  s.validate("subdivided");
}

TEST_CASE("mesh export: PLY binary/ascii and OBJ round trips, atomic writes") {
  FlameModel m = mesh_model();
  Mesh a;
  a.vertices = m.v_template;
  a.faces = m.faces;
  for (int i = 0; i < m.V * 3; ++i) a.colors.push_back(uint8_t(i * 7));
  for (bool binary : {true, false}) {
    std::string p = flame_test::tmp_path(binary ? "b.ply" : "a.ply");
    write_mesh(p, a, binary);
    Mesh b = read_ply(p);
    CHECK(max_abs_diff(b.vertices, a.vertices) < 1e-7);
    CHECK(b.faces == a.faces);
    CHECK(b.colors == a.colors);
    std::remove(p.c_str());
  }
  Mesh u = a;
  u.uvs = m.uvs;
  u.uv_faces = m.uv_faces;
  std::string p = flame_test::tmp_path("m.obj");
  write_mesh(p, u);
  Mesh o = read_obj(p);
  CHECK(max_abs_diff(o.vertices, u.vertices) < 1e-8);
  CHECK(o.faces == u.faces);
  CHECK(o.uv_faces == u.uv_faces);
  CHECK(max_abs_diff(o.uvs, u.uvs) < 1e-8);
  std::remove(p.c_str());
  std::string pw = flame_test::tmp_path("w.ply");
  write_ply(pw, u, true);  // per-face texcoord lists
  Mesh w = read_ply(pw);
  CHECK(w.faces == u.faces);
  std::remove(pw.c_str());
  CHECK(throws_with([&] { write_mesh(flame_test::tmp_path("x.stl"), a); }, {"unknown extension"}));
  Mesh bad = a;
  bad.faces[4] = 1000;
  CHECK(throws_with([&] { write_mesh(flame_test::tmp_path("bad.ply"), bad); }, {"out of range"}));
  CHECK(throws_with([&] { read_obj("/nonexistent.obj"); }, {"/nonexistent.obj"}));
}
