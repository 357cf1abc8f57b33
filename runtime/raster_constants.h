// runtime/raster_constants.h — the blending constants of the 3DGS rasterizer (graphdeco diff-gaussian-rasterization
// config.h / forward.cu), in one place for every rasterizer: the runtime's CPU blend loop (runtime/blend_cpu.h) and
// the engine's CPU and CUDA code, which take them through runtime/splat_math.h; and the degree-0 SH constant that
// the colour evaluation (runtime/splat_math.h) and the .ply format's f_dc (runtime/formats.h) share. Plain constexpr
// values: C++17 and nvcc.
#pragma once

namespace ffrt::raster {

constexpr int kTile = 16;                   // BLOCK_X = BLOCK_Y = 16 (pixels per tile side; 16 lanes per tile row)
constexpr double kAlphaMin = 1.0 / 255.0;   // α below this is skipped (not blended)
constexpr double kAlphaMax = 0.99;          // α is clamped to this (keeps 1/(1−α) finite in backward)
constexpr double kTransmittanceMin = 1e-4;  // a pixel stops once T·(1−α) would fall below this
constexpr double kSH_C0 = 0.28209479177387814;  // Y₀₀ = 1/(2√π) (3DGS auxiliary.h SH_C0): colour = 0.5 + kSH_C0·f_dc

}  // namespace ffrt::raster
