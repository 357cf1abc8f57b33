// splat/splat_op.cpp — the only file that wires splat/ into autograd.
#include "splat/splat_op.h"

#include "splat/splat.h"
#include "tensor/kernels.h"

namespace ff::splat {
namespace {

void check_input(const Tensor& t, const Shape& expect, DType dt, Device dev, const char* what) {
  FF_CHECK(t.defined(), "splat::render: ", what, " is undefined");
  FF_CHECK(t.shape() == expect, "splat::render: ", what, " has shape ", t.shape(), ", expected ", expect);
  FF_CHECK(t.dtype() == dt && t.device() == dev, "splat::render: ", what, " is ", t.str(), ", expected ",
           dtype_name(dt), " on ", dev.str());
}

template <class T>
const T* cptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

struct RenderOp : CustomOp {
  int width, height, sh_degree;
  RenderOptions opt;
  bool use_sh;
  std::vector<Tensor> in;  // contiguous inputs, kept for the backward
  RenderState state;
  Tensor image, alpha, depth, radii;

  const char* name() const override { return "splat_render"; }

  template <class T>
  RenderParamsT<T> params() const {
    RenderParamsT<T> p;
    const Tensor& means = in[0];
    p.device = means.device();
    p.num_gaussians = int(means.shape()[0]);
    p.num_cameras = int(in[6].shape()[0]);
    p.width = width;
    p.height = height;
    p.means = cptr<T>(in[0]);
    p.scales = cptr<T>(in[1]);
    p.rotations = cptr<T>(in[2]);
    p.opacities = cptr<T>(in[3]);
    p.colors = use_sh ? nullptr : cptr<T>(in[4]);
    p.sh = use_sh ? cptr<T>(in[5]) : nullptr;
    p.sh_degree = sh_degree;
    p.sh_coeffs = use_sh ? int(in[5].shape()[1]) : 1;
    p.viewmats = cptr<T>(in[6]);
    p.intrinsics = cptr<T>(in[7]);
    p.background = opt.background.defined() ? cptr<T>(opt.background) : nullptr;
    p.near_cull = T(opt.near_cull);
    p.check_finite = opt.check_finite;
    p.image = mptr<T>(image);
    p.alpha = mptr<T>(alpha);
    p.depth = mptr<T>(depth);
    p.radii = radii.data<int32_t>();
    return p;
  }

  std::vector<Tensor> forward(const std::vector<Tensor>& inputs) override {
    in.clear();
    for (const Tensor& t : inputs) in.push_back(t.defined() ? t.contiguous() : t);
    Context& ctx = in[0].ctx();
    const int64_t C = in[6].shape()[0], N = in[0].shape()[0];
    DType dt = in[0].dtype();
    Device dev = in[0].device();
    image = empty(ctx, {C, 3, height, width}, dt, dev);
    alpha = empty(ctx, {C, height, width}, dt, dev);
    depth = empty(ctx, {C, height, width}, dt, dev);
    radii = empty(ctx, {C, N}, DType::I32, dev);
    if (dt == DType::F64) render_fwd(ctx, params<double>(), state);
    else render_fwd(ctx, params<float>(), state);
    return {image, alpha, depth};
  }

  std::vector<Tensor> backward(const std::vector<Tensor>& d) override {
    Context& ctx = in[0].ctx();
    std::vector<Tensor> g(in.size());
    // gradients for every input that may need one (the engine drops what is not required)
    for (int i : {0, 1, 2, 3, 6}) g[size_t(i)] = zeros_like(in[size_t(i)]);
    if (use_sh) g[5] = zeros_like(in[5]);
    else g[4] = zeros_like(in[4]);
    Tensor di = d[0].contiguous(), da = d[1].contiguous(), dd = d[2].contiguous();
    auto run = [&](auto tag) {
      using T = decltype(tag);
      RenderGradsT<T> rg;
      rg.d_image = di.data<T>();
      rg.d_alpha = da.data<T>();
      rg.d_depth = dd.data<T>();
      rg.d_means = g[0].data<T>();
      rg.d_scales = g[1].data<T>();
      rg.d_rotations = g[2].data<T>();
      rg.d_opacities = g[3].data<T>();
      rg.d_colors = use_sh ? nullptr : g[4].data<T>();
      rg.d_sh = use_sh ? g[5].data<T>() : nullptr;
      rg.d_viewmats = g[6].data<T>();
      render_bwd(ctx, params<T>(), rg, state);
    };
    if (in[0].dtype() == DType::F64) run(double());
    else run(float());
    return g;
  }
};

struct LossOp : CustomOp {
  float lambda;
  Tensor d_img;  // dloss/dimg from the fused forward
  const char* name() const override { return "l1_dssim_loss"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& inputs) override {
    Tensor img = inputs[0].contiguous(), gt = inputs[1].contiguous();
    Tensor mask = inputs[2].defined() ? inputs[2].contiguous() : Tensor();
    Context& ctx = img.ctx();
    Tensor loss = empty(ctx, {}, DType::F32, img.device());
    d_img = empty_like(img);
    LossParams p;
    p.device = img.device();
    p.batch = int(img.shape()[0]);
    p.channels = int(img.shape()[1]);
    p.height = int(img.shape()[2]);
    p.width = int(img.shape()[3]);
    p.lambda = lambda;
    p.img = img.data<float>();
    p.gt = gt.data<float>();
    p.mask = mask.defined() ? mask.data<float>() : nullptr;
    p.loss = loss.data<float>();
    p.d_img = d_img.data<float>();
    l1_dssim_loss(ctx, p);
    return {loss};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& d) override {
    // d[0] is the scalar cotangent (on the device: no synchronisation)
    return {kernels::binary(kernels::Binary::Mul, d_img, d[0]), Tensor(), Tensor()};
  }
};

}  // namespace

RenderOutputs render(const GaussianTensors& g, const Tensor& viewmats, const Tensor& intrinsics, int width, int height,
                     const RenderOptions& opt) {
  FF_CHECK(g.means.defined() && g.means.dim() == 2 && g.means.shape()[1] == 3, "splat::render: means must be [N,3], got ",
           g.means.defined() ? g.means.str() : std::string("undefined"));
  FF_CHECK(width >= 1 && height >= 1, "splat::render: image size ", width, "x", height);
  const int64_t N = g.means.shape()[0];
  DType dt = g.means.dtype();
  Device dev = g.means.device();
  FF_CHECK(is_floating(dt), "splat::render: means must be f32 or f64, got ", g.means.str());
  check_input(g.scales, {N, 3}, dt, dev, "scales");
  check_input(g.rotations, {N, 4}, dt, dev, "rotations");
  check_input(g.opacities, {N}, dt, dev, "opacities");
  bool use_sh = g.sh.defined();
  FF_CHECK(use_sh != g.colors.defined(), "splat::render: give exactly one of colors [N,3] and sh [N,K,3]");
  if (use_sh) {
    FF_CHECK(g.sh.dim() == 3 && g.sh.shape()[0] == N && g.sh.shape()[2] == 3 &&
                 g.sh.shape()[1] >= (g.sh_degree + 1) * (g.sh_degree + 1) && g.sh_degree >= 0 && g.sh_degree <= 3,
             "splat::render: sh ", g.sh.shape(), " for degree ", g.sh_degree);
    check_input(g.sh, g.sh.shape(), dt, dev, "sh");
  } else {
    check_input(g.colors, {N, 3}, dt, dev, "colors");
  }
  FF_CHECK(viewmats.defined() && viewmats.dim() == 3, "splat::render: viewmats must be [C,4,4]");
  const int64_t C = viewmats.shape()[0];
  check_input(viewmats, {C, 4, 4}, dt, dev, "viewmats");
  check_input(intrinsics, {C, 4}, dt, dev, "intrinsics");
  if (opt.background.defined()) check_input(opt.background, {C, 3}, dt, dev, "background");
  auto op = std::make_shared<RenderOp>();
  op->width = width;
  op->height = height;
  op->sh_degree = g.sh_degree;
  op->opt = opt;
  if (opt.background.defined()) op->opt.background = opt.background.contiguous();
  op->use_sh = use_sh;
  auto outs = apply(op, {g.means, g.scales, g.rotations, g.opacities, g.colors, g.sh, viewmats, intrinsics});
  return {outs[0], outs[1], outs[2], op->radii};
}

Tensor l1_dssim_loss(const Tensor& img, const Tensor& gt, const Tensor& mask, float lambda) {
  FF_CHECK(img.defined() && img.dim() == 4 && img.dtype() == DType::F32, "l1_dssim_loss: img must be f32 [B,C,H,W], got ",
           img.defined() ? img.str() : std::string("undefined"));
  FF_CHECK(gt.defined() && gt.shape() == img.shape() && gt.dtype() == DType::F32 && gt.device() == img.device(),
           "l1_dssim_loss: gt ", gt.defined() ? gt.str() : std::string("undefined"), " for img ", img.str());
  if (mask.defined()) {
    Shape ms = {img.shape()[0], 1, img.shape()[2], img.shape()[3]};
    FF_CHECK(mask.shape() == ms && mask.dtype() == DType::F32 && mask.device() == img.device(), "l1_dssim_loss: mask ",
             mask.str(), " expected f32", ms, " on ", img.device().str());
  }
  FF_CHECK(lambda >= 0 && lambda <= 1, "l1_dssim_loss: lambda ", lambda, " outside [0, 1]");
  auto op = std::make_shared<LossOp>();
  op->lambda = lambda;
  return apply(op, {img, gt, mask})[0];
}

}  // namespace ff::splat
