// apps/common/model_runtime.h — what render, export and interpolate share: a model file opened both as the
// engine's model (train/model_file.h: names, training cameras, layout) and in the embeddable runtime
// (runtime/include/facefield.h, which decodes and renders), fit_image code files, and frame output.
//
//   auto m = ff::apps::open_model(ctx, "x.ffck", threads);   // or a .ffpk
//   ff::apps::Gaussians g = m->rt.identity(0);
//   auto rgba = m->rt.render(g, ff::runtime_camera(m->camera_of("0:0")), bg);
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/code_file.h"
#include "core/geometry.h"
#include "runtime/formats.h"
#include "runtime/include/facefield.hpp"
#include "train/model_file.h"

namespace ff::apps {

using facefield::check;  // runtime/include/facefield.hpp: the runtime's C++ owners
using Gaussians = facefield::Gaussians;
using Runtime = facefield::Runtime;


// A model file opened for the apps. A checkpoint or model pack gives the engine's view (`file`: names, training
// cameras) and the runtime (opened from the same parameters); a pack of decoded Gaussians opens in the runtime only
// (`file.model` is null, no cameras).
struct OpenedModel {
  train::ModelFile file;
  Runtime rt;
  bool has_cameras() const { return file.model && !file.cameras.empty(); }
  int num_views(int identity) const;
  // "S:V" → identity S's training view V (any identity's calibration can frame any other's Gaussians)
  const Camera& camera_of(const std::string& spec) const;
};
std::unique_ptr<OpenedModel> open_model(Context& ctx, const std::string& path, int threads);

// A code file written by fit_image (fit.json, apps/common/code_file.h): read and parsed, with positions from its
// "positions" array, else from the sibling face.ply when it has the model's Gaussian count, else empty (→ the mean).
CodeFile read_code_file(const std::string& path, int code_dim, int num_gaussians);

// RGBA8 frame → PNG (RGB, or RGBA when keep_alpha), written atomically.
void write_png_rgba(const std::string& path, const std::vector<uint8_t>& rgba, int w, int h, bool keep_alpha);
bool have_ffmpeg();
// `folder`/frame_%04d.png → `folder`/`mp4_name` (H.264, yuv420p, even size) at `fps` with ffmpeg; false when it failed.
bool frames_to_mp4(const std::string& folder, const std::string& mp4_name, int fps);

}  // namespace ff::apps
