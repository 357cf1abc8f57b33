// core/geometry.cpp — camera maths (see geometry.h).
#include "core/geometry.h"

#include <algorithm>

namespace ff {

Vec3d Camera::center() const {
  Vec3d c{};
  for (int i = 0; i < 3; ++i) c[size_t(i)] = -(R(0, i) * t(0) + R(1, i) * t(1) + R(2, i) * t(2));
  return c;
}

void Camera::set_pose(const std::array<double, 9>& Rm, const Vec3d& tv) {
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) viewmat[size_t(4 * i + j)] = Rm[size_t(3 * i + j)];
    viewmat[size_t(4 * i + 3)] = tv[size_t(i)];
  }
  viewmat[12] = viewmat[13] = viewmat[14] = 0;
  viewmat[15] = 1;
}

std::array<double, 9> Camera::rotation() const {
  std::array<double, 9> r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r[size_t(3 * i + j)] = R(i, j);
  return r;
}

std::array<float, 16> Camera::viewmat_f() const {
  std::array<float, 16> v;
  for (size_t i = 0; i < 16; ++i) v[i] = float(viewmat[i]);
  return v;
}
std::array<float, 4> Camera::intrinsics_f() const {
  return {float(intrinsics[0]), float(intrinsics[1]), float(intrinsics[2]), float(intrinsics[3])};
}

ff_camera runtime_camera(const Camera& c) {
  ff_camera r{};
  for (size_t i = 0; i < 16; ++i) r.viewmat[i] = float(c.viewmat[i]);
  r.fx = float(c.fx()), r.fy = float(c.fy()), r.cx = float(c.cx()), r.cy = float(c.cy());
  r.width = c.width, r.height = c.height;
  return r;
}

Camera resized(Camera c, int width) {
  if (width <= 0 || width == c.width) return c;
  const double s = double(width) / c.width;
  for (auto& k : c.intrinsics) k *= s;
  c.width = width;
  c.height = std::max(1, int(std::lround(c.height * s)));
  return c;
}

namespace {
// t = −R·centre for a camera with rotation R at `centre`
Vec3d translation_for(const std::array<double, 9>& R, const Vec3d& centre) {
  Vec3d t;
  for (int i = 0; i < 3; ++i)
    t[size_t(i)] = -(R[size_t(3 * i)] * centre[0] + R[size_t(3 * i + 1)] * centre[1] + R[size_t(3 * i + 2)] * centre[2]);
  return t;
}
}  // namespace

Camera look_at(const Vec3d& eye, const Vec3d& target, const Vec3d& down, double fx, double fy, double cx, double cy,
               int width, int height) {
  const Vec3d z = normalized({target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]});
  Vec3d x = normalized(cross(down, z));
  if (x[0] == 0 && x[1] == 0 && x[2] == 0) x = normalized(cross({0, 0, 1}, z));
  const Vec3d y = cross(z, x);
  const std::array<double, 9> R = {x[0], x[1], x[2], y[0], y[1], y[2], z[0], z[1], z[2]};
  Camera c;
  c.set_pose(R, translation_for(R, eye));
  c.intrinsics = {fx, fy, cx, cy};
  c.width = width, c.height = height;
  return c;
}

Vec3d camera_up(const Camera& c) { return {-c.R(1, 0), -c.R(1, 1), -c.R(1, 2)}; }

std::array<double, 4> mat_to_quat(const std::array<double, 9>& m) {
  std::array<double, 4> q;
  const double tr = m[0] + m[4] + m[8];
  if (tr > 0) {
    const double s = std::sqrt(tr + 1.0) * 2;
    q = {0.25 * s, (m[7] - m[5]) / s, (m[2] - m[6]) / s, (m[3] - m[1]) / s};
  } else if (m[0] > m[4] && m[0] > m[8]) {
    const double s = std::sqrt(1.0 + m[0] - m[4] - m[8]) * 2;
    q = {(m[7] - m[5]) / s, 0.25 * s, (m[1] + m[3]) / s, (m[2] + m[6]) / s};
  } else if (m[4] > m[8]) {
    const double s = std::sqrt(1.0 + m[4] - m[0] - m[8]) * 2;
    q = {(m[2] - m[6]) / s, (m[1] + m[3]) / s, 0.25 * s, (m[5] + m[7]) / s};
  } else {
    const double s = std::sqrt(1.0 + m[8] - m[0] - m[4]) * 2;
    q = {(m[3] - m[1]) / s, (m[2] + m[6]) / s, (m[5] + m[7]) / s, 0.25 * s};
  }
  const double n = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  for (auto& v : q) v /= n;
  return q;
}

std::array<double, 9> quat_to_mat(const std::array<double, 4>& q) {
  const double w = q[0], x = q[1], y = q[2], z = q[3];
  return {1 - 2 * (y * y + z * z), 2 * (x * y - w * z),     2 * (x * z + w * y),
          2 * (x * y + w * z),     1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
          2 * (x * z - w * y),     2 * (y * z + w * x),     1 - 2 * (x * x + y * y)};
}

std::array<double, 4> slerp(std::array<double, 4> a, std::array<double, 4> b, double u) {
  double d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
  if (d < 0) {
    for (auto& v : b) v = -v;
    d = -d;
  }
  std::array<double, 4> q;
  if (d > 0.9995) {
    for (size_t k = 0; k < 4; ++k) q[k] = a[k] + u * (b[k] - a[k]);
  } else {
    const double th = std::acos(d), s = std::sin(th);
    const double wa = std::sin((1 - u) * th) / s, wb = std::sin(u * th) / s;
    for (size_t k = 0; k < 4; ++k) q[k] = wa * a[k] + wb * b[k];
  }
  const double n = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  for (auto& v : q) v /= n;
  return q;
}

Camera interpolate_camera(const Camera& a, const Camera& b, double u) {
  Camera c = a;
  const std::array<double, 9> R = quat_to_mat(slerp(mat_to_quat(a.rotation()), mat_to_quat(b.rotation()), u));
  const Vec3d ca = a.center(), cb = b.center();
  Vec3d ctr;
  for (size_t k = 0; k < 3; ++k) ctr[k] = ca[k] + u * (cb[k] - ca[k]);
  c.set_pose(R, translation_for(R, ctr));
  const double sx = double(a.width) / b.width, sy = double(a.height) / b.height;  // b's intrinsics at a's size
  const double s[4] = {sx, sy, sx, sy};
  for (size_t k = 0; k < 4; ++k) c.intrinsics[k] = a.intrinsics[k] + u * (b.intrinsics[k] * s[k] - a.intrinsics[k]);
  return c;
}

std::vector<Camera> orbit(const Camera& start, const Vec3d& target, Vec3d up, int frames, double degrees) {
  up = normalized(up);
  const Vec3d c0 = start.center();
  const Vec3d d0 = {c0[0] - target[0], c0[1] - target[1], c0[2] - target[2]};
  const std::array<double, 9> R0 = start.rotation();
  std::vector<Camera> out;
  for (int f = 0; f < frames; ++f) {
    const double ang = degrees >= 360 ? 2 * M_PI * f / frames
                                      : degrees * M_PI / 180 * 0.5 * std::sin(2 * M_PI * f / frames);
    // Rodrigues rotation about `up`
    auto rot = [&](const Vec3d& v) {
      const double c = std::cos(ang), s = std::sin(ang), k = dot(up, v);
      const Vec3d x = cross(up, v);
      return Vec3d{v[0] * c + x[0] * s + up[0] * k * (1 - c), v[1] * c + x[1] * s + up[1] * k * (1 - c),
                   v[2] * c + x[2] * s + up[2] * k * (1 - c)};
    };
    const Vec3d d = rot(d0);
    const Vec3d eye = {target[0] + d[0], target[1] + d[1], target[2] + d[2]};
    std::array<double, 9> R;
    for (size_t i = 0; i < 3; ++i) {
      const Vec3d row = rot({R0[3 * i], R0[3 * i + 1], R0[3 * i + 2]});
      for (size_t j = 0; j < 3; ++j) R[3 * i + j] = row[j];
    }
    Camera c = start;
    c.set_pose(R, translation_for(R, eye));
    out.push_back(c);
  }
  return out;
}

Vec3d centroid(const std::vector<float>& xyz) {
  Vec3d c{0, 0, 0};
  const size_t n = xyz.size() / 3;
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < 3; ++k) c[k] += xyz[3 * i + k] / double(n);
  return c;
}

Camera frontal_camera(const std::vector<float>& xyz, int width, int height) {
  const Vec3d c = centroid(xyz);
  double r = 1e-6;
  for (size_t i = 0; i + 2 < xyz.size(); i += 3) {
    const double dx = xyz[i] - c[0], dy = xyz[i + 1] - c[1], dz = xyz[i + 2] - c[2];
    r = std::max(r, std::sqrt(dx * dx + dy * dy + dz * dz));
  }
  const double dist = 4 * r, f = 0.5 * std::min(width, height) * dist / (1.25 * r);
  return look_at({c[0], c[1], c[2] + dist}, c, {0, -1, 0}, f, f, 0.5 * width, 0.5 * height, width, height);
}

}  // namespace ff
