// train/rig_pose.h — one frame of head-model parameters: what drives an animated identity (train/animation.h HeadRig,
// docs/animation.md) and what a dataset view of an expression sequence was captured with (train/identity_dataset.h
// IdentityDataset::view_pose). A plain value type with no dependencies, so the dataset layer can name it.
//
// Canonical frame: metres, x to the subject's left, y up, z out of the face.
// posed head = rotation · (N + F(ψ, θ) − F(0, 0)) + translation, with N the identity's neutral head and F the head
// model's forward (flame/flame.h). All zero (the default) is the neutral pose: N bitwise.
#pragma once
#include <array>
#include <vector>

namespace ff::train {

struct RigPose {
  std::vector<double> expression;    // [E'] expression coefficients, E' ≤ the model's E (missing ones are 0)
  std::array<double, 15> pose{};     // axis-angle per joint, FLAME order: global (pivot: the root joint), neck,
                                     // jaw, left eye, right eye
  std::array<double, 9> rotation{1, 0, 0, 0, 1, 0, 0, 0, 1};  // rigid head rotation about the canonical origin
                                                              // (row-major), applied after the head model
  std::array<double, 3> translation{};                        // then this translation (metres)

  // True when every parameter is zero and the rigid motion is the identity (the rig returns N bitwise).
  bool is_neutral() const {
    for (double e : expression)
      if (e != 0) return false;
    for (double p : pose)
      if (p != 0) return false;
    for (int i = 0; i < 9; ++i)
      if (rotation[i] != ((i % 4 == 0) ? 1.0 : 0.0)) return false;
    for (double t : translation)
      if (t != 0) return false;
    return true;
  }
};

}  // namespace ff::train
