// runtime/lbs.h — the per-joint maths of FLAME's linear blend skinning, header-only and dependency-free, shared by
// the engine's differentiable head-model forward (flame/flame_lbs.cpp: f64 with VJPs, batches, shape coefficients,
// used for training and fitting) and the runtime's float rig forward (runtime/rig.h: one identity's trimmed rig,
// forward only, used for posing and rendering). One copy of Rodrigues, the kinematic chain and the skinned vertex.
//
//   rodrigues        R = I + sin θ·K + (1 − cos θ)·K², θ = ‖r + 1e-8‖ (elementwise 1e-8, smplx batch_rodrigues),
//                    K the cross-product matrix of k = r/θ; R [9] row-major.
//   kinematic_chain  from R [J,9] and rest joints Jr [J,3] (parents[j] < j, parents[0] = −1): global transforms
//                    G [J,12] (3×4 row-major, G_j = G_parent · [R_j | Jr_j − Jr_parent]) and skinning transforms
//                    A [J,12] = [G_R | G_t − G_R·Jr_j].
//   skin_vertex      y = (Σ_j w_j A_j) · [x; 1] for one vertex (joints of zero weight skipped).
#pragma once
#include <cmath>
#include <cstdint>

namespace ffrt::lbs {

constexpr double kRodriguesEps = 1e-8;  // the elementwise epsilon of smplx batch_rodrigues

template <class T>
inline void mat3_mul(const T* a, const T* b, T* c) {  // c = a·b (3x3)
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) c[i * 3 + j] = a[i * 3 + 0] * b[0 * 3 + j] + a[i * 3 + 1] * b[1 * 3 + j] + a[i * 3 + 2] * b[2 * 3 + j];
}

template <class T>
inline void rodrigues(const T r[3], T R[9]) {
  const T e = T(kRodriguesEps);
  T theta = std::sqrt((r[0] + e) * (r[0] + e) + (r[1] + e) * (r[1] + e) + (r[2] + e) * (r[2] + e));
  T kx = r[0] / theta, ky = r[1] / theta, kz = r[2] / theta;
  T s = std::sin(theta), c = std::cos(theta), oc = T(1) - c;
  T K[9] = {0, -kz, ky, kz, 0, -kx, -ky, kx, 0};
  T K2[9];
  mat3_mul(K, K, K2);
  for (int i = 0; i < 9; ++i) R[i] = (i % 4 == 0 ? T(1) : T(0)) + s * K[i] + oc * K2[i];
}

template <class T>
inline void kinematic_chain(const int32_t* parents, int J, const T* R, const T* Jr, T* G, T* A) {
  for (int j = 0; j < J; ++j) {
    int p = parents[j];
    T* g = G + j * 12;
    if (p < 0) {
      for (int i = 0; i < 3; ++i) {
        for (int k = 0; k < 3; ++k) g[i * 4 + k] = R[j * 9 + i * 3 + k];
        g[i * 4 + 3] = Jr[j * 3 + i];
      }
    } else {
      const T* gp = G + p * 12;
      T rel[3] = {Jr[j * 3 + 0] - Jr[p * 3 + 0], Jr[j * 3 + 1] - Jr[p * 3 + 1], Jr[j * 3 + 2] - Jr[p * 3 + 2]};
      for (int i = 0; i < 3; ++i) {
        for (int k = 0; k < 3; ++k)
          g[i * 4 + k] = gp[i * 4 + 0] * R[j * 9 + 0 * 3 + k] + gp[i * 4 + 1] * R[j * 9 + 1 * 3 + k] +
                         gp[i * 4 + 2] * R[j * 9 + 2 * 3 + k];
        g[i * 4 + 3] = gp[i * 4 + 0] * rel[0] + gp[i * 4 + 1] * rel[1] + gp[i * 4 + 2] * rel[2] + gp[i * 4 + 3];
      }
    }
    T* a = A + j * 12;
    for (int i = 0; i < 3; ++i) {
      for (int k = 0; k < 3; ++k) a[i * 4 + k] = g[i * 4 + k];
      a[i * 4 + 3] = g[i * 4 + 3] - (g[i * 4 + 0] * Jr[j * 3 + 0] + g[i * 4 + 1] * Jr[j * 3 + 1] + g[i * 4 + 2] * Jr[j * 3 + 2]);
    }
  }
}

// One vertex: x [3] (after pose correctives), its skinning weights w [J] (any numeric type W), A [J,12] → y [3].
template <class T, class W>
inline void skin_vertex(const T* A, const W* w, int J, const T x[3], T y[3]) {
  T M[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int j = 0; j < J; ++j) {
    if (w[j] == W(0)) continue;
    const T wj = T(w[j]);
    for (int i = 0; i < 12; ++i) M[i] += wj * A[j * 12 + i];
  }
  for (int i = 0; i < 3; ++i) y[i] = M[i * 4 + 0] * x[0] + M[i * 4 + 1] * x[1] + M[i * 4 + 2] * x[2] + M[i * 4 + 3];
}

}  // namespace ffrt::lbs
