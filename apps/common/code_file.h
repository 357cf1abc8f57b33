// apps/common/code_file.h — the code file fit_image writes (fit.json) as render and interpolate read it: the
// identity code ("code": code_dim numbers), optionally the photo camera ("viewmat": 16 numbers, row-major
// world→camera, and "camera": {fx, fy, cx, cy, width, height}, see docs/conventions.md), the Gaussian
// positions ("positions": 3 × num_gaussians numbers; on the neutral head, train/fit/fit_image.h) and the photo's
// expression and jaw ("photo_pose": {"expression": [E'], "pose": [15]}, a train/rig_pose.h RigPose). Every error is an ff::Error naming the file and the key.
// parse_code_file reads the JSON text only (fuzz/fuzz_fit_json.cpp); read_code_file (apps/common/model_runtime.h)
// adds the file and the sibling face.ply.
#pragma once
#include <string>
#include <vector>

#include "core/geometry.h"
#include "train/rig_pose.h"

namespace ff::apps {

// positions from its "positions" array, else (read_code_file) from the sibling face.ply when it has the model's
// Gaussian count, else empty (→ the identities' mean).
struct CodeFile {
  std::string path;
  std::vector<float> code, xyz;
  bool has_camera = false;
  Camera camera;
  bool has_pose = false;  // "photo_pose" was given
  train::RigPose pose;    // the photo's expression and jaw (rigid motion: identity)
};

// `path` names the file in messages; code_dim < 0 accepts a code of any length (animate --rig-file reads only the
// camera and the photo pose). A "positions" array of another length than 3 × num_gaussians is ignored (a
// code file of another model's face); "viewmat"/"camera" are used only together, and the camera only when its
// focal lengths and size are positive. A "photo_pose" that is not an object with an "expression" array and a
// "pose" array of 15 finite numbers is refused.
CodeFile parse_code_file(const std::string& text, const std::string& path, int code_dim, int num_gaussians);

}  // namespace ff::apps
