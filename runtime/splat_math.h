// runtime/splat_math.h — host/device-shared small maths of the 3DGS rasterizer, each with its `_vjp` twin.
// Dependency-free (it lives in runtime/ so the runtime's forward rasterizer and the engine's splat/ share one copy).
//
// Used by the engine's CPU implementation (splat/render_cpu.cpp, templated on float/double), its CUDA kernels
// (splat/render.cu, float) and the runtime (runtime/raster.cpp). Everything here is per Gaussian and per camera: quaternion → rotation,
// 3-D covariance, EWA projection to a 2-D covariance with the 3DGS Jacobian clamp and 0.3 dilation,
// conic, radius and tile rectangle, SH colour; then `project_gaussian_vjp` / `eval_color_vjp` chain
// cotangents back to the Gaussian parameters and to the camera's world→camera R, t.
//
// Gradient convention for symmetric matrices stored by their independent entries (Sym2 {a,b,c} for
// [[a,b],[b,c]], Sym3 likewise): the cotangent of `b` is dL/db with b appearing in both off-diagonal
// slots, i.e. twice the full-matrix gradient entry.
#pragma once
#include <math.h>
#include <stdint.h>

#include "runtime/hd.h"
#include "runtime/raster_constants.h"

namespace ff::splat::math {

// ---- scalar wrappers (overloads that resolve the same way under g++ and nvcc) --------------------
FF_HD float m_sqrt(float x) { return ::sqrtf(x); }
FF_HD double m_sqrt(double x) { return ::sqrt(x); }
FF_HD float m_exp(float x) { return ::expf(x); }
FF_HD double m_exp(double x) { return ::exp(x); }
FF_HD float m_log(float x) { return ::logf(x); }
FF_HD double m_log(double x) { return ::log(x); }
FF_HD float m_ceil(float x) { return ::ceilf(x); }
FF_HD double m_ceil(double x) { return ::ceil(x); }
FF_HD float m_floor(float x) { return ::floorf(x); }
FF_HD double m_floor(double x) { return ::floor(x); }
template <class T>
FF_HD T m_min(T a, T b) { return a < b ? a : b; }
template <class T>
FF_HD T m_max(T a, T b) { return a > b ? a : b; }
template <class T>
FF_HD T m_clamp(T v, T lo, T hi) { return v < lo ? lo : (v > hi ? hi : v); }

// ---- named constants (3DGS, graphdeco diff-gaussian-rasterization config.h / forward.cu) ---------
using ffrt::raster::kTile;                   // 16 (runtime/raster_constants.h: tile size and blending constants)
constexpr double kDilation = 0.3;            // low-pass filter added to the 2-D covariance diagonal
using ffrt::raster::kAlphaMin;               // 1/255: α below this is skipped (not blended)
using ffrt::raster::kAlphaMax;               // 0.99: α is clamped to this (keeps 1/(1−α) finite in backward)
using ffrt::raster::kTransmittanceMin;       // 1e-4: a pixel stops once T·(1−α) would fall below this
constexpr double kFrustumClamp = 1.3;       // EWA Jacobian evaluated at x/z clamped to ±1.3·tan_fov
constexpr double kNearCull = 0.2;           // Gaussians with view z <= this are culled (3DGS in_frustum)
// Conservative margin added to q in the opacity-aware extent test (|Δ|ᵀΣ⁻¹|Δ| ≤ 2 ln(255 o) + margin):
// anything outside the extent has α < (1/255)·e^{-margin/2}, so culling it never changes the output.
constexpr double kExtentMargin = 0.02;

// SH constants of 3DGS (auxiliary.h).
using ffrt::raster::kSH_C0;                   // runtime/raster_constants.h
constexpr double kSH_C1 = 0.4886025119029199;
// clang-format off
#define FF_SH_C2 { 1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396 }
#define FF_SH_C3 { -0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, \
                   -0.4570457994644658, 1.445305721320277, -0.5900435899266435 }
// clang-format on

// ---- small types ---------------------------------------------------------------------------------
template <class T>
struct M3 {  // row-major 3×3
  T m[3][3];
};
template <class T>
struct Sym2 {  // [[a, b], [b, c]]
  T a, b, c;
};
template <class T>
struct Sym3 {  // [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]
  T xx, xy, xz, yy, yz, zz;
};

// ---- camera --------------------------------------------------------------------------------------
template <class T>
struct Camera {
  T R[3][3];        // world→camera rotation (row-major, OpenCV)
  T t[3];           // world→camera translation
  T fx, fy, cx, cy; // intrinsics; a camera point projects to u = fx·x/z + cx (see splat.h)
  T tan_fovx, tan_fovy;  // W/(2 fx), H/(2 fy): only for the ±1.3·tan_fov Jacobian clamp
  T campos[3];      // camera centre in world = −Rᵀ t (SH view direction)
  int width, height;
  int tiles_x, tiles_y;
};

// viewmat: [4,4] row-major world→camera; intr: [4] = fx, fy, cx, cy.
template <class S, class T>
FF_HD Camera<T> make_camera(const S* viewmat, const S* intr, int width, int height) {
  Camera<T> c;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) c.R[i][j] = T(viewmat[4 * i + j]);
    c.t[i] = T(viewmat[4 * i + 3]);
  }
  c.fx = T(intr[0]);
  c.fy = T(intr[1]);
  c.cx = T(intr[2]);
  c.cy = T(intr[3]);
  c.width = width;
  c.height = height;
  c.tan_fovx = T(width) / (T(2) * c.fx);
  c.tan_fovy = T(height) / (T(2) * c.fy);
  for (int i = 0; i < 3; ++i) c.campos[i] = -(c.R[0][i] * c.t[0] + c.R[1][i] * c.t[1] + c.R[2][i] * c.t[2]);
  c.tiles_x = (width + kTile - 1) / kTile;
  c.tiles_y = (height + kTile - 1) / kTile;
  return c;
}

// ---- quaternion (w, x, y, z), normalised inside → rotation matrix ------------------------------
template <class T>
FF_HD M3<T> quat_to_rotmat(const T q[4]) {
  T inv = T(1) / m_sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  T w = q[0] * inv, x = q[1] * inv, y = q[2] * inv, z = q[3] * inv;
  M3<T> R;
  R.m[0][0] = T(1) - T(2) * (y * y + z * z);
  R.m[0][1] = T(2) * (x * y - w * z);
  R.m[0][2] = T(2) * (x * z + w * y);
  R.m[1][0] = T(2) * (x * y + w * z);
  R.m[1][1] = T(1) - T(2) * (x * x + z * z);
  R.m[1][2] = T(2) * (y * z - w * x);
  R.m[2][0] = T(2) * (x * z - w * y);
  R.m[2][1] = T(2) * (y * z + w * x);
  R.m[2][2] = T(1) - T(2) * (x * x + y * y);
  return R;
}

// d_q += dL/dq for the unnormalised q, given d_R = dL/dR.
template <class T>
FF_HD void quat_to_rotmat_vjp(const T q[4], const M3<T>& d_R, T d_q[4]) {
  T n = m_sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  T inv = T(1) / n;
  T w = q[0] * inv, x = q[1] * inv, y = q[2] * inv, z = q[3] * inv;
  const T(&g)[3][3] = d_R.m;
  T dw = T(2) * (-z * g[0][1] + y * g[0][2] + z * g[1][0] - x * g[1][2] - y * g[2][0] + x * g[2][1]);
  T dx = T(2) * (y * g[0][1] + z * g[0][2] + y * g[1][0] - T(2) * x * g[1][1] - w * g[1][2] + z * g[2][0] +
                 w * g[2][1] - T(2) * x * g[2][2]);
  T dy = T(2) * (-T(2) * y * g[0][0] + x * g[0][1] + w * g[0][2] + x * g[1][0] + z * g[1][2] - w * g[2][0] +
                 z * g[2][1] - T(2) * y * g[2][2]);
  T dz = T(2) * (-T(2) * z * g[0][0] - w * g[0][1] + x * g[0][2] + w * g[1][0] - T(2) * z * g[1][1] +
                 y * g[1][2] + x * g[2][0] + y * g[2][1]);
  // through the normalisation qn = q/|q|: d_q = (d_qn − qn (qn·d_qn)) / |q|
  T dot = w * dw + x * dx + y * dy + z * dz;
  d_q[0] += (dw - w * dot) * inv;
  d_q[1] += (dx - x * dot) * inv;
  d_q[2] += (dy - y * dot) * inv;
  d_q[3] += (dz - z * dot) * inv;
}

// ---- 3-D covariance Σ = R diag(s²) Rᵀ ------------------------------------------------------------
template <class T>
FF_HD Sym3<T> cov3d(const M3<T>& R, const T s[3]) {
  T d0 = s[0] * s[0], d1 = s[1] * s[1], d2 = s[2] * s[2];
  auto e = [&](int i, int j) { return R.m[i][0] * d0 * R.m[j][0] + R.m[i][1] * d1 * R.m[j][1] + R.m[i][2] * d2 * R.m[j][2]; };
  return {e(0, 0), e(0, 1), e(0, 2), e(1, 1), e(1, 2), e(2, 2)};
}

// d_R (overwritten) and d_s (+=) from d_cov (Sym3 cotangent, off-diagonals counted once per slot pair).
template <class T>
FF_HD void cov3d_vjp(const M3<T>& R, const T s[3], const Sym3<T>& d_cov, M3<T>& d_R, T d_s[3]) {
  // full symmetric gradient G: G_ii = d_ii, G_ij = d_ij / 2
  T G[3][3] = {{d_cov.xx, d_cov.xy * T(0.5), d_cov.xz * T(0.5)},
               {d_cov.xy * T(0.5), d_cov.yy, d_cov.yz * T(0.5)},
               {d_cov.xz * T(0.5), d_cov.yz * T(0.5), d_cov.zz}};
  T D[3] = {s[0] * s[0], s[1] * s[1], s[2] * s[2]};
  T GR[3][3];  // G·R
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) GR[i][j] = G[i][0] * R.m[0][j] + G[i][1] * R.m[1][j] + G[i][2] * R.m[2][j];
  // dR = 2 G R D
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) d_R.m[i][j] = T(2) * GR[i][j] * D[j];
  // d(s_k²) = (Rᵀ G R)_kk
  for (int k = 0; k < 3; ++k) {
    T rgr = R.m[0][k] * GR[0][k] + R.m[1][k] * GR[1][k] + R.m[2][k] * GR[2][k];
    d_s[k] += T(2) * s[k] * rgr;
  }
}

// ---- EWA: 2-D covariance J W Σ Wᵀ Jᵀ + 0.3 I ----------------------------------------------------
// p: view-space mean; W: view rotation. The Jacobian is evaluated at x/z, y/z clamped to ±lim (3DGS).
template <class T>
FF_HD Sym2<T> ewa_cov2d(const T p[3], const T W[3][3], const Sym3<T>& S, T fx, T fy, T limx, T limy) {
  T rz = T(1) / p[2];
  T txc = m_clamp(p[0] * rz, -limx, limx), tyc = m_clamp(p[1] * rz, -limy, limy);
  T J00 = fx * rz, J02 = -fx * txc * rz, J11 = fy * rz, J12 = -fy * tyc * rz;
  // M = J W (2×3)
  T M[2][3];
  for (int j = 0; j < 3; ++j) {
    M[0][j] = J00 * W[0][j] + J02 * W[2][j];
    M[1][j] = J11 * W[1][j] + J12 * W[2][j];
  }
  T Sf[3][3] = {{S.xx, S.xy, S.xz}, {S.xy, S.yy, S.yz}, {S.xz, S.yz, S.zz}};
  T MS[2][3];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) MS[i][j] = M[i][0] * Sf[0][j] + M[i][1] * Sf[1][j] + M[i][2] * Sf[2][j];
  T a = MS[0][0] * M[0][0] + MS[0][1] * M[0][1] + MS[0][2] * M[0][2];
  T b = MS[0][0] * M[1][0] + MS[0][1] * M[1][1] + MS[0][2] * M[1][2];
  T c = MS[1][0] * M[1][0] + MS[1][1] * M[1][1] + MS[1][2] * M[1][2];
  return {a + T(kDilation), b, c + T(kDilation)};
}

// Cotangent d_cov (Sym2) → d_p (+=, view-space mean), d_W (+=), d_S (overwritten, Sym3 cotangent).
template <class T>
FF_HD void ewa_cov2d_vjp(const T p[3], const T W[3][3], const Sym3<T>& S, T fx, T fy, T limx, T limy,
                         const Sym2<T>& d_cov, T d_p[3], T d_W[3][3], Sym3<T>& d_S) {
  T rz = T(1) / p[2];
  T rx = p[0] * rz, ry = p[1] * rz;
  bool clx = rx < -limx || rx > limx, cly = ry < -limy || ry > limy;
  T txc = m_clamp(rx, -limx, limx), tyc = m_clamp(ry, -limy, limy);
  T J00 = fx * rz, J02 = -fx * txc * rz, J11 = fy * rz, J12 = -fy * tyc * rz;
  T M[2][3];
  for (int j = 0; j < 3; ++j) {
    M[0][j] = J00 * W[0][j] + J02 * W[2][j];
    M[1][j] = J11 * W[1][j] + J12 * W[2][j];
  }
  T Sf[3][3] = {{S.xx, S.xy, S.xz}, {S.xy, S.yy, S.yz}, {S.xz, S.yz, S.zz}};
  T G[2][2] = {{d_cov.a, d_cov.b * T(0.5)}, {d_cov.b * T(0.5), d_cov.c}};
  // cov = M Σ Mᵀ: dM = 2 G M Σ, dΣ = Mᵀ G M
  T GM[2][3];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) GM[i][j] = G[i][0] * M[0][j] + G[i][1] * M[1][j];
  T dM[2][3];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) dM[i][j] = T(2) * (GM[i][0] * Sf[0][j] + GM[i][1] * Sf[1][j] + GM[i][2] * Sf[2][j]);
  T dSf[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) dSf[i][j] = M[0][i] * GM[0][j] + M[1][i] * GM[1][j];
  d_S = {dSf[0][0], dSf[0][1] + dSf[1][0], dSf[0][2] + dSf[2][0], dSf[1][1], dSf[1][2] + dSf[2][1], dSf[2][2]};
  // M = J W: dJ = dM Wᵀ (only the non-zero entries), dW = Jᵀ dM
  T dJ00 = dM[0][0] * W[0][0] + dM[0][1] * W[0][1] + dM[0][2] * W[0][2];
  T dJ02 = dM[0][0] * W[2][0] + dM[0][1] * W[2][1] + dM[0][2] * W[2][2];
  T dJ11 = dM[1][0] * W[1][0] + dM[1][1] * W[1][1] + dM[1][2] * W[1][2];
  T dJ12 = dM[1][0] * W[2][0] + dM[1][1] * W[2][1] + dM[1][2] * W[2][2];
  for (int j = 0; j < 3; ++j) {
    d_W[0][j] += J00 * dM[0][j];
    d_W[1][j] += J11 * dM[1][j];
    d_W[2][j] += J02 * dM[0][j] + J12 * dM[1][j];
  }
  T rz2 = rz * rz;
  // J00 = fx/z, J11 = fy/z
  d_p[2] += -fx * rz2 * dJ00 - fy * rz2 * dJ11;
  // J02 = −fx·x/z² (unclamped) or −fx·c/z with c = ±lim (clamped)
  if (clx) {
    d_p[2] += fx * txc * rz2 * dJ02;
  } else {
    d_p[0] += -fx * rz2 * dJ02;
    d_p[2] += T(2) * fx * p[0] * rz2 * rz * dJ02;
  }
  if (cly) {
    d_p[2] += fy * tyc * rz2 * dJ12;
  } else {
    d_p[1] += -fy * rz2 * dJ12;
    d_p[2] += T(2) * fy * p[1] * rz2 * rz * dJ12;
  }
}

// ---- conic (inverse 2-D covariance) ----------------------------------------------------------------
template <class T>
FF_HD Sym2<T> conic_of(const Sym2<T>& cov) {
  T det = cov.a * cov.c - cov.b * cov.b;
  T inv = T(1) / det;
  return {cov.c * inv, -cov.b * inv, cov.a * inv};
}

// d_cov (Sym2 cotangent) from d_conic (Sym2 cotangent): dΣ = −Σ⁻¹ G Σ⁻¹ in full-matrix terms.
template <class T>
FF_HD Sym2<T> conic_vjp(const Sym2<T>& conic, const Sym2<T>& d_conic) {
  T I[2][2] = {{conic.a, conic.b}, {conic.b, conic.c}};
  T G[2][2] = {{d_conic.a, d_conic.b * T(0.5)}, {d_conic.b * T(0.5), d_conic.c}};
  T IG[2][2], R[2][2];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) IG[i][j] = I[i][0] * G[0][j] + I[i][1] * G[1][j];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) R[i][j] = -(IG[i][0] * I[0][j] + IG[i][1] * I[1][j]);
  return {R[0][0], R[0][1] + R[1][0], R[1][1]};
}

// ---- SH colour (3DGS computeColorFromSH) --------------------------------------------------------
// basis[k] for the active degree (unused entries untouched); dir must be unit length.
template <class T>
FF_HD void sh_basis(int deg, T x, T y, T z, T b[16]) {
  b[0] = T(kSH_C0);
  if (deg < 1) return;
  b[1] = -T(kSH_C1) * y;
  b[2] = T(kSH_C1) * z;
  b[3] = -T(kSH_C1) * x;
  if (deg < 2) return;
  const T C2[5] = FF_SH_C2;
  T xx = x * x, yy = y * y, zz = z * z;
  b[4] = C2[0] * x * y;
  b[5] = C2[1] * y * z;
  b[6] = C2[2] * (T(2) * zz - xx - yy);
  b[7] = C2[3] * x * z;
  b[8] = C2[4] * (xx - yy);
  if (deg < 3) return;
  const T C3[7] = FF_SH_C3;
  b[9] = C3[0] * y * (T(3) * xx - yy);
  b[10] = C3[1] * x * y * z;
  b[11] = C3[2] * y * (T(4) * zz - xx - yy);
  b[12] = C3[3] * z * (T(2) * zz - T(3) * xx - T(3) * yy);
  b[13] = C3[4] * x * (T(4) * zz - xx - yy);
  b[14] = C3[5] * z * (xx - yy);
  b[15] = C3[6] * x * (xx - T(3) * yy);
}

// d_dir (+=) given d_b[k] = dL/dbasis_k.
template <class T>
FF_HD void sh_basis_vjp(int deg, T x, T y, T z, const T d_b[16], T d_dir[3]) {
  if (deg < 1) return;
  T dx = -T(kSH_C1) * d_b[3], dy = -T(kSH_C1) * d_b[1], dz = T(kSH_C1) * d_b[2];
  if (deg >= 2) {
    const T C2[5] = FF_SH_C2;
    dx += C2[0] * y * d_b[4] - T(2) * x * C2[2] * d_b[6] + C2[3] * z * d_b[7] + T(2) * x * C2[4] * d_b[8];
    dy += C2[0] * x * d_b[4] + C2[1] * z * d_b[5] - T(2) * y * C2[2] * d_b[6] - T(2) * y * C2[4] * d_b[8];
    dz += C2[1] * y * d_b[5] + T(4) * z * C2[2] * d_b[6] + C2[3] * x * d_b[7];
    if (deg >= 3) {
      const T C3[7] = FF_SH_C3;
      T xx = x * x, yy = y * y, zz = z * z;
      dx += C3[0] * T(6) * x * y * d_b[9] + C3[1] * y * z * d_b[10] - C3[2] * T(2) * x * y * d_b[11] -
            C3[3] * T(6) * x * z * d_b[12] + C3[4] * (T(4) * zz - T(3) * xx - yy) * d_b[13] +
            C3[5] * T(2) * x * z * d_b[14] + C3[6] * T(3) * (xx - yy) * d_b[15];
      dy += C3[0] * T(3) * (xx - yy) * d_b[9] + C3[1] * x * z * d_b[10] +
            C3[2] * (T(4) * zz - xx - T(3) * yy) * d_b[11] - C3[3] * T(6) * y * z * d_b[12] -
            C3[4] * T(2) * x * y * d_b[13] - C3[5] * T(2) * y * z * d_b[14] - C3[6] * T(6) * x * y * d_b[15];
      dz += C3[1] * x * y * d_b[10] + C3[2] * T(8) * y * z * d_b[11] +
            C3[3] * (T(6) * zz - T(3) * xx - T(3) * yy) * d_b[12] + C3[4] * T(8) * x * z * d_b[13] +
            C3[5] * (xx - yy) * d_b[14];
    }
  }
  d_dir[0] += dx;
  d_dir[1] += dy;
  d_dir[2] += dz;
}

// The SH colour seen along the unit direction u (from the camera centre towards the Gaussian): per channel
// Σ_k basis_k(u)·coefficient_k + 0.5, clamped below at 0, with active degree `deg`: coefficient 0 in sh0 [3], the
// rest (k = 1 … K−1) in rest [K−1, 3] (eval_color passes one [K,3] array as sh and sh + 3; the runtime's sh_color
// its GaussianSet's DC term and sh_rest). Returns the clamp mask (bit c: channel c was < 0 and was clamped to 0).
template <class S, class T>
FF_HD uint8_t sh_color_along(const T u[3], const S* sh0, const S* rest, int deg, T rgb[3]) {
  T b[16];
  sh_basis(deg, u[0], u[1], u[2], b);
  int K = (deg + 1) * (deg + 1);
  uint8_t mask = 0;
  for (int c = 0; c < 3; ++c) {
    T v = T(0);
    v += b[0] * T(sh0[c]);
    for (int k = 1; k < K; ++k) v += b[k] * T(rest[3 * (k - 1) + c]);
    v += T(0.5);
    if (v < T(0)) {
      mask |= uint8_t(1u << c);
      v = T(0);
    }
    rgb[c] = v;
  }
  return mask;
}

// Colour of one Gaussian for one camera. colors: [3] precomputed RGB (used as is) or, when null,
// sh: [K, 3] coefficients with active degree `deg`. Returns the clamp mask (bit c: channel c was < 0
// after +0.5 and was clamped to 0; its gradient is then zero, as in 3DGS).
template <class S, class T>
FF_HD uint8_t eval_color(const Camera<T>& cam, const S* mean, const S* colors, const S* sh, int deg, T rgb[3]) {
  if (colors) {
    for (int c = 0; c < 3; ++c) rgb[c] = T(colors[c]);
    return 0;
  }
  T d[3] = {T(mean[0]) - cam.campos[0], T(mean[1]) - cam.campos[1], T(mean[2]) - cam.campos[2]};
  T inv = T(1) / m_sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
  const T u[3] = {d[0] * inv, d[1] * inv, d[2] * inv};
  return sh_color_along(u, sh, sh + 3, deg, rgb);
}

// Backward of eval_color. d_colors: [3] (+=) for precomputed colours; d_sh: [K,3] (+=); d_mean (+=);
// d_R (+=, [3][3]) and d_t (+=, [3]) through campos = −Rᵀ t. Null outputs are skipped.
template <class S, class T>
FF_HD void eval_color_vjp(const Camera<T>& cam, const S* mean, const S* colors, const S* sh, int deg, uint8_t mask,
                          const T d_rgb_in[3], S* d_colors, S* d_sh, T d_mean[3], T d_R[3][3], T d_t[3]) {
  if (colors) {
    if (d_colors)
      for (int c = 0; c < 3; ++c) d_colors[c] += S(d_rgb_in[c]);
    return;
  }
  T d_rgb[3];
  for (int c = 0; c < 3; ++c) d_rgb[c] = (mask >> c) & 1u ? T(0) : d_rgb_in[c];
  T d[3] = {T(mean[0]) - cam.campos[0], T(mean[1]) - cam.campos[1], T(mean[2]) - cam.campos[2]};
  T inv = T(1) / m_sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
  T x = d[0] * inv, y = d[1] * inv, z = d[2] * inv;
  T b[16];
  sh_basis(deg, x, y, z, b);
  int K = (deg + 1) * (deg + 1);
  T d_b[16];
  for (int k = 0; k < K; ++k) {
    if (d_sh)
      for (int c = 0; c < 3; ++c) d_sh[3 * k + c] += S(b[k] * d_rgb[c]);
    d_b[k] = T(sh[3 * k]) * d_rgb[0] + T(sh[3 * k + 1]) * d_rgb[1] + T(sh[3 * k + 2]) * d_rgb[2];
  }
  if (deg < 1) return;
  T d_dir[3] = {T(0), T(0), T(0)};
  sh_basis_vjp(deg, x, y, z, d_b, d_dir);
  // dir = d/|d|: d_d = (d_dir − dir (dir·d_dir)) / |d|
  T dot = x * d_dir[0] + y * d_dir[1] + z * d_dir[2];
  T dd[3] = {(d_dir[0] - x * dot) * inv, (d_dir[1] - y * dot) * inv, (d_dir[2] - z * dot) * inv};
  for (int i = 0; i < 3; ++i) d_mean[i] += dd[i];
  // campos_i = −Σ_j R_ji t_j, d_campos = −dd
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) d_R[j][i] += dd[i] * cam.t[j];
  for (int j = 0; j < 3; ++j) d_t[j] += cam.R[j][0] * dd[0] + cam.R[j][1] * dd[1] + cam.R[j][2] * dd[2];
}

// ---- the whole per-Gaussian projection -----------------------------------------------------------
template <class T>
struct Projected {
  T u, v;        // image position, pixel units, public convention (pixel i's centre at i + 0.5)
  Sym2<T> conic; // inverse of the dilated 2-D covariance
  T depth;       // view-space z
  T ext_x, ext_y;  // half-extents (pixels) of the region where α can reach 1/255 (see kExtentMargin)
  int radius;    // 3DGS radius ceil(3 sqrt(λmax)); 0 when culled
  int rect[4];   // tiles [x0, x1) × [y0, y1) this Gaussian is binned into (3DGS rect ∩ extent); may be empty
};

FF_HD int clamp_to_int(double v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : int(v)); }
FF_HD int clamp_to_int(float v, int lo, int hi) { return v < float(lo) ? lo : (v > float(hi) ? hi : int(v)); }

// Project Gaussian (mean, scale, quat, opacity) into camera `cam`. Returns false (radius 0) when
// culled: view z ≤ near_cull, singular 2-D covariance, or an empty 3DGS tile rectangle.
template <class S, class T>
FF_HD bool project_gaussian(const Camera<T>& cam, const S* mean, const S* scale, const S* quat, S opacity,
                            T near_cull, Projected<T>& out) {
  out.radius = 0;
  out.rect[0] = out.rect[1] = out.rect[2] = out.rect[3] = 0;
  T m[3] = {T(mean[0]), T(mean[1]), T(mean[2])};
  T p[3];
  for (int i = 0; i < 3; ++i) p[i] = cam.R[i][0] * m[0] + cam.R[i][1] * m[1] + cam.R[i][2] * m[2] + cam.t[i];
  if (!(p[2] > near_cull)) return false;
  T q[4] = {T(quat[0]), T(quat[1]), T(quat[2]), T(quat[3])};
  T s[3] = {T(scale[0]), T(scale[1]), T(scale[2])};
  M3<T> Rq = quat_to_rotmat(q);
  Sym3<T> S3 = cov3d(Rq, s);
  Sym2<T> cov = ewa_cov2d(p, cam.R, S3, cam.fx, cam.fy, T(kFrustumClamp) * cam.tan_fovx, T(kFrustumClamp) * cam.tan_fovy);
  T det = cov.a * cov.c - cov.b * cov.b;
  if (det == T(0)) return false;
  T rz = T(1) / p[2];
  T u = cam.fx * p[0] * rz + cam.cx, v = cam.fy * p[1] * rz + cam.cy;
  T mid = T(0.5) * (cov.a + cov.c);
  T lambda1 = mid + m_sqrt(m_max(T(0.1), mid * mid - det));
  T lambda2 = mid - m_sqrt(m_max(T(0.1), mid * mid - det));
  T radius = m_ceil(T(3) * m_sqrt(m_max(lambda1, lambda2)));
  // 3DGS getRect, in its pixel coordinates (pixel centres at integers: x3 = u − 0.5)
  T x3 = u - T(0.5), y3 = v - T(0.5);
  const T big = T(1 << 24);
  int rx0 = clamp_to_int(m_clamp((x3 - radius) / T(kTile), -big, big), 0, cam.tiles_x);
  int ry0 = clamp_to_int(m_clamp((y3 - radius) / T(kTile), -big, big), 0, cam.tiles_y);
  int rx1 = clamp_to_int(m_clamp((x3 + radius + T(kTile - 1)) / T(kTile), -big, big), 0, cam.tiles_x);
  int ry1 = clamp_to_int(m_clamp((y3 + radius + T(kTile - 1)) / T(kTile), -big, big), 0, cam.tiles_y);
  if ((rx1 - rx0) * (ry1 - ry0) == 0) return false;
  out.u = u;
  out.v = v;
  out.conic = conic_of(cov);
  out.depth = p[2];
  out.radius = int(radius);
  // opacity-aware extent: α ≥ 1/255 needs Δᵀ Σ⁻¹ Δ ≤ 2 ln(255 o); max |Δx| over that ellipse is sqrt(L Σxx)
  T L = T(2) * m_log(m_max(T(opacity) * T(255), T(1e-30))) + T(kExtentMargin);
  if (!(L > T(0))) {  // never visible: keep the radius (3DGS semantics) but bin into no tile
    out.ext_x = out.ext_y = T(-1);
    return true;
  }
  out.ext_x = m_sqrt(L * cov.a);
  out.ext_y = m_sqrt(L * cov.c);
  // pixels i with |i − x3| ≤ ext_x → tiles floor(i/16)
  int ex0 = clamp_to_int(m_floor(m_clamp(m_ceil(x3 - out.ext_x), -big, big) / T(kTile)), 0, cam.tiles_x);
  int ex1 = clamp_to_int(m_floor(m_clamp(m_floor(x3 + out.ext_x), -big, big) / T(kTile)) + T(1), 0, cam.tiles_x);
  int ey0 = clamp_to_int(m_floor(m_clamp(m_ceil(y3 - out.ext_y), -big, big) / T(kTile)), 0, cam.tiles_y);
  int ey1 = clamp_to_int(m_floor(m_clamp(m_floor(y3 + out.ext_y), -big, big) / T(kTile)) + T(1), 0, cam.tiles_y);
  out.rect[0] = m_max(rx0, ex0);
  out.rect[1] = m_max(ry0, ey0);
  out.rect[2] = m_max(m_min(rx1, ex1), out.rect[0]);
  out.rect[3] = m_max(m_min(ry1, ey1), out.rect[1]);
  return true;
}

// Backward of project_gaussian (for a Gaussian that was not culled). Cotangents: d_uv = dL/d(u, v),
// d_conic (Sym2 cotangent), d_depth. Accumulates (+=) into d_mean [3], d_scale [3], d_quat [4] and the
// camera's d_R [3][3], d_t [3].
template <class S, class T>
FF_HD void project_gaussian_vjp(const Camera<T>& cam, const S* mean, const S* scale, const S* quat, const T d_uv[2],
                                const Sym2<T>& d_conic, T d_depth, T d_mean[3], T d_scale[3], T d_quat[4],
                                T d_R[3][3], T d_t[3]) {
  T m[3] = {T(mean[0]), T(mean[1]), T(mean[2])};
  T p[3];
  for (int i = 0; i < 3; ++i) p[i] = cam.R[i][0] * m[0] + cam.R[i][1] * m[1] + cam.R[i][2] * m[2] + cam.t[i];
  T q[4] = {T(quat[0]), T(quat[1]), T(quat[2]), T(quat[3])};
  T s[3] = {T(scale[0]), T(scale[1]), T(scale[2])};
  M3<T> Rq = quat_to_rotmat(q);
  Sym3<T> S3 = cov3d(Rq, s);
  T limx = T(kFrustumClamp) * cam.tan_fovx, limy = T(kFrustumClamp) * cam.tan_fovy;
  Sym2<T> cov = ewa_cov2d(p, cam.R, S3, cam.fx, cam.fy, limx, limy);
  Sym2<T> conic = conic_of(cov);
  Sym2<T> d_cov = conic_vjp(conic, d_conic);
  T d_p[3] = {T(0), T(0), T(0)};
  Sym3<T> d_S3;
  ewa_cov2d_vjp(p, cam.R, S3, cam.fx, cam.fy, limx, limy, d_cov, d_p, d_R, d_S3);
  M3<T> d_Rq;
  cov3d_vjp(Rq, s, d_S3, d_Rq, d_scale);
  quat_to_rotmat_vjp(q, d_Rq, d_quat);
  // u = fx x/z + cx, v = fy y/z + cy, depth = z
  T rz = T(1) / p[2];
  d_p[0] += cam.fx * rz * d_uv[0];
  d_p[1] += cam.fy * rz * d_uv[1];
  d_p[2] += -(cam.fx * p[0] * d_uv[0] + cam.fy * p[1] * d_uv[1]) * rz * rz + d_depth;
  // p = R m + t
  for (int i = 0; i < 3; ++i) {
    d_mean[i] += cam.R[0][i] * d_p[0] + cam.R[1][i] * d_p[1] + cam.R[2][i] * d_p[2];
    d_t[i] += d_p[i];
    for (int j = 0; j < 3; ++j) d_R[i][j] += d_p[i] * m[j];
  }
}

}  // namespace ff::splat::math
