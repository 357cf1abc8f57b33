// apps/common/model_runtime.h — what render, export and interpolate share: a model file opened both as the
// engine's model (train/model_file.h: names, training cameras, layout) and in the embeddable runtime
// (runtime/include/facefield.h, which decodes and renders), fit_image code files, and frame output.
//
//   ff::apps::OpenedModel m = ff::apps::open_model(ctx, "x.ffck", threads);   // or a .ffpk
//   ff::apps::Gaussians g = m.rt.identity(0);
//   auto rgba = m.rt.render(g, ff::apps::runtime_camera(m.camera(0, 0)), bg);
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/geometry.h"
#include "runtime/formats.h"
#include "runtime/include/facefield.h"
#include "train/model_file.h"

namespace ff::apps {

void rt_check(ff_status s, const char* what);  // throws ff::Error with the runtime's message

// RAII owner of one decoded Gaussian set.
struct Gaussians {
  ff_gaussians* g = nullptr;
  Gaussians() = default;
  explicit Gaussians(ff_gaussians* p) : g(p) {}
  Gaussians(Gaussians&& o) noexcept : g(o.g) { o.g = nullptr; }
  Gaussians& operator=(Gaussians&& o) noexcept {
    std::swap(g, o.g);
    return *this;
  }
  Gaussians(const Gaussians&) = delete;
  Gaussians& operator=(const Gaussians&) = delete;
  ~Gaussians() { ff_gaussians_free(g); }
  int count() const { return ff_gaussians_count(g); }
  std::vector<float> means() const;
};

// RAII owner of the runtime handles (model, renderer).
struct Runtime {
  ff_model* model = nullptr;
  ff_renderer* renderer = nullptr;
  ff_model_info info{};
  Runtime() = default;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();
  void open_pack(const ffrt::Pack& p, int threads);
  void open_file(const std::string& path, int threads);
  std::string name(int i) const;
  std::vector<float> code(int i) const;
  std::vector<float> positions(int i) const;
  Gaussians identity(int i) const;
  Gaussians decode(const std::vector<float>& code, const std::vector<float>* xyz) const;
  std::vector<uint8_t> render(const Gaussians& g, const ff_camera& cam, const float bg[3]) const;

 private:
  void finish(int threads);
};

ff_camera runtime_camera(const Camera& c);

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

// A code file written by fit_image (fit.json: "code", and the photo camera "viewmat" + "camera"); positions from its
// "positions" array, else from the sibling face.ply when it has the model's Gaussian count, else empty (→ the mean).
struct CodeFile {
  std::string path;
  std::vector<float> code, xyz;
  bool has_camera = false;
  Camera camera;
};
CodeFile read_code_file(const std::string& path, int code_dim, int num_gaussians);

// RGBA8 frame → PNG (RGB, or RGBA when keep_alpha), written atomically.
void write_png_rgba(const std::string& path, const std::vector<uint8_t>& rgba, int w, int h, bool keep_alpha);
bool have_ffmpeg();

}  // namespace ff::apps
