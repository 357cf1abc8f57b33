// bench/bench_train.cpp — time per training step of the identity model, split by phase.
//
//   build/bench_train                                   # CPU, the demo scale (configs/demo.json's model)
//   build/bench_train --device cuda --scale seed        # GPU, the seed's full scale (configs/seed.json)
//   options: --config FILE (model/optimiser options; default configs/<scale>.json when present)
//            --steps N (timed, default 20) --warmup N (default 3) --threads N --json PATH --quick
//            --gt-cache-mb N (keep the ground truth on the device: TrainConfig::gt_cache_mb)   (--help: the table)
// Data is synthetic and in memory (a UV-mapped grid face, flat grey ground truth: the step's cost does not
// depend on image content): demo = 468 anchors (the built-in head model's count) at the demo image size,
// seed = 3,007 anchors (FLAME's face mask), K = 12, 1100×1604. Phases (PhaseTimes, device synchronised at
// each boundary): generator (codes → E·c → StyleGAN2 texture), decoders (grid_sample + 4 MLP heads), splat
// (render forward), data (ground truth to the device), loss (fused L1 + D-SSIM forward), backward (everything),
// adam, checks (finiteness). Also reported: the untimed step time (no phase syncs) and peak device memory.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench/bench.h"
#include "tensor/io.h"
#include "train/trainer.h"

using namespace ff;

// the demo's image size (scripts/demo.sh: ffdata synth --width/--height)
constexpr int kDemoWidth = 176, kDemoHeight = 256;

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char** argv) {
  apps::Options o("bench_train — time per training step of the identity model, split by phase.\n\n"
                  "usage: bench_train [options]",
                  {{"device", "cpu", "cpu|cuda"},
                   {"scale", "", "demo|seed: the model's size (none: demo on the CPU, seed on CUDA)"},
                   {"config", "", "FILE: model/optimiser options (none: configs/<scale>.json when present)"},
                   {"steps", "20", "N: timed steps, in [1, 100000]"},
                   {"warmup", "3", "N: untimed steps before them, in [0, 1000]"},
                   {"threads", "0", "N: CPU threads (0: all hardware threads)"},
                   {"width", "0", "W: image width (0: the scale's), in [0, 8192]"},
                   {"height", "0", "H: image height (0: the scale's), in [0, 8192]"},
                   {"gt-cache-mb", "0", "N: keep the ground truth on the device (TrainConfig::gt_cache_mb), in [0, 1000000]"},
                   {"json", "", "PATH: also write the results as JSON"},
                   {"quick", "", "5 timed steps after 1 warm-up, unless --steps/--warmup are given", true}});
  const auto check = [&] {
    o.integer("steps", 1, 100000), o.integer("warmup", 0, 1000), o.integer("width", 0, 8192);
    o.integer("height", 0, 8192), o.integer("gt-cache-mb", 0, 1000000);
    if (o.has("scale")) o.choice("scale", {"demo", "seed"});
  };
  if (const int status = bench::start("bench_train", o, argc, argv, check); status >= 0) return status;
  return bench::guarded("bench_train", [&] {
    const std::string device = o.choice("device", {"cpu", "cuda"}), json_path = o.str("json");
    std::string scale = o.str("scale"), config = o.str("config");
    const bool quick = o.flag("quick");
    const int steps = quick && !o.was_given("steps") ? 5 : int(o.integer("steps", 1, 100000));
    const int warmup = quick && !o.was_given("warmup") ? 1 : int(o.integer("warmup", 0, 1000));
    const int threads = o.threads(), width = int(o.integer("width", 0, 8192)), height = int(o.integer("height", 0, 8192));
    const int64_t gt_cache_mb = o.integer("gt-cache-mb", 0, 1000000);
    if (scale.empty()) scale = device == "cuda" ? "seed" : "demo";
    if (config.empty()) {
      const std::string exe_dir = std::filesystem::path(argv[0]).parent_path().string();
      for (std::string c : {"configs/" + scale + ".json", exe_dir + "/../configs/" + scale + ".json"})
        if (std::filesystem::exists(c)) {
          config = c;
          break;
        }
    }
    train::TrainConfig cfg;
    if (!config.empty()) train::config_from_json(cfg, read_file(config), config);
    cfg.device = device;
    cfg.progress = false;
    cfg.threads = threads;
    cfg.out_dir = "/tmp/bench_train_out";
    cfg.heldout_views = "none";
    cfg.gt_cache_mb = gt_cache_mb;
    train::ToyOptions t;
    t.render = false;
    t.views = 4;
    t.subjects = scale == "seed" ? 8 : 4;
    if (scale == "seed") t.rows = 31, t.cols = 97, t.width = 1100, t.height = 1604;  // 3,007 anchors
    else t.rows = 18, t.cols = 26, t.width = cfg.toy_width, t.height = cfg.toy_height;  // 468 anchors
    if (scale == "demo") t.width = kDemoWidth, t.height = kDemoHeight;
    if (width > 0) t.width = width;
    if (height > 0) t.height = height;
    auto ds = std::make_shared<train::InMemoryDataset>(train::make_toy_dataset(t));
    Context ctx(0, threads);
    cfg.steps = warmup + 2 * steps + 1;
    train::Trainer tr(ctx, cfg, ds, nullptr);
    for (int i = 0; i < warmup; ++i) tr.step();
    train::PhaseTimes pt;
    tr.phase_times = &pt;
    for (int i = 0; i < steps; ++i) tr.step();
    tr.phase_times = nullptr;
    ctx.synchronize();
    const double t0 = now_s();
    for (int i = 0; i < steps; ++i) tr.step();
    ctx.synchronize();
    const double untimed = (now_s() - t0) / steps * 1e3;
    const double n = double(std::max<int64_t>(1, pt.steps));
    struct Row {
      const char* name;
      double ms;
    } rows[] = {{"generator", pt.generator / n * 1e3}, {"decoders", pt.decoders / n * 1e3},
                {"splat", pt.splat / n * 1e3},         {"data", pt.data / n * 1e3},
                {"loss", pt.loss / n * 1e3},           {"backward", pt.backward / n * 1e3},
                {"adam", pt.adam / n * 1e3},           {"checks", pt.checks / n * 1e3}};
    double total = 0;
    for (auto& r : rows) total += r.ms;
    const auto& L = tr.model().layout();
    std::printf("bench_train: %s, scale %s (%d anchors, %d Gaussians, K=%d, %s placement, texture %d, %d×%d, "
                "%lld parameters), %d timed steps\n",
                device.c_str(), scale.c_str(), L.A, L.G, L.K, L.placement.c_str(), cfg.model.tex_res, t.width,
                t.height, static_cast<long long>(tr.model().parameter_count()), steps);
    std::printf("%-10s | %10s | %6s\n", "phase", "ms/step", "share");
    for (auto& r : rows) std::printf("%-10s | %10.3f | %5.1f%%\n", r.name, r.ms, 100 * r.ms / total);
    std::printf("%-10s | %10.3f |\n", "sum", total);
    std::printf("%-10s | %10.3f |  (no phase synchronisation)\n", "step", untimed);
    size_t peak = 0;
    if (device == "cuda") {
      peak = ctx.memory_stats(Device::cuda(ctx.cuda_device())).peak;
      std::printf("peak device memory: %.1f MiB (caching allocator high-water mark)\n", peak / 1048576.0);
    }
    nlohmann::json phases = nlohmann::json::object();
    for (auto& r : rows) phases[r.name] = r.ms;
    bench::write_json(json_path, {{"suite", "train"}, {"device", device}, {"scale", scale}, {"anchors", L.A},
                                  {"gaussians", L.G}, {"width", t.width}, {"height", t.height}, {"steps", steps},
                                  {"phases_ms", phases}, {"sum_ms", total}, {"step_ms", untimed}, {"peak_bytes", peak}});
    return 0;
  });
}
