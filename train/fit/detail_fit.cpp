// train/fit/detail_fit.cpp — the detail stage (see detail_fit.h).
#include "train/fit/detail_fit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <Eigen/Dense>

#include "core/check.h"
#include "core/geometry.h"
#include "flame/mesh_raster.h"
#include "runtime/splat_math.h"
#include "splat/splat.h"
#include "tensor/tensor.h"
#include "train/data/image.h"

namespace ff::fit {

namespace {
using Clock = std::chrono::steady_clock;

Vec3d vertex(const flame::Mesh& m, int v) {
  return {m.vertices[size_t(v) * 3], m.vertices[size_t(v) * 3 + 1], m.vertices[size_t(v) * 3 + 2]};
}
Vec3d add(const Vec3d& a, const Vec3d& b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
Vec3d sub(const Vec3d& a, const Vec3d& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec3d scale(const Vec3d& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
double smoothstep(double e0, double e1, double x) {
  double t = std::clamp((x - e0) / (e1 - e0), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

// A pinhole view of the working image: canonical → camera, intrinsics in the splat convention.
struct View {
  std::array<double, 16> V{};
  double fx = 0, fy = 0, cx = 0, cy = 0;
  int width = 0, height = 0;
  Vec3d to_camera(const Vec3d& x) const {
    return {V[0] * x[0] + V[1] * x[1] + V[2] * x[2] + V[3], V[4] * x[0] + V[5] * x[1] + V[6] * x[2] + V[7],
            V[8] * x[0] + V[9] * x[1] + V[10] * x[2] + V[11]};
  }
  Vec3d center() const {  // −Rᵀt
    return {-(V[0] * V[3] + V[4] * V[7] + V[8] * V[11]), -(V[1] * V[3] + V[5] * V[7] + V[9] * V[11]),
            -(V[2] * V[3] + V[6] * V[7] + V[10] * V[11])};
  }
};

// Bilinear sample of a planar image at pixel-centre coordinates (x, y) (pixel i's centre at i); edge-clamped.
void sample_bilinear(const FImage& im, double x, double y, float* out) {
  x = std::clamp(x, 0.0, double(im.width - 1));
  y = std::clamp(y, 0.0, double(im.height - 1));
  const int x0 = std::min(int(x), im.width - 1), y0 = std::min(int(y), im.height - 1);
  const int x1 = std::min(x0 + 1, im.width - 1), y1 = std::min(y0 + 1, im.height - 1);
  const double fx = x - x0, fy = y - y0;
  const size_t P = size_t(im.width) * im.height;
  for (int c = 0; c < im.channels; ++c) {
    const float* ch = im.data.data() + c * P;
    out[c] = float((1 - fy) * ((1 - fx) * ch[size_t(y0) * im.width + x0] + fx * ch[size_t(y0) * im.width + x1]) +
                   fy * ((1 - fx) * ch[size_t(y1) * im.width + x0] + fx * ch[size_t(y1) * im.width + x1]));
  }
}

// How well the photo sees surface point x with unit normal n: in the image, not behind the z-buffer, facing.
// `cosine` (optional) receives the cosine between n and the direction from x to the camera (1: seen head-on).
double visibility(const View& v, const flame::GBuffer& g, const Vec3d& x, const Vec3d& n, float* photo_rgb,
                  const FImage& photo, double* cosine = nullptr) {
  if (cosine) *cosine = -dot(n, normalized(sub(x, v.center())));
  const Vec3d pc = v.to_camera(x);
  if (pc[2] <= 1e-6) return 0;
  const double u = v.fx * pc[0] / pc[2] + v.cx, w = v.fy * pc[1] / pc[2] + v.cy;
  const int ix = int(std::floor(u)), iy = int(std::floor(w));
  if (ix < 0 || iy < 0 || ix >= v.width || iy >= v.height) return 0;
  const Vec3d ray = normalized(sub(x, v.center()));
  const double c = -dot(n, ray);
  const double facing = smoothstep(0.15, 0.5, c);
  if (facing <= 0) return 0;
  const double footprint = pc[2] / std::sqrt(v.fx * v.fy);  // metres per pixel at this depth
  const double tol = 0.005 * pc[2] + 2 * footprint * std::sqrt(std::max(0.0, 1 - c * c)) / std::max(c, 0.1);
  const float zb = g.depth[size_t(iy) * v.width + ix];
  if (!(pc[2] <= zb + tol)) return 0;
  if (photo_rgb) sample_bilinear(photo, u - 0.5, w - 0.5, photo_rgb);
  return facing;
}

// k nearest points of a point set through a uniform grid (used for the code Gaussians' colours).
class PointGrid {
 public:
  explicit PointGrid(const std::vector<float>& xyz) : xyz_(xyz) {
    const size_t n = xyz.size() / 3;
    FF_CHECK(n > 0, "detail stage: the code fit has no Gaussians");
    lo_ = {1e30, 1e30, 1e30};
    Vec3d hi{-1e30, -1e30, -1e30};
    for (size_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) lo_[k] = std::min<double>(lo_[k], xyz[i * 3 + k]), hi[k] = std::max<double>(hi[k], xyz[i * 3 + k]);
    const double ext = std::max({hi[0] - lo_[0], hi[1] - lo_[1], hi[2] - lo_[2], 1e-6});
    cell_ = ext / kRes;
    cells_.assign(size_t(kRes + 1) * (kRes + 1) * (kRes + 1), {});
    for (size_t i = 0; i < n; ++i) cells_[index(cell_of({xyz[i * 3], xyz[i * 3 + 1], xyz[i * 3 + 2]}))].push_back(int(i));
  }
  // the k nearest (index, squared distance), nearest first
  std::vector<std::pair<int, double>> nearest(const Vec3d& q, int k) const {
    std::vector<std::pair<int, double>> best;
    const std::array<int, 3> c = cell_of(q);
    for (int r = 0; r <= kRes; ++r) {
      for (int i = c[0] - r; i <= c[0] + r; ++i)
        for (int j = c[1] - r; j <= c[1] + r; ++j)
          for (int l = c[2] - r; l <= c[2] + r; ++l) {
            if (std::max({std::abs(i - c[0]), std::abs(j - c[1]), std::abs(l - c[2])}) != r) continue;  // shell only
            if (i < 0 || j < 0 || l < 0 || i > kRes || j > kRes || l > kRes) continue;
            for (int p : cells_[index({i, j, l})]) {
              const double d = sq(q, p);
              best.push_back({p, d});
            }
          }
      if (int(best.size()) >= k) {
        std::partial_sort(best.begin(), best.begin() + k, best.end(),
                          [](auto& a, auto& b) { return a.second < b.second; });
        // every point outside the searched shells is farther than r·cell
        if (best[k - 1].second <= (r * cell_) * (r * cell_)) {
          best.resize(k);
          return best;
        }
      }
    }
    std::sort(best.begin(), best.end(), [](auto& a, auto& b) { return a.second < b.second; });
    if (int(best.size()) > k) best.resize(k);
    return best;
  }

 private:
  static constexpr int kRes = 48;
  double sq(const Vec3d& q, int p) const {
    double s = 0;
    for (int k = 0; k < 3; ++k) s += (q[k] - xyz_[size_t(p) * 3 + k]) * (q[k] - xyz_[size_t(p) * 3 + k]);
    return s;
  }
  std::array<int, 3> cell_of(const Vec3d& q) const {
    std::array<int, 3> c{};
    for (int k = 0; k < 3; ++k) c[k] = std::clamp(int(std::floor((q[k] - lo_[k]) / cell_)), 0, kRes);
    return c;
  }
  size_t index(const std::array<int, 3>& c) const { return (size_t(c[0]) * (kRes + 1) + c[1]) * (kRes + 1) + c[2]; }
  const std::vector<float>& xyz_;
  Vec3d lo_{};
  double cell_ = 1;
  std::vector<std::vector<int>> cells_;
};

// The surfels' render as a linear operator of their colours: image = A·c (black background). On `device` (CUDA)
// the Gaussians stay there; each application copies the colours in and the image and colour gradient out (a few MB).
class SurfelOperator {
 public:
  SurfelOperator(Context& ctx, Device device, const ffrt::GaussianSet& g, const View& v)
      : ctx_(ctx), gaussians_(ctx, g, device) {
    const int64_t N = int64_t(g.size()), P = int64_t(v.width) * v.height;
    p_ = gaussians_.params(v.V, {v.fx, v.fy, v.cx, v.cy}, v.width, v.height, held_);
    if (device.is_cuda()) {
      colors_ = zeros(ctx, {N, 3}, DType::F32, device);
      image_ = zeros(ctx, {1, 3, P}, DType::F32, device);
      cot_ = zeros(ctx, {1, 3, P}, DType::F32, device);
      d_colors_ = zeros(ctx, {N, 3}, DType::F32, device);
    }
    host_image_.resize(size_t(3) * size_t(P));
    host_cot_.resize(host_image_.size());
  }
  // out = Aᵀ·W·(k·y − A·c): with k = 0 this is −AᵀWA·c, with k = 1 and y the photo the residual of the normal
  // equations. `image` (optional) receives A·c.
  void normal_residual(const std::vector<float>& c, const std::vector<float>& Wpx, const std::vector<float>* y,
                       std::vector<float>& out, std::vector<float>* image = nullptr) {
    const bool cuda = p_.device.is_cuda();
    if (cuda) {
      colors_ = from_vector<float>(ctx_, c, colors_.shape(), p_.device);
      p_.colors = colors_.data<float>();
      p_.image = image_.data<float>();
    } else {
      p_.colors = c.data();
      p_.image = host_image_.data();
    }
    splat::render_fwd(ctx_, p_, state_);
    if (cuda) host_image_ = image_.to_vector<float>();
    const size_t P = Wpx.size();
    for (int ch = 0; ch < 3; ++ch)
      for (size_t i = 0; i < P; ++i) {
        const float target = y ? (*y)[ch * P + i] : 0.f;
        host_cot_[ch * P + i] = Wpx[i] * (host_image_[ch * P + i] - target);
      }
    splat::RenderGrads gr;
    if (cuda) {
      cot_ = from_vector<float>(ctx_, host_cot_, cot_.shape(), p_.device);
      d_colors_ = zeros(ctx_, d_colors_.shape(), DType::F32, p_.device);  // render_bwd accumulates
      gr.d_image = cot_.data<float>();
      gr.d_colors = d_colors_.data<float>();
      splat::render_bwd(ctx_, p_, gr, state_);
      out = d_colors_.to_vector<float>();
    } else {
      out.assign(c.size(), 0.f);
      gr.d_image = host_cot_.data();
      gr.d_colors = out.data();
      splat::render_bwd(ctx_, p_, gr, state_);
    }
    for (auto& v : out) v = -v;  // d/dc of ½ΣW(Ac−y)² is AᵀW(Ac−y); the residual is its negative
    if (image) *image = host_image_;
  }

 private:
  Context& ctx_;
  GaussianRenderer gaussians_;                    // the Gaussians where the render runs
  std::vector<Tensor> held_;                      // the camera and intrinsics there
  Tensor colors_, image_, cot_, d_colors_;        // CUDA only: the per-application buffers
  std::vector<float> host_image_, host_cot_;
  splat::RenderParams p_;
  splat::RenderState state_;
};

// Per-surfel colours [N,3] low-passed over the head surface: splatted onto the head's vertices by the surfels'
// barycentrics, averaged with the vertices' mesh neighbours `rounds` times, interpolated back. Its scale is the
// head mesh's edge length (a few mm on the face) times about √rounds.
std::vector<float> surface_lowpass(const flame::Mesh& head, const std::vector<int32_t>& tri,
                                   const std::vector<float>& bary, const std::vector<float>& values, int rounds) {
  const size_t N = tri.size(), V = size_t(head.num_vertices()), F = size_t(head.num_faces());
  std::vector<double> sum(V * 3, 0.0), weight(V, 0.0);
  auto corner = [&](size_t f, int k) { return size_t(head.faces[f * 3 + size_t(k)]); };
  for (size_t i = 0; i < N; ++i)
    for (int k = 0; k < 3; ++k) {
      const size_t v = corner(size_t(tri[i]), k);
      const double b = bary[i * 3 + size_t(k)];
      weight[v] += b;
      for (int c = 0; c < 3; ++c) sum[v * 3 + size_t(c)] += b * values[i * 3 + size_t(c)];
    }
  for (int r = 0; r < rounds; ++r) {  // each vertex gains its neighbours' sums (edges shared by two faces count twice)
    std::vector<double> s2 = sum, w2 = weight;
    for (size_t f = 0; f < F; ++f)
      for (int k = 0; k < 3; ++k) {
        const size_t a = corner(f, k), b = corner(f, (k + 1) % 3);
        w2[a] += weight[b], w2[b] += weight[a];
        for (int c = 0; c < 3; ++c) s2[a * 3 + size_t(c)] += sum[b * 3 + size_t(c)], s2[b * 3 + size_t(c)] += sum[a * 3 + size_t(c)];
      }
    sum.swap(s2), weight.swap(w2);
  }
  std::vector<float> out(N * 3, 0.f);
  for (size_t i = 0; i < N; ++i) {
    double acc[3] = {0, 0, 0}, ws = 0;
    for (int k = 0; k < 3; ++k) {
      const size_t v = corner(size_t(tri[i]), k);
      if (!(weight[v] > 0)) continue;
      const double b = bary[i * 3 + size_t(k)];
      for (int c = 0; c < 3; ++c) acc[c] += b * sum[v * 3 + size_t(c)] / weight[v];
      ws += b;
    }
    for (int c = 0; c < 3; ++c) out[i * 3 + size_t(c)] = float(ws > 0 ? acc[c] / ws : values[i * 3 + size_t(c)]);
  }
  return out;
}

constexpr int kShadingRounds = 4;         // surface_lowpass rounds for the guess's shading (docs/model.md §7)
constexpr double kMaxShadingGain = 2.0;   // the guess is brightened or darkened by at most this factor

double masked_psnr(const std::vector<float>& img, const FImage& photo, const FImage& mask) {
  const size_t P = mask.data.size();
  double se = 0, wm = 0;
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < P; ++i) {
      const double d = double(img[c * P + i]) - photo.data[c * P + i];
      se += mask.data[i] * d * d;
      wm += mask.data[i];
    }
  return wm > 0 ? 10 * std::log10(1.0 / std::max(se / wm, 1e-12)) : 0;
}

double dot_product(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// h's target: the photo's colour up to a 1.25× stretch, the guess from 2.5×; views from behind (u < 0) see the
// surfel through the head, if at all: the photo's colour there too
double photo_weight_target(double u, double up) { return u <= 0 ? 1.0 : 1 - smoothstep(1.25 * up, 2.5 * up, u); }
// how much of that a surfel gets: none where the photo sees it well enough that no view stretches it 2×
double view_dependence(double up) { return 1 - smoothstep(0.4, 0.6, up); }
// the least-squares cubic of the target over u ∈ [−1, 1] (weight 1 on the visible side u ≥ −0.1, 0.05 behind)
// subject to h(u_p) = 1, held near [0, 1] on the visible side by penalties that grow where it leaves [−0.02, 1.02]
// (a cubic cannot follow the target's step: unbounded, it overshoots to −0.4, extrapolating the colours past the
// guess; bounded, it stays within about [−0.07, 1.07] and eases in more slowly: h(2·u_p) ≈ 0.8 for u_p ≤ 0.3)
std::array<double, 4> fit_photo_weight(double up) {
  constexpr int M = 201;
  std::array<double, M> u{}, w{}, y{}, extra{}, bound{};
  for (int j = 0; j < M; ++j) {
    u[j] = -1 + 2.0 * j / (M - 1);
    w[j] = u[j] >= -0.1 ? 1.0 : 0.05;
    y[j] = photo_weight_target(u[j], up);
  }
  const double cst[4] = {1, up, up * up, up * up * up};
  std::array<double, 4> a{};
  for (int round = 0; round < 40; ++round) {
    Eigen::Matrix<double, 5, 5> K = Eigen::Matrix<double, 5, 5>::Zero();
    Eigen::Matrix<double, 5, 1> rhs = Eigen::Matrix<double, 5, 1>::Zero();
    for (int j = 0; j < M; ++j) {
      const double p[4] = {1, u[j], u[j] * u[j], u[j] * u[j] * u[j]};
      const double ww = w[j] + extra[j], t = (w[j] * y[j] + extra[j] * bound[j]) / ww;
      for (int r = 0; r < 4; ++r) {
        rhs(r) += ww * p[r] * t;
        for (int c = 0; c < 4; ++c) K(r, c) += ww * p[r] * p[c];
      }
    }
    for (int r = 0; r < 4; ++r) K(r, 4) = K(4, r) = cst[r];
    rhs(4) = 1;
    const Eigen::Matrix<double, 5, 1> x = K.fullPivLu().solve(rhs);
    a = {x(0), x(1), x(2), x(3)};
    bool inside = true;
    for (int j = 0; j < M; ++j) {
      if (u[j] < -0.1) continue;
      const double h = a[0] + a[1] * u[j] + a[2] * u[j] * u[j] + a[3] * u[j] * u[j] * u[j];
      if (h < -0.02 || h > 1.02) inside = false, extra[j] += 5, bound[j] = h < 0 ? 0.0 : 1.0;
    }
    if (inside) break;
  }
  return a;
}
}  // namespace

std::array<double, 4> photo_weight_cubic(double up) {
  FF_CHECK(std::isfinite(up) && up >= -1 && up <= 1, "photo_weight_cubic: the cosine must be in [-1, 1], got ", up);
  const double s = view_dependence(up);
  if (s <= 0) return {1, 0, 0, 0};
  // a table over u_p ∈ [0.1, 0.6] (below 0.1 the photo hardly sees the surfel: the design of 0.1), interpolated
  // linearly, then a₀ shifted so that h(u_p) = 1 holds exactly
  constexpr int T = 101;
  static const std::vector<std::array<double, 4>> table = [] {
    std::vector<std::array<double, 4>> t(T);
    for (int k = 0; k < T; ++k) t[size_t(k)] = fit_photo_weight(0.1 + 0.5 * k / (T - 1));
    return t;
  }();
  const double pos = std::clamp((up - 0.1) / 0.5 * (T - 1), 0.0, double(T - 1));
  const int k0 = std::min(int(pos), T - 2);
  const double f = pos - k0;
  std::array<double, 4> a{};
  for (int c = 0; c < 4; ++c) a[size_t(c)] = (1 - f) * table[size_t(k0)][size_t(c)] + f * table[size_t(k0) + 1][size_t(c)];
  // blend with h ≡ 1 by the strength s, then make h(u_p) = 1 exact
  for (int c = 0; c < 4; ++c) a[size_t(c)] = s * a[size_t(c)] + (c == 0 ? 1 - s : 0);
  a[0] += 1 - (a[0] + a[1] * up + a[2] * up * up + a[3] * up * up * up);
  return a;
}

void view_dependent_sh(const std::array<double, 3>& n, double up, const float photo[3], const float guess[3],
                       float dc[3], float rest[45]) {
  const std::array<double, 4> a = photo_weight_cubic(up);
  // Legendre coefficients of h: u² = (2P₂ + P₀)/3, u³ = (2P₃ + 3P₁)/5
  const double leg[4] = {a[0] + a[2] / 3, a[1] + 0.6 * a[3], 2 * a[2] / 3, 0.4 * a[3]};
  // P_l(a·d) = 4π/(2l+1) Σ_m Y_lm(a) Y_lm(d) for any orthonormal real SH basis; the renderer's direction d runs from
  // the camera to the surfel, so u = n·(−d) and the axis is −n
  double b[16];
  ff::splat::math::sh_basis(3, -n[0], -n[1], -n[2], b);
  constexpr double kFourPi = 12.566370614359172;
  for (int c = 0; c < 3; ++c) {
    const double delta = double(photo[c]) - guess[c];
    dc[c] = float(guess[c] + leg[0] * delta);  // the l = 0 term: 4π·C0² = 1
    for (int k = 1; k < 16; ++k) {
      const int l = k < 4 ? 1 : k < 9 ? 2 : 3;
      rest[(k - 1) * 3 + c] = float(delta * leg[l] * kFourPi / (2 * l + 1) * b[k]);
    }
  }
}

std::vector<int32_t> mirror_vertices(const std::vector<double>& t, double* residual) {
  const int V = int(t.size() / 3);
  FF_CHECK(V > 0 && t.size() == size_t(V) * 3, "mirror_vertices: template has ", t.size(), " values, not [V,3]");
  double mx = 0;
  for (int i = 0; i < V; ++i) mx += t[size_t(i) * 3] / V;
  std::vector<int32_t> m(V);
  double worst = 0;
  for (int i = 0; i < V; ++i) {
    const double q[3] = {2 * mx - t[size_t(i) * 3], t[size_t(i) * 3 + 1], t[size_t(i) * 3 + 2]};
    double best = std::numeric_limits<double>::infinity();
    for (int j = 0; j < V; ++j) {
      const double dx = t[size_t(j) * 3] - q[0], dy = t[size_t(j) * 3 + 1] - q[1], dz = t[size_t(j) * 3 + 2] - q[2];
      const double d = dx * dx + dy * dy + dz * dz;
      if (d < best) best = d, m[i] = j;
    }
    worst = std::max(worst, std::sqrt(best));
  }
  if (residual) *residual = worst;
  return m;
}

ffrt::GaussianSet DetailResult::view_independent() const {
  ffrt::GaussianSet g = gaussians;
  if (g.has_sh()) g.colors = photo_colors, g.sh_rest.clear();
  return g;
}

GaussianRenderer::GaussianRenderer(Context& ctx, const ffrt::GaussianSet& g, Device device)
    : ctx_(ctx), device_(device), n_(int64_t(g.size())) {
  g.check("GaussianRenderer");
  std::vector<float> scales(g.log_scales.size());
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = std::exp(g.log_scales[i]);
  means_ = from_vector<float>(ctx, g.means, {n_, 3}, device);
  scales_ = from_vector<float>(ctx, scales, {n_, 3}, device);
  rotations_ = from_vector<float>(ctx, g.rotations, {n_, 4}, device);
  opacities_ = from_vector<float>(ctx, g.opacities, {n_}, device);
  colors_ = from_vector<float>(ctx, g.colors, {n_, 3}, device);
  if (g.has_sh()) sh_ = from_vector<float>(ctx, ffrt::sh_coefficients(g), {n_, 16, 3}, device);
}

splat::RenderParams GaussianRenderer::params(const std::array<double, 16>& V, const std::array<double, 4>& K, int W,
                                             int H, std::vector<Tensor>& held) const {
  std::vector<float> viewmat(16);
  for (size_t i = 0; i < 16; ++i) viewmat[i] = float(V[i]);
  const std::vector<float> intr = {float(K[0]), float(K[1]), float(K[2]), float(K[3])};
  held.push_back(from_vector<float>(ctx_, viewmat, {1, 4, 4}, device_));
  held.push_back(from_vector<float>(ctx_, intr, {1, 4}, device_));
  splat::RenderParams p;
  p.device = device_;
  p.num_gaussians = int(n_);
  p.width = W, p.height = H;
  p.means = means_.data<float>(), p.scales = scales_.data<float>(), p.rotations = rotations_.data<float>();
  p.opacities = opacities_.data<float>(), p.colors = colors_.data<float>();
  if (sh_.defined()) p.colors = nullptr, p.sh = sh_.data<float>(), p.sh_degree = 3, p.sh_coeffs = 16;
  p.viewmats = held[held.size() - 2].data<float>(), p.intrinsics = held.back().data<float>();
  return p;
}

FImage GaussianRenderer::render(const std::array<double, 16>& V, const std::array<double, 4>& K, int W, int H,
                                FImage* alpha) const {
  FF_CHECK(W > 0 && H > 0, "render_gaussians: image size must be positive, got ", W, "x", H);
  const int64_t P = int64_t(W) * H;
  std::vector<Tensor> held;
  splat::RenderParams p = params(V, K, W, H, held);
  Tensor image = zeros(ctx_, {1, 3, P}, DType::F32, device_), a = zeros(ctx_, {1, P}, DType::F32, device_);
  p.image = image.data<float>();
  p.alpha = a.data<float>();
  splat::RenderState st;
  splat::render_fwd(ctx_, p, st);
  FImage out;
  out.width = W, out.height = H, out.channels = 3;
  out.data = image.to_vector<float>();
  for (auto& v : out.data) v = std::clamp(v, 0.f, 1.f);  // the image range (splat colours may overshoot)
  if (alpha) {
    alpha->width = W, alpha->height = H, alpha->channels = 1;
    alpha->data = a.to_vector<float>();
  }
  return out;
}

FImage render_gaussians(Context& ctx, const ffrt::GaussianSet& g, const std::array<double, 16>& V,
                        const std::array<double, 4>& K, int W, int H, FImage* alpha, Device device) {
  return GaussianRenderer(ctx, g, device).render(V, K, W, H, alpha);
}

DetailResult fit_detail(Context& ctx, const DetailProblem& p, const DetailOptions& o) {
  const auto t0 = Clock::now();
  FF_CHECK(p.head && p.face_flag, "detail stage: no head mesh given");
  const flame::Mesh& head = *p.head;
  const int F = head.num_faces(), NV = head.num_vertices();
  FF_CHECK(int(p.face_flag->size()) == F, "detail stage: face_flag has ", p.face_flag->size(), " entries, the head ",
           F, " triangles");
  FF_CHECK(p.photo.channels == 3 && p.mask.channels == 1 && p.photo.width == p.mask.width &&
               p.photo.height == p.mask.height,
           "detail stage: photo/mask sizes differ");
  FF_CHECK(o.spacing_px > 0 && std::isfinite(o.spacing_px), "detail stage: spacing must be > 0, got ", o.spacing_px);
  FF_CHECK(o.max_side >= 16, "detail stage: max_side must be at least 16, got ", o.max_side);
  FF_CHECK(o.max_gaussians >= 1000, "detail stage: max_gaussians must be at least 1000, got ", o.max_gaussians);
  FF_CHECK(o.iterations >= 0, "detail stage: iterations must be >= 0, got ", o.iterations);
  FF_CHECK(o.symmetry >= 0 && o.symmetry <= 1, "detail stage: symmetry must be in [0, 1], got ", o.symmetry);
  FF_CHECK(o.prior >= 0 && std::isfinite(o.prior), "detail stage: prior must be >= 0, got ", o.prior);
  FF_CHECK(o.thickness > 0 && o.thickness <= 1, "detail stage: thickness must be in (0, 1], got ", o.thickness);
  FF_CHECK(p.mirror.empty() || int(p.mirror.size()) == NV, "detail stage: mirror map has ", p.mirror.size(),
           " entries, the head ", NV, " vertices");
  DetailResult res;

  // ---- working image: the face crop, longer side ≤ max_side ----
  // The crop in whole pixels: a face that needs no downscaling is then worked on in the photo's own pixels. A
  // fractional crop was resampled bilinearly, a blur of up to half a pixel that the colours were fitted to: the
  // same face scored 39.1 dB at the working resolution and 31.8 dB on the photo (docs/model.md §7).
  std::array<double, 4> crop = mask_crop(p.mask, 0.08);
  {
    const double x0 = std::floor(crop[0]), y0 = std::floor(crop[1]);
    crop = {x0, y0, std::ceil(crop[0] + crop[2]) - x0, std::ceil(crop[1] + crop[3]) - y0};
  }
  const double s = std::min(1.0, o.max_side / std::max(crop[2], crop[3]));
  View view;
  view.V = p.viewmat;
  view.width = std::max(8, int(std::lround(crop[2] * s)));
  view.height = std::max(8, int(std::lround(crop[3] * s)));
  const double sx = view.width / crop[2], sy = view.height / crop[3];
  view.fx = p.K.fx * sx, view.fy = p.K.fy * sy, view.cx = (p.K.cx - crop[0]) * sx, view.cy = (p.K.cy - crop[1]) * sy;
  const FImage photo = resample_area(p.photo, crop[0], crop[1], crop[2], crop[3], view.width, view.height);
  const FImage mask = resample_area(p.mask, crop[0], crop[1], crop[2], crop[3], view.width, view.height);
  res.width = view.width, res.height = view.height;
  const size_t P = size_t(view.width) * view.height;

  // ---- z-buffer of the whole head and the surface: face triangles + what the photo shows inside its mask ----
  flame::GBuffer gb;
  {
    flame::RasterView rv;
    rv.viewmat = view.V;
    rv.fx = view.fx, rv.fy = view.fy, rv.cx = view.cx, rv.cy = view.cy;
    rv.width = view.width, rv.height = view.height;
    flame::rasterize(head.vertices.data(), NV, head.faces.data(), F, rv, 1, gb);
  }
  std::vector<uint8_t> on_surface(*p.face_flag);
  for (size_t i = 0; i < P; ++i)
    if (gb.tri[i] >= 0 && mask.data[i] > o.rim_mask) on_surface[gb.tri[i]] = 1;

  // ---- the surface: its triangles ----
  const double focal = std::sqrt(view.fx * view.fy);
  struct SurfaceTri {
    std::array<Vec3d, 3> c;
    int face;  // head triangle it is bound to
    double area;
  };
  std::vector<SurfaceTri> surface;
  auto corner = [&](int f, int k) { return vertex(head, head.faces[size_t(f) * 3 + k]); };
  for (int f = 0; f < F; ++f) {
    if (!on_surface[f]) continue;
    SurfaceTri t{{corner(f, 0), corner(f, 1), corner(f, 2)}, f, 0};
    t.area = 0.5 * norm(cross(sub(t.c[1], t.c[0]), sub(t.c[2], t.c[0])));
    if (t.area > 1e-14) surface.push_back(t);
  }
  FF_CHECK(!surface.empty(), "detail stage: the fitted head has no face triangles");

  // ---- surfels: a lattice of n² sub-triangle centroids per surface triangle ----
  double spacing = o.spacing_px;
  size_t total = 0;
  std::vector<int> nsub;
  for (int pass = 0; pass < 20; ++pass) {
    nsub.assign(surface.size(), 1);
    total = 0;
    for (size_t k = 0; k < surface.size(); ++k) {
      const auto& c = surface[k].c;
      const Vec3d ctr = scale(add(add(c[0], c[1]), c[2]), 1.0 / 3);
      const double z = std::max(view.to_camera(ctr)[2], 1e-3);
      const double h = spacing * z / focal;
      nsub[k] = std::clamp(int(std::ceil(std::sqrt(surface[k].area) / h)), 1, 256);
      total += size_t(nsub[k]) * nsub[k];
    }
    if (total <= size_t(o.max_gaussians)) break;
    spacing *= std::sqrt(double(total) / o.max_gaussians) * 1.02;
  }
  FF_CHECK(total <= size_t(o.max_gaussians), "detail stage: ", total, " surfels exceed the limit ", o.max_gaussians);
  res.spacing_px = spacing;

  ffrt::GaussianSet& g = res.gaussians;
  g.resize(total);
  res.tri.resize(total);
  res.bary.resize(total * 3);
  {
    size_t i = 0;
    for (size_t k = 0; k < surface.size(); ++k) {
      const auto& c = surface[k].c;
      const Vec3d e1 = sub(c[1], c[0]), e2 = sub(c[2], c[0]);
      const Vec3d n = normalized(cross(e1, e2));
      const Vec3d t1 = normalized(e1), t2 = cross(n, t1);
      // rotation with columns t1, t2, n (the Gaussian's local x, y, z) → quaternion
      const std::array<double, 9> R = {t1[0], t2[0], n[0], t1[1], t2[1], n[1], t1[2], t2[2], n[2]};
      const std::array<double, 4> q = mat_to_quat(R);
      const int m = nsub[k];
      const double sig = 0.65 * std::sqrt(surface[k].area / (double(m) * m));
      // barycentrics in the bound head triangle
      const int f = surface[k].face;
      const Vec3d h0 = corner(f, 0), h1 = corner(f, 1), h2 = corner(f, 2);
      const Vec3d he1 = sub(h1, h0), he2 = sub(h2, h0);
      const double d11 = dot(he1, he1), d12 = dot(he1, he2), d22 = dot(he2, he2), det = d11 * d22 - d12 * d12;
      auto put = [&](double b1, double b2) {
        const double b0 = 1 - b1 - b2;
        const Vec3d x = add(add(scale(c[0], b0), scale(c[1], b1)), scale(c[2], b2));
        for (int d = 0; d < 3; ++d) g.means[i * 3 + d] = float(x[d]);
        g.log_scales[i * 3] = g.log_scales[i * 3 + 1] = float(std::log(sig));
        g.log_scales[i * 3 + 2] = float(std::log(o.thickness * sig));
        for (int d = 0; d < 4; ++d) g.rotations[i * 4 + d] = float(q[d]);
        g.opacities[i] = 0.995f;
        res.tri[i] = f;
        const Vec3d r = sub(x, h0);
        const double r1 = dot(r, he1), r2 = dot(r, he2);
        const double w1 = (d22 * r1 - d12 * r2) / det, w2 = (d11 * r2 - d12 * r1) / det;
        res.bary[i * 3] = float(1 - w1 - w2), res.bary[i * 3 + 1] = float(w1), res.bary[i * 3 + 2] = float(w2);
        ++i;
      };
      for (int a = 0; a < m; ++a)
        for (int b = 0; a + b < m; ++b) {
          put((3 * a + 1) / (3.0 * m), (3 * b + 1) / (3.0 * m));                            // upward sub-triangle
          if (a + b < m - 1) put((3 * a + 2) / (3.0 * m), (3 * b + 2) / (3.0 * m));          // downward one
        }
    }
    FF_CHECK(i == total, "detail stage: surfel count mismatch ", i, " vs ", total);
  }
  if (o.progress) o.progress("surfels", 0.05, 0);

  // ---- what the photo sees, the mirror points, the code's colours ----
  std::vector<float> vis(total), photo_rgb(total * 3), prior_rgb(total * 3);
  std::vector<double> photo_cos(total);          // cosine between the smooth normal and the ray to the photo
  std::vector<std::array<double, 3>> normal(total);  // the smooth normal
  std::vector<float> mirror_vis(total, 0.f), mirror_rgb(total * 3, 0.f);
  const bool symmetric = o.symmetry > 0 && !p.mirror.empty();
  // the facing term uses the head's smooth normals (flame::vertex_normals, interpolated): with the flat triangle
  // normals a surfel's visibility jumps at every triangle edge where the photo sees the head at a grazing angle, and
  // other views show those jumps as a staircase of photo and guessed colours
  const std::vector<double> vertex_normal = flame::vertex_normals(head.vertices.data(), NV, head.faces.data(), F);
  auto smooth_normal = [&](const std::array<int, 3>& v, const float* b) {
    Vec3d n{0, 0, 0};
    for (int k = 0; k < 3; ++k)
      for (int d = 0; d < 3; ++d) n[d] += b[k] * vertex_normal[size_t(v[size_t(k)]) * 3 + size_t(d)];
    return norm(n) > 0 ? normalized(n) : n;
  };
  for (size_t i = 0; i < total; ++i) {
    const Vec3d x = {g.means[i * 3], g.means[i * 3 + 1], g.means[i * 3 + 2]};
    const int f = res.tri[i];
    const std::array<int, 3> fv = {head.faces[size_t(f) * 3], head.faces[size_t(f) * 3 + 1], head.faces[size_t(f) * 3 + 2]};
    normal[i] = smooth_normal(fv, &res.bary[i * 3]);
    vis[i] = float(visibility(view, gb, x, normal[i], &photo_rgb[i * 3], photo, &photo_cos[i]));
    if (symmetric) {
      // the mirror point: the same barycentrics in the triangle of the mirrored vertices (a triangle of the head
      // with the opposite winding), with the head's own normals at those vertices
      const std::array<int, 3> mv = {p.mirror[size_t(fv[0])], p.mirror[size_t(fv[1])], p.mirror[size_t(fv[2])]};
      const Vec3d mx = add(add(scale(vertex(head, mv[0]), res.bary[i * 3]), scale(vertex(head, mv[1]), res.bary[i * 3 + 1])),
                           scale(vertex(head, mv[2]), res.bary[i * 3 + 2]));
      mirror_vis[i] = float(visibility(view, gb, mx, smooth_normal(mv, &res.bary[i * 3]), &mirror_rgb[i * 3], photo));
    }
  }
  res.visibility = vis;
  {
    const PointGrid grid(p.prior.means);
    for (size_t i = 0; i < total; ++i) {
      const auto nn = grid.nearest({g.means[i * 3], g.means[i * 3 + 1], g.means[i * 3 + 2]}, 6);
      double acc[3] = {0, 0, 0}, wsum = 0;
      for (auto& [j, d2] : nn) {
        const double w = (p.prior.opacities[j] + 1e-3) / (d2 + 1e-10);
        for (int c = 0; c < 3; ++c) acc[c] += w * p.prior.colors[size_t(j) * 3 + c];
        wsum += w;
      }
      for (int c = 0; c < 3; ++c) prior_rgb[i * 3 + c] = float(acc[c] / wsum);
    }
  }
  // one gain per channel matching the code's colours to the photo's on the well-seen surfels (robust bounds: a
  // code colour far from the photo's tone is corrected by at most 4×)
  double gain[3] = {1, 1, 1};
  {
    double num[3] = {0, 0, 0}, den[3] = {0, 0, 0};
    for (size_t i = 0; i < total; ++i)
      if (vis[i] > 0.5)
        for (int c = 0; c < 3; ++c) num[c] += vis[i] * photo_rgb[i * 3 + c], den[c] += vis[i] * prior_rgb[i * 3 + c];
    for (int c = 0; c < 3; ++c)
      if (den[c] > 1e-6) gain[c] = std::clamp(num[c] / den[c], 0.25, 4.0);
  }
  std::vector<float> lambda(total);
  std::vector<float> colors(total * 3), guess_rgb(total * 3);
  for (size_t i = 0; i < total; ++i) {
    const double wm = symmetric ? o.symmetry * mirror_vis[i] : 0.0;
    for (int c = 0; c < 3; ++c) {
      const double prior = std::clamp(gain[c] * prior_rgb[i * 3 + c], 0.0, 1.0);
      const float guess = float(wm * mirror_rgb[i * 3 + c] + (1 - wm) * prior);
      guess_rgb[i * 3 + c] = guess;
      colors[i * 3 + c] = float(vis[i] * photo_rgb[i * 3 + c] + (1 - vis[i]) * guess);
    }
    lambda[i] = float(o.prior * (1 - vis[i]) * (1 - vis[i]) + o.damping);
  }
  // the pull Λ goes towards these initial colours (the guess where unseen, the photo's where seen), so the CG starts
  // at the prior's minimum: its residual is AᵀW(y − A·c₀) alone

  // ---- the colour solve: preconditioned CG on (AᵀWA + Λ)c = AᵀWy + Λt ----
  std::vector<float> Wpx(P);
  for (size_t i = 0; i < P; ++i) Wpx[i] = mask.data[i] + 0.05f;
  SurfelOperator A(ctx, p.device, g, view);
  std::vector<float> r, image, tmp;
  // the target y: the photo inside the mask; outside it, where the surfels only fade out (coverage α < 1), the
  // photo × α, so that the result laid over the photo (render + (1 − α)·photo) continues it instead of brightening
  // the fading surfels into a halo: y = photo · (m + (1 − m)·α)
  // One application to all-white colours gives both α (the white render on black) and the preconditioner's row sums.
  std::vector<float> target(photo.data), row_sums;
  {
    std::vector<float> ones(total * 3, 1.f), alpha;
    A.normal_residual(ones, Wpx, nullptr, row_sums, &alpha);
    for (size_t i = 0; i < P; ++i) {
      const float m = std::clamp(mask.data[i], 0.f, 1.f), k = m + (1 - m) * std::clamp(alpha[i], 0.f, 1.f);
      for (int c = 0; c < 3; ++c) target[c * P + i] *= k;
    }
  }
  A.normal_residual(colors, Wpx, &target, r, &image);
  res.psnr_start = masked_psnr(image, photo, mask);
  res.psnr_end = res.psnr_start;
  if (o.iterations > 0) {
    // Jacobi-like preconditioner: the row sums AᵀWA·1 (+ λ), an upper bound of the diagonal
    std::vector<float> diag = std::move(row_sums);
    for (size_t i = 0; i < total; ++i)
      for (int c = 0; c < 3; ++c) diag[i * 3 + c] = std::max(-diag[i * 3 + c], 0.f) + lambda[i] + 1e-6f;
    std::vector<float> z(r.size()), dir(r.size()), q(r.size());
    for (size_t k = 0; k < r.size(); ++k) z[k] = r[k] / diag[k];
    dir = z;
    double rz = dot_product(r, z);
    const double rz0 = rz;
    for (int it = 0; it < o.iterations; ++it) {
      A.normal_residual(dir, Wpx, nullptr, q);  // q = −AᵀWA·dir
      for (size_t i = 0; i < total; ++i)
        for (int c = 0; c < 3; ++c) q[i * 3 + c] = -q[i * 3 + c] + lambda[i] * dir[i * 3 + c];
      const double pq = dot_product(dir, q);
      if (!(pq > 0)) break;
      const double alpha = rz / pq;
      for (size_t k = 0; k < r.size(); ++k) colors[k] += float(alpha * dir[k]), r[k] -= float(alpha * q[k]);
      for (size_t k = 0; k < r.size(); ++k) z[k] = r[k] / diag[k];
      const double rz_new = dot_product(r, z);
      res.iterations = it + 1;
      if (o.progress) o.progress("colour solve", 0.1 + 0.9 * (it + 1) / o.iterations, rz_new / rz0);
      if (rz_new <= 1e-12 * rz0) break;
      const double beta = rz_new / rz;
      rz = rz_new;
      for (size_t k = 0; k < r.size(); ++k) dir[k] = z[k] + float(beta * dir[k]);
    }
  }
  for (size_t k = 0; k < colors.size(); ++k) g.colors[k] = std::clamp(colors[k], 0.f, 1.f);  // GaussianSet range
  A.normal_residual(g.colors, Wpx, &target, tmp, &image);
  res.psnr_end = masked_psnr(image, photo, mask);
  res.photo_colors = g.colors;
  if (o.view_dependent) {
    // the photo's colour towards the photo's camera, the guess where a view would stretch the photo's pixels; the
    // guess takes the photo's shading at the head mesh's scale (its luminance low-passed over the surface against
    // the guess's own), so that a mirrored colour from the other, differently lit side of the face does not show
    // as a lighter or darker patch
    const std::vector<float> lp_photo = surface_lowpass(head, res.tri, res.bary, res.photo_colors, kShadingRounds);
    const std::vector<float> lp_guess = surface_lowpass(head, res.tri, res.bary, guess_rgb, kShadingRounds);
    g.sh_rest.assign(total * ffrt::kShRest * 3, 0.f);
    for (size_t i = 0; i < total; ++i) {
      const double gain = std::clamp(data::luma601(&lp_photo[i * 3]) / std::max(data::luma601(&lp_guess[i * 3]), 1e-3),
                                     1 / kMaxShadingGain, kMaxShadingGain);
      float shaded[3];
      for (int c = 0; c < 3; ++c) shaded[c] = float(std::clamp(gain * guess_rgb[i * 3 + size_t(c)], 0.0, 1.0));
      view_dependent_sh(normal[i], std::clamp(photo_cos[i], -1.0, 1.0), &res.photo_colors[i * 3], shaded,
                        &g.colors[i * 3], &g.sh_rest[i * ffrt::kShRest * 3]);
    }
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  g.check("detail stage surfels");
  return res;
}

}  // namespace ff::fit
