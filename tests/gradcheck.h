// tests/gradcheck.h — central finite-difference gradient checks in f64 on the CPU.
//
// gradcheck(f, inputs): inputs are f64 CPU leaves; f maps them to any tensor y. With a fixed random
// cotangent r, the analytic gradient of L = Σ y·r (autograd) is compared with (L(x+ε) − L(x−ε)) / 2ε for
// every element of every input that requires grad. Inputs with requires_grad=false are held constant.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"

namespace ff::testing {

struct GradTol {
  double eps = 1e-6, atol = 1e-6, rtol = 1e-5;
};

inline double weighted_sum(const Tensor& y, const Tensor& r) {
  Tensor a = y.contiguous();
  const double* py = a.data<double>();
  const double* pr = r.data<double>();
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += py[i] * pr[i];
  return s;
}

inline void gradcheck(const std::string& what, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                      std::vector<Tensor> inputs, GradTol tol = {}) {
  INFO("gradcheck: " << what);
  Context& ctx = inputs[0].ctx();
  for (auto& x : inputs) {
    REQUIRE(x.dtype() == DType::F64);
    REQUIRE(x.is_contiguous());
    x.zero_grad();
  }
  Tensor y = f(inputs);
  Tensor r = randn(ctx, y.shape(), DType::F64);
  backward(sum(mul(y, r)));
  NoGrad ng(ctx);
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor x = inputs[k];
    if (!x.requires_grad()) continue;
    Tensor g = x.grad();
    REQUIRE_MESSAGE(g.defined(), what << ": input " << k << " got no gradient");
    REQUIRE(g.shape() == x.shape());
    Tensor gc = g.contiguous();
    double* px = x.data<double>();
    double worst = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = px[i];
      px[i] = orig + tol.eps;
      double lp = weighted_sum(f(inputs), r);
      px[i] = orig - tol.eps;
      double lm = weighted_sum(f(inputs), r);
      px[i] = orig;
      double fd = (lp - lm) / (2 * tol.eps);
      double an = gc.data<double>()[i];
      double err = std::abs(fd - an);
      worst = std::max(worst, err / (tol.atol + tol.rtol * std::abs(fd)));
      if (err > tol.atol + tol.rtol * std::abs(fd)) {
        FAIL_CHECK(what << ": input " << k << " element " << i << " analytic " << an << " vs finite-difference " << fd);
        return;
      }
    }
  }
}

// f64 CPU leaf holding `values`
inline Tensor f64_leaf(Context& ctx, const std::vector<double>& values, const Shape& s, bool requires_grad = true) {
  Tensor t = from_vector<double>(ctx, values, s);
  t.set_requires_grad(requires_grad);
  return t;
}

// random f64 leaf, optionally kept away from 0 by `gap` (for kinks of relu/abs/…)
inline Tensor leaf(Context& ctx, const Shape& s, double gap = 0.0, bool requires_grad = true) {
  Tensor t = randn(ctx, s, DType::F64);
  if (gap > 0) {
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] >= 0 ? p[i] + gap : p[i] - gap;
  }
  t.set_requires_grad(requires_grad);
  return t;
}

}  // namespace ff::testing
