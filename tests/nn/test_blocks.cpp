// Finite-difference checks (f64, CPU) of every StyleGAN2 block, and equivalence of the fused and composed forms.
#include <cmath>

#include "nn/generator.h"
#include "nn/layers.h"
#include "nn/upfirdn2d.h"
#include "nn/weight_ops.h"
#include "nn/epilogue.h"
#include "tests/gradcheck.h"
#include "tests/testing.h"

using namespace ff;
using namespace ff::nn;
using ff::testing::gradcheck;
using ff::testing::leaf;
using V = std::vector<Tensor>;

static double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to(DType::F64).to_vector<double>(), vb = b.to(DType::F64).to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

TEST_CASE("nn: setup_filter [1,3,3,1]") {
  Context ctx(1);
  Tensor f = setup_filter(ctx, {1, 3, 3, 1}, DType::F64);
  REQUIRE(f.shape() == Shape{4, 4});
  CHECK(f.at<double>({0, 0}) == doctest::Approx(1.0 / 64));
  CHECK(f.at<double>({1, 2}) == doctest::Approx(9.0 / 64));
  double s = 0;
  for (double v : f.to_vector<double>()) s += v;
  CHECK(s == doctest::Approx(1.0));
}

TEST_CASE("nn: upfirdn2d fused CPU kernel == composed reference, forward and backward") {
  Context ctx(2);
  Tensor f = setup_filter(ctx, {1, 3, 3, 1}, DType::F64);
  // an asymmetric filter catches flip mistakes
  Tensor fa = from_vector<double>(ctx, {1, 2, 0.5, -1, 3, 0.25}, {2, 3});
  std::vector<UpFirDn> cases;
  cases.push_back(upsample2d_params(f, 2));
  {
    UpFirDn p;  // conv2d_resample's FIR after the transposed conv
    p.padx0 = p.padx1 = p.pady0 = p.pady1 = 1;
    p.gain = 4;
    cases.push_back(p);
  }
  {
    UpFirDn p;  // downsampling with crop (the adjoint of up = 2)
    p.down = 2;
    p.padx0 = 2; p.padx1 = -1; p.pady0 = 1; p.pady1 = 0;
    p.flip_filter = true;
    cases.push_back(p);
  }
  {
    UpFirDn p;  // up and down at once, odd padding
    p.up = 3; p.down = 2;
    p.padx0 = 1; p.padx1 = 2; p.pady0 = 0; p.pady1 = 3;
    cases.push_back(p);
  }
  for (size_t c = 0; c < cases.size(); ++c) {
    for (const Tensor& filt : {f, fa}) {
      CAPTURE(c);
      const UpFirDn p = cases[c];
      Tensor x = leaf(ctx, {2, 3, 5, 6});
      Tensor y1 = upfirdn2d(x, filt, p), y2 = upfirdn2d_ref(x, filt, p);
      CHECK(max_abs_diff(y1, y2) < 1e-12);
      gradcheck("upfirdn2d fused", [&](const V& v) { return upfirdn2d(v[0], filt, p); }, {x});
      gradcheck("upfirdn2d ref", [&](const V& v) { return upfirdn2d_ref(v[0], filt, p); }, {x});
    }
  }
  // upsample2d doubles the size and keeps a constant image constant (gain 4 with the normalised filter)
  Tensor one = ones(ctx, {1, 1, 6, 6}, DType::F64);
  Tensor u = upsample2d(one, f, 2);
  REQUIRE(u.shape() == Shape{1, 1, 12, 12});
  CHECK(u.at<double>({0, 0, 5, 6}) == doctest::Approx(1.0));
}

TEST_CASE("nn: bias_act, normalize_2nd_moment, fully_connected") {
  Context ctx(3);
  Tensor x = leaf(ctx, {2, 3, 4}, 0.2), b = leaf(ctx, {3}, 0.0);
  {
    NoGrad ng(ctx);
    b.fill_(0.0);  // keep x + b away from the kinks
  }
  b.set_requires_grad(true);
  for (Act a : {Act::Linear, Act::Relu, Act::LRelu}) {
    BiasAct p;
    p.act = a;
    gradcheck(std::string("bias_act ") + act_name(a), [&](const V& v) { return bias_act(v[0], v[1], p); }, {x, b});
  }
  BiasAct pc;
  pc.act = Act::LRelu;
  pc.clamp = 0.5;  // values with |y| near 0.5 are rare with these draws; check them explicitly below
  Tensor y = bias_act(x, b, pc);
  for (double v : y.to_vector<double>()) CHECK(std::abs(v) <= 0.5);
  // gains: relu → √2
  Tensor t = from_vector<double>(ctx, {-1, 2}, {1, 2});
  BiasAct pr;
  pr.act = Act::Relu;
  auto r = bias_act(t, Tensor(), pr).to_vector<double>();
  CHECK(r[0] == 0.0);
  CHECK(r[1] == doctest::Approx(2 * std::sqrt(2.0)));
  BiasAct pl;
  pl.act = Act::LRelu;
  pl.gain = 1;
  CHECK(bias_act(t, Tensor(), pl).to_vector<double>()[0] == doctest::Approx(-0.2));

  gradcheck("normalize_2nd_moment", [](const V& v) { return normalize_2nd_moment(v[0]); }, {leaf(ctx, {3, 5})});
  Tensor xf = leaf(ctx, {3, 4}), w = leaf(ctx, {5, 4}), bf = leaf(ctx, {5});
  gradcheck("fc linear", [](const V& v) { return fully_connected(v[0], v[1], v[2], 0.01 / 2, 0.01, Act::Linear); },
            {xf, w, bf});
  // relu FC: shift weights so pre-activations stay away from 0 is hard to guarantee; use lrelu/relu with
  // a large-magnitude bias instead
  {
    NoGrad ng(ctx);
    double* pb = bf.data<double>();
    for (int i = 0; i < 5; ++i) pb[i] = (i % 2 ? 3.0 : -3.0);
  }
  gradcheck("fc relu", [](const V& v) { return fully_connected(v[0], v[1], v[2], 0.5, 1.0, Act::Relu); },
            {xf, w, bf});
}

TEST_CASE("nn: conv2d_resample and modulated conv (fused == per-sample), FD-checked") {
  Context ctx(4);
  Tensor f = setup_filter(ctx, {1, 3, 3, 1}, DType::F64);
  const int N = 2, I = 3, O = 4, H = 4;
  for (int up : {1, 2}) {
    for (bool flip : {true, false}) {
      CAPTURE(up);
      CAPTURE(flip);
      Tensor x = leaf(ctx, {N, I, H, H}), w = leaf(ctx, {O, I, 3, 3});
      gradcheck("conv2d_resample", [&](const V& v) { return conv2d_resample(v[0], v[1], f, up, 1, 1, flip); }, {x, w});
      Tensor xg = leaf(ctx, {1, 2 * I, H, H}), wg = leaf(ctx, {2 * O, I, 3, 3});
      gradcheck("conv2d_resample grouped", [&](const V& v) { return conv2d_resample(v[0], v[1], f, up, 1, 2, flip); },
                {xg, wg});
      // grouped == per-group plain convs
      Tensor yg = conv2d_resample(xg, wg, f, up, 1, 2, flip);
      Tensor ya = conv2d_resample(slice(xg, 1, 0, I), slice(wg, 0, 0, O), f, up, 1, 1, flip);
      Tensor yb = conv2d_resample(slice(xg, 1, I, 2 * I), slice(wg, 0, O, 2 * O), f, up, 1, 1, flip);
      CHECK(max_abs_diff(yg, concat({ya, yb}, 1)) < 1e-12);
    }
  }
  for (int up : {1, 2}) {
    for (bool demod : {true, false}) {
      CAPTURE(up);
      CAPTURE(demod);
      Tensor x = leaf(ctx, {N, I, H, H}), w = leaf(ctx, {O, I, 3, 3}), s = leaf(ctx, {N, I});
      Tensor noise = leaf(ctx, {H * up, H * up});
      ModConv p;
      p.up = up;
      p.padding = 1;
      p.filter = f;
      p.demodulate = demod;
      p.flip_weight = (up == 1);
      ModConv pf = p, pn = p;
      pf.fused = true;
      pn.fused = false;
      Tensor y1 = modulated_conv2d(x, w, s, noise, pf), y2 = modulated_conv2d(x, w, s, noise, pn);
      REQUIRE(y1.shape() == Shape{N, O, H * up, H * up});
      CHECK(max_abs_diff(y1, y2) < 1e-10);
      gradcheck("modconv fused", [&](const V& v) { return modulated_conv2d(v[0], v[1], v[2], v[3], pf); },
                {x, w, s, noise});
      gradcheck("modconv per-sample", [&](const V& v) { return modulated_conv2d(v[0], v[1], v[2], v[3], pn); },
                {x, w, s, noise});
    }
  }
  // demodulation: unit-variance input channels give outputs of unit expected second moment per channel.
  // Direct check of the coefficient: with s = 1 and w = all ones, y = conv(x)/sqrt(I·9).
  Tensor x = ones(ctx, {1, I, 5, 5}, DType::F64), w = ones(ctx, {1, I, 3, 3}, DType::F64);
  Tensor s = ones(ctx, {1, I}, DType::F64);
  ModConv p;
  p.padding = 1;
  Tensor y = modulated_conv2d(x, w, s, Tensor(), p);
  CHECK(y.at<double>({0, 0, 2, 2}) == doctest::Approx(I * 9 / std::sqrt(I * 9.0 + 1e-8)));
}

TEST_CASE("nn: synthesis layer and ToRGB, FD-checked through every parameter; noise modes") {
  Context ctx(5);
  Tensor f = setup_filter(ctx, {1, 3, 3, 1}, DType::F64);
  SynthesisLayer L(ctx, 2, 3, 3, 8, 2, Act::LRelu, -1, f, Device::cpu());
  // promote the layer's tensors to f64 leaves
  auto to64 = [](Tensor& t) {
    t = t.detach().to(DType::F64).contiguous().clone();
    t.set_requires_grad(true);
  };
  to64(L.weight);
  to64(L.bias);
  to64(L.affine.weight);
  to64(L.affine.bias);
  to64(L.noise_strength);
  L.noise_const = L.noise_const.to(DType::F64);
  {
    NoGrad ng(ctx);
    L.noise_strength.fill_(0.7);
  }
  Tensor x = leaf(ctx, {1, 2, 4, 4}), w = leaf(ctx, {1, 3});
  for (bool fused : {true, false}) {
    gradcheck("synthesis layer up2",
              [&](const V& v) {
                SynthesisLayer l = L;
                l.weight = v[2];
                l.bias = v[3];
                l.affine.weight = v[4];
                l.affine.bias = v[5];
                l.noise_strength = v[6];
                return l.forward(v[0], v[1], NoiseMode::Const, fused);
              },
              {x, w, L.weight, L.bias, L.affine.weight, L.affine.bias, L.noise_strength});
  }
  ToRGBLayer R(ctx, 2, 3, 3, -1, DType::F32, Device::cpu());
  to64(R.weight);
  to64(R.bias);
  to64(R.affine.weight);
  to64(R.affine.bias);
  Tensor x8 = leaf(ctx, {1, 2, 8, 8});
  gradcheck("torgb",
            [&](const V& v) {
              ToRGBLayer r = R;
              r.weight = v[2];
              r.bias = v[3];
              r.affine.weight = v[4];
              r.affine.bias = v[5];
              return r.forward(v[0], v[1], true);
            },
            {x8, w, R.weight, R.bias, R.affine.weight, R.affine.bias});
  // noise modes: None adds nothing, Random differs from Const, both scale with the strength
  Tensor y_none = L.forward(x, w, NoiseMode::None, false);
  Tensor y_const = L.forward(x, w, NoiseMode::Const, false);
  Tensor y_rand = L.forward(x, w, NoiseMode::Random, false);
  CHECK(max_abs_diff(y_none, y_const) > 1e-3);
  CHECK(max_abs_diff(y_rand, y_const) > 1e-3);
  {
    NoGrad ng(ctx);
    L.noise_strength.fill_(0.0);
  }
  CHECK(max_abs_diff(L.forward(x, w, NoiseMode::Random, false), y_none) == 0.0);
}

TEST_CASE("nn: a tiny f64 generator, FD-checked through every parameter and z") {
  Context ctx(6);
  GeneratorConfig cfg;
  cfg.z_dim = 3;
  cfg.w_dim = 3;
  cfg.img_resolution = 8;
  cfg.img_channels = 2;
  cfg.channel_base = 8;
  cfg.channel_max = 2;
  cfg.channel_min = 1;
  cfg.mapping_act = Act::LRelu;  // lrelu: no dead units, so every parameter receives a gradient
  cfg.synthesis_act = Act::LRelu;
  cfg.dtype = DType::F64;
  for (bool fused : {false, true}) {
    cfg.fused_modconv = fused;
    Generator G(ctx, cfg);
    {
      NoGrad ng(ctx);
      for (auto& np : G.named_parameters())
        if (np.name.find("noise_strength") != std::string::npos) np.tensor.fill_(0.3);
    }
    Tensor z = leaf(ctx, {1, 3});
    std::vector<Tensor> inputs{z};
    for (auto& t : G.parameter_tensors()) inputs.push_back(t);
    gradcheck(fused ? "generator (fused modconv)" : "generator (per-sample modconv)",
              [&](const V& v) { return G.forward(v[0]); }, inputs);
  }
}

TEST_CASE("nn: fused weight ops (swap01_copy, sum_sq_hw) == composed ops, FD-checked") {
  Context ctx(8);
  Tensor w = leaf(ctx, {3, 4, 3, 2});
  CHECK(max_abs_diff(swap01_copy(w), contiguous(transpose(w, 0, 1))) == 0.0);
  CHECK(max_abs_diff(sum_sq_hw(w), sum(square(w), {2, 3})) < 1e-12);
  gradcheck("swap01_copy", [](const V& v) { return swap01_copy(v[0]); }, {w});
  gradcheck("sum_sq_hw", [](const V& v) { return sum_sq_hw(v[0]); }, {w});
  gradcheck("swap01_copy of a view", [](const V& v) { return swap01_copy(transpose(v[0], 2, 3)); }, {w});
}

TEST_CASE("nn: fused modconv epilogue == composed ops, FD-checked (linear, relu, lrelu, clamp)") {
  Context ctx(9);
  Tensor y = leaf(ctx, {2, 3, 4, 5}), d = leaf(ctx, {2, 3}), s = leaf(ctx, {}), b = leaf(ctx, {3});
  Tensor noise = leaf(ctx, {4, 5}, 0.0, false);
  for (Act a : {Act::Linear, Act::Relu, Act::LRelu})
    for (double cl : {-1.0, 1.5}) {
      BiasAct p;
      p.act = a;
      p.clamp = cl;
      CAPTURE(cl);
      Tensor e1 = modconv_epilogue(y, d, noise, s, b, p), e2 = modconv_epilogue_ref(y, d, noise, s, b, p);
      CHECK(max_abs_diff(e1, e2) < 1e-12);
      gradcheck(std::string("epilogue ") + act_name(a),
                [&](const V& v) { return modconv_epilogue(v[0], v[1], noise, v[2], v[3], p); }, {y, d, s, b});
    }
}
