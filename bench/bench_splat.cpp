// bench/bench_splat.cpp — timings of splat's forward, backward and fused L1+D-SSIM loss.
//
//   bench_splat [--device cpu|cuda] [--quick] [--threads N] [--repeats R] [--no-check] [--json out.json]   (--help)
//
// Configurations (issue 4): 36,084 face Gaussians at 1100×1604 and 550×802 (W×H, the face model's scale)
// and 512×512, and 1,000,000 random scene Gaussians at 1920×1080. Face Gaussians lie on a ~0.2 m wide
// bulging surface 1 m in front of the camera with ~2 mm scales; the focal length makes the face span ~60%
// of the image width. Each timing: warm-up runs, then R repeats; median and min in ms. The CPU does fewer
// repeats on the big configurations. Forward includes projection, binning, sorting and blending (and, on
// CUDA, its one synchronising entry-count copy); backward is render_bwd alone; loss is l1_dssim_loss with
// d_img. The result is validated before timing (finite image, non-zero coverage).
#include <algorithm>
#include <chrono>
#include <sys/resource.h>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "core/check.h"
#include "core/context.h"
#include "core/rng.h"
#include "splat/splat.h"
#ifdef FF_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace {

struct Scene {
  int N = 0, W = 0, H = 0;
  std::vector<float> means, scales, quats, opac, colors, viewmat, intr, bg;
};

// face-like: a bulging 0.2 m × 0.26 m surface 1 m in front of the camera
Scene face_scene(int N, int W, int H, uint64_t seed) {
  Scene s;
  s.N = N, s.W = W, s.H = H;
  uint64_t i = 0;
  auto U = [&](double a, double b) { return float(a + (b - a) * ff::rng::uniform_at(seed, i++)); };
  auto G = [&]() { return float(ff::rng::normal_at(seed, i++)); };
  for (int n = 0; n < N; ++n) {
    float x, y, r2;
    do {
      x = U(-1, 1), y = U(-1, 1);
      r2 = x * x + y * y;
    } while (r2 > 1);
    float z = 1.0f - 0.08f * (1 - r2);
    s.means.insert(s.means.end(), {0.1f * x, 0.13f * y, z});
    float base = 0.002f * std::exp(0.3f * G());
    s.scales.insert(s.scales.end(), {base * U(0.7, 1.3), base * U(0.7, 1.3), base * U(0.2, 0.5)});
    s.quats.insert(s.quats.end(), {G(), G(), G(), G()});
    s.opac.push_back(U(0.5, 1.0));
    s.colors.insert(s.colors.end(), {U(0.2, 0.9), U(0.1, 0.7), U(0.1, 0.6)});
  }
  float f = 3.0f * W;  // 0.2 m at 1 m → 0.6·W pixels
  s.viewmat = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  s.intr = {f, f, W / 2.0f, H / 2.0f};
  s.bg = {0, 0, 0};
  return s;
}

// scene-scale: random Gaussians filling the view frustum between 2 and 12 m
Scene random_scene(int N, int W, int H, uint64_t seed) {
  Scene s;
  s.N = N, s.W = W, s.H = H;
  uint64_t i = 0;
  auto U = [&](double a, double b) { return float(a + (b - a) * ff::rng::uniform_at(seed, i++)); };
  auto G = [&]() { return float(ff::rng::normal_at(seed, i++)); };
  const float f = 1000.f;
  for (int n = 0; n < N; ++n) {
    float z = U(2, 12);
    s.means.insert(s.means.end(), {U(-1, 1) * z * W / (2 * f), U(-1, 1) * z * H / (2 * f), z});
    float base = 0.01f * std::exp(0.5f * G());
    s.scales.insert(s.scales.end(), {base * U(0.5, 1.5), base * U(0.5, 1.5), base * U(0.5, 1.5)});
    s.quats.insert(s.quats.end(), {G(), G(), G(), G()});
    s.opac.push_back(U(0.05, 0.95));
    s.colors.insert(s.colors.end(), {U(0, 1), U(0, 1), U(0, 1)});
  }
  s.viewmat = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  s.intr = {f, f, W / 2.0f, H / 2.0f};
  s.bg = {0, 0, 0};
  return s;
}

struct Stat {
  double median = 0, min = 0;
};
// process CPU time (all threads, user + system) in ms: on a shared machine wall time includes waiting
double cpu_time_ms() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
}

Stat stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front()};
}

// device-or-host buffer
struct Buf {
  ff::Context* ctx;
  ff::Device dev;
  void* p = nullptr;
  size_t bytes = 0;
  Buf(ff::Context& c, ff::Device d, size_t b, const void* host = nullptr) : ctx(&c), dev(d), bytes(std::max<size_t>(b, 4)) {
    p = ctx->allocate(dev, bytes);
    if (dev.is_cpu()) {
      if (host) std::memcpy(p, host, b);
      else std::memset(p, 0, bytes);
    } else {
#ifdef FF_WITH_CUDA
      if (host) FF_CHECK(cudaMemcpy(p, host, b, cudaMemcpyHostToDevice) == cudaSuccess, "memcpy");
      else FF_CHECK(cudaMemset(p, 0, bytes) == cudaSuccess, "memset");
      FF_CHECK(cudaDeviceSynchronize() == cudaSuccess, "sync");
#endif
    }
  }
  ~Buf() { ctx->deallocate(dev, p, bytes); }
  float* f() { return static_cast<float*>(p); }
  std::vector<float> host(size_t n) {
    std::vector<float> h(n);
    if (dev.is_cpu()) std::memcpy(h.data(), p, n * 4);
#ifdef FF_WITH_CUDA
    else FF_CHECK(cudaMemcpy(h.data(), p, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess, "memcpy");
#endif
    return h;
  }
};

struct Result {
  std::string name, device;
  int N, W, H, threads, repeats;
  int64_t entries;
  double coverage;
  Stat fwd, bwd, loss;
  Stat fwd_cpu, bwd_cpu, loss_cpu;  // process CPU time per call (CPU device only)
};

Result run(ff::Context& ctx, ff::Device dev, const std::string& name, const Scene& s, int threads, int warmup,
           int repeats, bool check) {
  const size_t HW = size_t(s.W) * s.H, N = size_t(s.N);
  Buf means(ctx, dev, N * 12, s.means.data()), scales(ctx, dev, N * 12, s.scales.data()),
      quats(ctx, dev, N * 16, s.quats.data()), opac(ctx, dev, N * 4, s.opac.data()),
      colors(ctx, dev, N * 12, s.colors.data()), viewmat(ctx, dev, 64, s.viewmat.data()),
      intr(ctx, dev, 16, s.intr.data()), bg(ctx, dev, 12, s.bg.data());
  Buf image(ctx, dev, 3 * HW * 4), alpha(ctx, dev, HW * 4), depth(ctx, dev, HW * 4);
  Buf gt(ctx, dev, 3 * HW * 4), d_image(ctx, dev, 3 * HW * 4), loss(ctx, dev, 4);
  Buf dm(ctx, dev, N * 12), ds(ctx, dev, N * 12), dq(ctx, dev, N * 16), dop(ctx, dev, N * 4), dc(ctx, dev, N * 12),
      dv(ctx, dev, 64);
  ff::splat::RenderParams p;
  p.device = dev;
  p.num_gaussians = s.N, p.num_cameras = 1, p.width = s.W, p.height = s.H;
  p.means = means.f(), p.scales = scales.f(), p.rotations = quats.f(), p.opacities = opac.f(), p.colors = colors.f();
  p.viewmats = viewmat.f(), p.intrinsics = intr.f(), p.background = bg.f();
  p.image = image.f(), p.alpha = alpha.f(), p.depth = depth.f();
  p.threads = threads;
  p.check_finite = check;
  ff::splat::RenderGrads g;
  g.d_image = d_image.f();
  g.d_means = dm.f(), g.d_scales = ds.f(), g.d_rotations = dq.f(), g.d_opacities = dop.f(), g.d_colors = dc.f();
  g.d_viewmats = dv.f();
  ff::splat::LossParams lp;
  lp.device = dev;
  lp.batch = 1, lp.channels = 3, lp.height = s.H, lp.width = s.W;
  lp.img = image.f(), lp.gt = gt.f(), lp.loss = loss.f(), lp.d_img = d_image.f(), lp.threads = threads;
  ff::splat::RenderState st;
  auto sync = [&] {
    if (dev.is_cuda()) ctx.synchronize();
  };
  using clk = std::chrono::steady_clock;
  auto ms = [](clk::time_point a, clk::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };

  // validate once: finite image, some coverage; a loss against a blank target gives a real d_image
  ff::splat::render_fwd(ctx, p, st);
  ff::splat::l1_dssim_loss(ctx, lp);
  ff::splat::render_bwd(ctx, p, g, st);
  sync();
  auto a = alpha.host(HW);
  double cov = 0;
  for (float v : a) {
    FF_CHECK(std::isfinite(v), "bench: non-finite alpha");
    cov += v;
  }
  cov /= double(HW);
  FF_CHECK(cov > 0.01, "bench: the scene covers nothing (mean alpha ", cov, ")");
  auto dmh = dm.host(N * 3);
  for (float v : dmh) FF_CHECK(std::isfinite(v), "bench: non-finite gradient");

  std::vector<double> tf, tb, tl, cf, cb, cl;
  for (int r = 0; r < warmup + repeats; ++r) {
    sync();
    double c0 = cpu_time_ms();
    auto t0 = clk::now();
    ff::splat::render_fwd(ctx, p, st);
    sync();
    auto t1 = clk::now();
    double c1 = cpu_time_ms();
    ff::splat::render_bwd(ctx, p, g, st);
    sync();
    auto t2 = clk::now();
    double c2 = cpu_time_ms();
    ff::splat::l1_dssim_loss(ctx, lp);
    sync();
    auto t3 = clk::now();
    double c3 = cpu_time_ms();
    if (r >= warmup) {
      tf.push_back(ms(t0, t1));
      tb.push_back(ms(t1, t2));
      tl.push_back(ms(t2, t3));
      cf.push_back(c1 - c0);
      cb.push_back(c2 - c1);
      cl.push_back(c3 - c2);
    }
  }
  Result res;
  res.name = name, res.device = dev.str(), res.N = s.N, res.W = s.W, res.H = s.H, res.threads = threads;
  res.repeats = repeats, res.entries = st.num_entries(), res.coverage = cov;
  res.fwd = stats(tf), res.bwd = stats(tb), res.loss = stats(tl);
  res.fwd_cpu = stats(cf), res.bwd_cpu = stats(cb), res.loss_cpu = stats(cl);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  ff::apps::Options o(
      "bench_splat — splat's forward, backward and fused L1+D-SSIM loss on face-like and random scenes.\n\n"
      "usage: bench_splat [options]",
      {{"device", "cpu", "cpu|cuda"},
       {"threads", "0", "N: CPU threads (0: all hardware threads)"},
       {"repeats", "0", "N: timed runs per case (0: 11 on the CPU, 3 for the large scenes, 50 on CUDA), in [0, 100000]"},
       {"quick", "", "the 512x512 face scene only, at most 5 (CPU) or 20 (CUDA) runs", true},
       {"no-check", "", "skip the finiteness check of every output (it costs a pass over them)", true},
       {"json", "", "PATH: also write the results as JSON"}});
  if (const int status = bench::start("bench_splat", o, argc, argv, [&] { o.integer("repeats", 0, 100000); });
      status >= 0)
    return status;
  const std::string json = o.str("json");
  const bool quick = o.flag("quick"), check = !o.flag("no-check");
  const int repeats = int(o.integer("repeats", 0, 100000));
  return bench::guarded("bench_splat", [&] {
    ff::Context ctx(0, o.threads());
    const ff::Device dev = bench::device(o);
    const bool cpu = dev.is_cpu();
    const int nt = ctx.threads();
    struct Cfg {
      const char* name;
      int N, W, H;
      bool face;
    };
    std::vector<Cfg> cfgs = {{"face 36k @1100x1604", 36084, 1100, 1604, true},
                             {"face 36k @550x802", 36084, 550, 802, true},
                             {"face 36k @512x512", 36084, 512, 512, true},
                             {"random 1M @1920x1080", 1000000, 1920, 1080, false}};
    if (quick) cfgs = {{"face 36k @512x512", 36084, 512, 512, true}};
    std::vector<Result> results;
    std::printf("%-22s %-7s %3s %9s %5s | %17s | %17s | %17s | %9s | %s\n", "config", "device", "thr", "entries", "cover",
                "forward med/min", "backward med/min", "loss med/min", "fwd+bwd", cpu ? "CPU-time fwd/bwd/loss (all threads)" : "");
    for (const Cfg& c : cfgs) {
      Scene s = c.face ? face_scene(c.N, c.W, c.H, 7) : random_scene(c.N, c.W, c.H, 8);
      const bool big = c.N > 100000 || int64_t(c.W) * c.H > 1000000;
      int reps = repeats > 0 ? repeats : (cpu ? (big ? 3 : 11) : 50);
      int warm = cpu ? 1 : 5;
      if (quick) reps = std::min(reps, cpu ? 5 : 20);
      Result r = run(ctx, dev, c.name, s, nt, warm, reps, check);
      std::printf("%-22s %-7s %3d %9lld %5.2f | %7.3f / %7.3f | %7.3f / %7.3f | %7.3f / %7.3f | %9.3f", r.name.c_str(),
                  r.device.c_str(), cpu ? r.threads : 0, (long long)r.entries, r.coverage, r.fwd.median, r.fwd.min,
                  r.bwd.median, r.bwd.min, r.loss.median, r.loss.min, r.fwd.median + r.bwd.median);
      if (cpu) std::printf(" | %.1f / %.1f / %.1f", r.fwd_cpu.median, r.bwd_cpu.median, r.loss_cpu.median);
      std::printf("\n");
      std::fflush(stdout);
      results.push_back(r);
    }
    nlohmann::json rows = nlohmann::json::array();
    for (const Result& r : results) {
      nlohmann::json j = {{"config", r.name},
                          {"device", r.device},
                          {"gaussians", r.N},
                          {"width", r.W},
                          {"height", r.H},
                          {"threads", cpu ? r.threads : 0},
                          {"repeats", r.repeats},
                          {"entries", r.entries},
                          {"coverage", r.coverage},
                          {"check_finite", check},
                          {"forward_ms", {{"median", r.fwd.median}, {"min", r.fwd.min}}},
                          {"backward_ms", {{"median", r.bwd.median}, {"min", r.bwd.min}}},
                          {"loss_ms", {{"median", r.loss.median}, {"min", r.loss.min}}}};
      if (cpu)
        j["cpu_time_ms_median"] = {
            {"forward", r.fwd_cpu.median}, {"backward", r.bwd_cpu.median}, {"loss", r.loss_cpu.median}};
      rows.push_back(j);
    }
    bench::write_json(json, rows);
    return 0;
  });
}
