// runtime/binding.h — Gaussians bound to the triangles of a deforming mesh, and the exact VJP (docs/animation.md).
// Header-only and dependency-free (it lives in runtime/ so the engine and a future runtime-side deformation share
// one copy); templated on float/double (double is what the finite-difference tests check).
//
// Binding of Gaussian g: a triangle (three vertex ids tri[g]) and barycentric weights bary[g] of the mesh its
// layout was placed on (train/model.h SurfaceLayout: tri, bary). For a mesh V:
//   point    p(V)  = Σ_j bary_j · V[tri_j]
//   frame    R(V)  = [a0 | a1 | a2] (columns, stored row-major R[3·i + c] = a_c[i]):
//                    a0 = (v1 − v0)/‖v1 − v0‖ (the first edge), a1 = a0 × (v2 − v0) normalised (the normal),
//                    a2 = a0 × a1 — GaussianAvatars' triangle frame (ShenhanQian/GaussianAvatars,
//                    utils/graphics_utils.py compute_face_orientation; their a2 = −normalise(a1 × a0) is the same)
//   size     s(V)  = (‖v1 − v0‖ + ‖v2 − v1‖ + ‖v0 − v2‖)/3, the mean edge length (GaussianAvatars uses
//                    (‖v1 − v0‖ + height over that edge)/2; only the ratio to the neutral size enters here)
// Given the neutral mesh V0 (the one the identity's Gaussians were decoded on) and a posed mesh V1, a Gaussian with
// neutral mean x0, rotation q0 (w,x,y,z, any norm) and log-scale ls0 becomes
//   local    l  = R0ᵀ (x0 − p0) / s0                      (barycentric point + offset in the frame, in triangle units)
//   mean     x  = x0 + (p1 − p0) + (s1·R1 − s0·R0) · l    (= p1 + s1·R1·l)
//   rotation q  = quat(M) ⊗ q0,  M = I + (R1 − R0) R0ᵀ    (= R1 R0ᵀ, the frame's rotation from neutral to posed)
//   scale    ls = ls0 + log(s1 / s0)                      (exp(ls) = exp(ls0) · s1/s0)
// Written as differences, so that the result varies smoothly out of the neutral pose; a Gaussian whose three
// posed vertices equal the neutral ones bitwise is copied unchanged (x == x0, q == q0, ls == ls0 bitwise), so the
// neutral pose reproduces the static Gaussians to the last bit whatever the compiler contracts into fused
// multiply-adds (fma(s1, R1, −s0·R0) is not exactly 0 when R1 == R0).
// quat(M) is Shepperd's method (the largest of w, x, y, z is computed from the diagonal); its VJP follows the same
// branch. Degenerate triangles (a zero edge or zero area) divide by zero: the layouts bind Gaussians to triangles
// of positive area only.
// Every function is __host__ __device__ when compiled by nvcc (FFRT_BINDING_HD), so the engine's CUDA kernel
// (train/pose_gaussians.cu) runs this very code; a plain C++ compiler sees ordinary inline functions.
#pragma once
#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define FFRT_BINDING_HD __host__ __device__
#else
#define FFRT_BINDING_HD
#endif

namespace ffrt::binding {

template <class T>
FFRT_BINDING_HD inline T b_sqrt(T v) { return sqrt(v); }
template <>
FFRT_BINDING_HD inline float b_sqrt<float>(float v) { return sqrtf(v); }
template <class T>
FFRT_BINDING_HD inline T b_log(T v) { return log(v); }
template <>
FFRT_BINDING_HD inline float b_log<float>(float v) { return logf(v); }

template <class T>
FFRT_BINDING_HD inline void cross3(const T a[3], const T b[3], T o[3]) {
  o[0] = a[1] * b[2] - a[2] * b[1];
  o[1] = a[2] * b[0] - a[0] * b[2];
  o[2] = a[0] * b[1] - a[1] * b[0];
}
template <class T>
FFRT_BINDING_HD inline T dot3(const T a[3], const T b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// The intermediates of a triangle's frame and size (shared by triangle_frame and its VJP): edges u = v1 − v0,
// w = v2 − v0, e = v2 − v1 and their lengths, the normal's length ln, the frame's columns a0, a1, a2.
template <class T>
struct FrameParts {
  T u[3], w[3], e[3], a0[3], a1[3], a2[3], lu, lw, le, ln;
  FFRT_BINDING_HD FrameParts(const T v0[3], const T v1[3], const T v2[3]) {
    T n[3];
    for (int i = 0; i < 3; ++i) {
      u[i] = v1[i] - v0[i];
      w[i] = v2[i] - v0[i];
      e[i] = v2[i] - v1[i];
    }
    lu = b_sqrt(dot3(u, u));
    lw = b_sqrt(dot3(w, w));
    le = b_sqrt(dot3(e, e));
    for (int i = 0; i < 3; ++i) a0[i] = u[i] / lu;
    cross3(a0, w, n);
    ln = b_sqrt(dot3(n, n));
    for (int i = 0; i < 3; ++i) a1[i] = n[i] / ln;
    cross3(a0, a1, a2);
  }
};

// Frame R [9] (row-major, columns a0, a1, a2) and mean edge length s of the triangle (v0, v1, v2).
template <class T>
FFRT_BINDING_HD inline void triangle_frame(const T v0[3], const T v1[3], const T v2[3], T R[9], T* s) {
  const FrameParts<T> f(v0, v1, v2);
  for (int i = 0; i < 3; ++i) {
    R[3 * i + 0] = f.a0[i];
    R[3 * i + 1] = f.a1[i];
    R[3 * i + 2] = f.a2[i];
  }
  *s = (f.lu + f.le + f.lw) / T(3);
}

// The unit normal n [3] of the triangle (v0, v1, v2): triangle_frame's second column a1.
template <class T>
FFRT_BINDING_HD inline void triangle_normal(const T v0[3], const T v1[3], const T v2[3], T n[3]) {
  const FrameParts<T> f(v0, v1, v2);
  for (int i = 0; i < 3; ++i) n[i] = f.a1[i];
}

// VJP of triangle_frame: dR [9], ds → ACCUMULATES into dv0, dv1, dv2.
template <class T>
FFRT_BINDING_HD
inline void triangle_frame_vjp(const T v0[3], const T v1[3], const T v2[3], const T dR[9], T ds, T dv0[3], T dv1[3],
                               T dv2[3]) {
  const FrameParts<T> f(v0, v1, v2);
  const T *u = f.u, *w = f.w, *e = f.e, *a0 = f.a0, *a1 = f.a1;
  const T lu = f.lu, ln = f.ln, le = f.le, lw = f.lw;
  T g0[3], g1[3], g2[3];
  for (int i = 0; i < 3; ++i) {
    g0[i] = dR[3 * i + 0];
    g1[i] = dR[3 * i + 1];
    g2[i] = dR[3 * i + 2];
  }
  // a2 = a0 × a1: d a0 += a1 × g2, d a1 += g2 × a0
  T t[3];
  cross3(a1, g2, t);
  for (int i = 0; i < 3; ++i) g0[i] += t[i];
  cross3(g2, a0, t);
  for (int i = 0; i < 3; ++i) g1[i] += t[i];
  // a1 = n/‖n‖
  T gn[3];
  const T p1 = dot3(a1, g1);
  for (int i = 0; i < 3; ++i) gn[i] = (g1[i] - a1[i] * p1) / ln;
  // n = a0 × w: d a0 += w × gn, d w += gn × a0
  T gw[3];
  cross3(w, gn, t);
  for (int i = 0; i < 3; ++i) g0[i] += t[i];
  cross3(gn, a0, gw);
  // a0 = u/‖u‖
  T gu[3];
  const T p0 = dot3(a0, g0);
  for (int i = 0; i < 3; ++i) gu[i] = (g0[i] - a0[i] * p0) / lu;
  // s = (‖u‖ + ‖e‖ + ‖w‖)/3
  const T d3 = ds / T(3);
  for (int i = 0; i < 3; ++i) {
    gu[i] += d3 * u[i] / lu;
    gw[i] += d3 * w[i] / lw;
    const T ge = d3 * e[i] / le;
    dv1[i] += gu[i] - ge;
    dv2[i] += gw[i] + ge;
    dv0[i] -= gu[i] + gw[i];
  }
}

// Shepperd's method: rotation matrix M (row-major) → unit quaternion (w,x,y,z). Branch b: 0 = w, 1..3 = x, y, z is
// the largest component; the same branch for the VJP.
template <class T>
FFRT_BINDING_HD inline int quat_branch(const T M[9]) {
  const T tr = M[0] + M[4] + M[8];
  int b = 0;
  T best = tr;
  for (int i = 0; i < 3; ++i)
    if (M[4 * i] > best) {
      best = M[4 * i];
      b = i + 1;
    }
  return b;
}
// Per branch: signs of M00, M11, M22 under the root, then for the three other components (in w,x,y,z order,
// skipping the branch's) the two matrix entries and the sign of the second: component = (M[a] ± M[b]) / (2r).
struct QuatBranchTable {
  int sign[3];
  int comp[3], a[3], b[3], sb[3];
};
FFRT_BINDING_HD inline const QuatBranchTable& quat_table(int branch) {
  static const QuatBranchTable t[4] = {
      {{1, 1, 1}, {1, 2, 3}, {7, 2, 3}, {5, 6, 1}, {-1, -1, -1}},     // w: x=(M21−M12) y=(M02−M20) z=(M10−M01)
      {{1, -1, -1}, {0, 2, 3}, {7, 1, 2}, {5, 3, 6}, {-1, 1, 1}},     // x: w=(M21−M12) y=(M01+M10) z=(M02+M20)
      {{-1, 1, -1}, {0, 1, 3}, {2, 1, 5}, {6, 3, 7}, {-1, 1, 1}},     // y: w=(M02−M20) x=(M01+M10) z=(M12+M21)
      {{-1, -1, 1}, {0, 1, 2}, {3, 2, 5}, {1, 6, 7}, {-1, 1, 1}}};    // z: w=(M10−M01) x=(M02+M20) y=(M12+M21)
  return t[branch];
}
template <class T>
FFRT_BINDING_HD inline void rotation_to_quat(const T M[9], T q[4]) {
  const int br = quat_branch(M);
  const QuatBranchTable& t = quat_table(br);
  const T r = b_sqrt(T(1) + T(t.sign[0]) * M[0] + T(t.sign[1]) * M[4] + T(t.sign[2]) * M[8]);
  q[br] = r / T(2);
  const T f = T(1) / (T(2) * r);
  for (int k = 0; k < 3; ++k) q[t.comp[k]] = (M[t.a[k]] + T(t.sb[k]) * M[t.b[k]]) * f;
}
// ACCUMULATES into dM [9].
template <class T>
FFRT_BINDING_HD inline void rotation_to_quat_vjp(const T M[9], const T dq[4], T dM[9]) {
  const int br = quat_branch(M);
  const QuatBranchTable& t = quat_table(br);
  const T r = b_sqrt(T(1) + T(t.sign[0]) * M[0] + T(t.sign[1]) * M[4] + T(t.sign[2]) * M[8]);
  const T f = T(1) / (T(2) * r);
  T dr = dq[br] / T(2);
  for (int k = 0; k < 3; ++k) {
    const T num = M[t.a[k]] + T(t.sb[k]) * M[t.b[k]];
    dr -= dq[t.comp[k]] * num * f / r;  // d(num/(2r))/dr = −num/(2r²)
    dM[t.a[k]] += dq[t.comp[k]] * f;
    dM[t.b[k]] += T(t.sb[k]) * dq[t.comp[k]] * f;
  }
  const T dt = dr / (T(2) * r);
  for (int i = 0; i < 3; ++i) dM[4 * i] += T(t.sign[i]) * dt;
}

// Hamilton product a ⊗ b (w,x,y,z).
template <class T>
FFRT_BINDING_HD inline void quat_mul(const T a[4], const T b[4], T o[4]) {
  o[0] = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3];
  o[1] = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2];
  o[2] = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1];
  o[3] = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0];
}
// VJP of o = a ⊗ b: ACCUMULATES into da, db (either may be null).
template <class T>
FFRT_BINDING_HD inline void quat_mul_vjp(const T a[4], const T b[4], const T d[4], T* da, T* db) {
  if (da) {
    da[0] += d[0] * b[0] + d[1] * b[1] + d[2] * b[2] + d[3] * b[3];
    da[1] += -d[0] * b[1] + d[1] * b[0] - d[2] * b[3] + d[3] * b[2];
    da[2] += -d[0] * b[2] + d[1] * b[3] + d[2] * b[0] - d[3] * b[1];
    da[3] += -d[0] * b[3] - d[1] * b[2] + d[2] * b[1] + d[3] * b[0];
  }
  if (db) {
    db[0] += d[0] * a[0] + d[1] * a[1] + d[2] * a[2] + d[3] * a[3];
    db[1] += -d[0] * a[1] + d[1] * a[0] + d[2] * a[3] - d[3] * a[2];
    db[2] += -d[0] * a[2] - d[1] * a[3] + d[2] * a[0] + d[3] * a[1];
    db[3] += -d[0] * a[3] + d[1] * a[2] - d[2] * a[1] + d[3] * a[0];
  }
}

// The three vertices of Gaussian g's triangle in mesh V [*,3] and its barycentric point.
template <class T, class B>
FFRT_BINDING_HD
inline void bound_triangle(const int32_t* tri, const B* bary, const T* V, int64_t g, const T* v[3], T p[3]) {
  for (int j = 0; j < 3; ++j) v[j] = V + 3 * int64_t(tri[3 * g + j]);
  for (int i = 0; i < 3; ++i) {
    T s = T(0);
    for (int j = 0; j < 3; ++j) s += T(bary[3 * g + j]) * v[j][i];
    p[i] = s;
  }
}

template <class T>
FFRT_BINDING_HD inline bool same_triangle(const T* const u[3], const T* const v[3]) {
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 3; ++i)
      if (u[j][i] != v[j][i]) return false;
  return true;
}

// Everything posing Gaussian g computes before its outputs (shared by pose_gaussians and its VJP): the triangle on
// both meshes, points p, frames R, sizes s, local coordinates l, the frame rotation M and its quaternion qd.
template <class T>
struct GaussianPosing {
  const T *u[3], *v[3];  // the triangle's vertices in V0 and V1
  T p0[3], p1[3], R0[9], R1[9], s0, s1, l[3], M[9], qd[4];
  bool unmoved;          // the three posed vertices equal the neutral ones bitwise
  template <class B>
  FFRT_BINDING_HD GaussianPosing(const int32_t* tri, const B* bary, const T* V0, const T* V1, const T* x0, int64_t g) {
    bound_triangle(tri, bary, V0, g, u, p0);
    bound_triangle(tri, bary, V1, g, v, p1);
    unmoved = same_triangle(u, v);
    triangle_frame(u[0], u[1], u[2], R0, &s0);
    triangle_frame(v[0], v[1], v[2], R1, &s1);
    T d[3];
    for (int i = 0; i < 3; ++i) d[i] = x0[3 * g + i] - p0[i];
    for (int c = 0; c < 3; ++c) l[c] = (R0[c] * d[0] + R0[3 + c] * d[1] + R0[6 + c] * d[2]) / s0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        T m = T(0);
        for (int k = 0; k < 3; ++k) m += (R1[3 * i + k] - R0[3 * i + k]) * R0[3 * j + k];
        M[3 * i + j] = (i == j ? T(1) : T(0)) + m;
      }
    rotation_to_quat(M, qd);
  }
};

// Gaussians [g_begin, g_end) posed from the neutral mesh V0 to V1 (both [A,3]): x0 [G,3], q0 [G,4], ls0 [G,3] →
// x, q, ls (same layouts; outputs may not alias inputs).
template <class T, class B>
FFRT_BINDING_HD
inline void pose_gaussians(int64_t g_begin, int64_t g_end, const int32_t* tri, const B* bary, const T* V0, const T* V1,
                           const T* x0, const T* q0, const T* ls0, T* x, T* q, T* ls) {
  for (int64_t g = g_begin; g < g_end; ++g) {
    const GaussianPosing<T> P(tri, bary, V0, V1, x0, g);
    if (P.unmoved) {
      for (int i = 0; i < 3; ++i) x[3 * g + i] = x0[3 * g + i];
      for (int i = 0; i < 4; ++i) q[4 * g + i] = q0[4 * g + i];
      for (int i = 0; i < 3; ++i) ls[3 * g + i] = ls0[3 * g + i];
      continue;
    }
    for (int i = 0; i < 3; ++i) {
      T off = T(0);
      for (int c = 0; c < 3; ++c) off += (P.s1 * P.R1[3 * i + c] - P.s0 * P.R0[3 * i + c]) * P.l[c];
      x[3 * g + i] = x0[3 * g + i] + (P.p1[i] - P.p0[i]) + off;
    }
    quat_mul(P.qd, q0 + 4 * g, q + 4 * g);
    const T dls = b_log(P.s1 / P.s0);
    for (int i = 0; i < 3; ++i) ls[3 * g + i] = ls0[3 * g + i] + dls;
  }
}

// VJP of pose_gaussians for Gaussians [g_begin, g_end): dx, dq, dls → ACCUMULATES into dV1 [A,3], dx0, dq0, dls0
// (any of the four may be null). Not thread-safe on dV1 (several Gaussians share vertices): one range per caller.
template <class T, class B>
FFRT_BINDING_HD
inline void pose_gaussians_vjp(int64_t g_begin, int64_t g_end, const int32_t* tri, const B* bary, const T* V0,
                               const T* V1, const T* x0, const T* q0, const T* dx, const T* dq, const T* dls, T* dV1,
                               T* dx0, T* dq0, T* dls0) {
  for (int64_t g = g_begin; g < g_end; ++g) {
    const GaussianPosing<T> P(tri, bary, V0, V1, x0, g);
    const T *R0 = P.R0, *R1 = P.R1, *l = P.l, *M = P.M, *qd = P.qd, *const *v = P.v;
    const T s0 = P.s0, s1 = P.s1;
    const T* gx = dx + 3 * g;
    T dR1[9] = {}, ds1 = T(0), dp1[3];
    // x = x0 + (p1 − p0) + (s1 R1 − s0 R0) l
    for (int i = 0; i < 3; ++i) {
      dp1[i] = gx[i];
      for (int c = 0; c < 3; ++c) {
        dR1[3 * i + c] += s1 * gx[i] * l[c];
        ds1 += R1[3 * i + c] * gx[i] * l[c];
      }
    }
    if (dx0) {
      // ∂x/∂x0 = I + (s1 R1 − s0 R0) R0ᵀ / s0
      T dl[3];
      for (int c = 0; c < 3; ++c) {
        dl[c] = T(0);
        for (int i = 0; i < 3; ++i) dl[c] += (s1 * R1[3 * i + c] - s0 * R0[3 * i + c]) * gx[i];
      }
      for (int i = 0; i < 3; ++i) dx0[3 * g + i] += gx[i] + (R0[3 * i] * dl[0] + R0[3 * i + 1] * dl[1] + R0[3 * i + 2] * dl[2]) / s0;
    }
    // q = quat(M) ⊗ q0
    T dqd[4] = {}, dM[9] = {};
    quat_mul_vjp(qd, q0 + 4 * g, dq + 4 * g, dqd, dq0 ? dq0 + 4 * g : (T*)nullptr);
    rotation_to_quat_vjp(M, dqd, dM);
    // M = I + (R1 − R0) R0ᵀ → dR1 = dM R0
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 3; ++k) {
        T sacc = T(0);
        for (int j = 0; j < 3; ++j) sacc += dM[3 * i + j] * R0[3 * j + k];
        dR1[3 * i + k] += sacc;
      }
    // ls = ls0 + log(s1/s0)
    const T* gl = dls + 3 * g;
    ds1 += (gl[0] + gl[1] + gl[2]) / s1;
    if (dls0)
      for (int i = 0; i < 3; ++i) dls0[3 * g + i] += gl[i];
    if (dV1) {
      T dv[3][3] = {};
      triangle_frame_vjp(v[0], v[1], v[2], dR1, ds1, dv[0], dv[1], dv[2]);
      for (int j = 0; j < 3; ++j) {
        T* o = dV1 + 3 * int64_t(tri[3 * g + j]);
        const T b = T(bary[3 * g + j]);
        for (int i = 0; i < 3; ++i) o[i] += dv[j][i] + b * dp1[i];
      }
    }
  }
}

}  // namespace ffrt::binding
