// runtime/raster.h — the runtime's forward-only Gaussian rasterizer (CPU, float).
//
// Same maths as the engine's splat/ forward (it uses runtime/splat_math.h's per-Gaussian projection verbatim: EWA with
// the ±1.3·tan_fov Jacobian clamp, +0.3 dilation, 3σ radius ∩ opacity-aware extent, 16×16 tiles, front-to-back
// by (depth, index), α = min(0.99, o·exp(power)), skip α < 1/255 or power > 0, stop before T·(1−α) < 1e-4),
// without anything the backward pass needs. Depth order comes from one stable radix sort of the depth bits;
// tiles blend in parallel on the renderer's pool as 16-lane rows (one SIMD vector per 16-pixel tile row) with
// runtime/blend_cpu.h, the blending loop the engine's CPU forward (splat/render_cpu.cpp) runs too.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/formats.h"
#include "runtime/pool.h"

namespace ffrt {

struct RasterGaussians {
  int n = 0;
  const float* means = nullptr;      // [n,3]
  const float* scales = nullptr;     // [n,3] activated
  const float* rotations = nullptr;  // [n,4] (w,x,y,z), nonzero
  const float* opacities = nullptr;  // [n]
  const float* colors = nullptr;     // [n,3]
};

struct RasterCamera {
  float viewmat[16];
  float fx, fy, cx, cy;
  int width, height;
};

struct RasterOutput {
  uint8_t* rgba = nullptr;  // [H, stride] RGBA8, or null
  size_t stride = 0;
  float* rgb_chw = nullptr; // [3,H,W] or null
  float* alpha = nullptr;   // [H,W] or null
};

// Every Gaussian's colour [N,3] seen from the camera of `viewmat` (world→camera 4×4, row-major; its centre from
// runtime/splat_math.h make_camera): sh_color (runtime/formats.h) along normalize(mean − centre) (a Gaussian at the
// centre: along the camera's axis); `colors` as they are for a set without SH. On `pool` when given. What a set with
// SH renders with (ff_render).
void view_colors(const GaussianSet& g, const float viewmat[16], std::vector<float>& rgb, Pool* pool = nullptr);

// Throws Error(kInvalid) for a camera or output the rasterizers cannot take: size outside 1..16384, a non-finite
// viewmat or intrinsic, fx or fy ≤ 0, an RGBA row stride < 4·width.
void check_camera(const RasterCamera& cam, const RasterOutput& out);

class Rasterizer {
 public:
  explicit Rasterizer(int threads) : pool_(threads) {}
  int threads() const { return pool_.size(); }
  Pool& pool() { return pool_; }  // its workers, for per-render work beside the rasterizer (view_colors)
  // Validates the camera (throws ffrt::Error kInvalid); Gaussians are validated when they are created.
  void render(const RasterGaussians& g, const RasterCamera& cam, const float bg[3], const RasterOutput& out);
  int64_t last_entries() const { return entries_; }

 private:
  Pool pool_;
  // per Gaussian (projected): packed [n, kP] floats; rect [n,4]
  std::vector<float> proj_;
  std::vector<int32_t> rect_;
  std::vector<uint32_t> keys_, keys2_;
  std::vector<int32_t> order_, order2_;
  std::vector<std::vector<int32_t>> row_lists_;   // [tiles_y] Gaussians per tile row, depth order
  std::vector<std::vector<int32_t>> tile_lists_;  // [tiles] Gaussians per tile, depth order
  int64_t entries_ = 0;
};

}  // namespace ffrt
