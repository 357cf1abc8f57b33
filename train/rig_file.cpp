// train/rig_file.cpp — train/rig_file.h.
#include "train/rig_file.h"

#include "core/check.h"
#include "flame/headmodel.h"

namespace ff::train {

ffrt::RigData rig_data(const HeadRig& rig, const std::vector<int32_t>& extra_vertices, const std::vector<int32_t>& tri,
                       const std::vector<float>& bary, const ffrt::GaussianSet& neutral, const std::string& meta) {
  const flame::FlameModel& m = rig.model();
  const int J = m.J, HV = m.V, E = m.E, PF = (J - 1) * 9;
  FF_CHECK(J == ffrt::kRigJoints, "rig: head model '", m.source, "' has ", J, " joints");
  FF_CHECK(tri.size() % 3 == 0 && bary.size() == tri.size(), "rig: ", tri.size(), " triangle ids and ", bary.size(),
           " barycentric weights");
  const int G = int(tri.size() / 3);
  FF_CHECK(neutral.size() == 0 || neutral.size() == size_t(G), "rig: ", neutral.size(), " Gaussians, ", G, " bindings");
  // rig vertices: those of the Gaussians' triangles, the extra ones and the joint regressor's support, ascending
  std::vector<uint8_t> used(size_t(HV), 0);
  for (const std::vector<int32_t>* ids : {&tri, &extra_vertices})
    for (int32_t v : *ids) {
      FF_CHECK(v >= 0 && v < HV, "rig: vertex ", v, " is not a vertex of head model '", m.source, "'");
      used[size_t(v)] = 1;
    }
  for (size_t i = 0; i < m.j_regressor.size(); ++i)
    if (m.j_regressor[i] != 0.0) used[i % size_t(HV)] = 1;
  ffrt::RigData d;
  std::vector<int32_t> index(size_t(HV), -1);
  for (int v = 0; v < HV; ++v)
    if (used[size_t(v)]) index[size_t(v)] = int32_t(d.vertex_ids.size()), d.vertex_ids.push_back(v);
  const int V = int(d.vertex_ids.size());
  d.V = V, d.E = E, d.J = J, d.G = G;
  const std::vector<double>& N = rig.neutral_head();
  for (int r = 0; r < V; ++r) {
    const size_t h = size_t(d.vertex_ids[size_t(r)]);
    for (int k = 0; k < 3; ++k) {
      const size_t row = 3 * h + size_t(k);
      d.neutral.push_back(float(N[row]));
      for (int e = 0; e < E; ++e) d.exprdirs.push_back(float(m.exprdirs[row * size_t(E) + size_t(e)]));
    }
    for (int j = 0; j < J; ++j) d.weights.push_back(float(m.weights[h * size_t(J) + size_t(j)]));
    bool has_posedirs = false;
    for (int p = 0; p < PF && !has_posedirs; ++p)
      for (int k = 0; k < 3; ++k) has_posedirs = has_posedirs || m.posedirs[size_t(p) * size_t(HV) * 3 + 3 * h + size_t(k)] != 0.0;
    if (has_posedirs) {
      d.posedir_vertices.push_back(r);
      for (int k = 0; k < 3; ++k)
        for (int p = 0; p < PF; ++p) d.posedirs.push_back(float(m.posedirs[size_t(p) * size_t(HV) * 3 + 3 * h + size_t(k)]));
    }
  }
  d.P = int(d.posedir_vertices.size());
  d.j_regressor.resize(size_t(J) * size_t(V));
  for (int j = 0; j < J; ++j)
    for (int r = 0; r < V; ++r)
      d.j_regressor[size_t(j) * size_t(V) + size_t(r)] = float(m.j_regressor[size_t(j) * size_t(HV) + size_t(d.vertex_ids[size_t(r)])]);
  d.parents = m.parents;
  for (int f = 0; f < m.F; ++f) {
    const int32_t* t = &m.faces[3 * size_t(f)];
    if (index[size_t(t[0])] < 0 || index[size_t(t[1])] < 0 || index[size_t(t[2])] < 0) continue;
    for (int k = 0; k < 3; ++k) d.faces.push_back(index[size_t(t[k])]);
  }
  d.F = int(d.faces.size() / 3);
  for (int32_t v : tri) d.tri.push_back(index[size_t(v)]);
  d.bary = bary;
  if (flame::head_model_content_id(m) == flame::head_model_content_id(flame::builtin_head_model_ref()))
    d.expression_names = flame::builtin_head_info().expr_names;
  if (neutral.size() > 0) d.gaussians = neutral;
  d.meta = meta;
  return d;
}

}  // namespace ff::train
