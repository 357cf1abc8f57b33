// splat/render_fwd.cuh — the CUDA forward pipeline of the rasterizer (preprocess → tile keys → CUB radix sort →
// tile ranges → per-tile blend), shared by the engine (splat/render.cu, which keeps the saved state for its
// backward) and the embeddable runtime's CUDA build (runtime/raster_cuda.cu, RGBA8 or float out, no state).
// Include from .cu files only. Everything here has internal linkage, so each including file owns its copy.
//
// Multi-camera: one (camera, tile) id space, so all cameras are binned, sorted and blended in one launch each.
// Keys: [camera·tiles + tile : up to 32 bits | float bits of view depth : 32 bits]; values: c·N + n. The sort is
// stable, so equal depths keep Gaussian order (ties by index, as the CPU paths).
#pragma once
#include <cub/cub.cuh>

#include <cstddef>
#include <cstdint>

#include "runtime/splat_math.h"

namespace ff::splat::fwd {
namespace {

using namespace ff::splat::math;

constexpr int kBlock = kTile * kTile;  // 256 threads = one tile

inline unsigned blocks_for(int64_t n, int b) { return unsigned((n + b - 1) / b); }

struct PreParams {
  int N, C, W, H, tiles_x, tiles_y;
  const float* means;       // [N,3]
  const float* scales;      // [N,3]
  const float* rotations;   // [N,4]
  const float* opacities;   // [N]
  const float* colors;      // [N,3] or null
  const float* sh;          // [N,K,3] or null
  int sh_degree, sh_coeffs;
  const float* viewmats;    // [C,4,4]
  const float* intrinsics;  // [C,4]
  float near_cull;
  // outputs [C*N]
  float2* uv;
  float4* conic_o;
  float* rgb;               // [C*N,3]
  float* depth;
  int32_t* radius;
  uint8_t* clamp;
  int4* rect;
  uint32_t* touched;
  int32_t* radii_out;       // [C,N] or null
};

__global__ void preprocess_fwd_kernel(PreParams p) {
  int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= p.C * p.N) return;
  int c = idx / p.N, n = idx - c * p.N;
  Camera<float> cam = make_camera<float, float>(p.viewmats + 16 * c, p.intrinsics + 4 * c, p.W, p.H);
  Projected<float> pr;
  bool vis = project_gaussian(cam, p.means + 3 * n, p.scales + 3 * n, p.rotations + 4 * n, p.opacities[n], p.near_cull, pr);
  p.radius[idx] = pr.radius;
  if (p.radii_out) p.radii_out[idx] = pr.radius;
  uint32_t area = 0;
  if (vis) {
    area = uint32_t((pr.rect[2] - pr.rect[0]) * (pr.rect[3] - pr.rect[1]));
    p.uv[idx] = make_float2(pr.u, pr.v);
    p.conic_o[idx] = make_float4(pr.conic.a, pr.conic.b, pr.conic.c, p.opacities[n]);
    p.depth[idx] = pr.depth;
    p.rect[idx] = make_int4(pr.rect[0], pr.rect[1], pr.rect[2], pr.rect[3]);
    float rgb[3];
    p.clamp[idx] = eval_color<float, float>(cam, p.means + 3 * n, p.colors ? p.colors + 3 * n : nullptr,
                                            p.sh ? p.sh + int64_t(p.sh_coeffs) * 3 * n : nullptr, p.sh_degree, rgb);
    p.rgb[3 * idx] = rgb[0];
    p.rgb[3 * idx + 1] = rgb[1];
    p.rgb[3 * idx + 2] = rgb[2];
  }
  p.touched[idx] = area;
}

__global__ void duplicate_keys_kernel(int CN, int N, int tiles_x, int tiles_per_cam, const uint32_t* offsets,
                                      const uint32_t* touched, const int4* rect, const float* depth, uint64_t* keys,
                                      uint32_t* vals) {
  int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= CN || touched[idx] == 0) return;
  uint32_t off = idx == 0 ? 0u : offsets[idx - 1];
  int c = idx / N;
  int4 r = rect[idx];
  uint64_t dbits = uint64_t(__float_as_uint(depth[idx]));
  for (int ty = r.y; ty < r.w; ++ty)
    for (int tx = r.x; tx < r.z; ++tx) {
      uint64_t tile = uint64_t(c) * tiles_per_cam + uint64_t(ty) * tiles_x + tx;
      keys[off] = (tile << 32) | dbits;
      vals[off] = uint32_t(idx);
      ++off;
    }
}

__global__ void tile_ranges_kernel(int64_t E, const uint64_t* keys, uint2* ranges) {
  int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= E) return;
  uint32_t tile = uint32_t(keys[e] >> 32);
  if (e == 0) {
    ranges[tile].x = 0;
  } else {
    uint32_t prev = uint32_t(keys[e - 1] >> 32);
    if (prev != tile) {
      ranges[prev].y = uint32_t(e);
      ranges[tile].x = uint32_t(e);
    }
  }
  if (e == E - 1) ranges[tile].y = uint32_t(E);
}

struct BlendParams {
  int W, H, tiles_x, tiles_y;
  const uint2* ranges;      // [C*T]
  const uint32_t* vals;     // [E] sorted c·N + n
  const float2* uv;         // [C*N]
  const float4* conic_o;    // [C*N]
  const float* rgb;         // [C*N,3]
  const float* depth;       // [C*N]
  const float* background;  // [C,3] or null
  // forward outputs (each may be null)
  float* image;             // [C,3,H,W]
  float* alpha;             // [C,H,W]
  float* out_depth;         // [C,H,W]
  uint8_t* rgba;            // [C,H,rgba_stride] RGBA8 (colour and 1 − T, clamped to [0,1], rounded)
  int64_t rgba_stride;      // bytes per row of rgba, ≥ 4·W
  float* final_T;           // [C,H,W] saved for the backward
  int32_t* n_contrib;       // [C,H,W] saved for the backward
  // backward (splat/render.cu)
  const float* d_image;     // [C,3,H,W] or null
  const float* d_alpha;     // [C,H,W] or null
  const float* d_depth;     // [C,H,W] or null
  float* g2d;               // [C*N,10]
};

__global__ void __launch_bounds__(kBlock) render_fwd_kernel(BlendParams p) {
  const int c = blockIdx.z;
  const int tile = blockIdx.y * p.tiles_x + blockIdx.x;
  const int tr = threadIdx.y * kTile + threadIdx.x;
  const int px = blockIdx.x * kTile + threadIdx.x, py = blockIdx.y * kTile + threadIdx.y;
  const bool inside = px < p.W && py < p.H;
  const float pxf = float(px) + 0.5f, pyf = float(py) + 0.5f;
  const uint2 range = p.ranges[int64_t(c) * p.tiles_x * p.tiles_y + tile];
  const int todo = int(range.y - range.x);
  const int rounds = (todo + kBlock - 1) / kBlock;

  __shared__ float2 s_uv[kBlock];
  __shared__ float4 s_co[kBlock];
  __shared__ float4 s_cz[kBlock];  // rgb, depth

  bool done = !inside;
  float T = 1.f, cr = 0.f, cg = 0.f, cb = 0.f, dz = 0.f;
  int contributor = 0, last = 0;
  for (int i = 0; i < rounds; ++i) {
    if (__syncthreads_count(done) == kBlock) break;
    int progress = i * kBlock + tr;
    if (int(range.x) + progress < int(range.y)) {
      uint32_t id = p.vals[range.x + progress];
      s_uv[tr] = p.uv[id];
      s_co[tr] = p.conic_o[id];
      s_cz[tr] = make_float4(p.rgb[3 * id], p.rgb[3 * id + 1], p.rgb[3 * id + 2], p.depth[id]);
    }
    __syncthreads();
    const int batch = min(kBlock, todo - i * kBlock);
    for (int j = 0; !done && j < batch; ++j) {
      ++contributor;
      float2 xy = s_uv[j];
      float4 co = s_co[j];
      float dx = xy.x - pxf, dy = xy.y - pyf;
      float power = -0.5f * (co.x * dx * dx + co.z * dy * dy) - co.y * dx * dy;
      if (power > 0.f) continue;
      float a = fminf(float(kAlphaMax), co.w * __expf(power));
      if (a < float(kAlphaMin)) continue;
      float tT = T * (1.f - a);
      if (tT < float(kTransmittanceMin)) {
        done = true;
        continue;
      }
      float4 cz = s_cz[j];
      float w = a * T;
      cr += w * cz.x;
      cg += w * cz.y;
      cb += w * cz.z;
      dz += w * cz.w;
      T = tT;
      last = contributor;
    }
  }
  if (inside) {
    const int64_t HW = int64_t(p.W) * p.H;
    const int64_t pix = int64_t(py) * p.W + px;
    float bg0 = 0.f, bg1 = 0.f, bg2 = 0.f;
    if (p.background) {
      bg0 = p.background[3 * c];
      bg1 = p.background[3 * c + 1];
      bg2 = p.background[3 * c + 2];
    }
    const float r = cr + T * bg0, g = cg + T * bg1, b = cb + T * bg2;
    if (p.image) {
      p.image[(int64_t(c) * 3 + 0) * HW + pix] = r;
      p.image[(int64_t(c) * 3 + 1) * HW + pix] = g;
      p.image[(int64_t(c) * 3 + 2) * HW + pix] = b;
    }
    if (p.alpha) p.alpha[int64_t(c) * HW + pix] = 1.f - T;
    if (p.out_depth) p.out_depth[int64_t(c) * HW + pix] = dz;
    if (p.rgba) {
      uint8_t* q = p.rgba + (int64_t(c) * p.H + py) * p.rgba_stride + int64_t(px) * 4;
      q[0] = uint8_t(__saturatef(r) * 255.f + 0.5f);
      q[1] = uint8_t(__saturatef(g) * 255.f + 0.5f);
      q[2] = uint8_t(__saturatef(b) * 255.f + 0.5f);
      q[3] = uint8_t(__saturatef(1.f - T) * 255.f + 0.5f);
    }
    if (p.final_T) p.final_T[int64_t(c) * HW + pix] = T;
    if (p.n_contrib) p.n_contrib[int64_t(c) * HW + pix] = last;
  }
}

// Device memory of one forward, handed out by the caller (the engine: its Context allocator; the runtime:
// cudaMalloc). get() returns at least `bytes` for that slot (contents undefined; may reuse the last call's
// memory) and throws the caller's error type on failure; workspace() is CUB's temporary storage.
enum Slot { kUV, kConicO, kRGB, kDepth, kRadius, kClamp, kRect, kTouched, kOffsets, kKeys, kKeysAlt, kVals, kValsAlt,
            kRanges, kNumSlots };
struct Scratch {
  virtual void* get(Slot slot, size_t bytes) = 0;
  virtual void* workspace(size_t bytes) = 0;

 protected:
  ~Scratch() = default;
};

template <class T>
T* take(Scratch& s, Slot slot, int64_t count) {
  return static_cast<T*>(s.get(slot, sizeof(T) * size_t(count > 0 ? count : 1)));
}

struct Binned {
  int64_t entries = 0;                  // (Gaussian, tile) pairs over all cameras
  uint2* ranges = nullptr;              // [C·tiles] entry range of each (camera, tile)
  const uint32_t* sorted_vals = nullptr;  // [entries] c·N + n, by (camera, tile, depth)
};

// Projects, bins and sorts: pp's inputs (N, C, W, H, Gaussians, cameras, near_cull, radii_out) are set by the
// caller; its tile counts (from W, H) and per-(camera, Gaussian) outputs are filled here. One synchronising 4-byte copy (the
// entry count). Returns the first CUDA error (kernels are checked with cudaGetLastError). With 2³¹ or more
// entries it stops before sorting and leaves out.sorted_vals null: the caller reports that.
inline cudaError_t project_and_bin(Scratch& scratch, cudaStream_t stream, PreParams& pp, Binned& out) {
  pp.tiles_x = (pp.W + kTile - 1) / kTile;
  pp.tiles_y = (pp.H + kTile - 1) / kTile;
  const int64_t CN = int64_t(pp.C) * pp.N;
  const int64_t TT = int64_t(pp.tiles_x) * pp.tiles_y;
  cudaError_t e = cudaSuccess;
#define FF_FWD_TRY(expr)          \
  do {                            \
    if ((e = (expr)) != cudaSuccess) return e; \
  } while (0)
  pp.uv = take<float2>(scratch, kUV, CN);
  pp.conic_o = take<float4>(scratch, kConicO, CN);
  pp.rgb = take<float>(scratch, kRGB, CN * 3);
  pp.depth = take<float>(scratch, kDepth, CN);
  pp.radius = take<int32_t>(scratch, kRadius, CN);
  pp.clamp = take<uint8_t>(scratch, kClamp, CN);
  pp.rect = take<int4>(scratch, kRect, CN);
  pp.touched = take<uint32_t>(scratch, kTouched, CN);
  uint32_t* offsets = take<uint32_t>(scratch, kOffsets, CN);
  out = Binned{};
  if (CN > 0) {
    preprocess_fwd_kernel<<<blocks_for(CN, 256), 256, 0, stream>>>(pp);
    FF_FWD_TRY(cudaGetLastError());
    size_t tmp = 0;
    FF_FWD_TRY(cub::DeviceScan::InclusiveSum(nullptr, tmp, pp.touched, offsets, int(CN), stream));
    void* ws = scratch.workspace(tmp);
    FF_FWD_TRY(cub::DeviceScan::InclusiveSum(ws, tmp, pp.touched, offsets, int(CN), stream));
    uint32_t total = 0;
    FF_FWD_TRY(cudaMemcpyAsync(&total, offsets + CN - 1, sizeof total, cudaMemcpyDeviceToHost, stream));
    FF_FWD_TRY(cudaStreamSynchronize(stream));
    out.entries = total;
  }
  const int64_t E = out.entries;
  if (E >= (int64_t(1) << 31)) return cudaSuccess;  // too many to sort with int counts: sorted_vals stays null
  out.ranges = take<uint2>(scratch, kRanges, int64_t(pp.C) * TT);
  FF_FWD_TRY(cudaMemsetAsync(out.ranges, 0, sizeof(uint2) * size_t(pp.C) * TT, stream));
  out.sorted_vals = take<uint32_t>(scratch, kVals, E);
  if (E > 0) {
    uint64_t* keys = take<uint64_t>(scratch, kKeys, E);
    uint64_t* keys_alt = take<uint64_t>(scratch, kKeysAlt, E);
    uint32_t* vals = take<uint32_t>(scratch, kVals, E);
    uint32_t* vals_alt = take<uint32_t>(scratch, kValsAlt, E);
    duplicate_keys_kernel<<<blocks_for(CN, 256), 256, 0, stream>>>(int(CN), pp.N, pp.tiles_x, int(TT), offsets,
                                                                   pp.touched, pp.rect, pp.depth, keys, vals);
    FF_FWD_TRY(cudaGetLastError());
    int bits = 1;
    while ((uint64_t(1) << bits) < uint64_t(pp.C) * TT) ++bits;
    cub::DoubleBuffer<uint64_t> kb(keys, keys_alt);
    cub::DoubleBuffer<uint32_t> vb(vals, vals_alt);
    size_t tmp = 0;
    FF_FWD_TRY(cub::DeviceRadixSort::SortPairs(nullptr, tmp, kb, vb, int(E), 0, 32 + bits, stream));
    void* ws = scratch.workspace(tmp);
    FF_FWD_TRY(cub::DeviceRadixSort::SortPairs(ws, tmp, kb, vb, int(E), 0, 32 + bits, stream));
    out.sorted_vals = vb.Current();
    tile_ranges_kernel<<<blocks_for(E, 256), 256, 0, stream>>>(E, kb.Current(), out.ranges);
    FF_FWD_TRY(cudaGetLastError());
  }
#undef FF_FWD_TRY
  return cudaSuccess;
}

// Blends every (camera, tile) of bp; C cameras.
inline cudaError_t blend(const BlendParams& bp, int C, cudaStream_t stream) {
  dim3 grid(bp.tiles_x, bp.tiles_y, C), block(kTile, kTile);
  render_fwd_kernel<<<grid, block, 0, stream>>>(bp);
  return cudaGetLastError();
}

}  // namespace
}  // namespace ff::splat::fwd
