// flame/flame_lbs.cpp — FLAME forward (blendshapes, pose correctives, joint regression, kinematic chain, LBS)
// and its hand-written VJP. Plain loops over the model's float64 arrays, computed in T; threads split vertex
// ranges with ff::parallel_for and every reduction is combined in chunk order, so results do not depend on
// timing. See flame.h for the maths.
#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/parallel.h"
#include "flame/flame.h"
#include "runtime/lbs.h"

namespace ff::flame {

namespace {

constexpr int64_t kGrain = 256;  // vertices per chunk

int resolve_threads(int t) { return t > 0 ? t : hardware_threads(); }

using ffrt::lbs::mat3_mul;  // runtime/lbs.h

template <class T>
void check_input(const FlameModel& m, const FlameInput<T>& in) {
  FF_CHECK(in.batch >= 1, "flame: batch must be >= 1, got ", in.batch);
  FF_CHECK(in.n_shape >= 0 && in.n_shape <= m.S, "flame: n_shape ", in.n_shape, " exceeds the model's ", m.S,
           " shape components (", m.source, ")");
  FF_CHECK(in.n_expr >= 0 && in.n_expr <= m.E, "flame: n_expr ", in.n_expr, " exceeds the model's ", m.E,
           " expression components (", m.source, ")");
  FF_CHECK(in.n_shape == 0 || in.shape, "flame: n_shape > 0 but no shape pointer");
  FF_CHECK(in.n_expr == 0 || in.expr, "flame: n_expr > 0 but no expr pointer");
  FF_CHECK(m.V > 0 && m.J > 0 && m.v_template.size() == size_t(m.V) * 3 && m.weights.size() == size_t(m.V) * m.J &&
               m.posedirs.size() == size_t(m.J - 1) * 9 * m.V * 3 && m.j_regressor.size() == size_t(m.J) * m.V &&
               m.parents.size() == size_t(m.J),
           "flame: model '", m.source, "' is not consistent; call validate()");
}

// v_shaped for one item
template <class T>
void shape_blend(const FlameModel& m, const FlameInput<T>& in, int b, T* vs, int threads) {
  const int S = m.S, E = m.E, ns = in.n_shape, ne = in.n_expr;
  const T* beta = in.shape ? in.shape + size_t(b) * ns : nullptr;
  const T* psi = in.expr ? in.expr + size_t(b) * ne : nullptr;
  parallel_for(int64_t(m.V), kGrain, threads, [&](int64_t v0, int64_t v1) {
    for (int64_t r = v0 * 3; r < v1 * 3; ++r) {
      T acc = T(m.v_template[size_t(r)]);
      const double* sd = m.shapedirs.data() + size_t(r) * S;
      for (int l = 0; l < ns; ++l) acc += T(sd[l]) * beta[l];
      const double* ed = m.exprdirs.data() + size_t(r) * E;
      for (int l = 0; l < ne; ++l) acc += T(ed[l]) * psi[l];
      if (in.static_offset) acc += in.static_offset[r];
      vs[r] = acc;
    }
  });
}

}  // namespace

template <class T>
void rodrigues(const T r[3], T R[9]) {
  ffrt::lbs::rodrigues(r, R);  // runtime/lbs.h: one copy shared with the runtime's rig
}

template <class T>
void rodrigues_vjp(const T r[3], const T d_R[9], T d_r[3]) {
  const T e = T(kRodriguesEps);
  T a[3] = {r[0] + e, r[1] + e, r[2] + e};
  T theta = std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
  T kx = r[0] / theta, ky = r[1] / theta, kz = r[2] / theta;
  T s = std::sin(theta), c = std::cos(theta), oc = T(1) - c;
  T K[9] = {0, -kz, ky, kz, 0, -kx, -ky, kx, 0};
  T K2[9];
  mat3_mul(K, K, K2);
  // R = I + s K + oc K²
  T d_theta = 0;
  for (int i = 0; i < 9; ++i) d_theta += d_R[i] * (c * K[i] + s * K2[i]);
  // d(K²) = dK K + K dK  →  d_K = oc (d_R K^T + K^T d_R) + s d_R
  T d_K[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      T v = s * d_R[i * 3 + j];
      T t1 = 0, t2 = 0;
      for (int k = 0; k < 3; ++k) {
        t1 += d_R[i * 3 + k] * K[j * 3 + k];  // (d_R K^T)_ij
        t2 += K[k * 3 + i] * d_R[k * 3 + j];  // (K^T d_R)_ij
      }
      d_K[i * 3 + j] = v + oc * (t1 + t2);
    }
  T d_k[3] = {d_K[7] - d_K[5], d_K[2] - d_K[6], d_K[3] - d_K[1]};
  // k = r / θ
  T dot = d_k[0] * r[0] + d_k[1] * r[1] + d_k[2] * r[2];
  d_theta -= dot / (theta * theta);
  for (int i = 0; i < 3; ++i) d_r[i] += d_k[i] / theta + d_theta * a[i] / theta;
}

template <class T>
void kinematic_chain(const int32_t* parents, int J, const T* R, const T* Jr, T* G, T* A) {
  ffrt::lbs::kinematic_chain(parents, J, R, Jr, G, A);  // runtime/lbs.h
}

template <class T>
void kinematic_chain_vjp(const int32_t* parents, int J, const T* R, const T* Jr, const T* G, const T* dA, T* dG, T* dR,
                       T* dJ) {
  // A_j = [G_R | G_t − G_R J_j]
  for (int j = 0; j < J; ++j) {
    const T* gj = G + j * 12;
    const T* da = dA + size_t(j) * 12;
    T* dg = dG + size_t(j) * 12;
    for (int i = 0; i < 3; ++i) {
      T dat = da[i * 4 + 3];
      dg[i * 4 + 3] += dat;
      for (int k = 0; k < 3; ++k) {
        dg[i * 4 + k] += da[i * 4 + k] - dat * Jr[j * 3 + k];
        dJ[size_t(j) * 3 + k] -= gj[i * 4 + k] * dat;
      }
    }
  }
  // chain, children before parents (parents[j] < j)
  for (int j = J - 1; j >= 0; --j) {
    int p = parents[j];
    const T* dg = dG + size_t(j) * 12;
    const T* Rj = R + j * 9;
    if (p < 0) {
      for (int i = 0; i < 3; ++i) {
        for (int k = 0; k < 3; ++k) dR[size_t(j) * 9 + i * 3 + k] += dg[i * 4 + k];
        dJ[size_t(j) * 3 + i] += dg[i * 4 + 3];
      }
      continue;
    }
    const T* gp = G + p * 12;
    T* dgp = dG + size_t(p) * 12;
    T rel[3] = {Jr[j * 3 + 0] - Jr[p * 3 + 0], Jr[j * 3 + 1] - Jr[p * 3 + 1], Jr[j * 3 + 2] - Jr[p * 3 + 2]};
    // G_j.R = G_p.R · R_j ; G_j.t = G_p.R · rel + G_p.t
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 3; ++k) {
        T acc = 0;
        for (int l = 0; l < 3; ++l) acc += dg[i * 4 + l] * Rj[k * 3 + l];
        dgp[i * 4 + k] += acc + dg[i * 4 + 3] * rel[k];
        T accR = 0;
        for (int l = 0; l < 3; ++l) accR += gp[l * 4 + i] * dg[l * 4 + k];
        dR[size_t(j) * 9 + i * 3 + k] += accR;
      }
    for (int i = 0; i < 3; ++i) {
      dgp[i * 4 + 3] += dg[i * 4 + 3];
      T drel = gp[0 * 4 + i] * dg[0 * 4 + 3] + gp[1 * 4 + i] * dg[1 * 4 + 3] + gp[2 * 4 + i] * dg[2 * 4 + 3];
      dJ[size_t(j) * 3 + i] += drel;
      dJ[size_t(p) * 3 + i] -= drel;
    }
  }
}

#define FF_INSTANTIATE_CHAIN(T)                                                                            \
  template void kinematic_chain<T>(const int32_t*, int, const T*, const T*, T*, T*);                       \
  template void kinematic_chain_vjp<T>(const int32_t*, int, const T*, const T*, const T*, const T*, T*, T*, T*);
FF_INSTANTIATE_CHAIN(float)
FF_INSTANTIATE_CHAIN(double)
#undef FF_INSTANTIATE_CHAIN

template <class T>
void flame_fwd(const FlameModel& m, const FlameInput<T>& in, FlameOutput<T>& out,
               typename NonDeduced<FlameCache<T>>::type* cache, int threads) {
  check_input(m, in);
  threads = resolve_threads(threads);
  const int B = in.batch, V = m.V, J = m.J, P = (J - 1) * 9;
  const size_t V3 = size_t(V) * 3;
  out.vertices.assign(size_t(B) * V3, T(0));
  out.joints.assign(size_t(B) * J * 3, T(0));
  FlameCache<T> local;
  FlameCache<T>& c = cache ? *cache : local;
  c.batch = B;
  c.rest_joints.assign(size_t(B) * J * 3, T(0));
  c.rot.assign(size_t(B) * J * 9, T(0));
  c.global.assign(size_t(B) * J * 12, T(0));
  c.skin.assign(size_t(B) * J * 12, T(0));
  c.v_posed.assign(size_t(B) * V3, T(0));
  c.v_lbs.assign(size_t(B) * V3, T(0));
  std::vector<T> vs(V3);
  for (int b = 0; b < B; ++b) {
    shape_blend(m, in, b, vs.data(), threads);
    // joints J = J_regressor · v_shaped (J is tiny; serial, skipping zeros of the sparse regressor)
    T* Jr = c.rest_joints.data() + size_t(b) * J * 3;
    for (int j = 0; j < J; ++j) {
      T acc[3] = {0, 0, 0};
      const double* row = m.j_regressor.data() + size_t(j) * V;
      for (int v = 0; v < V; ++v) {
        if (row[v] == 0.0) continue;
        T w = T(row[v]);
        acc[0] += w * vs[size_t(v) * 3 + 0];
        acc[1] += w * vs[size_t(v) * 3 + 1];
        acc[2] += w * vs[size_t(v) * 3 + 2];
      }
      for (int k = 0; k < 3; ++k) Jr[j * 3 + k] = acc[k];
    }
    // rotations and pose feature
    T* R = c.rot.data() + size_t(b) * J * 9;
    std::vector<T> pf(static_cast<size_t>(P));
    for (int j = 0; j < J; ++j) {
      T r[3] = {0, 0, 0};
      if (in.pose)
        for (int k = 0; k < 3; ++k) r[k] = in.pose[(size_t(b) * J + j) * 3 + k];
      rodrigues(r, R + j * 9);
      if (j > 0)
        for (int k = 0; k < 9; ++k) pf[size_t((j - 1) * 9 + k)] = R[j * 9 + k] - ((k % 4 == 0) ? T(1) : T(0));
    }
    // kinematic chain
    T* G = c.global.data() + size_t(b) * J * 12;
    T* A = c.skin.data() + size_t(b) * J * 12;
    kinematic_chain(m.parents.data(), J, R, Jr, G, A);
    const T s = in.scale ? in.scale[b] : T(1);
    const T t[3] = {in.translation ? in.translation[b * 3 + 0] : T(0), in.translation ? in.translation[b * 3 + 1] : T(0),
                    in.translation ? in.translation[b * 3 + 2] : T(0)};
    for (int j = 0; j < J; ++j)
      for (int i = 0; i < 3; ++i) out.joints[(size_t(b) * J + j) * 3 + i] = s * G[j * 12 + i * 4 + 3] + t[i];
    // pose correctives + LBS, per vertex
    T* vp = c.v_posed.data() + size_t(b) * V3;
    T* vl = c.v_lbs.data() + size_t(b) * V3;
    T* vo = out.vertices.data() + size_t(b) * V3;
    parallel_for(int64_t(V), kGrain, threads, [&](int64_t v0, int64_t v1) {
      for (int64_t v = v0; v < v1; ++v) {
        T x[3];
        for (int k = 0; k < 3; ++k) {
          size_t r = size_t(v) * 3 + size_t(k);
          T acc = vs[r];
          for (int p = 0; p < P; ++p) acc += pf[size_t(p)] * T(m.posedirs[size_t(p) * V3 + r]);
          x[k] = acc;
          vp[r] = acc;
        }
        T y[3];
        ffrt::lbs::skin_vertex(A, m.weights.data() + size_t(v) * J, J, x, y);  // runtime/lbs.h
        for (int i = 0; i < 3; ++i) {
          vl[size_t(v) * 3 + i] = y[i];
          vo[size_t(v) * 3 + i] = s * y[i] + t[i];
        }
      }
    });
  }
}

template <class T>
void flame_bwd(const FlameModel& m, const FlameInput<T>& in, const FlameCache<T>& c,
               const typename NonDeduced<T>::type* d_vertices, const typename NonDeduced<T>::type* d_joints,
               FlameGrads<T>& g, int threads) {
  check_input(m, in);
  FF_CHECK(c.batch == in.batch && c.v_posed.size() == size_t(in.batch) * m.V * 3, "flame_bwd: cache from a different "
           "forward (batch ", c.batch, " vs ", in.batch, ")");
  FF_CHECK(d_vertices, "flame_bwd: d_vertices is null");
  threads = resolve_threads(threads);
  const int B = in.batch, V = m.V, J = m.J, P = (J - 1) * 9, ns = in.n_shape, ne = in.n_expr;
  const size_t V3 = size_t(V) * 3;
  auto ensure = [](std::vector<T>& v, size_t n) {
    if (v.size() != n) v.assign(n, T(0));
  };
  ensure(g.d_shape, size_t(B) * ns);
  ensure(g.d_expr, size_t(B) * ne);
  ensure(g.d_pose, size_t(B) * J * 3);
  ensure(g.d_translation, size_t(B) * 3);
  ensure(g.d_scale, size_t(B));
  if (in.static_offset) ensure(g.d_static_offset, V3);

  const int chunks = parallel_chunks(int64_t(V), kGrain, threads);
  // per chunk partials: d_A [J*12], d_pf [P], d_t [3], d_s [1]
  const int W = J * 12 + P + 4;
  std::vector<T> part(size_t(chunks) * W);
  std::vector<T> dvs(V3);  // d_v_shaped
  for (int b = 0; b < B; ++b) {
    const T s = in.scale ? in.scale[b] : T(1);
    const T* A = c.skin.data() + size_t(b) * J * 12;
    const T* G = c.global.data() + size_t(b) * J * 12;
    const T* R = c.rot.data() + size_t(b) * J * 9;
    const T* Jr = c.rest_joints.data() + size_t(b) * J * 3;
    const T* vp = c.v_posed.data() + size_t(b) * V3;
    const T* vl = c.v_lbs.data() + size_t(b) * V3;
    const T* dout = d_vertices + size_t(b) * V3;
    std::fill(part.begin(), part.end(), T(0));
    parallel_for(int64_t(V), kGrain, threads, [&](int64_t v0, int64_t v1) {
      int ch = int(int64_t(chunks) * v0 / int64_t(V));  // parallel_for's chunk b starts at V*ch/chunks
      while (ch + 1 < chunks && int64_t(V) * (ch + 1) / chunks <= v0) ++ch;
      T* pa = part.data() + size_t(ch) * W;
      T* dA = pa;
      T* dpf = pa + J * 12;
      T* dt = pa + J * 12 + P;
      for (int64_t v = v0; v < v1; ++v) {
        const T* go = dout + size_t(v) * 3;
        for (int i = 0; i < 3; ++i) {
          dt[i] += go[i];
          dt[3] += go[i] * vl[size_t(v) * 3 + i];
        }
        T dy[3] = {s * go[0], s * go[1], s * go[2]};
        T M[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        const double* w = m.weights.data() + size_t(v) * J;
        for (int j = 0; j < J; ++j) {
          if (w[j] == 0.0) continue;
          T wj = T(w[j]);
          for (int i = 0; i < 12; ++i) M[i] += wj * A[j * 12 + i];
        }
        const T* x = vp + size_t(v) * 3;
        // d_M = dy ⊗ [x; 1]; d_A_j += w_vj d_M
        for (int j = 0; j < J; ++j) {
          if (w[j] == 0.0) continue;
          T wj = T(w[j]);
          for (int i = 0; i < 3; ++i) {
            T wd = wj * dy[i];
            dA[j * 12 + i * 4 + 0] += wd * x[0];
            dA[j * 12 + i * 4 + 1] += wd * x[1];
            dA[j * 12 + i * 4 + 2] += wd * x[2];
            dA[j * 12 + i * 4 + 3] += wd;
          }
        }
        // d_x = M_R^T dy  → d_v_posed; d_v_shaped = d_v_posed; d_pf += posedirs · d_v_posed
        for (int k = 0; k < 3; ++k) {
          T dx = M[0 * 4 + k] * dy[0] + M[1 * 4 + k] * dy[1] + M[2 * 4 + k] * dy[2];
          size_t r = size_t(v) * 3 + size_t(k);
          dvs[r] = dx;
          for (int p = 0; p < P; ++p) dpf[p] += T(m.posedirs[size_t(p) * V3 + r]) * dx;
        }
      }
    });
    std::vector<T> dA(size_t(J) * 12, T(0)), dpf(size_t(P), T(0));
    T dt[3] = {0, 0, 0}, ds = 0;
    for (int ch = 0; ch < chunks; ++ch) {
      const T* pa = part.data() + size_t(ch) * W;
      for (int i = 0; i < J * 12; ++i) dA[size_t(i)] += pa[i];
      for (int p = 0; p < P; ++p) dpf[size_t(p)] += pa[J * 12 + p];
      for (int i = 0; i < 3; ++i) dt[i] += pa[J * 12 + P + i];
      ds += pa[J * 12 + P + 3];
    }
    // joints output: s·G_t + t
    std::vector<T> dG(size_t(J) * 12, T(0)), dJ(size_t(J) * 3, T(0)), dR(size_t(J) * 9, T(0));
    if (d_joints) {
      const T* dj = d_joints + size_t(b) * J * 3;
      for (int j = 0; j < J; ++j)
        for (int i = 0; i < 3; ++i) {
          dt[i] += dj[j * 3 + i];
          ds += dj[j * 3 + i] * G[j * 12 + i * 4 + 3];
          dG[size_t(j) * 12 + i * 4 + 3] += s * dj[j * 3 + i];
        }
    }
    for (int i = 0; i < 3; ++i) g.d_translation[size_t(b) * 3 + i] += dt[i];
    g.d_scale[size_t(b)] += ds;
    kinematic_chain_vjp(m.parents.data(), J, R, Jr, G, dA.data(), dG.data(), dR.data(), dJ.data());
    // pose feature → R_j (j ≥ 1); Rodrigues VJP
    for (int j = 1; j < J; ++j)
      for (int k = 0; k < 9; ++k) dR[size_t(j) * 9 + k] += dpf[size_t((j - 1) * 9 + k)];
    for (int j = 0; j < J; ++j) {
      T r[3] = {0, 0, 0};
      if (in.pose)
        for (int k = 0; k < 3; ++k) r[k] = in.pose[(size_t(b) * J + j) * 3 + k];
      rodrigues_vjp(r, dR.data() + size_t(j) * 9, g.d_pose.data() + (size_t(b) * J + j) * 3);
    }
    // J = J_regressor · v_shaped
    for (int j = 0; j < J; ++j) {
      const double* row = m.j_regressor.data() + size_t(j) * V;
      for (int v = 0; v < V; ++v) {
        if (row[v] == 0.0) continue;
        T w = T(row[v]);
        for (int k = 0; k < 3; ++k) dvs[size_t(v) * 3 + k] += w * dJ[size_t(j) * 3 + k];
      }
    }
    if (in.static_offset)
      for (size_t r = 0; r < V3; ++r) g.d_static_offset[r] += dvs[r];
    // blendshapes: d_β = shapedirs^T d_v_shaped, d_ψ = exprdirs^T d_v_shaped (chunk partials, ordered sum)
    if (ns + ne > 0) {
      std::vector<T> bp(size_t(chunks) * (ns + ne), T(0));
      parallel_for(int64_t(V), kGrain, threads, [&](int64_t v0, int64_t v1) {
        int ch = int(int64_t(chunks) * v0 / int64_t(V));
        while (ch + 1 < chunks && int64_t(V) * (ch + 1) / chunks <= v0) ++ch;
        T* acc = bp.data() + size_t(ch) * (ns + ne);
        for (int64_t r = v0 * 3; r < v1 * 3; ++r) {
          T d = dvs[size_t(r)];
          if (d == T(0)) continue;
          const double* sd = m.shapedirs.data() + size_t(r) * m.S;
          for (int l = 0; l < ns; ++l) acc[l] += T(sd[l]) * d;
          const double* ed = m.exprdirs.data() + size_t(r) * m.E;
          for (int l = 0; l < ne; ++l) acc[ns + l] += T(ed[l]) * d;
        }
      });
      for (int ch = 0; ch < chunks; ++ch) {
        const T* acc = bp.data() + size_t(ch) * (ns + ne);
        for (int l = 0; l < ns; ++l) g.d_shape[size_t(b) * ns + l] += acc[l];
        for (int l = 0; l < ne; ++l) g.d_expr[size_t(b) * ne + l] += acc[ns + l];
      }
    }
  }
}

#define FF_FLAME_INSTANTIATE(T)                                                                                   \
  template void rodrigues<T>(const T*, T*);                                                                       \
  template void rodrigues_vjp<T>(const T*, const T*, T*);                                                         \
  template void flame_fwd<T>(const FlameModel&, const FlameInput<T>&, FlameOutput<T>&, FlameCache<T>*, int);      \
  template void flame_bwd<T>(const FlameModel&, const FlameInput<T>&, const FlameCache<T>&, const T*, const T*,   \
                             FlameGrads<T>&, int);
FF_FLAME_INSTANTIATE(float)
FF_FLAME_INSTANTIATE(double)
#undef FF_FLAME_INSTANTIATE

}  // namespace ff::flame
