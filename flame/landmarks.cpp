// flame/landmarks.cpp — see landmarks.h.
#include "flame/landmarks.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace ff::flame {

template <class T>
int dynamic_landmark_bin(const T* pose, int J) {
  FF_CHECK(J >= 2, "dynamic landmarks need the global and neck joints");
  T Rg[9], Rn[9];
  T zero[3] = {0, 0, 0};
  rodrigues(pose ? pose + 0 : zero, Rg);
  rodrigues(pose ? pose + 3 * kNeck : zero, Rn);
  // rel = R_global · R_neck (smplx multiplies along neck_kin_chain = [neck, global])
  double R[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      R[i * 3 + j] = double(Rg[i * 3 + 0]) * double(Rn[0 * 3 + j]) + double(Rg[i * 3 + 1]) * double(Rn[1 * 3 + j]) +
                     double(Rg[i * 3 + 2]) * double(Rn[2 * 3 + j]);
  double yaw = std::atan2(-R[6], std::sqrt(R[0] * R[0] + R[3] * R[3]));
  double y = std::nearbyint(std::min(-yaw * 180.0 / M_PI, 39.0));  // round half to even, like torch.round
  int yi = int(y);
  if (yi >= 0) return yi;
  return yi < -39 ? 78 : 39 - yi;
}

template <class T>
LandmarkSet make_landmark_set(const FlameModel& m, LandmarkScheme scheme, const T* pose, int batch) {
  FF_CHECK(batch >= 1, "make_landmark_set: batch must be >= 1");
  LandmarkSet s;
  s.batch = batch;
  auto append = [&](const int32_t* idx, const double* bc, int n) {
    for (int l = 0; l < n; ++l) {
      s.face_idx.push_back(idx[l]);
      for (int k = 0; k < 3; ++k) s.bary.push_back(bc[l * 3 + k]);
    }
  };
  const LandmarkEmbedding* fixed = nullptr;
  if (scheme == LandmarkScheme::Static51) fixed = &m.static_landmarks;
  if (scheme == LandmarkScheme::WithEyes70) fixed = &m.full_landmarks;
  if (fixed) {
    FF_CHECK(!fixed->empty(), "make_landmark_set: model '", m.source, "' has no ",
             scheme == LandmarkScheme::Static51 ? "static (flame_static_embedding)" : "with-eyes (full_lmk)",
             " landmark embedding loaded");
    s.count = fixed->count();
    for (int b = 0; b < batch; ++b) append(fixed->face_idx.data(), fixed->bary.data(), fixed->count());
    return s;
  }
  const DynamicLandmarkEmbedding& d = m.dynamic_landmarks;
  FF_CHECK(!m.static_landmarks.empty() && !d.empty(), "make_landmark_set: Contour68 needs both the static and the ",
           "dynamic landmark embeddings (model '", m.source, "')");
  FF_CHECK(d.bins >= 79, "make_landmark_set: the dynamic embedding has ", d.bins, " bins, the yaw rule needs 79");
  s.count = d.points + m.static_landmarks.count();
  for (int b = 0; b < batch; ++b) {
    int bin = dynamic_landmark_bin(pose ? pose + size_t(b) * m.J * 3 : nullptr, m.J);
    s.bins.push_back(bin);
    append(d.face_idx.data() + size_t(bin) * d.points, d.bary.data() + size_t(bin) * d.points * 3, d.points);
    append(m.static_landmarks.face_idx.data(), m.static_landmarks.bary.data(), m.static_landmarks.count());
  }
  return s;
}

template <class T>
void landmarks_fwd(const FlameModel& m, const LandmarkSet& s, const T* vertices, T* out) {
  const size_t V3 = size_t(m.V) * 3;
  for (int b = 0; b < s.batch; ++b)
    for (int l = 0; l < s.count; ++l) {
      size_t i = size_t(b) * s.count + size_t(l);
      int32_t f = s.face_idx[i];
      FF_CHECK(f >= 0 && f < m.F, "landmarks_fwd: face index ", f, " out of range");
      T acc[3] = {0, 0, 0};
      for (int k = 0; k < 3; ++k) {
        T w = T(s.bary[i * 3 + size_t(k)]);
        const T* v = vertices + size_t(b) * V3 + size_t(m.faces[size_t(f) * 3 + size_t(k)]) * 3;
        for (int c = 0; c < 3; ++c) acc[c] += w * v[c];
      }
      for (int c = 0; c < 3; ++c) out[i * 3 + size_t(c)] = acc[c];
    }
}

template <class T>
void landmarks_bwd(const FlameModel& m, const LandmarkSet& s, const T* d_lmk, T* d_vertices) {
  const size_t V3 = size_t(m.V) * 3;
  for (int b = 0; b < s.batch; ++b)
    for (int l = 0; l < s.count; ++l) {
      size_t i = size_t(b) * s.count + size_t(l);
      int32_t f = s.face_idx[i];
      FF_CHECK(f >= 0 && f < m.F, "landmarks_bwd: face index ", f, " out of range");
      for (int k = 0; k < 3; ++k) {
        T w = T(s.bary[i * 3 + size_t(k)]);
        T* dv = d_vertices + size_t(b) * V3 + size_t(m.faces[size_t(f) * 3 + size_t(k)]) * 3;
        for (int c = 0; c < 3; ++c) dv[c] += w * d_lmk[i * 3 + size_t(c)];
      }
    }
}

template <class T>
void project_points(const PinholeCamera<T>& cam, const T* p, int n, T* uv, T* depth) {
  for (int i = 0; i < n; ++i) {
    const T* x = p + size_t(i) * 3;
    T c[3];
    for (int r = 0; r < 3; ++r) c[r] = cam.R[r * 3] * x[0] + cam.R[r * 3 + 1] * x[1] + cam.R[r * 3 + 2] * x[2] + cam.t[r];
    FF_CHECK(c[2] > T(0), "project_points: point ", i, " is behind the camera (z = ", c[2], ")");
    uv[size_t(i) * 2] = cam.fx * c[0] / c[2] + cam.cx;
    uv[size_t(i) * 2 + 1] = cam.fy * c[1] / c[2] + cam.cy;
    if (depth) depth[i] = c[2];
  }
}

template <class T>
void project_points_vjp(const PinholeCamera<T>& cam, const T* p, int n, const T* d_uv, T* d_p, T* d_R, T* d_t) {
  for (int i = 0; i < n; ++i) {
    const T* x = p + size_t(i) * 3;
    T c[3];
    for (int r = 0; r < 3; ++r) c[r] = cam.R[r * 3] * x[0] + cam.R[r * 3 + 1] * x[1] + cam.R[r * 3 + 2] * x[2] + cam.t[r];
    FF_CHECK(c[2] > T(0), "project_points_vjp: point ", i, " is behind the camera");
    T iz = T(1) / c[2];
    T du = d_uv[size_t(i) * 2], dv = d_uv[size_t(i) * 2 + 1];
    T dc[3] = {cam.fx * iz * du, cam.fy * iz * dv, -(cam.fx * c[0] * du + cam.fy * c[1] * dv) * iz * iz};
    for (int k = 0; k < 3; ++k)
      d_p[size_t(i) * 3 + size_t(k)] += cam.R[0 * 3 + k] * dc[0] + cam.R[1 * 3 + k] * dc[1] + cam.R[2 * 3 + k] * dc[2];
    if (d_R)
      for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 3; ++k) d_R[r * 3 + k] += dc[r] * x[k];
    if (d_t)
      for (int r = 0; r < 3; ++r) d_t[r] += dc[r];
  }
}

#define FF_LMK_INSTANTIATE(T)                                                                                 \
  template int dynamic_landmark_bin<T>(const T*, int);                                                        \
  template LandmarkSet make_landmark_set<T>(const FlameModel&, LandmarkScheme, const T*, int);               \
  template void landmarks_fwd<T>(const FlameModel&, const LandmarkSet&, const T*, T*);                       \
  template void landmarks_bwd<T>(const FlameModel&, const LandmarkSet&, const T*, T*);                       \
  template void project_points<T>(const PinholeCamera<T>&, const T*, int, T*, T*);                           \
  template void project_points_vjp<T>(const PinholeCamera<T>&, const T*, int, const T*, T*, T*, T*);
FF_LMK_INSTANTIATE(float)
FF_LMK_INSTANTIATE(double)
#undef FF_LMK_INSTANTIATE

}  // namespace ff::flame
