// train/ply_export.h — Gaussians as the official 3DGS point_cloud.ply (docs/conventions.md §5.1), and a header-driven
// reader for it.
//
// Layout: binary_little_endian, one `vertex` element, float properties in exactly 3DGS's order
//   x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3
// (SH degree 0: no f_rest_*; 17 floats = 68 bytes per Gaussian). Values are stored raw, before activation,
// as 3DGS expects: f_dc = (rgb − 0.5)/C0 (C0 = 0.28209479177387814), opacity = logit(o), scale = log(σ),
// rot = the normalised quaternion (w, x, y, z); normals are 0. Positions are in the training's canonical space
// (cameras.json uses the same space), so SIBR / SuperSplat / antimatter15 show the face as trained.
//
//   ff::train::write_gaussians_ply("point_cloud.ply", g);   // PlyGaussians of host arrays
#pragma once
#include <string>
#include <vector>

namespace ff::train {

constexpr double kSH_C0 = 0.28209479177387814;

struct PlyGaussians {
  std::vector<float> means;      // [N,3]
  std::vector<float> log_scales; // [N,3]
  std::vector<float> rotations;  // [N,4] (w,x,y,z), normalised on write
  std::vector<float> opacities;  // [N] activated, in (0,1)
  std::vector<float> colors;     // [N,3] RGB in [0,1]
  size_t size() const { return opacities.size(); }
};

void write_gaussians_ply(const std::string& path, const PlyGaussians& g);

// A read-back: property names in header order and the raw float records [N, names.size()] (any property
// order; float/double/int/uchar… properties converted to float).
struct PlyTable {
  std::vector<std::string> names;
  std::vector<float> values;
  size_t rows = 0;
  int column(const std::string& name) const;  // −1 if absent
};
PlyTable read_ply_table(const std::string& path);

}  // namespace ff::train
