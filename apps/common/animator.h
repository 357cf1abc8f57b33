// apps/common/animator.h — one identity of an opened model (apps/common/model_runtime.h), animatable: decoded once by
// the runtime (its neutral Gaussians), its head rig built by the engine (train/animation.h HeadRig: the neutral head
// recovered from the Gaussian positions) and handed to the runtime as a rig file (runtime/rig.h, docs/rig.md), then
// posed per frame by the runtime (ff_rig_pose: the rig's float head-model forward + runtime/binding.h) into new
// runtime Gaussians that render like any other. So `animate` exercises exactly what a viewer runs from a rig file.
// Zero parameters give the neutral Gaussians bitwise, so the neutral frame renders exactly like the static identity
// (tests/apps/test_animator.cpp, which also checks the runtime's posing against HeadRig + pose_gaussians_host).
// `interpolate --motion` makes one Animator per morph frame (the interpolated code and positions) and poses
// it with that frame's motion pose.
//
//   const ff::flame::FlameModel head = ff::train::find_head_model(m->file);
//   ff::apps::Animator anim(*m, head, m->rt.code(3), m->rt.positions(3), threads);
//   ff::apps::Gaussians g = anim.pose(motion.frames[f]);
//   auto rgba = m->rt.render(g, ff::runtime_camera(cam), bg);
//   ffrt::write_file("face.ffrig", anim.rig_file());
#pragma once
#include <string>
#include <vector>

#include "apps/common/model_runtime.h"
#include "runtime/rig.h"
#include "train/animation.h"
#include "train/motion.h"

namespace ff::apps {

// The rig file's contents for an identity: the head rig trimmed to the vertices its Gaussians are bound to (the
// face-mask vertices of `layout`) and those the joint regressor reads; pose correctives only for vertices that have
// any; `neutral` (may be empty) stored as the identity's Gaussians. `meta`: informative JSON. `model` (may be null):
// its expression correction (train/model.h corr_color, corr_offset), if it has one, goes into the rig file.
ffrt::RigData make_rig_data(const train::HeadRig& rig, const train::SurfaceLayout& layout,
                            const ffrt::GaussianSet& neutral, const std::string& meta,
                            const train::IdentityModel* model = nullptr);

class Animator {
 public:
  // m (a model file with its layout and a generator) and head (the head model it was built on) must outlive the
  // Animator; code [code_dim], positions [G,3] are the identity's (its neutral head is recovered from the positions).
  Animator(const OpenedModel& m, const flame::FlameModel& head, std::vector<float> code, std::vector<float> positions,
           int threads);
  ~Animator();
  Animator(const Animator&) = delete;
  Animator& operator=(const Animator&) = delete;

  int count() const { return G_; }
  const std::vector<float>& neutral_means() const { return means_; }
  const train::HeadRig& rig() const { return rig_; }
  const Gaussians& neutral() const { return neutral_; }
  const std::string& rig_file() const { return rig_bytes_; }  // the .ffrig bytes (identity's Gaussians included)
  Gaussians pose(const train::RigPose& p) const;

 private:
  train::HeadRig rig_;
  Gaussians neutral_;
  int G_ = 0;
  std::vector<float> means_;
  std::string rig_bytes_;
  ff_rig* rt_rig_ = nullptr;
};

// The Gaussians a rig file holds (fit_image's face.ffrig: a photo fit's detail surfels; animate's identity.ffrig),
// posed by the runtime from the file alone and rendered by a CPU renderer: what a viewer does with the file
// (`animate --rig-file`). Refuses a rig without Gaussians and, via check_head_model, a head model other than the
// one the file names (its meta's head_model_content_id).
class RigFileIdentity {
 public:
  RigFileIdentity(const std::string& path, int threads);
  ~RigFileIdentity();
  RigFileIdentity(const RigFileIdentity&) = delete;
  RigFileIdentity& operator=(const RigFileIdentity&) = delete;
  int count() const { return neutral_.count(); }
  std::vector<float> neutral_means() const { return neutral_.means(); }
  void check_head_model(const flame::FlameModel& head) const;
  Gaussians pose(const train::RigPose& p) const;
  std::vector<uint8_t> render(const Gaussians& g, const ff_camera& cam, const float* bg) const;

 private:
  std::string path_, head_model_id_;  // head_model_id_: from the meta ("" when it names none)
  int num_expression_ = 0;
  ff_rig* rig_ = nullptr;
  ff_renderer* renderer_ = nullptr;
  Gaussians neutral_;
};

// RigPose (f64) → the runtime's parameters (float); `expression` keeps the coefficients the struct points to.
ff_rig_params rig_params(const train::RigPose& p, std::vector<float>& expression);

// The motion `spec` names for `animate` and `interpolate`: a train/motion.h source (talk, smile, look_around, a
// NeRSemble .npz, a .csv; built-in ones over `frames` frames), or "photo": `frames` frames holding `photo` (a code
// file's photo_pose, fit_image's estimate of the photo's expression and jaw; refused when null). Every
// stride-th frame is kept.
train::Motion load_app_motion(const std::string& spec, const flame::FlameModel& head, int frames, int stride,
                              const train::RigPose* photo);

}  // namespace ff::apps
