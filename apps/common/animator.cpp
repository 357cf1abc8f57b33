// apps/common/animator.cpp — apps/common/animator.h.
#include "apps/common/animator.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "flame/headmodel.h"

namespace ff::apps {

namespace {
const train::SurfaceLayout& layout_of(const OpenedModel& m) {
  FF_CHECK(m.file.model && m.rt.info.has_generator, m.file.path, " holds one identity's decoded Gaussians; animation ",
           "needs a model file with its surface layout (a checkpoint or a model pack from `export --format model`)");
  return m.file.model->layout();
}

ffrt::GaussianSet read_gaussians(const Gaussians& g) {
  ffrt::GaussianSet s;
  s.resize(size_t(g.count()));
  std::vector<float> scales(s.log_scales.size());
  check(ff_gaussians_read(g.g, s.means.data(), scales.data(), s.rotations.data(), s.opacities.data(), s.colors.data()),
        "ff_gaussians_read");
  for (size_t i = 0; i < scales.size(); ++i) s.log_scales[i] = std::log(scales[i]);
  return s;
}
}  // namespace

ffrt::RigData make_rig_data(const train::HeadRig& rig, const train::SurfaceLayout& layout,
                            const ffrt::GaussianSet& neutral, const std::string& meta,
                            const train::IdentityModel* model) {
  const flame::FlameModel& m = rig.model();
  const std::vector<int32_t>& face = rig.face_vertex_ids();
  FF_CHECK(layout.A == int(face.size()) && layout.tri.size() == size_t(layout.G) * 3,
           "rig: the layout does not bind its Gaussians to the face mask of head model '", m.source, "'");
  const int J = m.J, HV = m.V, E = m.E, PF = (J - 1) * 9;
  FF_CHECK(J == ffrt::kRigJoints, "rig: head model '", m.source, "' has ", J, " joints");
  // rig vertices: the face mask and the joint regressor's support, ascending head-model ids
  std::vector<uint8_t> used(size_t(HV), 0);
  for (int32_t v : face) used[size_t(v)] = 1;
  for (size_t i = 0; i < m.j_regressor.size(); ++i)
    if (m.j_regressor[i] != 0.0) used[i % size_t(HV)] = 1;
  ffrt::RigData d;
  std::vector<int32_t> index(size_t(HV), -1);
  for (int v = 0; v < HV; ++v)
    if (used[size_t(v)]) index[size_t(v)] = int32_t(d.vertex_ids.size()), d.vertex_ids.push_back(v);
  const int V = int(d.vertex_ids.size());
  d.V = V, d.E = E, d.J = J, d.G = layout.G;
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
  for (size_t i = 0; i < layout.tri.size(); ++i) {
    d.tri.push_back(index[size_t(face[size_t(layout.tri[i])])]);
    d.bary.push_back(float(layout.bary[i]));
  }
  if (flame::head_model_content_id(m) == flame::head_model_content_id(flame::builtin_head_model_ref()))
    d.expression_names = flame::builtin_head_info().expr_names;
  if (neutral.size() > 0) {
    FF_CHECK(neutral.size() == size_t(layout.G), "rig: ", neutral.size(), " Gaussians, the layout binds ", layout.G);
    d.gaussians = neutral;
  }
  if (model && model->corr_color.defined()) {
    FF_CHECK(model->layout().G == layout.G, "rig: the model's correction covers ", model->layout().G, " Gaussians, the layout ",
             layout.G);
    d.C = model->config().correction_dim;
    d.corr_color = model->corr_color.detach().to(DType::F32).to(Device::cpu()).to_vector<float>();
    d.corr_offset = model->corr_offset.detach().to(DType::F32).to(Device::cpu()).to_vector<float>();
  }
  d.meta = meta;
  return d;
}

ff_rig_params rig_params(const train::RigPose& p, std::vector<float>& expression) {
  ff_rig_params r{};
  expression.assign(p.expression.begin(), p.expression.end());
  r.expression = expression.empty() ? nullptr : expression.data();
  r.num_expression = int(expression.size());
  for (int i = 0; i < 15; ++i) r.pose[i] = float(p.pose[size_t(i)]);
  for (int i = 0; i < 9; ++i) r.rotation[i] = float(p.rotation[size_t(i)]);
  for (int i = 0; i < 3; ++i) r.translation[i] = float(p.translation[size_t(i)]);
  return r;
}

Animator::Animator(const OpenedModel& m, const flame::FlameModel& head, std::vector<float> code,
                   std::vector<float> positions, int threads)
    : rig_(head, train::neutral_head_from_positions(head, layout_of(m), positions)),
      neutral_(m.rt.decode(code, &positions)) {
  G_ = neutral_.count();
  FF_CHECK(G_ == layout_of(m).G, "Animator: the runtime decoded ", G_, " Gaussians, the layout binds ", layout_of(m).G);
  means_ = neutral_.means();
  std::string source;  // the model file's path as a JSON string body
  for (char c : m.file.path) source += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  const std::string meta = "{\"format\":\"facefield rig\",\"model\":\"" + source + "\",\"head_model_content_id\":\"" +
                           flame::head_model_content_id(head) + "\",\"gaussians\":" + std::to_string(G_) + "}";
  rig_bytes_ = ffrt::pack_bytes(ffrt::rig_pack(make_rig_data(rig_, layout_of(m), read_gaussians(neutral_), meta, m.file.model.get())));
  check(ff_rig_open_memory(rig_bytes_.data(), rig_bytes_.size(), threads, &rt_rig_), "ff_rig_open_memory");
}

Animator::~Animator() { ff_rig_close(rt_rig_); }

Gaussians Animator::pose(const train::RigPose& p) const {
  std::vector<float> expression;
  const ff_rig_params params = rig_params(p, expression);
  ff_gaussians* raw = nullptr;
  check(ff_rig_pose(rt_rig_, neutral_.g, &params, &raw), "ff_rig_pose");
  return Gaussians(raw);
}

train::Motion load_app_motion(const std::string& spec, const flame::FlameModel& head, int frames, int stride,
                              const train::RigPose* photo) {
  FF_CHECK(frames >= 1 && stride >= 1, "motion '", spec, "': frames (", frames, ") and stride (", stride,
           ") must be >= 1");
  train::Motion m;
  if (spec == "photo") {
    FF_CHECK(photo, "--motion photo needs a code file written by fit_image with \"photo_pose\" (the photo's ",
             "expression and jaw)");
    m.source = "photo (the fitted photo's expression and jaw)";
    m.frames.assign(size_t(frames), *photo);
  } else {
    m = train::load_motion(spec, head, frames);
  }
  if (stride > 1) {
    std::vector<train::RigPose> kept;
    for (size_t f = 0; f < m.frames.size(); f += size_t(stride)) kept.push_back(m.frames[f]);
    m.frames = std::move(kept);
  }
  return m;
}

}  // namespace ff::apps
