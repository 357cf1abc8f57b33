// CPU ↔ CUDA parity of the seed generator, forward and backward (skipped, with the reason, without a GPU).
#include <cmath>

#include "nn/generator.h"
#include "tests/testing.h"

using namespace ff;
using namespace ff::nn;

static double rel_err(const Tensor& a, const Tensor& b) {
  auto va = a.to(Device::cpu()).to(DType::F64).to_vector<double>();
  auto vb = b.to(Device::cpu()).to(DType::F64).to_vector<double>();
  REQUIRE(va.size() == vb.size());
  double d = 0, m = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    d = std::max(d, std::abs(va[i] - vb[i]));
    m = std::max(m, std::abs(vb[i]));
  }
  return d / std::max(m, 1e-30);
}

TEST_CASE("nn cuda: the seed generator on CUDA matches the CPU (forward, every gradient; both modconv forms)") {
  if (!ff::testing::cuda_or_skip("nn cuda: generator parity")) return;
  for (bool fused : {false, true}) {
    CAPTURE(fused);
    GeneratorConfig cfg = GeneratorConfig::seed();
    cfg.fused_modconv = fused;
    Context cc(21), gc(21);  // same seed, same construction order → the same weights on both devices
    Generator Gc(cc, cfg, Device::cpu()), Gg(gc, cfg, Device::cuda());
    {
      NoGrad a(cc), b(gc);  // non-zero noise strengths so the noise path is live
      auto pc = Gc.named_parameters(), pg = Gg.named_parameters();
      for (size_t i = 0; i < pc.size(); ++i)
        if (pc[i].name.find("noise_strength") != std::string::npos) {
          pc[i].tensor.fill_(0.25);
          pg[i].tensor.fill_(0.25);
        }
    }
    CHECK(rel_err(Gg.named_parameters()[5].tensor, Gc.named_parameters()[5].tensor) == 0.0);
    // CUDA tensors must belong to the CUDA generator's context (one stream per context): make them from gc
    Tensor z = randn(gc, {1, cfg.z_dim}), r = randn(gc, {1, cfg.img_channels, 64, 64});
    Tensor zg = z.to(Device::cuda()), rg = r.to(Device::cuda());
    z.set_requires_grad(true);
    zg.set_requires_grad(true);
    Tensor ic = Gc.forward(z), ig = Gg.forward(zg);
    double e = rel_err(ig, ic);
    INFO("img rel err " << e);
    CHECK(e < 1e-4);
    backward(sum(mul(ic, r)));
    backward(sum(mul(ig, rg)));
    CHECK(rel_err(zg.grad(), z.grad()) < 1e-3);
    auto pc = Gc.named_parameters(), pg = Gg.named_parameters();
    double worst = 0;
    for (size_t i = 0; i < pc.size(); ++i) {
      double g = rel_err(pg[i].tensor.grad(), pc[i].tensor.grad());
      INFO(pc[i].name << " grad rel err " << g);
      CHECK(g < 1e-3);
      worst = std::max(worst, g);
    }
    MESSAGE("CUDA vs CPU (fused=" << fused << "): img " << e << ", worst param grad " << worst);
  }
}

// each block on its own, CPU vs CUDA with random cotangents: localises a parity failure of the generator
static void block_parity(const char* name, const std::vector<Shape>& shapes,
                         const std::function<Tensor(const std::vector<Tensor>&)>& f) {
  Context ctx(31);
  std::vector<Tensor> xc, xg;
  for (auto& s : shapes) {
    Tensor t = randn(ctx, s);
    Tensor g = t.to(Device::cuda());
    t.set_requires_grad(true);
    g.set_requires_grad(true);
    xc.push_back(t);
    xg.push_back(g);
  }
  Tensor yc = f(xc), yg = f(xg);
  Tensor r = randn(ctx, yc.shape());
  backward(sum(mul(yc, r)));
  backward(sum(mul(yg, r.to(Device::cuda()))));
  double e = rel_err(yg, yc);
  INFO(name << " forward rel err " << e);
  CHECK(e < 1e-4);
  for (size_t i = 0; i < xc.size(); ++i) {
    double g = rel_err(xg[i].grad(), xc[i].grad());
    INFO(name << " grad " << i << " rel err " << g);
    CHECK(g < 1e-3);
  }
}

TEST_CASE("nn cuda: every block on CUDA matches the CPU") {
  if (!ff::testing::cuda_or_skip("nn cuda: block parity")) return;
  // the filter must come from the input's own Context: CUDA tensors of different contexts live on
  // different streams (the engine refuses to mix them)
  auto filt = [&](const Tensor& x) { return setup_filter(x.ctx(), {1, 3, 3, 1}).to(x.device()); };
  block_parity("upsample2d", {{2, 3, 8, 8}}, [&](const auto& v) { return upsample2d(v[0], filt(v[0])); });
  block_parity("normalize_2nd_moment", {{2, 16}}, [&](const auto& v) { return normalize_2nd_moment(v[0]); });
  block_parity("fc relu", {{2, 16}, {8, 16}, {8}},
               [&](const auto& v) { return fully_connected(v[0], v[1], v[2], 0.25, 0.5, Act::Relu); });
  block_parity("fc linear", {{2, 16}, {8, 16}, {8}},
               [&](const auto& v) { return fully_connected(v[0], v[1], v[2], 0.25, 0.5, Act::Linear); });
  block_parity("bias_act lrelu", {{2, 3, 4, 4}, {3}}, [&](const auto& v) {
    BiasAct p;
    p.act = Act::LRelu;
    return bias_act(v[0], v[1], p);
  });
  // the generator's w path: a select of a slice of an expanded (stride-0) tensor feeding a linear layer
  block_parity("fc of an expanded w", {{1, 16}, {8, 16}, {8}}, [&](const auto& v) {
    Tensor ws = expand(unsqueeze(v[0], 1), {1, 5, 16});
    Tensor a = fully_connected(select(slice(ws, 1, 1, 4), 1, 1), v[1], v[2], 0.25, 1.0, Act::Linear);
    Tensor b = fully_connected(select(slice(ws, 1, 2, 5), 1, 0), v[1], v[2], 0.25, 1.0, Act::Linear);
    return add(a, mul(b, 2.0));
  });
  block_parity("expand+select", {{1, 16}}, [&](const auto& v) {
    Tensor ws = expand(unsqueeze(v[0], 1), {1, 5, 16});
    return add(select(ws, 1, 1), mul(select(ws, 1, 3), 3.0));
  });
  for (int up : {1, 2})
    for (bool fused : {false, true}) {
      ModConv p;
      p.up = up;
      p.padding = 1;
      p.flip_weight = up == 1;
      p.fused = fused;
      for (int64_t c : {8, 512})
      block_parity(fused ? "modconv fused" : "modconv per-sample", {{1, c, 4, 4}, {c - 2, c, 3, 3}, {1, c}, {4 * up, 4 * up}},
                   [&](const auto& v) {
                     ModConv q = p;
                     q.filter = filt(v[0]);
                     return modulated_conv2d(v[0], v[1], v[2], v[3], q);
                   });
    }
}
