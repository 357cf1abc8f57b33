// apps/common/model_runtime.h — what render, export, interpolate and animate share: a model file opened both as the
// engine's model (train/model_file.h: names, training cameras, layout) and in the embeddable runtime
// (runtime/include/facefield.h, which decodes and renders), fit_image code files, and frame output.
//
//   auto m = ff::apps::open_model(ctx, "x.ffck", threads);   // or a .ffpk
//   ff::apps::Gaussians g = m->rt.identity(0);
//   auto rgba = m->rt.render(g, ff::runtime_camera(m->camera_of("0:0")), bg);
#pragma once
#include <cstdint>
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

// The frames of an animation (interpolate, animate): frame_NNNN.png in `folder`, optionally an animated GIF of them,
// and at the end `<program>.gif` and, when wanted and ffmpeg is on PATH, `<program>.mp4`.
class FrameSequence {
 public:
  FrameSequence(std::string folder, std::string program, int width, int height, int fps, bool gif);
  ~FrameSequence();
  void add(const std::vector<uint8_t>& rgba);  // [H,W,4]
  // Writes the GIF and the MP4 (frames from `folder`); messages name `target`, the folder the output ends up in.
  void finish(bool mp4, const std::string& target);
  int count() const { return count_; }

 private:
  std::string folder_, program_;
  int width_, height_, fps_, count_ = 0;
  struct Gif;
  std::unique_ptr<Gif> gif_;
};

}  // namespace ff::apps
