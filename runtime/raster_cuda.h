// runtime/raster_cuda.h — the runtime's CUDA rasterizer, compiled only into the CUDA build of the library
// (libfacefield_cuda, FF_RUNTIME_CUDA): the engine's CUDA forward kernels (splat/render_fwd.cuh: preprocess, tile
// keys, CUB radix sort, per-tile blend — the same maths as runtime/raster.h) on one device, with a stream and
// device memory of its own. Images are blended on the GPU and copied into the caller's host buffers, so the
// C API is the same for both rasterizers. This header needs no CUDA headers.
//
// Gaussians are uploaded once per set: the caller passes an id that names an immutable set for the process's
// lifetime (ff_gaussians handles carry one), and the rasterizer re-uploads only when the id changes.
#pragma once
#include <cstdint>
#include <memory>

#include "runtime/raster.h"

namespace ffrt {

// Usable CUDA devices; 0 when there is no driver or no device (never throws).
int cuda_device_count();

class CudaRasterizer {
 public:
  // Throws Error(kUnsupported) when no CUDA device is usable (the message says why), Error(kInvalid) for a
  // device index out of range.
  explicit CudaRasterizer(int device);
  ~CudaRasterizer();
  CudaRasterizer(const CudaRasterizer&) = delete;
  CudaRasterizer& operator=(const CudaRasterizer&) = delete;
  // Same contract as Rasterizer::render (check_camera; Gaussians validated at creation); synchronous.
  void render(const RasterGaussians& g, uint64_t gaussians_id, const RasterCamera& cam, const float bg[3],
              const RasterOutput& out);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ffrt
