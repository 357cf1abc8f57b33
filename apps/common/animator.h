// apps/common/animator.h — one identity of an opened model (apps/common/model_runtime.h), animatable: decoded once by
// the runtime (its neutral Gaussians), then posed per frame by the head model (train/animation.h HeadRig +
// GaussianBinding, maths in runtime/binding.h) into new runtime Gaussians that render like any other. What `animate`
// runs per frame; zero parameters give the neutral Gaussians bitwise, so the neutral frame renders exactly like the
// static identity (tests/apps/test_animator.cpp). `interpolate --motion` makes one Animator per morph frame (the
// interpolated code and positions) and poses it with that frame's motion pose.
//
//   const ff::flame::FlameModel head = ff::train::find_head_model(m->file);
//   ff::apps::Animator anim(*m, head, m->rt.code(3), m->rt.positions(3), threads);
//   ff::apps::Gaussians g = anim.pose(motion.frames[f]);
//   auto rgba = m->rt.render(g, ff::runtime_camera(cam), bg);
#pragma once
#include <string>
#include <vector>

#include "apps/common/model_runtime.h"
#include "train/animation.h"
#include "train/motion.h"

namespace ff::apps {

class Animator {
 public:
  // m (a model file with its layout and a generator) and head (the head model it was built on) must outlive the
  // Animator; code [code_dim], positions [G,3] are the identity's (its neutral head is recovered from the positions).
  Animator(const OpenedModel& m, const flame::FlameModel& head, std::vector<float> code, std::vector<float> positions,
           int threads);

  int count() const { return G_; }
  const std::vector<float>& neutral_means() const { return means_; }
  const train::HeadRig& rig() const { return rig_; }
  Gaussians pose(const train::RigPose& p) const;

 private:
  const OpenedModel* m_;
  train::HeadRig rig_;
  train::GaussianBinding binding_;
  int threads_ = 0, G_ = 0;
  std::vector<float> means_, scales_, rots_, opac_, colors_;
};

// The motion `spec` names for `animate` and `interpolate`: a train/motion.h source (talk, smile, look_around, a
// NeRSemble .npz, a .csv; built-in ones over `frames` frames), or "photo": `frames` frames holding `photo` (a code
// file's photo_pose, fit_image's estimate of the photo's expression and jaw; refused when null). Every
// stride-th frame is kept.
train::Motion load_app_motion(const std::string& spec, const flame::FlameModel& head, int frames, int stride,
                              const train::RigPose* photo);

}  // namespace ff::apps
