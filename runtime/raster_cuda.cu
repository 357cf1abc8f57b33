// runtime/raster_cuda.cu — CudaRasterizer (runtime/raster_cuda.h): uploads a Gaussian set once, runs the engine's
// CUDA forward pipeline (splat/render_fwd.cuh) for one camera, and copies RGBA8 / float planes back.
#include <cuda_runtime.h>

#include <cstring>
#include <string>

#include "runtime/formats.h"
#include "runtime/raster_cuda.h"
#include "splat/render_fwd.cuh"

namespace ffrt {

namespace fwd = ff::splat::fwd;

namespace {

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the handle stays usable
  throw Error(e == cudaErrorMemoryAllocation ? kNoMemory : kInternal,
              std::string("CUDA renderer: ") + what + ": " + cudaGetErrorString(e));
}

// Device memory that only grows (25% headroom); freed by release().
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  void* reserve(size_t need) {
    if (need < 16) need = 16;
    if (bytes < need) {
      release();
      const size_t grown = need + need / 4;
      check(cudaMalloc(&ptr, grown), "cudaMalloc");
      bytes = grown;
    }
    return ptr;
  }
  void release() {
    if (ptr) cudaFree(ptr);
    ptr = nullptr;
    bytes = 0;
  }
};

}  // namespace

struct CudaRasterizer::Impl final : fwd::Scratch {
  int device = 0;
  cudaStream_t stream = nullptr;
  DeviceBuffer slots[fwd::kNumSlots], cub_workspace;
  DeviceBuffer means, scales, rotations, opacities, colors;  // the uploaded Gaussian set
  uint64_t uploaded_id = 0;
  int uploaded_n = -1;
  DeviceBuffer camera;  // viewmat[16], fx fy cx cy, background[3]
  DeviceBuffer image, alpha, rgba;

  void* get(fwd::Slot slot, size_t bytes) override { return slots[slot].reserve(bytes); }
  void* workspace(size_t bytes) override { return cub_workspace.reserve(bytes); }

  void upload(DeviceBuffer& dst, const float* src, size_t count) {
    dst.reserve(count * sizeof(float));
    if (count) check(cudaMemcpyAsync(dst.ptr, src, count * sizeof(float), cudaMemcpyHostToDevice, stream), "upload");
  }

  ~Impl() {
    if (cudaSetDevice(device) != cudaSuccess) return;  // no usable device: nothing was allocated
    for (DeviceBuffer* b : {&cub_workspace, &means, &scales, &rotations, &opacities, &colors, &camera, &image, &alpha,
                            &rgba})
      b->release();
    for (DeviceBuffer& b : slots) b.release();
    if (stream) cudaStreamDestroy(stream);
  }
};

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

CudaRasterizer::CudaRasterizer(int device) : impl_(new Impl) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(kUnsupported, std::string("no usable CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")");
  }
  if (n == 0) throw Error(kUnsupported, "no CUDA device");
  if (device < 0 || device >= n)
    throw Error(kInvalid, "CUDA device " + std::to_string(device) + " out of range: " + std::to_string(n) +
                              " device(s) (0.." + std::to_string(n - 1) + ")");
  impl_->device = device;
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
}

CudaRasterizer::~CudaRasterizer() = default;

void CudaRasterizer::render(const RasterGaussians& g, uint64_t gaussians_id, const RasterCamera& cam,
                            const float bg[3], const RasterOutput& out) {
  check_camera(cam, out);
  Impl& m = *impl_;
  check(cudaSetDevice(m.device), "cudaSetDevice");
  const int N = g.n, W = cam.width, H = cam.height;
  const size_t HW = size_t(W) * H;
  if (gaussians_id == 0 || gaussians_id != m.uploaded_id || N != m.uploaded_n) {
    m.uploaded_id = 0;  // a failed upload leaves no stale id behind
    m.upload(m.means, g.means, size_t(N) * 3);
    m.upload(m.scales, g.scales, size_t(N) * 3);
    m.upload(m.rotations, g.rotations, size_t(N) * 4);
    m.upload(m.opacities, g.opacities, size_t(N));
    m.upload(m.colors, g.colors, size_t(N) * 3);
    m.uploaded_id = gaussians_id, m.uploaded_n = N;
  }
  float host_camera[23];
  std::memcpy(host_camera, cam.viewmat, sizeof cam.viewmat);
  host_camera[16] = cam.fx, host_camera[17] = cam.fy, host_camera[18] = cam.cx, host_camera[19] = cam.cy;
  for (int c = 0; c < 3; ++c) host_camera[20 + c] = bg ? bg[c] : 0.f;
  m.upload(m.camera, host_camera, 23);
  const float* d_camera = static_cast<const float*>(m.camera.ptr);

  fwd::PreParams pp{};
  pp.N = N, pp.C = 1, pp.W = W, pp.H = H;
  pp.means = static_cast<const float*>(m.means.ptr), pp.scales = static_cast<const float*>(m.scales.ptr);
  pp.rotations = static_cast<const float*>(m.rotations.ptr), pp.opacities = static_cast<const float*>(m.opacities.ptr);
  pp.colors = static_cast<const float*>(m.colors.ptr), pp.sh = nullptr, pp.sh_degree = 0, pp.sh_coeffs = 1;
  pp.viewmats = d_camera, pp.intrinsics = d_camera + 16, pp.near_cull = float(ff::splat::math::kNearCull);
  pp.radii_out = nullptr;
  fwd::Binned binned;
  check(fwd::project_and_bin(m, m.stream, pp, binned), "project and sort");
  if (!binned.sorted_vals)
    throw Error(kInvalid, "render: " + std::to_string(binned.entries) + " (Gaussian, tile) entries, more than 2^31");

  fwd::BlendParams bp{};
  bp.W = W, bp.H = H, bp.tiles_x = pp.tiles_x, bp.tiles_y = pp.tiles_y;
  bp.ranges = binned.ranges, bp.vals = binned.sorted_vals, bp.uv = pp.uv, bp.conic_o = pp.conic_o, bp.rgb = pp.rgb;
  bp.depth = pp.depth, bp.background = d_camera + 20;
  bp.image = out.rgb_chw ? static_cast<float*>(m.image.reserve(3 * HW * sizeof(float))) : nullptr;
  bp.alpha = out.alpha ? static_cast<float*>(m.alpha.reserve(HW * sizeof(float))) : nullptr;
  bp.rgba = out.rgba ? static_cast<uint8_t*>(m.rgba.reserve(4 * HW)) : nullptr;
  bp.rgba_stride = int64_t(W) * 4;
  check(fwd::blend(bp, 1, m.stream), "blend");
  if (out.rgba)
    check(cudaMemcpy2DAsync(out.rgba, out.stride, bp.rgba, size_t(W) * 4, size_t(W) * 4, size_t(H),
                            cudaMemcpyDeviceToHost, m.stream),
          "copy RGBA8 back");
  if (out.rgb_chw)
    check(cudaMemcpyAsync(out.rgb_chw, bp.image, 3 * HW * sizeof(float), cudaMemcpyDeviceToHost, m.stream),
          "copy colour back");
  if (out.alpha)
    check(cudaMemcpyAsync(out.alpha, bp.alpha, HW * sizeof(float), cudaMemcpyDeviceToHost, m.stream), "copy alpha back");
  check(cudaStreamSynchronize(m.stream), "render");
}

}  // namespace ffrt
