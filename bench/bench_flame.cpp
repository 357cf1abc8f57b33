// bench_flame — FLAME forward and forward+backward timings on a random model of real FLAME size
// (V = 5023, 300 shape + 100 expression components, 5 joints), CPU.
//   bench_flame [--threads N] [--json PATH] [--repeats N] [--warmup N] [--quick]   (--help)
// The model is random (FLAME is licence-gated); the arithmetic is the same as for the real files. Before
// timing, the float forward is validated against the double forward.
#include <cmath>
#include <cstdio>

#include "bench/bench.h"
#include "core/rng.h"
#include "flame/flame.h"

using namespace ff;
using namespace ff::flame;

static FlameModel random_flame(uint64_t seed) {
  FlameModel m;
  m.source = "random FLAME-sized model";
  m.V = 5023;
  m.F = 1;
  m.S = 300;
  m.E = 100;
  m.J = 5;
  auto fill = [&](std::vector<double>& v, size_t n, double s, uint64_t k) {
    v.resize(n);
    for (size_t i = 0; i < n; ++i) v[i] = s * rng::normal_at(seed + k, i);
  };
  fill(m.v_template, size_t(m.V) * 3, 0.1, 1);
  fill(m.shapedirs, size_t(m.V) * 3 * m.S, 1e-3, 2);
  fill(m.exprdirs, size_t(m.V) * 3 * m.E, 1e-3, 3);
  fill(m.posedirs, size_t(m.J - 1) * 9 * m.V * 3, 1e-3, 4);
  m.j_regressor.assign(size_t(m.J) * m.V, 0.0);
  for (int j = 0; j < m.J; ++j)
    for (int k = 0; k < 40; ++k) m.j_regressor[size_t(j) * m.V + size_t((j * 997 + k * 101) % m.V)] = 1.0 / 40;
  m.weights.assign(size_t(m.V) * m.J, 0.0);
  for (int v = 0; v < m.V; ++v) {
    m.weights[size_t(v) * m.J + size_t(v % m.J)] = 0.7;
    m.weights[size_t(v) * m.J + size_t((v + 1) % m.J)] = 0.3;
  }
  m.parents = {-1, 0, 1, 1, 1};
  m.faces = {0, 1, 2};
  m.validate();
  return m;
}

template <class T>
static void run(bench::Runner& r, const FlameModel& m, int B, int threads, const char* tname) {
  std::vector<T> shape(size_t(B) * m.S), expr(size_t(B) * m.E), pose(size_t(B) * 15), dv(size_t(B) * m.V * 3);
  for (size_t i = 0; i < shape.size(); ++i) shape[i] = T(rng::normal_at(10, i));
  for (size_t i = 0; i < expr.size(); ++i) expr[i] = T(rng::normal_at(11, i));
  for (size_t i = 0; i < pose.size(); ++i) pose[i] = T(0.2 * rng::normal_at(12, i));
  for (size_t i = 0; i < dv.size(); ++i) dv[i] = T(rng::normal_at(13, i));
  FlameInput<T> in;
  in.batch = B;
  in.n_shape = m.S;
  in.n_expr = m.E;
  in.shape = shape.data();
  in.expr = expr.data();
  in.pose = pose.data();
  FlameOutput<T> out;
  FlameCache<T> cache;
  // flops: blendshapes 2·V·3·(S+E) + pose correctives 2·V·3·36 + skinning ~ V·(5·12·2 + 18)
  double flops = double(B) * m.V * (2.0 * 3 * (m.S + m.E) + 2.0 * 3 * 36 + 138);
  double bytes = 8.0 * B * m.V * 3 * (m.S + m.E + 36);  // the model is streamed once per item
  char name[128];
  std::snprintf(name, sizeof name, "flame_fwd<%s> B=%d", tname, B);
  r.run(name, [&] { flame_fwd(m, in, out, &cache, threads); }, flops, bytes);
  std::snprintf(name, sizeof name, "flame_fwd+bwd<%s> B=%d", tname, B);
  r.run(name, [&] {
    flame_fwd(m, in, out, &cache, threads);
    FlameGrads<T> g;
    flame_bwd(m, in, cache, dv.data(), nullptr, g, threads);
  }, 2 * flops, 2 * bytes);
}

int run_bench(const ff::apps::Options& o) {
  Context ctx(0, o.threads());
  bench::Runner r("flame", ctx, Device::cpu(), o);
  FlameModel m = random_flame(7);
  {  // validate float against double before timing
    std::vector<double> pd(15, 0.1);
    std::vector<float> pf(15, 0.1f);
    FlameInput<double> id;
    id.pose = pd.data();
    FlameInput<float> ifl;
    ifl.pose = pf.data();
    FlameOutput<double> od;
    FlameOutput<float> of;
    flame_fwd(m, id, od, nullptr, ctx.threads());
    flame_fwd(m, ifl, of, nullptr, ctx.threads());
    double worst = 0;
    for (size_t i = 0; i < od.vertices.size(); ++i) worst = std::max(worst, std::fabs(od.vertices[i] - of.vertices[i]));
    if (!(worst < 1e-5)) {
      std::fprintf(stderr, "bench_flame: float forward disagrees with double (%g)\n", worst);
      return 1;
    }
  }
  r.header();
  for (int B : {1, 8}) {
    run<float>(r, m, B, ctx.threads(), "float");
    run<double>(r, m, B, ctx.threads(), "double");
  }
  r.finish();
  return 0;
}

int main(int argc, char** argv) {
  ff::apps::Options o("bench_flame — FLAME forward and forward+backward on a random model of real FLAME size (CPU).\n\n"
                      "usage: bench_flame [options]",
                      bench::options(/*device=*/false));
  if (const int status = bench::start("bench_flame", o, argc, argv, [&] { bench::check_timing(o); }); status >= 0)
    return status;
  return bench::guarded("bench_flame", [&] { return run_bench(o); });
}
