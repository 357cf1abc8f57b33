// The differentiable tensor FLAME layer (flame/flame_op.h) against flame_fwd / flame_bwd: forward equality in
// f64 (fixture and built-in models), f64 finite differences of every input, gradients equal to the hand-written
// VJP, f32 on the CPU against flame_fwd<float>, and CUDA vs CPU parity (skipped without a GPU).
#include <cmath>
#include <cstdio>

#include "autograd/ops.h"
#include "core/rng.h"
#include "flame/flame_op.h"
#include "flame/headmodel.h"
#include "tests/flame/flame_test_util.h"
#include "tests/gradcheck.h"

using namespace ff;
using namespace ff::flame;

namespace {

FlameModel fixture_model() {
  FlameLoadOptions o;
  o.expr_offset = flame_test::kFixtureShapeColumns;
  return load_flame_model(testing::fixture_path("flame_model.npz"), o);
}

std::vector<double> randv(uint64_t seed, size_t n, double s, double mean = 0) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = mean + s * rng::normal_at(seed, i);
  return v;
}

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

Tensor tensor_of(Context& ctx, const std::vector<double>& v, const Shape& s, DType dt, Device dev = Device::cpu(),
                 bool grad = false) {
  Tensor t = dt == DType::F64 ? from_vector<double>(ctx, v, s, dev) : from_vector<float>(ctx, cast<float>(v), s, dev);
  t.set_requires_grad(grad);
  return t;
}

std::vector<double> to_f64(const Tensor& t) {
  Tensor c = t.to(Device::cpu()).to(DType::F64);
  return c.to_vector<double>();
}

// max |a − b| / (1 + |b|)
double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]) / (1.0 + std::fabs(b[i])));
  return m;
}

// One random batch of inputs (host vectors) for model m.
struct Inputs {
  int B = 0, ns = 0, ne = 0;
  std::vector<double> shape, expr, pose, trans, scale, offset;
};
Inputs make_inputs(const FlameModel& m, int B, int ns, int ne, uint64_t seed) {
  Inputs in;
  in.B = B;
  in.ns = ns;
  in.ne = ne;
  in.shape = randv(seed + 1, size_t(B) * ns, 1.0);
  in.expr = randv(seed + 2, size_t(B) * ne, 1.0);
  in.pose = randv(seed + 3, size_t(B) * m.J * 3, 0.4);
  in.trans = randv(seed + 4, size_t(B) * 3, 0.1);
  in.scale = randv(seed + 5, size_t(B), 0.2, 1.0);
  in.offset = randv(seed + 6, size_t(m.V) * 3, 0.01);
  return in;
}

template <class T>
struct Reference {
  std::vector<T> shape, expr, pose, trans, scale, offset;
  FlameInput<T> in;
  FlameOutput<T> out;
  FlameCache<T> cache;
  Reference(const FlameModel& m, const Inputs& x, bool with_offset)
      : shape(cast<T>(x.shape)), expr(cast<T>(x.expr)), pose(cast<T>(x.pose)), trans(cast<T>(x.trans)),
        scale(cast<T>(x.scale)), offset(cast<T>(x.offset)) {
    in.batch = x.B;
    in.n_shape = x.ns;
    in.n_expr = x.ne;
    in.shape = shape.data();
    in.expr = expr.data();
    in.pose = pose.data();
    in.translation = trans.data();
    in.scale = scale.data();
    in.static_offset = with_offset ? offset.data() : nullptr;
    flame_fwd(m, in, out, &cache, 1);
  }
};

// Leaves on (dt, dev) for x; requires_grad on all of them.
struct Leaves {
  Tensor shape, expr, pose, trans, scale, offset;
  Leaves(Context& ctx, const FlameModel& m, const Inputs& x, DType dt, Device dev) {
    shape = tensor_of(ctx, x.shape, {x.B, x.ns}, dt, dev, true);
    expr = tensor_of(ctx, x.expr, {x.B, x.ne}, dt, dev, true);
    pose = tensor_of(ctx, x.pose, {x.B, m.J * 3}, dt, dev, true);
    trans = tensor_of(ctx, x.trans, {x.B, 3}, dt, dev, true);
    scale = tensor_of(ctx, x.scale, {x.B}, dt, dev, true);
    offset = tensor_of(ctx, x.offset, {m.V, 3}, dt, dev, true);
  }
};

void check_forward_equal(const FlameModel& m, const char* what) {
  Context ctx(7);
  FlameTensors ft = FlameTensors::upload(ctx, m, Device::cpu(), DType::F64);
  for (int variant = 0; variant < 2; ++variant) {
    // all components with a static offset, then a subset of components without one
    const int ns = variant == 0 ? m.S : std::min(m.S, 3), ne = variant == 0 ? m.E : std::min(m.E, 2);
    Inputs x = make_inputs(m, 3, ns, ne, 100 + uint64_t(variant));
    Reference<double> ref(m, x, variant == 0);
    Leaves l(ctx, m, x, DType::F64, Device::cpu());
    FlameOutputTensors o = flame_forward(ft, l.shape, l.expr, l.pose, l.trans, l.scale, variant == 0 ? l.offset : Tensor());
    REQUIRE(o.vertices.shape() == Shape({3, m.V, 3}));
    REQUIRE(o.joints.shape() == Shape({3, m.J, 3}));
    double dv = flame_test::max_abs_diff(to_f64(o.vertices), ref.out.vertices);
    double dj = flame_test::max_abs_diff(to_f64(o.joints), ref.out.joints);
    std::printf("flame_op %s forward (S'=%d E'=%d): max |Δv| %.2e |Δj| %.2e\n", what, ns, ne, dv, dj);
    CHECK(dv < 1e-10);
    CHECK(dj < 1e-10);
  }
  // undefined inputs mean zeros / ones, like null pointers in flame_fwd
  FlameInput<double> in0;
  in0.batch = 1;
  FlameOutput<double> out0;
  flame_fwd(m, in0, out0, nullptr, 1);
  FlameOutputTensors o0 = flame_forward(ft, Tensor(), Tensor(), Tensor(), Tensor(), Tensor());
  CHECK(flame_test::max_abs_diff(to_f64(o0.vertices), out0.vertices) < 1e-10);
  CHECK(flame_test::max_abs_diff(to_f64(o0.joints), out0.joints) < 1e-10);
}

// vertices and joints flattened into one tensor (what the gradient checks differentiate)
Tensor flat(const FlameOutputTensors& o) { return concat({reshape(o.vertices, {-1}), reshape(o.joints, {-1})}, 0); }

// Gradients of Σ v·dv + Σ j·dj through flame_forward on (dt, dev), as f64 host vectors in Leaves order.
std::vector<std::vector<double>> tensor_grads(Context& ctx, const FlameModel& m, const Inputs& x, DType dt, Device dev,
                                              const std::vector<double>& dv, const std::vector<double>& dj,
                                              std::vector<double>* verts = nullptr) {
  FlameTensors ft = FlameTensors::upload(ctx, m, dev, dt);
  Leaves l(ctx, m, x, dt, dev);
  FlameOutputTensors o = flame_forward(ft, l.shape, l.expr, l.pose, l.trans, l.scale, l.offset);
  if (verts) *verts = to_f64(o.vertices);
  Tensor loss = add(sum(mul(o.vertices, tensor_of(ctx, dv, o.vertices.shape(), dt, dev))),
                    sum(mul(o.joints, tensor_of(ctx, dj, o.joints.shape(), dt, dev))));
  backward(loss);
  std::vector<std::vector<double>> g;
  for (const Tensor* t : {&l.shape, &l.expr, &l.pose, &l.trans, &l.scale, &l.offset}) {
    REQUIRE(t->grad().defined());
    g.push_back(to_f64(t->grad()));
  }
  return g;
}

}  // namespace

TEST_CASE("flame_op: tensor forward equals flame_fwd (f64, CPU) on the fixture and built-in models") {
  check_forward_equal(fixture_model(), "fixture");
  check_forward_equal(builtin_head_model(), "builtin");
}

TEST_CASE("flame_op: f32 on the CPU agrees with flame_fwd<float>") {
  FlameModel m = fixture_model();
  Context ctx(3);
  Inputs x = make_inputs(m, 2, m.S, m.E, 300);
  Reference<float> ref(m, x, true);
  FlameTensors ft = FlameTensors::upload(ctx, m, Device::cpu(), DType::F32);
  Leaves l(ctx, m, x, DType::F32, Device::cpu());
  FlameOutputTensors o = flame_forward(ft, l.shape, l.expr, l.pose, l.trans, l.scale, l.offset);
  CHECK(o.vertices.dtype() == DType::F32);
  std::vector<double> rv(ref.out.vertices.begin(), ref.out.vertices.end()), rj(ref.out.joints.begin(), ref.out.joints.end());
  double dv = rel_diff(to_f64(o.vertices), rv), dj = rel_diff(to_f64(o.joints), rj);
  std::printf("flame_op f32 cpu vs flame_fwd<float>: rel %.2e %.2e\n", dv, dj);
  CHECK(dv < 1e-5);
  CHECK(dj < 1e-5);
}

TEST_CASE("flame_op: gradcheck (f64) for shape, expr, pose, translation, scale, static offset") {
  FlameModel m = fixture_model();
  Context ctx(11);
  FlameTensors ft = FlameTensors::upload(ctx, m, Device::cpu(), DType::F64);
  Inputs x = make_inputs(m, 2, m.S, m.E, 200);
  Leaves l(ctx, m, x, DType::F64, Device::cpu());
  auto f = [&](const std::vector<Tensor>& in) { return flat(flame_forward(ft, in[0], in[1], in[2], in[3], in[4], in[5])); };
  testing::gradcheck("flame_forward", f, {l.shape, l.expr, l.pose, l.trans, l.scale, l.offset});
  // each input alone (the others held constant or absent)
  Tensor pose_only = tensor_of(ctx, x.pose, {2, m.J * 3}, DType::F64, Device::cpu(), true);
  testing::gradcheck("flame_forward pose only", [&](const std::vector<Tensor>& in) {
    return flat(flame_forward(ft, Tensor(), Tensor(), in[0], Tensor(), Tensor()));
  }, {pose_only});
  Tensor shape_only = tensor_of(ctx, x.shape, {2, m.S}, DType::F64, Device::cpu(), true);
  testing::gradcheck("flame_forward shape only", [&](const std::vector<Tensor>& in) {
    return flat(flame_forward(ft, in[0], Tensor(), Tensor(), Tensor(), Tensor()));
  }, {shape_only});
}

TEST_CASE("flame_op: gradients equal flame_bwd's (f64)") {
  FlameModel m = fixture_model();
  Context ctx(5);
  const int B = 3;
  Inputs x = make_inputs(m, B, m.S, m.E, 400);
  std::vector<double> dv = randv(401, size_t(B) * m.V * 3, 1.0), dj = randv(402, size_t(B) * m.J * 3, 1.0);
  Reference<double> ref(m, x, true);
  FlameGrads<double> g;
  flame_bwd(m, ref.in, ref.cache, dv.data(), dj.data(), g, 1);
  auto tg = tensor_grads(ctx, m, x, DType::F64, Device::cpu(), dv, dj);
  const char* names[] = {"shape", "expr", "pose", "translation", "scale", "static_offset"};
  const std::vector<double>* want[] = {&g.d_shape, &g.d_expr, &g.d_pose, &g.d_translation, &g.d_scale, &g.d_static_offset};
  for (int k = 0; k < 6; ++k) {
    double d = rel_diff(tg[size_t(k)], *want[k]);
    std::printf("flame_op grad %-13s vs flame_bwd: %.2e\n", names[k], d);
    CHECK_MESSAGE(d < 1e-10, names[k]);
  }
}

TEST_CASE("flame_op: CUDA matches the CPU (f32, forward and gradients)") {
  if (!ff::testing::cuda_or_skip("flame_op cuda parity")) return;
  for (int which = 0; which < 2; ++which) {
    FlameModel m = which == 0 ? fixture_model() : builtin_head_model();
    Context ctx(9);
    const int B = 4;
    Inputs x = make_inputs(m, B, m.S, m.E, 500 + uint64_t(which));
    std::vector<double> dv = randv(501, size_t(B) * m.V * 3, 1.0), dj = randv(502, size_t(B) * m.J * 3, 1.0);
    std::vector<double> vc, vg;
    auto gc = tensor_grads(ctx, m, x, DType::F32, Device::cpu(), dv, dj, &vc);
    auto gg = tensor_grads(ctx, m, x, DType::F32, Device::cuda(), dv, dj, &vg);
    double d = rel_diff(vg, vc);
    std::printf("flame_op cuda vs cpu (%s) vertices: %.2e\n", which == 0 ? "fixture" : "builtin", d);
    CHECK(d < 1e-4);
    const char* names[] = {"shape", "expr", "pose", "translation", "scale", "static_offset"};
    for (int k = 0; k < 6; ++k) {
      // relative to the gradient's magnitude (f32 sums over many vertices)
      double scale = 0;
      for (double v : gc[size_t(k)]) scale = std::max(scale, std::fabs(v));
      double e = flame_test::max_abs_diff(gg[size_t(k)], gc[size_t(k)]) / std::max(1.0, scale);
      std::printf("flame_op cuda vs cpu grad %-13s: %.2e\n", names[k], e);
      CHECK_MESSAGE(e < 1e-4, names[k]);
    }
  }
}
