// flame/landmarks.h — FLAME landmarks (barycentric embeddings on the posed mesh) and a pinhole projection,
// each with its VJP.
//
// Schemes:
//   Static51   — flame_static_embedding.pkl (51 inner-face points of the iBUG-68 scheme).
//   Contour68  — 17 dynamic jaw-contour points chosen per item by neck yaw, then the 51 static ones (iBUG order,
//                as DECA / flame-pytorch concatenate them). Bin selection follows smplx
//                find_dynamic_lmk_idx_and_bcoords: R = R_global · R_neck, yaw = atan2(−R20, √(R00² + R10²)),
//                y = round_half_even(min(−yaw·180/π, 39)); bin = y ≥ 0 ? y : (y < −39 ? 78 : 39 − y).
//                The bin is piecewise constant in the pose, so gradients flow only through the vertices.
//   WithEyes70 — landmark_embedding_with_eyes.npy full_lmk_* (68 iBUG + 2 pupils, GaussianAvatars/VHAP).
//
// landmarks_bwd ACCUMULATES (+=) into d_vertices. project_points_vjp accumulates into d_points (and d_R/d_t
// when given).
//
//   auto set = ff::flame::make_landmark_set<float>(model, ff::flame::LandmarkScheme::Contour68, pose, B);
//   std::vector<float> lmk(B * set.count * 3);
//   ff::flame::landmarks_fwd(model, set, out.vertices.data(), lmk.data());
#pragma once
#include <cstdint>
#include <vector>

#include "flame/flame.h"

namespace ff::flame {

enum class LandmarkScheme { Static51, Contour68, WithEyes70 };

// Per-item landmark tables (items can differ in the contour bin).
struct LandmarkSet {
  int batch = 0, count = 0;
  std::vector<int32_t> face_idx;  // [B, L]
  std::vector<double> bary;       // [B, L, 3]
  std::vector<int> bins;          // [B] contour bin used (Contour68), else empty
};

// Contour bin (0..bins−1 for the 79-bin table) of one item's pose [J*3].
template <class T>
int dynamic_landmark_bin(const T* pose, int num_joints);

// pose: [B, J*3] (needed for Contour68; null means zero pose).
template <class T>
LandmarkSet make_landmark_set(const FlameModel& m, LandmarkScheme scheme, const T* pose, int batch);

// vertices [B, V, 3] → landmarks [B, L, 3]
template <class T>
void landmarks_fwd(const FlameModel& m, const LandmarkSet& set, const T* vertices, T* landmarks);
// d_landmarks [B, L, 3] → d_vertices [B, V, 3] (+=)
template <class T>
void landmarks_bwd(const FlameModel& m, const LandmarkSet& set, const T* d_landmarks, T* d_vertices);

// World → camera x_c = R·x + t (R row-major), then u = fx·x_c/z_c + cx, v = fy·y_c/z_c + cy (OpenCV).
template <class T>
struct PinholeCamera {
  T fx = 1, fy = 1, cx = 0, cy = 0;
  T R[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  T t[3] = {0, 0, 0};
};

// points [N, 3] → uv [N, 2], depth [N] (optional). Points must be in front of the camera (z_c > 0).
template <class T>
void project_points(const PinholeCamera<T>& cam, const T* points, int n, T* uv, T* depth = nullptr);
// d_uv [N, 2] → d_points [N, 3] (+=); d_R [9], d_t [3] (+=, optional).
template <class T>
void project_points_vjp(const PinholeCamera<T>& cam, const T* points, int n, const T* d_uv, T* d_points,
                        T* d_R = nullptr, T* d_t = nullptr);

}  // namespace ff::flame
