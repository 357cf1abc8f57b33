// apps/common/animator.cpp — apps/common/animator.h.
#include "apps/common/animator.h"

#include "core/check.h"

namespace ff::apps {

namespace {
const train::SurfaceLayout& layout_of(const OpenedModel& m) {
  FF_CHECK(m.file.model && m.rt.info.has_generator, m.file.path, " holds one identity's decoded Gaussians; animation ",
           "needs a model file with its surface layout (a checkpoint or a model pack from `export --format model`)");
  return m.file.model->layout();
}
}  // namespace

Animator::Animator(const OpenedModel& m, const flame::FlameModel& head, std::vector<float> code,
                   std::vector<float> positions, int threads)
    : m_(&m),
      rig_(head, train::neutral_head_from_positions(head, layout_of(m), positions)),
      binding_(train::GaussianBinding::from_layout(layout_of(m), rig_.neutral_face())),
      threads_(threads) {
  const Gaussians g0 = m.rt.decode(code, &positions);
  G_ = g0.count();
  FF_CHECK(G_ == binding_.G, "Animator: the runtime decoded ", G_, " Gaussians, the layout binds ", binding_.G);
  means_.resize(size_t(G_) * 3);
  scales_.resize(size_t(G_) * 3);
  rots_.resize(size_t(G_) * 4);
  opac_.resize(size_t(G_));
  colors_.resize(size_t(G_) * 3);
  check(ff_gaussians_read(g0.g, means_.data(), scales_.data(), rots_.data(), opac_.data(), colors_.data()),
        "ff_gaussians_read");
}

Gaussians Animator::pose(const train::RigPose& p) const {
  std::vector<float> x = means_, q = rots_, s = scales_;
  train::pose_gaussians_host(binding_, rig_.posed_face(p), G_, x.data(), q.data(), s.data(), threads_);
  ff_gaussians* raw = nullptr;
  check(ff_gaussians_create(G_, x.data(), s.data(), q.data(), opac_.data(), colors_.data(), &raw), "ff_gaussians_create");
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
