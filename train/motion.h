// train/motion.h — head-model parameter sequences that drive an animatable identity (train/animation.h RigPose per
// frame; apps/animate.cpp). Three sources, one result:
//
//   NeRSemble tracking   tracked_flame_params.npz (train/data/nersemble.h read_tracking: expression [T,E], jaw, neck
//                        [T,3], eyes [T,6], rotation [T,3] Euler XYZ or rotation_matrices [T,3,3], translation
//                        [T,3]). Expression, jaw, neck and eyes are used as tracked; the first min(E, model E)
//                        expression components are kept (a warning when a dropped one is non-zero). The rigid head
//                        motion is taken relative to the first timestep: rotation R₀ᵀ·R_t and translation
//                        R₀ᵀ·(t_t − t₀), about the canonical origin (so frame 0 faces the camera like the identity's
//                        canonical frame). The tracking's shape and scale are ignored: the identity keeps its own.
//   CSV                  a header naming the parameters, then one row of numbers per frame (comma-separated; blank
//                        lines and lines starting with '#' are skipped). Columns, any order, all optional:
//                          frame                       ignored (a row counter for the reader's convenience)
//                          expr_<k>                    expression coefficient k (0-based)
//                          <name>                      a named expression of the built-in head model (jaw_open,
//                                                      smile, ... flame/headmodel.h builtin_head_info().expr_names)
//                          <joint>_x, _y, _z           axis-angle (radians) of joint global, neck, jaw, left_eye,
//                                                      right_eye (FLAME order; global pivots at the root joint)
//                          rot_x, rot_y, rot_z         rigid head rotation about the canonical origin, axis-angle
//                          trans_x, trans_y, trans_z   rigid translation (metres)
//                        Missing columns are 0. An unknown or repeated column, a row with another number of fields,
//                        a value that is not a finite number, an expression index beyond the model's, or a file
//                        without rows is refused naming the file (and the line and column).
//   procedural           talk (jaw and mouth shapes at a syllable rhythm), smile (in, hold, out), look_around (neck
//                        and eyes along a slow figure-eight). talk and look_around use the joints (any head model);
//                        named expressions are added where the head model has them (the built-in one).
//
//   ff::train::Motion m = ff::train::load_motion("talk", head_model, 48);   // or a .npz / .csv path
#pragma once
#include <string>
#include <vector>

#include "flame/flame.h"
#include "train/animation.h"
#include "train/data/nersemble.h"

namespace ff::train {

struct Motion {
  std::string source;                 // file or built-in name, for messages
  std::vector<RigPose> frames;        // ≥ 1
  std::vector<std::string> warnings;  // what was dropped or approximated
};

const std::vector<std::string>& procedural_motion_names();  // talk, smile, look_around
// frames ≥ 1 (one cycle of the motion over them).
Motion procedural_motion(const std::string& name, const flame::FlameModel& model, int frames);
Motion read_motion_npz(const std::string& path, const flame::FlameModel& model);
Motion read_motion_csv(const std::string& path, const flame::FlameModel& model);
Motion parse_motion_csv(const std::string& text, const std::string& name, const flame::FlameModel& model);
// Tracked frame t of `tr` relative to the reference frame t_ref of `ref`, whose neutral head (train/data/preprocess.h
// tracked_neutral_vertices: scale·FLAME(shape, 0, [0, neck, jaw, eyes] of the reference)) the identity is — what a
// dataset view of an expression frame is posed with (train/identity_dataset.h view_pose):
//   expression  tr.scale · ψ_t, the first min(E, model_E) components: the tracked head is scale·FLAME(...) and the
//               blendshapes are linear, so the rig on the scaled neutral head reproduces it (docs/animation.md);
//               the reference's own expression is not in its neutral head (the seed's convention), so it is not
//               subtracted;
//   joints      neck, jaw and eyes R_t·R_refᵀ as axis-angle (exactly the tracked axis-angle when the reference's joint
//               is 0, as `ffdata synth` writes; a first-order relative pose otherwise); global 0;
//   rigid       none: the frame's rigid head motion is in its cameras (train/data/nersemble_reader.h).
RigPose tracked_pose_relative(const data::FlameTracking& tr, int t, const data::FlameTracking& ref, int t_ref, int model_E);

// A procedural name, else a file by extension (.npz, .csv); anything else is refused naming the choices.
Motion load_motion(const std::string& spec, const flame::FlameModel& model, int procedural_frames);
// The motion as a CSV that parse_motion_csv reads back (expr_<k>, joints, rot as axis-angle, trans; written
// atomically).
std::string motion_csv(const Motion& m);
void write_motion_csv(const std::string& path, const Motion& m);

}  // namespace ff::train
