// splat/render.cu — the CUDA rasterizer (3DGS pipeline). Forward: splat/render_fwd.cuh (preprocess → tile keys →
// CUB radix sort → tile ranges → per-tile blend), shared with the runtime's CUDA build; this file adds input
// validation and keeps the forward's state. Backward = per-tile back-to-front blend with warp-reduced per-Gaussian
// atomics (gsplat / Taming-3DGS style), then a per-Gaussian preprocessing backward that loops over the cameras
// (no atomics on Gaussian gradients) and block-reduces the camera-pose gradients.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/cuda_check.h"
#include "splat/internal.h"
#include "runtime/splat_math.h"
#include "splat/render_fwd.cuh"

namespace ff::splat {

using namespace ff::splat::math;
using fwd::BlendParams;
using fwd::blocks_for;
using fwd::kBlock;
using fwd::PreParams;

namespace {

constexpr int kG = 10;  // per (camera, Gaussian) 2-D gradient slots (as render_cpu.cpp)

struct DevBuf {
  void* ptr = nullptr;
  size_t bytes = 0;
};

}  // namespace

struct CudaState {
  Context* ctx = nullptr;
  Device device;
  int C = 0, N = 0, W = 0, H = 0, tiles_x = 0, tiles_y = 0;
  int64_t E = 0;
  DevBuf bufs[fwd::kNumSlots];  // the forward pipeline's buffers (render_fwd.cuh slots)
  DevBuf final_T, n_contrib;   // [C*H*W]
  DevBuf g2d;                  // [C*N, 10] backward scratch
  DevBuf bad;                  // [1] u64 first bad Gaussian code
  fwd::Binned binned;          // entries, ranges and sorted values of the last forward

  void* get_bytes(DevBuf& b, size_t bytes) {
    size_t need = std::max<size_t>(bytes, 16);
    if (b.bytes < need) {
      if (b.ptr) ctx->deallocate(device, b.ptr, b.bytes);
      size_t grown = need + need / 4;  // headroom: fewer reallocations when sizes jitter
      b.ptr = ctx->allocate(device, grown);
      b.bytes = grown;
    }
    return b.ptr;
  }
  template <class T>
  T* get(DevBuf& b, size_t count) {
    return static_cast<T*>(get_bytes(b, count * sizeof(T)));
  }
  template <class T>
  const T* saved(fwd::Slot s) const {
    return static_cast<const T*>(bufs[s].ptr);
  }
  ~CudaState() {
    for (DevBuf& b : bufs)
      if (b.ptr) ctx->deallocate(device, b.ptr, b.bytes);
    for (DevBuf* b : {&final_T, &n_contrib, &g2d, &bad})
      if (b->ptr) ctx->deallocate(device, b->ptr, b->bytes);
  }
};

void destroy_cuda_state(CudaState* s) { delete s; }
int64_t cuda_state_entries(const CudaState* s) { return s ? s->E : 0; }

namespace {

__device__ __forceinline__ bool finite3(const float* a, int n) {
  for (int i = 0; i < n; ++i)
    if (!isfinite(a[i])) return false;
  return true;
}

// code = n·8 + field of the first bad Gaussian (min over all), fields as render.cpp's kFieldNames
__global__ void validate_kernel(int N, const float* means, const float* scales, const float* rotations,
                                const float* opacities, const float* colors, const float* sh, int sh_coeffs, int ka,
                                unsigned long long* bad) {
  int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  int field = -1;
  const float* q = rotations + 4 * n;
  if (!finite3(means + 3 * n, 3)) field = 0;
  else if (!finite3(scales + 3 * n, 3)) field = 1;
  else if (!finite3(q, 4)) field = 2;
  else if (!isfinite(opacities[n])) field = 3;
  else if (colors && !finite3(colors + 3 * n, 3)) field = 4;
  else if (sh && !finite3(sh + int64_t(sh_coeffs) * 3 * n, 3 * ka)) field = 5;
  else if (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3] == 0.f) field = 6;
  if (field >= 0) atomicMin(bad, (unsigned long long)n * 8ull + (unsigned long long)field);
}


__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

__global__ void __launch_bounds__(kBlock) render_bwd_kernel(BlendParams p) {
  const int c = blockIdx.z;
  const int tile = blockIdx.y * p.tiles_x + blockIdx.x;
  const int tr = threadIdx.y * kTile + threadIdx.x;
  const int lane = tr & 31;
  const int px = blockIdx.x * kTile + threadIdx.x, py = blockIdx.y * kTile + threadIdx.y;
  const bool inside = px < p.W && py < p.H;
  const float pxf = float(px) + 0.5f, pyf = float(py) + 0.5f;
  const uint2 range = p.ranges[int64_t(c) * p.tiles_x * p.tiles_y + tile];
  const int todo = int(range.y - range.x);
  if (todo == 0) return;  // uniform over the block
  const int rounds = (todo + kBlock - 1) / kBlock;

  __shared__ uint32_t s_id[kBlock];
  __shared__ float2 s_uv[kBlock];
  __shared__ float4 s_co[kBlock];
  __shared__ float4 s_cz[kBlock];

  const int64_t HW = int64_t(p.W) * p.H;
  const int64_t pix = int64_t(py) * p.W + px;
  float Tc = 1.f, dr = 0.f, dg = 0.f, db = 0.f, dD = 0.f, bgt = 0.f;
  int last = 0;  // tile-list position + 1 of this pixel's last blended Gaussian
  if (inside) {
    Tc = p.final_T[int64_t(c) * HW + pix];
    last = p.n_contrib[int64_t(c) * HW + pix];
    if (p.d_image) {
      dr = p.d_image[(int64_t(c) * 3 + 0) * HW + pix];
      dg = p.d_image[(int64_t(c) * 3 + 1) * HW + pix];
      db = p.d_image[(int64_t(c) * 3 + 2) * HW + pix];
    }
    if (p.d_depth) dD = p.d_depth[int64_t(c) * HW + pix];
    float dA = p.d_alpha ? p.d_alpha[int64_t(c) * HW + pix] : 0.f;
    float bdot = 0.f;
    if (p.background)
      bdot = p.background[3 * c] * dr + p.background[3 * c + 1] * dg + p.background[3 * c + 2] * db;
    bgt = Tc * (dA - bdot);
  }
  // the warp's furthest last contributor bounds the work of the whole warp
  int warp_last = last;
  for (int o = 16; o > 0; o >>= 1) warp_last = max(warp_last, __shfl_xor_sync(0xffffffffu, warp_last, o));
  float Sr = 0.f, Sg = 0.f, Sb = 0.f, Sz = 0.f;

  for (int i = 0; i < rounds; ++i) {
    // batch i covers tile-list positions [end − batch, end) walked back to front
    const int end = todo - i * kBlock;
    const int batch = min(kBlock, end);
    __syncthreads();
    const int pos_load = end - 1 - tr;
    if (tr < batch) {
      uint32_t id = p.vals[range.x + pos_load];
      s_id[tr] = id;
      s_uv[tr] = p.uv[id];
      s_co[tr] = p.conic_o[id];
      s_cz[tr] = make_float4(p.rgb[3 * id], p.rgb[3 * id + 1], p.rgb[3 * id + 2], p.depth[id]);
    }
    __syncthreads();
    // skip the entries past the warp's last contributor
    const int j0 = max(0, end - warp_last);
    for (int j = j0; j < batch; ++j) {
      const int pos = end - 1 - j;  // tile-list position (0-based)
      float2 xy = s_uv[j];
      float4 co = s_co[j];
      float dx = xy.x - pxf, dy = xy.y - pyf;
      float power = -0.5f * (co.x * dx * dx + co.z * dy * dy) - co.y * dx * dy;
      float G = __expf(power);
      float oG = co.w * G;
      float a = fminf(float(kAlphaMax), oG);
      bool valid = inside && pos < last && power <= 0.f && a >= float(kAlphaMin);
      if (!__any_sync(0xffffffffu, valid)) continue;
      float gu = 0.f, gv = 0.f, gA = 0.f, gB = 0.f, gC = 0.f, go = 0.f, gr = 0.f, gg = 0.f, gb = 0.f, gz = 0.f;
      if (valid) {
        float4 cz = s_cz[j];
        float rinv = 1.f / (1.f - a);
        float Tk = Tc * rinv;
        float w = a * Tk;
        float dal = dr * (Tk * cz.x - Sr * rinv) + dg * (Tk * cz.y - Sg * rinv) + db * (Tk * cz.z - Sb * rinv) +
                    dD * (Tk * cz.w - Sz * rinv) + bgt * rinv;
        Sr += w * cz.x;
        Sg += w * cz.y;
        Sb += w * cz.z;
        Sz += w * cz.w;
        Tc = Tk;
        gr = w * dr;
        gg = w * dg;
        gb = w * db;
        gz = w * dD;
        if (oG <= float(kAlphaMax)) {
          go = dal * G;
          float dpow = dal * oG;
          gu = dpow * (-co.x * dx - co.y * dy);
          gv = dpow * (-co.z * dy - co.y * dx);
          gA = -0.5f * dpow * dx * dx;
          gB = -dpow * dx * dy;
          gC = -0.5f * dpow * dy * dy;
        }
      }
      gu = warp_sum(gu);
      gv = warp_sum(gv);
      gA = warp_sum(gA);
      gB = warp_sum(gB);
      gC = warp_sum(gC);
      go = warp_sum(go);
      gr = warp_sum(gr);
      gg = warp_sum(gg);
      gb = warp_sum(gb);
      gz = warp_sum(gz);
      if (lane == 0) {
        float* g = p.g2d + size_t(s_id[j]) * kG;
        atomicAdd(g + 0, gu);
        atomicAdd(g + 1, gv);
        atomicAdd(g + 2, gA);
        atomicAdd(g + 3, gB);
        atomicAdd(g + 4, gC);
        atomicAdd(g + 5, go);
        atomicAdd(g + 6, gr);
        atomicAdd(g + 7, gg);
        atomicAdd(g + 8, gb);
        atomicAdd(g + 9, gz);
      }
    }
  }
}

struct PreBwdParams {
  int N, C, W, H;
  const float* means;       // [N,3]
  const float* scales;      // [N,3]
  const float* rotations;   // [N,4]
  const float* colors;      // [N,3] or null
  const float* sh;          // [N,K,3] or null
  int sh_degree, sh_coeffs;
  const float* viewmats;    // [C,4,4]
  const float* intrinsics;  // [C,4]
  const int32_t* radius;    // [C*N]
  const uint8_t* clamp;     // [C*N]
  const float* g2d;         // [C*N,10]
  // outputs (+=)
  float* d_means;           // [N,3]
  float* d_scales;          // [N,3]
  float* d_rotations;       // [N,4]
  float* d_opacities;       // [N]
  float* d_colors;          // [N,3]
  float* d_sh;              // [N,K,3]
  float* d_viewmats;        // [C,4,4]
  float* d_means2d;         // [C,N,2]
};

__global__ void __launch_bounds__(256) preprocess_bwd_kernel(PreBwdParams p) {
  __shared__ float s_red[8][12];
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  const bool active = n < p.N;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float dm[3] = {0.f, 0.f, 0.f}, ds[3] = {0.f, 0.f, 0.f}, dq[4] = {0.f, 0.f, 0.f, 0.f}, dop = 0.f;
  bool any = false;
  for (int c = 0; c < p.C; ++c) {
    float dR[3][3] = {{0.f, 0.f, 0.f}, {0.f, 0.f, 0.f}, {0.f, 0.f, 0.f}}, dt[3] = {0.f, 0.f, 0.f};
    if (active) {
      const size_t i = size_t(c) * p.N + n;
      if (p.radius[i] > 0) {
        const float* gg = p.g2d + i * kG;
        float g[kG];
        bool nz = false;
        for (int k = 0; k < kG; ++k) {
          g[k] = gg[k];
          nz |= g[k] != 0.f;
        }
        if (nz) {
          any = true;
          Camera<float> cam = make_camera<float, float>(p.viewmats + 16 * c, p.intrinsics + 4 * c, p.W, p.H);
          const float duv[2] = {g[0], g[1]};
          project_gaussian_vjp(cam, p.means + 3 * n, p.scales + 3 * n, p.rotations + 4 * n, duv,
                               Sym2<float>{g[2], g[3], g[4]}, g[9], dm, ds, dq, dR, dt);
          const float drgb[3] = {g[6], g[7], g[8]};
          eval_color_vjp<float, float>(cam, p.means + 3 * n, p.colors ? p.colors + 3 * n : nullptr,
                                       p.sh ? p.sh + int64_t(p.sh_coeffs) * 3 * n : nullptr, p.sh_degree, p.clamp[i],
                                       drgb, p.d_colors ? p.d_colors + 3 * n : nullptr,
                                       p.d_sh ? p.d_sh + int64_t(p.sh_coeffs) * 3 * n : nullptr, dm, dR, dt);
          dop += g[5];
          if (p.d_means2d) {
            p.d_means2d[2 * i] += g[0];
            p.d_means2d[2 * i + 1] += g[1];
          }
        }
      }
    }
    if (p.d_viewmats) {  // block-reduce the 12 pose gradients of camera c (uniform control flow)
      float v[12];
      for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) v[3 * a + b] = dR[a][b];
        v[9 + a] = dt[a];
      }
      for (int k = 0; k < 12; ++k) v[k] = warp_sum(v[k]);
      if (lane == 0)
        for (int k = 0; k < 12; ++k) s_red[warp][k] = v[k];
      __syncthreads();
      if (threadIdx.x < 12) {
        float s = 0.f;
        for (int w = 0; w < int(blockDim.x >> 5); ++w) s += s_red[w][threadIdx.x];
        int k = threadIdx.x;
        int dst = k < 9 ? 4 * (k / 3) + (k % 3) : 4 * (k - 9) + 3;
        if (s != 0.f) atomicAdd(p.d_viewmats + 16 * c + dst, s);
      }
      __syncthreads();
    }
  }
  if (!active || !any) return;
  if (p.d_means)
    for (int k = 0; k < 3; ++k) p.d_means[3 * n + k] += dm[k];
  if (p.d_scales)
    for (int k = 0; k < 3; ++k) p.d_scales[3 * n + k] += ds[k];
  if (p.d_rotations)
    for (int k = 0; k < 4; ++k) p.d_rotations[4 * n + k] += dq[k];
  if (p.d_opacities) p.d_opacities[n] += dop;
}


}  // namespace

void render_fwd_cuda(Context& ctx, const RenderParams& p, CudaState*& sp) {
  if (!sp) sp = new CudaState();
  CudaState& s = *sp;
  if (s.ctx && (s.ctx != &ctx || s.device != p.device)) {  // state moved to another context: start over
    delete sp;
    sp = new CudaState();
  }
  CudaState& st = *sp;
  st.ctx = &ctx;
  st.device = p.device;
  CUDA_CHECK(cudaSetDevice(p.device.index));
  cudaStream_t stream = static_cast<cudaStream_t>(p.stream ? p.stream : ctx.stream());
  const int C = p.num_cameras, N = p.num_gaussians, W = p.width, H = p.height;
  st.C = C, st.N = N, st.W = W, st.H = H;
  st.tiles_x = (W + kTile - 1) / kTile;
  st.tiles_y = (H + kTile - 1) / kTile;
  const int64_t TT = int64_t(st.tiles_x) * st.tiles_y;
  const int64_t CHW = int64_t(C) * H * W;
  FF_CHECK(int64_t(C) * TT < (int64_t(1) << 32), "splat: too many camera tiles for 32-bit tile keys");

  // ---- validation: one small synchronising copy ----
  if (p.check_finite) {
    unsigned long long* bad = st.get<unsigned long long>(st.bad, 1);
    CUDA_CHECK(cudaMemsetAsync(bad, 0xff, sizeof(unsigned long long), stream));
    if (N > 0) {
      const int ka = (p.sh_degree + 1) * (p.sh_degree + 1);
      validate_kernel<<<blocks_for(N, 256), 256, 0, stream>>>(N, p.means, p.scales, p.rotations, p.opacities, p.colors,
                                                             p.sh, p.sh_coeffs, ka, bad);
      CUDA_CHECK_LAUNCH();
    }
    std::vector<float> cams(size_t(C) * 20);
    unsigned long long hbad = ~0ull;
    CUDA_CHECK(cudaMemcpyAsync(cams.data(), p.viewmats, sizeof(float) * 16 * C, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaMemcpyAsync(cams.data() + 16 * C, p.intrinsics, sizeof(float) * 4 * C, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaMemcpyAsync(&hbad, bad, sizeof hbad, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (hbad != ~0ull) throw_bad_gaussian(int64_t(hbad / 8), int(hbad % 8));
    for (int c = 0; c < C; ++c) {
      for (int k = 0; k < 16; ++k)
        FF_CHECK(std::isfinite(cams[16 * c + k]), "splat: camera ", c, " has a non-finite viewmat entry ", k);
      const float* in = cams.data() + 16 * C + 4 * c;
      for (int k = 0; k < 4; ++k) FF_CHECK(std::isfinite(in[k]), "splat: camera ", c, " has a non-finite intrinsic ", k);
      FF_CHECK(in[0] > 0 && in[1] > 0, "splat: camera ", c, " needs fx, fy > 0, got ", in[0], ", ", in[1]);
    }
  }

  // ---- project, bin, sort (render_fwd.cuh) ----
  struct EngineScratch final : fwd::Scratch {
    CudaState& st;
    Context& ctx;
    EngineScratch(CudaState& s, Context& c) : st(s), ctx(c) {}
    void* get(fwd::Slot slot, size_t bytes) override { return st.get_bytes(st.bufs[slot], bytes); }
    void* workspace(size_t bytes) override { return ctx.cuda_workspace(bytes); }
  } scratch(st, ctx);
  PreParams pp{};
  pp.N = N, pp.C = C, pp.W = W, pp.H = H;
  pp.means = p.means, pp.scales = p.scales, pp.rotations = p.rotations, pp.opacities = p.opacities;
  pp.colors = p.colors, pp.sh = p.sh, pp.sh_degree = p.sh_degree, pp.sh_coeffs = p.sh_coeffs;
  pp.viewmats = p.viewmats, pp.intrinsics = p.intrinsics, pp.near_cull = p.near_cull;
  pp.radii_out = p.radii;
  CUDA_CHECK(fwd::project_and_bin(scratch, stream, pp, st.binned));
  CUDA_CHECK_LAUNCH();
  st.E = st.binned.entries;
  FF_CHECK(st.binned.sorted_vals, "splat: too many (Gaussian, tile) entries to sort: ", st.E);

  // ---- blend ----
  BlendParams bp{};
  bp.W = W, bp.H = H, bp.tiles_x = st.tiles_x, bp.tiles_y = st.tiles_y;
  bp.ranges = st.binned.ranges, bp.vals = st.binned.sorted_vals, bp.uv = pp.uv, bp.conic_o = pp.conic_o;
  bp.rgb = pp.rgb, bp.depth = pp.depth, bp.background = p.background;
  bp.image = p.image, bp.alpha = p.alpha, bp.out_depth = p.depth;
  bp.final_T = st.get<float>(st.final_T, CHW);
  bp.n_contrib = st.get<int32_t>(st.n_contrib, CHW);
  CUDA_CHECK(fwd::blend(bp, C, stream));
  CUDA_CHECK_LAUNCH();
}

void render_bwd_cuda(Context& ctx, const RenderParams& p, const RenderGrads& g, CudaState* sp) {
  CudaState& st = *sp;
  FF_CHECK(st.C == p.num_cameras && st.N == p.num_gaussians && st.W == p.width && st.H == p.height,
           "splat: render_bwd params do not match the forward state");
  CUDA_CHECK(cudaSetDevice(p.device.index));
  cudaStream_t stream = static_cast<cudaStream_t>(p.stream ? p.stream : ctx.stream());
  const int C = st.C, N = st.N;
  const int64_t CN = int64_t(C) * N;
  if (CN == 0) return;
  float* g2d = st.get<float>(st.g2d, CN * kG);
  CUDA_CHECK(cudaMemsetAsync(g2d, 0, sizeof(float) * CN * kG, stream));
  if (st.E > 0) {
    BlendParams bp{};
    bp.W = st.W, bp.H = st.H, bp.tiles_x = st.tiles_x, bp.tiles_y = st.tiles_y;
    bp.ranges = st.binned.ranges;
    bp.vals = st.binned.sorted_vals;
    bp.uv = st.saved<float2>(fwd::kUV);
    bp.conic_o = st.saved<float4>(fwd::kConicO);
    bp.rgb = st.saved<float>(fwd::kRGB);
    bp.depth = st.saved<float>(fwd::kDepth);
    bp.background = p.background;
    bp.final_T = static_cast<float*>(st.final_T.ptr);
    bp.n_contrib = static_cast<int32_t*>(st.n_contrib.ptr);
    bp.d_image = g.d_image, bp.d_alpha = g.d_alpha, bp.d_depth = g.d_depth;
    bp.g2d = g2d;
    dim3 grid(st.tiles_x, st.tiles_y, C), block(kTile, kTile);
    render_bwd_kernel<<<grid, block, 0, stream>>>(bp);
    CUDA_CHECK_LAUNCH();
  }
  PreBwdParams q;
  q.N = N, q.C = C, q.W = st.W, q.H = st.H;
  q.means = p.means, q.scales = p.scales, q.rotations = p.rotations, q.colors = p.colors, q.sh = p.sh;
  q.sh_degree = p.sh_degree, q.sh_coeffs = p.sh_coeffs, q.viewmats = p.viewmats, q.intrinsics = p.intrinsics;
  q.radius = st.saved<int32_t>(fwd::kRadius);
  q.clamp = st.saved<uint8_t>(fwd::kClamp);
  q.g2d = g2d;
  q.d_means = g.d_means, q.d_scales = g.d_scales, q.d_rotations = g.d_rotations, q.d_opacities = g.d_opacities;
  q.d_colors = g.d_colors, q.d_sh = g.d_sh, q.d_viewmats = g.d_viewmats, q.d_means2d = g.d_means2d;
  preprocess_bwd_kernel<<<blocks_for(N, 256), 256, 0, stream>>>(q);
  CUDA_CHECK_LAUNCH();
}

}  // namespace ff::splat
