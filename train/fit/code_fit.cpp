// train/fit/code_fit.cpp — identity-code fitting (see code_fit.h).
#include "train/fit/code_fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>

#include "autograd/ops.h"
#include "autograd/optim.h"
#include "splat/splat_op.h"
#include "train/checkpoint.h"

namespace ff::fit {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Freezes every model parameter for the scope.
struct Freeze {
  std::vector<Tensor> frozen;
  explicit Freeze(train::IdentityModel& m) {
    for (auto& p : m.named_parameters())
      if (p.tensor.requires_grad()) frozen.push_back(p.tensor), p.tensor.set_requires_grad(false);
  }
  ~Freeze() {
    for (auto& p : frozen) p.set_requires_grad(true);
  }
};

using M3 = Eigen::Matrix3d;
M3 hat(const Eigen::Vector3d& w) {
  M3 K;
  K << 0, -w[2], w[1], w[2], 0, -w[0], -w[1], w[0], 0;
  return K;
}
M3 so3_exp(const Eigen::Vector3d& w) {
  double th = w.norm();
  if (th < 1e-12) return M3::Identity() + hat(w);
  M3 K = hat(w / th);
  return M3::Identity() + std::sin(th) * K + (1 - std::cos(th)) * K * K;
}
// left Jacobian: d exp(ω)/dω_k = [J_l e_k]× exp(ω)
M3 so3_left_jacobian(const Eigen::Vector3d& w) {
  double th = w.norm();
  M3 K = hat(w);
  if (th < 1e-6) return M3::Identity() + 0.5 * K;
  return M3::Identity() + (1 - std::cos(th)) / (th * th) * K + (th - std::sin(th)) / (th * th * th) * K * K;
}

struct View {
  std::array<double, 16> V;
  std::array<double, 4> K;  // fx fy cx cy at the level
  int W, H;
};

// One level's data: cropped/resampled photo and mask as tensors.
struct Level {
  Tensor gt, mask;  // [1,3,h,w], [1,1,h,w]
  int w = 0, h = 0;
  std::array<double, 4> K{};
};

// Resampled on the host, uploaded once to `dev`.
Level make_level(Context& ctx, const CodeFitProblem& p, const std::array<double, 4>& crop, double scale, Device dev) {
  Level L;
  L.w = std::max(8, int(std::lround(crop[2] * scale)));
  L.h = std::max(8, int(std::lround(crop[3] * scale)));
  const double sx = L.w / crop[2], sy = L.h / crop[3];
  FImage g = resample_area(p.photo, crop[0], crop[1], crop[2], crop[3], L.w, L.h);
  FImage m = resample_area(p.mask, crop[0], crop[1], crop[2], crop[3], L.w, L.h);
  L.gt = from_vector<float>(ctx, g.data, {1, 3, L.h, L.w}, dev);
  L.mask = from_vector<float>(ctx, m.data, {1, 1, L.h, L.w}, dev);
  L.K = {p.K.fx * sx, p.K.fy * sy, (p.K.cx - crop[0]) * sx, (p.K.cy - crop[1]) * sy};
  return L;
}

// the code's Gaussians [1,G,·] with their means [G,3]: xyz, or (posing active) posed from the neutral head into
// the expression by the differentiable binding op, with the face `posed_face` [A,3] when defined (the expression
// refinement's differentiable face), else posing->posed_face.
train::GaussianBatch decode_at(train::IdentityModel& model, const Tensor& code /*[1,D]*/, const Tensor& xyz,
                               const ExpressionPosing* posing, Tensor& means, const Tensor& posed_face = Tensor()) {
  train::GaussianBatch gb = model.decode(code);
  means = xyz;
  if (!posing || !posing->active()) return gb;
  const train::GaussianBinding& b = *posing->binding;
  FF_CHECK(posing->posed_face.size() == size_t(b.A) * 3, "code fit: the posed face mesh has ",
           posing->posed_face.size() / 3, " vertices, the binding ", b.A);
  const DType dt = xyz.dtype();
  Tensor face_t = posed_face;
  if (!face_t.defined()) {
    const std::vector<float> face(posing->posed_face.begin(), posing->posed_face.end());
    face_t = from_vector<float>(code.ctx(), face, {int64_t(b.A), 3}, xyz.device());
  }
  FF_CHECK(face_t.shape() == Shape({int64_t(b.A), 3}), "code fit: the posed face is ", face_t.str(), ", the binding has ",
           b.A, " vertices");
  const train::PosedGaussians p =
      train::pose_gaussians(b, face_t.to(dt), xyz, select(gb.rotations, 0, 0).to(dt), select(gb.log_scales, 0, 0).to(dt));
  means = p.means;
  gb.rotations = unsqueeze(p.rotations, 0);
  gb.log_scales = unsqueeze(p.log_scales, 0);
  return gb;
}

Tensor render_tensor(train::IdentityModel& model, const Tensor& code /*[1,D]*/, const Tensor& xyz, const Tensor& viewmat,
                     const Tensor& K, int W, int H, const ExpressionPosing* posing, Tensor* alpha = nullptr,
                     const Tensor& posed_face = Tensor()) {
  Tensor means;
  train::GaussianBatch gb = decode_at(model, code, xyz, posing, means, posed_face);
  splat::GaussianTensors g;
  g.means = means;
  g.scales = exp(select(gb.log_scales, 0, 0));
  g.rotations = select(gb.rotations, 0, 0);
  g.opacities = select(gb.opacities, 0, 0);
  g.colors = select(gb.colors, 0, 0);
  splat::RenderOutputs out = splat::render(g, viewmat, K, W, H);
  if (alpha) *alpha = out.alpha;
  return out.image;
}

Tensor viewmat_tensor(Context& ctx, const std::array<double, 16>& V, Device dev) {
  return from_vector<float>(ctx, std::vector<float>(V.begin(), V.end()), {1, 4, 4}, dev);
}
Tensor intr_tensor(Context& ctx, const std::array<double, 4>& K, Device dev) {
  return from_vector<float>(ctx, std::vector<float>(K.begin(), K.end()), {1, 4}, dev);
}

// [loss, ∂loss/∂code (D), ∂loss/∂viewmat (16, when `with_v`), ∂loss/∂extra[i] (numel each)] in one device → host
// copy (one synchronisation per evaluation). An undefined gradient (no Gaussian visible) reads as zeros.
std::vector<float> read_loss_and_grads(const Tensor& loss, const Tensor& code, const Tensor& V, bool with_v,
                                       const std::vector<Tensor>& extra = {}) {
  NoGrad ng(loss.ctx());
  std::vector<Tensor> parts = {reshape(loss.detach().to(DType::F32), {1})};
  Tensor gc = code.grad();
  parts.push_back(gc.defined() ? reshape(gc.to(DType::F32), {-1}) : zeros(loss.ctx(), {code.numel()}, DType::F32, loss.device()));
  if (with_v) {
    Tensor gv = V.grad();
    parts.push_back(gv.defined() ? reshape(gv.to(DType::F32), {-1}) : zeros(loss.ctx(), {16}, DType::F32, loss.device()));
  }
  for (const Tensor& e : extra) {
    Tensor ge = e.grad();
    parts.push_back(ge.defined() ? reshape(ge.to(DType::F32), {-1})
                                 : zeros(loss.ctx(), {e.numel()}, DType::F32, loss.device()));
  }
  return concat(parts, 0).to_vector<float>();
}

}  // namespace

// ---- model loading -------------------------------------------------------------------------------------------------

train::ModelFile load_fit_model(Context& ctx, const std::string& path, const std::string& device) {
  FF_CHECK(device == "cpu" || device == "cuda", "model '", path, "': device must be cpu or cuda, got '", device, "'");
  FF_CHECK(device == "cpu" || Context::cuda_available(), "model '", path, "': device cuda requested but ",
           Context::cuda_unavailable_reason());
  return train::load_model_file(ctx, path, device == "cuda" ? Device::cuda(ctx.cuda_device()) : Device::cpu());
}

// ---- images --------------------------------------------------------------------------------------------------------

FImage to_float(const data::Image8& im) {
  FImage f;
  f.width = im.width, f.height = im.height, f.channels = im.channels;
  f.data.resize(size_t(im.width) * im.height * im.channels);
  const size_t hw = size_t(im.width) * im.height;
  for (size_t i = 0; i < hw; ++i)
    for (int c = 0; c < im.channels; ++c) f.data[c * hw + i] = im.pixels[i * im.channels + c] / 255.f;
  return f;
}

data::Image8 to_u8(const FImage& f) {
  data::Image8 im(f.width, f.height, f.channels);
  const size_t hw = size_t(f.width) * f.height;
  for (size_t i = 0; i < hw; ++i)
    for (int c = 0; c < f.channels; ++c)
      im.pixels[i * f.channels + c] = uint8_t(std::lround(std::clamp(f.data[c * hw + i], 0.f, 1.f) * 255.f));
  return im;
}

FImage resample_area(const FImage& src, double x0, double y0, double w, double h, int ow, int oh) {
  // separable box weights: output pixel i covers [x0 + i·w/ow, x0 + (i+1)·w/ow)
  struct Tap {
    int idx;
    float wt;
  };
  auto taps = [](double start, double len, int n, int limit) {
    std::vector<std::vector<Tap>> t(n);
    const double step = len / n;
    for (int i = 0; i < n; ++i) {
      double a = start + i * step, b = a + step;
      if (step < 1.0) {  // upsampling: bilinear at the centre
        double c = 0.5 * (a + b) - 0.5;
        int i0 = int(std::floor(c));
        double f = c - i0;
        if (i0 >= 0 && i0 < limit) t[i].push_back({i0, float(1 - f)});
        if (i0 + 1 >= 0 && i0 + 1 < limit) t[i].push_back({i0 + 1, float(f)});
        continue;
      }
      for (int k = int(std::floor(a)); k < int(std::ceil(b)); ++k) {
        double ov = std::min(b, double(k + 1)) - std::max(a, double(k));
        if (ov > 0 && k >= 0 && k < limit) t[i].push_back({k, float(ov / step)});
      }
    }
    return t;
  };
  auto tx = taps(x0, w, ow, src.width), ty = taps(y0, h, oh, src.height);
  FImage out;
  out.width = ow, out.height = oh, out.channels = src.channels;
  out.data.assign(size_t(ow) * oh * src.channels, 0.f);
  std::vector<float> row(ow);
  for (int c = 0; c < src.channels; ++c) {
    const float* s = src.data.data() + size_t(c) * src.width * src.height;
    float* d = out.data.data() + size_t(c) * ow * oh;
    for (int j = 0; j < oh; ++j) {
      for (auto& vy : ty[j]) {
        const float* sr = s + size_t(vy.idx) * src.width;
        for (int i = 0; i < ow; ++i) {
          float acc = 0;
          for (auto& vx : tx[i]) acc += sr[vx.idx] * vx.wt;
          d[size_t(j) * ow + i] += vy.wt * acc;
        }
      }
    }
  }
  return out;
}

std::array<double, 4> mask_crop(const FImage& mask, double pad, double thr) {
  int x0 = mask.width, y0 = mask.height, x1 = -1, y1 = -1;
  for (int y = 0; y < mask.height; ++y)
    for (int x = 0; x < mask.width; ++x)
      if (mask.data[size_t(y) * mask.width + x] > thr) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  FF_CHECK(x1 >= x0 && y1 >= y0, "face mask is empty (the fitted head is outside the photo?)");
  double w = x1 - x0 + 1, h = y1 - y0 + 1;
  double px = pad * w + 2, py = pad * h + 2;
  return {x0 - px, y0 - py, w + 2 * px, h + 2 * py};
}

void code_stats(const train::IdentityModel& model, std::vector<float>& mean, std::vector<float>& sd) {
  std::vector<float> c = model.codes.to(DType::F32).to_vector<float>();
  const int N = int(model.codes.shape()[0]), D = int(model.codes.shape()[1]);
  mean.assign(D, 0.f);
  sd.assign(D, 0.f);
  for (int n = 0; n < N; ++n)
    for (int d = 0; d < D; ++d) mean[d] += c[size_t(n) * D + d] / N;
  for (int n = 0; n < N; ++n)
    for (int d = 0; d < D; ++d) sd[d] += (c[size_t(n) * D + d] - mean[d]) * (c[size_t(n) * D + d] - mean[d]) / std::max(1, N - 1);
  for (auto& s : sd) s = std::max(std::sqrt(s), 1e-3f);
}

FImage render_code(train::IdentityModel& model, const std::vector<float>& code, const std::vector<float>& xyz,
                   const std::array<double, 16>& V, const std::array<double, 4>& K, int W, int H, FImage* alpha,
                   const ExpressionPosing* posing) {
  Context& ctx = model.ctx();
  const Device dev = model.device();
  NoGrad ng(ctx);
  const int D = int(code.size()), G = int(xyz.size() / 3);
  Tensor a;
  Tensor img = render_tensor(model, from_vector<float>(ctx, code, {1, D}, dev), from_vector<float>(ctx, xyz, {G, 3}, dev),
                             viewmat_tensor(ctx, V, dev), intr_tensor(ctx, K, dev), W, H, posing, alpha ? &a : nullptr);
  FImage out;
  out.width = W, out.height = H, out.channels = 3;
  out.data = img.to(DType::F32).to_vector<float>();
  for (auto& v : out.data) v = std::clamp(v, 0.f, 1.f);
  if (alpha) {
    alpha->width = W, alpha->height = H, alpha->channels = 1;
    alpha->data = a.to(DType::F32).to_vector<float>();
  }
  return out;
}

ffrt::GaussianSet code_gaussians(train::IdentityModel& model, const std::vector<float>& code,
                                 const std::vector<float>& xyz, const ExpressionPosing* posing) {
  Context& ctx = model.ctx();
  NoGrad ng(ctx);
  const Device dev = model.device();
  Tensor means;
  train::GaussianBatch gb = decode_at(model, from_vector<float>(ctx, code, {1, int64_t(code.size())}, dev),
                                      from_vector<float>(ctx, xyz, {int64_t(xyz.size() / 3), 3}, dev), posing, means);
  return train::host_gaussians(gb, 0, means.to(DType::F32).to_vector<float>());
}

// ---- the fit -------------------------------------------------------------------------------------------------------

CodeFitResult fit_code(train::IdentityModel& model, const CodeFitProblem& p, const CodeFitOptions& o) {
  FF_CHECK(o.recipe == "default" || o.recipe == "seed", "code fit: recipe must be 'default' or 'seed', got '",
           o.recipe, "'");
  Context& ctx = model.ctx();
  const Device dev = model.device();  // every tensor of the fit lives there; the optimiser state of the default
                                      // recipe (an ~80-d code + 6-d pose) stays on the host
  const auto t0 = Clock::now();
  const int D = model.config().code_dim, G = model.layout().G;
  FF_CHECK(int(p.xyz.size()) == G * 3, "code fit: xyz has ", p.xyz.size() / 3, " points, the model ", G);
  FF_CHECK(p.photo.channels == 3 && p.mask.channels == 1 && p.photo.width == p.mask.width &&
               p.photo.height == p.mask.height,
           "code fit: photo/mask sizes differ");
  Freeze freeze(model);
  const std::array<double, 4> crop = mask_crop(p.mask, o.crop_pad);
  const double full = std::max(crop[2], crop[3]);
  const Tensor xyz = from_vector<float>(ctx, p.xyz, {G, 3}, dev);
  std::vector<float> mean, sd;
  code_stats(model, mean, sd);
  CodeFitResult res;
  res.viewmat = p.viewmat;
  const ExpressionRefine& rf = p.refine;
  res.expression = rf.expression;
  res.jaw = rf.jaw;
  std::unique_ptr<train::HeadRigTensors> rig_t;  // the rig's differentiable face (expression refinement)
  const int E = int(rf.expression.size());
  if (rf.active() && o.recipe == "default" && (o.expr_from_level >= 0 || o.expr_iterations > 0)) {
    FF_CHECK(p.posing.active(), "code fit: the expression refinement needs the posing binding");
    FF_CHECK(E <= rf.rig->model().E, "code fit: ", E, " expression coefficients, the head model has ",
             rf.rig->model().E);
    FF_CHECK(o.expr_prior > 0 && o.expr_sigma > 0 && o.jaw_sigma > 0,
             "code fit: expr_prior, expr_sigma and jaw_sigma must be > 0");
    rig_t = std::make_unique<train::HeadRigTensors>(ctx, *rf.rig, dev, DType::F32);
    FF_CHECK(rig_t->A() == p.posing.binding->A, "code fit: the rig's face has ", rig_t->A(),
             " vertices, the binding ", p.posing.binding->A);
  }
  const int J3 = rf.active() ? rf.rig->model().J * 3 : 0, jaw_index = 3 * flame::kJaw;

  if (o.recipe == "seed") {
    Level L = make_level(ctx, p, crop, 1.0, dev);
    Tensor code = randn(ctx, {1, D}, DType::F32, dev, 0.0, 0.01);
    code.set_requires_grad(true);
    AdamOptions ao;
    ao.eps = 1e-15;
    Adam opt({{"codes", {code}, o.seed_lr}}, ao);
    Tensor V = viewmat_tensor(ctx, p.viewmat, dev), K = intr_tensor(ctx, L.K, dev);
    for (int it = 0; it < o.seed_steps; ++it) {
      opt.zero_grad();
      Tensor img = render_tensor(model, code, xyz, V, K, L.w, L.h, &p.posing);
      Tensor loss = splat::l1_dssim_loss(img, L.gt, L.mask, float(o.lambda_dssim));
      backward(loss);
      ++res.evaluations;
      // the loss and the gradient in one read (the only synchronisation of the step)
      const std::vector<float> lg = read_loss_and_grads(loss, code, V, false);
      res.losses.push_back(lg[0]);
      if (!std::all_of(lg.begin() + 1, lg.end(), [](float v) { return std::isfinite(v); })) break;
      opt.step();
      if (o.progress) o.progress("seed recipe Adam", double(it + 1) / o.seed_steps, res.losses.back());
    }
    res.code = code.detach().to_vector<float>();
    res.final_loss = res.losses.empty() ? 0 : res.losses.back();
    res.seconds = since(t0);
    return res;
  }

  // ---- default: coarse-to-fine L-BFGS on the whitened code (+ pose) ----
  FF_CHECK(!o.levels.empty() && o.levels.size() == o.iterations.size(), "code fit: levels and iterations differ in length");
  Eigen::VectorXd y = Eigen::VectorXd::Zero(D);  // whitened code: c = mean + sd ⊙ y
  Eigen::Vector3d omega = Eigen::Vector3d::Zero(), tau = Eigen::Vector3d::Zero();
  Eigen::VectorXd z = Eigen::VectorXd::Zero(E + 1);  // [(ψ − ψ0)/expr_sigma, (jaw − jaw0)/jaw_sigma]
  M3 R0;
  Eigen::Vector3d t0v;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) R0(i, j) = p.viewmat[i * 4 + j];
    t0v[i] = p.viewmat[i * 4 + 3];
  }
  const double rot_scale = 0.02, trans_scale = 0.004 * std::max(0.1, std::abs(t0v[2]));  // rad, metres per unit
  auto current_view = [&](const Eigen::Vector3d& w, const Eigen::Vector3d& ta) {
    M3 E = so3_exp(w);
    M3 R = E * R0;
    Eigen::Vector3d t = E * t0v + ta;
    std::array<double, 16> V{};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) V[i * 4 + j] = R(i, j);
      V[i * 4 + 3] = t[i];
    }
    V[15] = 1;
    return V;
  };

  size_t total_iters = 0, done_iters = 0;
  for (int it : o.iterations) total_iters += size_t(std::max(0, it));
  // with the expression refinement, a last pass at the last level moves only ψ and jaw (the code and pose fixed)
  const bool expr_pass = rig_t && o.expr_iterations > 0;
  if (expr_pass) total_iters += size_t(o.expr_iterations);
  for (size_t lv = 0; lv < o.levels.size() + (expr_pass ? 1 : 0); ++lv) {
    const bool expr_only = lv == o.levels.size();
    const size_t li = expr_only ? lv - 1 : lv;  // the level's resolution
    const double scale = std::min(1.0, o.levels[li] / full);
    Level L = make_level(ctx, p, crop, scale, dev);
    const Tensor K = intr_tensor(ctx, L.K, dev);
    const bool pose = !expr_only && o.pose_from_level >= 0 && int(lv) >= o.pose_from_level;
    const bool expr = rig_t && (expr_only || (o.expr_from_level >= 0 && int(lv) >= o.expr_from_level));
    const int nc = expr_only ? 0 : D, np = pose ? 6 : 0, n = nc + np + (expr ? E + 1 : 0);
    // objective on x = [y (not in the expression-only pass), ω/rot_scale, τ/trans_scale, z]
    auto f = [&](const Eigen::VectorXd& x, Eigen::VectorXd& g) {
      std::vector<float> c(D);
      for (int d = 0; d < D; ++d) c[d] = float(mean[d] + sd[d] * (expr_only ? y[d] : x[d]));
      Eigen::Vector3d w = omega, ta = tau;
      if (pose) {
        w = x.segment<3>(nc) * rot_scale;
        ta = x.segment<3>(nc + 3) * trans_scale;
      }
      std::array<double, 16> Vd = current_view(w, ta);
      // host → device: the code and the view (asynchronous on CUDA); device → host: one read of the loss and
      // the gradients after the backward pass
      Tensor code = from_vector<float>(ctx, c, {1, D}, dev);
      code.set_requires_grad(true);
      Tensor V = viewmat_tensor(ctx, Vd, dev);
      if (pose) V.set_requires_grad(true);
      // the expression refinement: ψ [1,E] and the joint pose [1,J*3] (only the jaw entry moves) → the posed face
      Tensor ex, jp, face;
      if (expr) {
        std::vector<float> e(static_cast<size_t>(E)), jv(static_cast<size_t>(J3), 0.f);
        for (int k = 0; k < E; ++k) e[size_t(k)] = float(rf.expression[size_t(k)] + o.expr_sigma * x[nc + np + k]);
        jv[size_t(jaw_index)] = float(rf.jaw + o.jaw_sigma * x[nc + np + E]);
        if (E > 0) {
          ex = from_vector<float>(ctx, e, {1, E}, dev);
          ex.set_requires_grad(true);
        }
        jp = from_vector<float>(ctx, jv, {1, J3}, dev);
        jp.set_requires_grad(true);
        face = rig_t->posed_face(ex, jp);
      }
      Tensor img = render_tensor(model, code, xyz, V, K, L.w, L.h, &p.posing, nullptr, face);
      Tensor loss = splat::l1_dssim_loss(img, L.gt, L.mask, float(o.lambda_dssim));
      backward(loss);
      ++res.evaluations;
      std::vector<Tensor> extra;
      if (expr && E > 0) extra.push_back(ex);
      if (expr) extra.push_back(jp);
      const std::vector<float> lg = read_loss_and_grads(loss, code, V, pose, extra);
      double fx = lg[0];
      g.setZero(n);
      const float* gc = lg.data() + 1;
      for (int d = 0; d < nc; ++d) {
        g[d] = double(gc[d]) * sd[d] + o.prior * x[d] / D;
        fx += 0.5 * o.prior * x[d] * x[d] / D;
      }
      if (pose) {
        const float* dV = lg.data() + 1 + D;
        // left perturbation of the exp(ω)[R0|t0] part
        Eigen::Matrix<double, 3, 4> A;
        for (int i = 0; i < 3; ++i) {
          for (int j = 0; j < 3; ++j) A(i, j) = Vd[i * 4 + j];
          A(i, 3) = Vd[i * 4 + 3] - ta[i];
        }
        Eigen::Vector3d gl;
        for (int k = 0; k < 3; ++k) {
          Eigen::Matrix<double, 3, 4> EA = hat(Eigen::Vector3d::Unit(k)) * A;
          double acc = 0;
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 4; ++j) acc += dV[i * 4 + j] * EA(i, j);
          gl[k] = acc;
        }
        Eigen::Vector3d gw = so3_left_jacobian(w).transpose() * gl;
        for (int k = 0; k < 3; ++k) {
          g[nc + k] = gw[k] * rot_scale;
          g[nc + 3 + k] = double(dV[k * 4 + 3]) * trans_scale;
        }
      }
      if (expr) {
        const float* ge = lg.data() + 1 + D + (pose ? 16 : 0);
        for (int k = 0; k <= E; ++k) {
          const double zk = x[nc + np + k];
          const double grad = k < E ? double(ge[k]) * o.expr_sigma : double(ge[E + jaw_index]) * o.jaw_sigma;
          g[nc + np + k] = grad + o.expr_prior * zk;
          fx += 0.5 * o.expr_prior * zk * zk;
        }
      }
      return fx;
    };
    Eigen::VectorXd x(n);
    x.head(nc) = y.head(nc);
    if (pose) {
      x.segment<3>(nc) = omega / rot_scale;
      x.segment<3>(nc + 3) = tau / trans_scale;
    }
    if (expr) x.segment(nc + np, E + 1) = z;
    Eigen::VectorXd g;
    double fx = f(x, g);
    std::deque<std::pair<Eigen::VectorXd, Eigen::VectorXd>> mem;  // (s, y) pairs
    const int iters = expr_only ? o.expr_iterations : o.iterations[lv];
    for (int it = 0; it < iters; ++it) {
      // two-loop recursion
      Eigen::VectorXd q = g;
      std::vector<double> alpha(mem.size());
      for (int k = int(mem.size()) - 1; k >= 0; --k) {
        alpha[k] = mem[k].first.dot(q) / mem[k].second.dot(mem[k].first);
        q -= alpha[k] * mem[k].second;
      }
      double gamma = 1.0;
      if (!mem.empty()) gamma = mem.back().first.dot(mem.back().second) / mem.back().second.squaredNorm();
      else gamma = 0.5 / std::max(g.norm(), 1e-12);  // first step: move half a code std
      Eigen::VectorXd d = gamma * q;
      for (size_t k = 0; k < mem.size(); ++k) {
        double beta = mem[k].second.dot(d) / mem[k].second.dot(mem[k].first);
        d += mem[k].first * (alpha[k] - beta);
      }
      d = -d;
      double slope = g.dot(d);
      if (slope >= 0) {  // not a descent direction: restart from steepest descent
        mem.clear();
        d = -0.5 / std::max(g.norm(), 1e-12) * g;
        slope = g.dot(d);
      }
      double step = 1.0;
      bool ok = false;
      Eigen::VectorXd xn, gn;
      double fn = 0;
      for (int ls = 0; ls < 6; ++ls) {
        xn = x + step * d;
        fn = f(xn, gn);
        if (std::isfinite(fn) && fn <= fx + 1e-4 * step * slope) {
          ok = true;
          break;
        }
        step *= 0.3;
      }
      ++done_iters;
      if (o.progress)
        o.progress(expr_only ? "expression refinement (" + std::to_string(L.w) + "x" + std::to_string(L.h) + ")" :
                   "code fit level " + std::to_string(lv + 1) + "/" + std::to_string(o.levels.size()) + " (" +
                       std::to_string(L.w) + "x" + std::to_string(L.h) + (pose ? ", pose" : "") + ")",
                   double(done_iters) / std::max<size_t>(1, total_iters), ok ? fn : fx);
      if (!ok) break;
      Eigen::VectorXd s = xn - x, yy = gn - g;
      if (s.dot(yy) > 1e-12) {
        mem.emplace_back(s, yy);
        if (int(mem.size()) > o.lbfgs_memory) mem.pop_front();
      }
      x = xn, g = gn, fx = fn;
      res.losses.push_back(fx);
    }
    done_iters = 0;
    for (size_t k = 0; k <= li; ++k) done_iters += size_t(o.iterations[k]);
    if (!expr_only) y = x.head(D);
    if (pose) {
      omega = x.segment<3>(nc) * rot_scale;
      tau = x.segment<3>(nc + 3) * trans_scale;
    }
    if (expr) {
      z = x.segment(nc + np, E + 1);
      res.expression_refined = true;
    }
    res.final_loss = fx;
  }
  res.code.resize(D);
  for (int d = 0; d < D; ++d) res.code[d] = float(mean[d] + sd[d] * y[d]);
  res.viewmat = current_view(omega, tau);
  if (res.expression_refined) {
    for (int k = 0; k < E; ++k) res.expression[size_t(k)] = rf.expression[size_t(k)] + o.expr_sigma * z[k];
    res.jaw = rf.jaw + o.jaw_sigma * z[E];
  }
  res.seconds = since(t0);
  return res;
}

}  // namespace ff::fit
