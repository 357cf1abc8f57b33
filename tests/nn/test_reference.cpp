// Golden tests against the PyTorch reference (tests/reference/nn_reference.py → tests/fixtures/nn_*.fft):
// every block and a small generator, forward (≤ 1e-4 relative) and gradients (≤ 1e-3 relative), in f32.
// "Relative" = max |ours − ref| / max |ref| over the tensor.
#include <cmath>
#include <map>

#include "nn/generator.h"
#include "tensor/io.h"
#include "tests/testing.h"

using namespace ff;
using namespace ff::nn;

namespace {
constexpr double kFwdTol = 1e-4, kGradTol = 1e-3;

double rel_err(const Tensor& ours, const Tensor& ref) {
  REQUIRE_MESSAGE(ours.shape() == ref.shape(), "shape " << shape_str(ours.shape()) << " vs " << shape_str(ref.shape()));
  auto a = ours.to(Device::cpu()).to(DType::F64).to_vector<double>();
  auto b = ref.to(DType::F64).to_vector<double>();
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(a[i] - b[i]));
    m = std::max(m, std::abs(b[i]));
  }
  return d / std::max(m, 1e-30);
}

void check_case(const NamedTensors& fx, const std::string& name, int n_in,
                const std::function<Tensor(const std::vector<Tensor>&)>& f) {
  Context& ctx = find_tensor(fx, name + ".out").ctx();
  std::vector<Tensor> in;
  for (int i = 0; i < n_in; ++i) {
    Tensor t = find_tensor(fx, name + ".in" + std::to_string(i)).clone();
    t.set_requires_grad(true);
    in.push_back(t);
  }
  Tensor y = f(in);
  backward(sum(mul(y, find_tensor(fx, name + ".r"))));
  double e = rel_err(y, find_tensor(fx, name + ".out"));
  INFO(name << " forward rel err " << e);
  CHECK(e <= kFwdTol);
  for (int i = 0; i < n_in; ++i) {
    double g = rel_err(in[size_t(i)].grad(), find_tensor(fx, name + ".grad" + std::to_string(i)));
    INFO(name << " grad " << i << " rel err " << g);
    CHECK(g <= kGradTol);
  }
  (void)ctx;
}

GeneratorConfig small_config() {
  GeneratorConfig c;  // nn_reference.py SMALL, seed choices
  c.img_resolution = 32;
  c.img_channels = 8;
  c.channel_max = 16;
  return c;
}

NamedTensors strip_prefix(const NamedTensors& fx, const std::string& prefix) {
  NamedTensors out;
  for (auto& [n, t] : fx)
    if (n.rfind(prefix, 0) == 0) out.emplace_back(n.substr(prefix.size()), t);
  return out;
}
}  // namespace

TEST_CASE("nn reference: every block matches PyTorch (f32)") {
  Context ctx(11);
  NamedTensors fx = load_tensors(ctx, ff::testing::fixture_path("nn_blocks.fft"));
  Tensor f = setup_filter(ctx, {1, 3, 3, 1});
  Tensor fa = from_vector<float>(ctx, {1, 2, 0.5f, -1, 3, 0.25f}, {2, 3});
  check_case(fx, "upsample2d", 1, [&](const auto& v) { return upsample2d(v[0], f); });
  {
    UpFirDn p;
    p.down = 2;
    p.padx0 = 2; p.padx1 = -1; p.pady0 = 1; p.pady1 = 0;
    p.flip_filter = true;
    check_case(fx, "upfirdn2d_down", 1, [&](const auto& v) { return upfirdn2d(v[0], fa, p); });
  }
  {
    UpFirDn p;
    p.up = 3; p.down = 2;
    p.padx0 = 1; p.padx1 = 2; p.pady0 = 0; p.pady1 = 3;
    p.gain = 2.5;
    check_case(fx, "upfirdn2d_up3", 1, [&](const auto& v) { return upfirdn2d(v[0], fa, p); });
    check_case(fx, "upfirdn2d_up3", 1, [&](const auto& v) { return upfirdn2d_ref(v[0], fa, p); });
  }
  check_case(fx, "conv2d_resample_up2", 2, [&](const auto& v) { return conv2d_resample(v[0], v[1], f, 2, 1, 1, false); });
  check_case(fx, "conv2d_resample_up1", 2, [&](const auto& v) { return conv2d_resample(v[0], v[1], f, 1, 1, 1, true); });
  for (bool fused : {true, false})
    for (int up : {1, 2}) {
      ModConv p;
      p.up = up;
      p.padding = 1;
      p.filter = f;
      p.flip_weight = (up == 1);
      // both of our forms against both of torch's
      for (bool ours : {true, false}) {
        p.fused = ours;
        check_case(fx, "modconv_up" + std::to_string(up) + (fused ? "_fused" : "_persample"), 4,
                   [&](const auto& v) { return modulated_conv2d(v[0], v[1], v[2], v[3], p); });
      }
    }
  {
    ModConv p;
    p.demodulate = false;
    check_case(fx, "modconv_nodemod", 3, [&](const auto& v) { return modulated_conv2d(v[0], v[1], v[2], Tensor(), p); });
  }
  {
    BiasAct p;
    p.act = Act::LRelu;
    p.clamp = 0.8;
    check_case(fx, "bias_act_lrelu_clamp", 2, [&](const auto& v) { return bias_act(v[0], v[1], p); });
    p = BiasAct();
    p.act = Act::Relu;
    check_case(fx, "bias_act_relu", 2, [&](const auto& v) { return bias_act(v[0], v[1], p); });
  }
  check_case(fx, "fc_relu_lr001", 3, [&](const auto& v) {
    return fully_connected(v[0], mul(v[1], 100.0), v[2], 0.01 / std::sqrt(6.0), 0.01, Act::Relu);
  });
  check_case(fx, "fc_linear", 3,
             [&](const auto& v) { return fully_connected(v[0], v[1], v[2], 1 / std::sqrt(6.0), 1.0, Act::Linear); });
  check_case(fx, "normalize_2nd_moment", 1, [&](const auto& v) { return normalize_2nd_moment(v[0]); });
}

TEST_CASE("nn reference: a small generator matches PyTorch, image and every gradient (both modconv forms)") {
  Context ctx(12);
  NamedTensors fx = load_tensors(ctx, ff::testing::fixture_path("nn_generator.fft"));
  NamedTensors sd = strip_prefix(fx, "G.");
  Tensor r = find_tensor(fx, "r");
  for (bool fused : {false, true}) {
    CAPTURE(fused);
    GeneratorConfig cfg = small_config();
    cfg.fused_modconv = fused;
    Generator G(ctx, cfg);
    CHECK(G.num_ws() == find_tensor(fx, "num_ws").to_vector<int64_t>()[0]);
    CHECK(G.load(sd) == int(G.named_parameters().size() + G.named_buffers().size()));
    Tensor z = find_tensor(fx, "z").clone();
    z.set_requires_grad(true);
    Tensor img = G.forward(z);
    backward(sum(mul(img, r)));
    double e = rel_err(img, find_tensor(fx, "img"));
    INFO("img rel err " << e);
    CHECK(e <= kFwdTol);
    double gz = rel_err(z.grad(), find_tensor(fx, "grad.z"));
    INFO("grad z rel err " << gz);
    CHECK(gz <= kGradTol);
    double worst = 0;
    std::string worst_name;
    for (auto& np : G.named_parameters()) {
      REQUIRE_MESSAGE(np.tensor.grad().defined(), np.name << " got no gradient");
      double g = rel_err(np.tensor.grad(), find_tensor(fx, "grad." + np.name));
      if (g > worst) worst = g, worst_name = np.name;
      INFO(np.name << " grad rel err " << g);
      CHECK(g <= kGradTol);
    }
    MESSAGE("generator (fused=" << fused << "): img rel err " << e << ", grad z " << gz << ", worst param grad "
                                << worst << " (" << worst_name << ")");
  }
  // StyleGAN2's choices on the same weights
  GeneratorConfig cfg = small_config();
  cfg.mapping_act = cfg.synthesis_act = Act::LRelu;
  cfg.num_ws_off_by_one = false;
  Generator G(ctx, cfg);
  CHECK(G.num_ws() == find_tensor(fx, "sg2.num_ws").to_vector<int64_t>()[0]);
  G.load(sd);
  Tensor z = find_tensor(fx, "z").clone();
  z.set_requires_grad(true);
  Tensor img = G.forward(z);
  backward(sum(mul(img, r)));
  CHECK(rel_err(img, find_tensor(fx, "sg2.img")) <= kFwdTol);
  CHECK(rel_err(z.grad(), find_tensor(fx, "sg2.grad.z")) <= kGradTol);
}

TEST_CASE("nn reference: the full seed generator has torch's parameter names, shapes and count (9,796,681)") {
  Context ctx(13);
  NamedTensors fx = load_tensors(ctx, ff::testing::fixture_path("nn_generator.fft"));
  Generator G(ctx, GeneratorConfig::seed());
  auto counts = find_tensor(fx, "seed.param_count").to_vector<int64_t>();
  CHECK(G.parameter_count() == counts[0]);
  CHECK(G.mapping_parameter_count() == counts[1]);
  CHECK(G.parameter_count() == 9796681);  // mapping 8,320 + synthesis 9,788,361 (docs/model.md §1.2)
  CHECK(G.num_ws() == find_tensor(fx, "seed.num_ws").to_vector<int64_t>()[0]);
  std::map<std::string, Shape> ref;
  for (auto& [n, t] : strip_prefix(fx, "seed.shape.")) {
    auto v = t.to_vector<int64_t>();
    ref[n] = Shape(v.begin(), v.end());
  }
  CHECK(ref.size() == G.named_parameters().size());
  for (auto& np : G.named_parameters()) {
    INFO(np.name);
    REQUIRE(ref.count(np.name) == 1);
    CHECK(ref[np.name] == np.tensor.shape());
  }
}
