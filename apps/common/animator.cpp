// apps/common/animator.cpp — apps/common/animator.h.
#include "apps/common/animator.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "runtime/container.h"
#include "flame/headmodel.h"
#include "train/rig_file.h"

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
  std::vector<int32_t> tri(layout.tri.size());
  std::vector<float> bary(layout.bary.size());
  for (size_t i = 0; i < layout.tri.size(); ++i) tri[i] = face[size_t(layout.tri[i])], bary[i] = float(layout.bary[i]);
  if (neutral.size() > 0)
    FF_CHECK(neutral.size() == size_t(layout.G), "rig: ", neutral.size(), " Gaussians, the layout binds ", layout.G);
  ffrt::RigData d = train::rig_data(rig, face, tri, bary, neutral, meta);
  if (model && model->corr_color.defined()) {
    FF_CHECK(model->layout().G == layout.G, "rig: the model's correction covers ", model->layout().G, " Gaussians, the layout ",
             layout.G);
    d.C = model->config().correction_dim;
    d.corr_color = model->corr_color.detach().to(DType::F32).to(Device::cpu()).to_vector<float>();
    d.corr_offset = model->corr_offset.detach().to(DType::F32).to(Device::cpu()).to_vector<float>();
  }
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
  const std::string meta = nlohmann::json{{"format", "facefield rig"},
                                          {"model", m.file.path},
                                          {"head_model_content_id", flame::head_model_content_id(head)},
                                          {"gaussians", G_}}
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // a path need not be UTF-8
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

RigFileIdentity::RigFileIdentity(const std::string& path, int threads) : path_(path) {
  const std::string bytes = ffrt::read_file(path);
  const ffrt::RigData d = ffrt::parse_rig(bytes, path);
  FF_CHECK(d.gaussians.size() > 0, "rig file '", path, "' holds no Gaussians (a rig of a model identity written ",
           "without them): animate it with --model and --identity/--code");
  num_expression_ = d.E;
  const nlohmann::json meta = nlohmann::json::parse(d.meta, nullptr, false);  // informative: may be anything
  if (meta.is_object() && meta.contains("head_model_content_id") && meta["head_model_content_id"].is_string())
    head_model_id_ = meta["head_model_content_id"].get<std::string>();
  check(ff_rig_open_memory(bytes.data(), bytes.size(), threads, &rig_), "ff_rig_open_memory");
  ff_gaussians* g = nullptr;
  check(ff_rig_gaussians(rig_, &g), "ff_rig_gaussians");
  neutral_ = Gaussians(g);
  check(ff_renderer_create(threads, &renderer_), "ff_renderer_create");
}

RigFileIdentity::~RigFileIdentity() {
  ff_renderer_free(renderer_);
  ff_rig_close(rig_);
}

void RigFileIdentity::check_head_model(const flame::FlameModel& head) const {
  const std::string id = flame::head_model_content_id(head);
  FF_CHECK(head_model_id_.empty() || head_model_id_ == id, "rig file '", path_, "' was built on head model ",
           head_model_id_, ", not on '", head.source, "' (", id, "): give its head model with --head_model");
  FF_CHECK(head.E >= num_expression_, "rig file '", path_, "' has ", num_expression_,
           " expression coefficients, head model '", head.source, "' ", head.E);
}

Gaussians RigFileIdentity::pose(const train::RigPose& p) const {
  std::vector<float> expression;
  ff_rig_params params = rig_params(p, expression);
  ff_gaussians* raw = nullptr;
  check(ff_rig_pose(rig_, neutral_.g, &params, &raw), "ff_rig_pose");
  return Gaussians(raw);
}

std::vector<uint8_t> RigFileIdentity::render(const Gaussians& g, const ff_camera& cam, const float* bg) const {
  return facefield::render(renderer_, g, cam, bg);
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
