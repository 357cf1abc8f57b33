// flame/mesh.h — triangle meshes: OBJ/PLY I/O, the seed's midpoint subdivision, and the seed's face mask.
//
// Subdivision (subdivide_midpoint) reproduces trimesh.remesh.subdivide (trimesh ≥ 4, as used by the seed):
//   * old vertices first, unchanged; then one midpoint per unique undirected edge (a < b), ordered by
//     (b, a) ascending — trimesh sorts edges by the hash (a + 2^31) ^ ((b + 2^31) << 32) with np.unique;
//   * each face (v0, v1, v2) becomes, consecutively, [v0, m01, m20], [m01, v1, m12], [m20, m12, v2],
//     [m01, m12, m20], in the order of the input faces.
// Unreferenced vertices stay in place, so repeated subdivision gives nested vertex prefixes (the seed's
// 3,007 ⊂ 11,839 ⊂ 46,987 ⊂ 187,219 on real FLAME). Wedge UVs (uv_faces) are subdivided the same way over the
// UV index mesh; per-vertex attributes (colours) are averaged at midpoints.
//
// Face mask (make_face_mask) reproduces the seed's FLAME_helper.facemask_assignment: the kept vertices are the
// union of the listed FLAME_masks regions, in FLAME order (unreferenced ones included), and the kept faces are
// the faces (FLAME's, then the optional 30 mouth-closing faces) whose three vertices are all kept, re-indexed.
// The seed's region 'new_mouth' is the vertex set of the mouth-closing faces when the masks file lacks it.
//
// Writers are atomic (temp file + rename). write_mesh picks the format from the extension (.ply / .obj).
//
//   ff::flame::Mesh m = ff::flame::face_mask_mesh(model, verts, ff::flame::make_face_mask(model,
//       ff::flame::seed_face_mask_regions(), ff::flame::seed_mouth_faces()));
//   ff::flame::Mesh s1 = ff::flame::subdivide_midpoint(m);
//   ff::flame::write_mesh("face_subd1.ply", s1);
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ff::flame {

struct FlameModel;

struct Mesh {
  std::vector<double> vertices;   // [N, 3]
  std::vector<int32_t> faces;     // [F, 3]
  std::vector<uint8_t> colors;    // [N, 3] RGB, optional
  std::vector<double> uvs;        // [T, 2], optional
  std::vector<int32_t> uv_faces;  // [F, 3] into uvs, optional (wedge UVs)
  int num_vertices() const { return int(vertices.size() / 3); }
  int num_faces() const { return int(faces.size() / 3); }
  void validate(const std::string& what) const;
};

// OBJ: v, vt, f with v, v/vt, v/vt/vn or v//vn (1-based or negative); polygons are fan-triangulated.
Mesh read_obj(const std::string& path);
// PLY (ascii / binary_little_endian / binary_big_endian): vertex x y z (+ red green blue), face vertex_indices.
Mesh read_ply(const std::string& path);
void write_obj(const std::string& path, const Mesh& m);
// PLY: float32 x y z, optional uchar red green blue, face list uchar int vertex_indices, and when wedge UVs are
// present the MeshLab-style per-face `list uchar float texcoord` (6 values).
void write_ply(const std::string& path, const Mesh& m, bool binary = true);
void write_mesh(const std::string& path, const Mesh& m, bool binary_ply = true);

// Midpoint (1→4) subdivision as described above. `edges` (optional out) receives, for each new vertex
// N + i, its edge endpoints (a, b) with a < b.
Mesh subdivide_midpoint(const Mesh& m, std::vector<std::array<int32_t, 2>>* edges = nullptr);
// Average a per-vertex attribute [N, dim] onto the midpoints listed in `edges` → [N + E, dim].
std::vector<double> subdivide_attribute(const std::vector<double>& attr, int dim,
                                        const std::vector<std::array<int32_t, 2>>& edges);

// The seed's region list: new_mouth, face, left_eyeball, right_eyeball, lips, nose, left_eye_region,
// right_eye_region.
const std::vector<std::string>& seed_face_mask_regions();
// The seed's 30 mouth-closing triangles (FLAME vertex ids; FLAME2PLY.py / FLAME_helper.py), flattened [30, 3].
const std::vector<int32_t>& seed_mouth_faces();

struct FaceMask {
  std::vector<int32_t> vertex_ids;  // [N'] kept FLAME vertex ids, ascending
  std::vector<int32_t> old_to_new;  // [V] → index in the submesh, or -1
  std::vector<int32_t> faces;       // [F', 3] submesh triangles
  std::vector<int32_t> face_ids;    // [F'] source triangle: < model.F → model face, else extra face (id − F)
};
// regions: names in model.masks ('new_mouth' may be absent: then it is the vertex set of extra_faces).
// extra_faces: [K, 3] appended after the model's faces (seed_mouth_faces() to close the mouth, or empty).
FaceMask make_face_mask(const FlameModel& model, const std::vector<std::string>& regions,
                        const std::vector<int32_t>& extra_faces = {});
// The submesh for given full-model vertex positions [V, 3] (e.g. a FLAME forward output); wedge UVs of the
// model faces are carried over when the model has them and no extra faces were kept.
Mesh face_mask_mesh(const FlameModel& model, const std::vector<double>& vertices, const FaceMask& mask);

}  // namespace ff::flame
