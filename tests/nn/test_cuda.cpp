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
    Tensor z = randn(cc, {1, cfg.z_dim}), r = randn(cc, {1, cfg.img_channels, 64, 64});
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
