#include <cmath>

#include "autograd/optim.h"
#include "autograd/ops.h"
#include "tests/testing.h"

using namespace ff;

TEST_CASE("Adam matches a hand-computed sequence") {
  Context ctx(0);
  Tensor p = from_vector<double>(ctx, {1.0, -2.0}, {2});
  p.set_requires_grad(true);
  Adam opt({{"all", {p}, 0.1}}, {0.9, 0.999, 1e-8, 0.0});
  double ref[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
  for (int t = 1; t <= 5; ++t) {
    opt.zero_grad();
    backward(sum(mul(mul(p, p), p)));  // grad = 3p²
    opt.step();
    for (int i = 0; i < 2; ++i) {
      double g = 3 * ref[i] * ref[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
      ref[i] -= 0.1 * mh / (std::sqrt(vh) + 1e-8);
    }
    auto got = p.to_vector<double>();
    CHECK(got[0] == doctest::Approx(ref[0]).epsilon(1e-12));
    CHECK(got[1] == doctest::Approx(ref[1]).epsilon(1e-12));
  }
}

TEST_CASE("Adam: weight decay, groups, sparse rows leave inactive rows untouched") {
  Context ctx(0);
  Tensor codes = from_vector<float>(ctx, {1, 1, 2, 2, 3, 3}, {3, 2});
  codes.set_requires_grad(true);
  Tensor other = from_vector<float>(ctx, {5}, {1});
  other.set_requires_grad(true);
  Adam opt({{"codes", {codes}, 0.5}, {"other", {other}, 0.0}});
  CHECK(opt.lr("codes") == 0.5);
  opt.set_lr("other", 0.01);
  CHECK_THROWS_AS(opt.set_lr("nope", 1), ff::Error);
  // step 1: all rows get gradient 1, only row 1 is active
  backward(add(sum(codes), sum(other)));
  opt.set_active_rows(codes, from_vector<int64_t>(ctx, {1}, {1}));
  opt.step();
  auto c = codes.to_vector<float>();
  CHECK(c[0] == 1.0f);
  CHECK(c[4] == 3.0f);
  CHECK(c[2] == doctest::Approx(1.5));  // first Adam step moves by lr
  CHECK(opt.state()[0].m.to_vector<float>()[0] == 0.0f);  // inactive row's moments untouched
  CHECK(other.to_vector<float>()[0] == doctest::Approx(4.99));
}
