// train/rig_file.h — the contents of an identity's rig file (.ffrig: runtime/rig.h RigData, docs/rig.md) from the
// engine's head rig (train/animation.h HeadRig) and Gaussians bound to its head-model triangles. One builder for
// every rig the engine writes: a model identity's (apps/common/animator.h make_rig_data, its layout's binding) and a
// photo fit's detail surfels (train/fit/fit_image.h, face.ffrig).
//
// The rig is trimmed to the "rig vertices": the vertices of `tri`, `extra_vertices` (head-model vertex ids kept
// although no Gaussian is bound to them: a layout's whole face mask) and the joint regressor's support, in ascending
// head-model id; pose correctives only for vertices that have any;
// faces only those whose three vertices are rig vertices. tri [G,3] are head-model vertex ids (mapped to rig vertex
// ids in the file), bary [G,3] their barycentric weights; `neutral` (empty or G Gaussians) the identity's Gaussians
// on the rig's neutral head (rig.neutral_head()). Expression names are the built-in head model's when it is that
// model. No expression correction (callers add RigData::C, corr_color, corr_offset).
//
//   ffrt::RigData d = ff::train::rig_data(rig, {}, tri, bary, neutral_gaussians, meta_json);
//   ffrt::write_rig("face.ffrig", d);
#pragma once
#include <string>
#include <vector>

#include "runtime/rig.h"
#include "train/animation.h"

namespace ff::train {

ffrt::RigData rig_data(const HeadRig& rig, const std::vector<int32_t>& extra_vertices, const std::vector<int32_t>& tri,
                       const std::vector<float>& bary, const ffrt::GaussianSet& neutral, const std::string& meta);

}  // namespace ff::train
