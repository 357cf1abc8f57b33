// core/geometry.h — the one host-side camera type and the small vector maths every layer shares.
//
// Conventions (docs/conventions.md): OpenCV camera axes (x right, y down, z forward); `viewmat` is the 4×4
// row-major world→camera matrix [R | t; 0 0 0 1]; intrinsics (fx, fy, cx, cy) are in pixels of a width×height
// image with pixel centres at integer + 0.5 (a camera point (x, y, z) lands at u = fx·x/z + cx, measured from the
// image's left edge); lengths in the world's units (metres for FLAME / the built-in head model); quaternions are
// (w, x, y, z). The rasterizer's kernel-side camera (runtime/splat_math.h make_camera) is built from these same numbers.
//
//   ff::Camera c = ff::look_at({0, 0, 1}, {0, 0, 0}, {0, -1, 0}, 500, 500, 256, 256, 512, 512);
//   std::vector<ff::Camera> path = ff::orbit(c, {0, 0, 0}, ff::camera_up(c), 36, 360);
#pragma once
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/include/facefield.h"

namespace ff {

using Vec3d = std::array<double, 3>;

inline Vec3d cross(const Vec3d& a, const Vec3d& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
inline double dot(const Vec3d& a, const Vec3d& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
inline double norm(const Vec3d& a) { return std::sqrt(dot(a, a)); }
// a / |a|; the zero vector stays zero
inline Vec3d normalized(Vec3d v) {
  const double n = norm(v);
  if (n > 0)
    for (auto& x : v) x /= n;
  return v;
}

struct Camera {
  std::string name;                    // e.g. a NeRSemble serial "222200037" (may be empty)
  int width = 0, height = 0;           // pixels
  std::array<double, 16> viewmat{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};  // world→camera, row-major
  std::array<double, 4> intrinsics{};  // fx, fy, cx, cy

  double R(int i, int j) const { return viewmat[size_t(4 * i + j)]; }
  double t(int i) const { return viewmat[size_t(4 * i + 3)]; }
  double fx() const { return intrinsics[0]; }
  double fy() const { return intrinsics[1]; }
  double cx() const { return intrinsics[2]; }
  double cy() const { return intrinsics[3]; }
  // camera centre in world coordinates, −Rᵀt
  Vec3d center() const;
  // sets R (row-major 3×3) and t, keeping the bottom row [0 0 0 1]
  void set_pose(const std::array<double, 9>& R, const Vec3d& t);
  std::array<double, 9> rotation() const;
  // float copies for the rasterizer (splat::RenderParams viewmats / intrinsics, the runtime's ff_camera)
  std::array<float, 16> viewmat_f() const;
  std::array<float, 4> intrinsics_f() const;
};

// The same camera as the embeddable runtime's C struct (runtime/include/facefield.h): the same numbers as floats.
ff_camera runtime_camera(const Camera& c);

// Intrinsics rescaled to a new image width (aspect kept); width ≤ 0 or equal keeps the camera.
Camera resized(Camera c, int width);
// A camera at `eye` looking at `target`; `down` = the world direction that should point down in the image.
Camera look_at(const Vec3d& eye, const Vec3d& target, const Vec3d& down, double fx, double fy, double cx, double cy,
               int width, int height);
// The world direction that is "up" in a camera's image: −(second row of R).
Vec3d camera_up(const Camera& c);

// Rotation matrix (row-major) ↔ unit quaternion (w, x, y, z); slerp along the shorter arc.
std::array<double, 4> mat_to_quat(const std::array<double, 9>& R);
std::array<double, 9> quat_to_mat(const std::array<double, 4>& q);
std::array<double, 4> slerp(std::array<double, 4> a, std::array<double, 4> b, double u);

// Between two cameras at u ∈ [0,1]: rotation slerp, centre and intrinsics linear (b's intrinsics rescaled to a's
// image size, which the result keeps).
Camera interpolate_camera(const Camera& a, const Camera& b, double u);
// `frames` cameras around `target` about the unit axis `up`, from `start`'s centre and orientation (its distance,
// elevation and intrinsics): degrees ≥ 360 is a full turn, less swings ±degrees/2 around the start and back.
std::vector<Camera> orbit(const Camera& start, const Vec3d& target, Vec3d up, int frames, double degrees);

// Mean of points [P,3].
Vec3d centroid(const std::vector<float>& xyz);
// A frontal camera on +z for points in a face's canonical frame (y up, z out of the face), the points filling
// about 80 % of the image height.
Camera frontal_camera(const std::vector<float>& xyz, int width, int height);

}  // namespace ff
