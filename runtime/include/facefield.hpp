// runtime/include/facefield.hpp — header-only C++ owners of the runtime's C handles (facefield.h): RAII, move-only,
// every failing call throws facefield::Error with the runtime's message. Nothing beyond the C API and the C++
// standard library, so any C++ program (facefield's own apps and tests included) can use it.
//
//   facefield::Runtime rt;
//   rt.open_file("face.ffpk", 0);
//   facefield::Gaussians g = rt.identity(0);
//   std::vector<uint8_t> rgba = rt.render(g, camera, nullptr);
#pragma once
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "facefield.h"

namespace facefield {

struct Error : std::runtime_error {
  ff_status status;
  Error(ff_status s, const std::string& m) : std::runtime_error(m), status(s) {}
};

inline void check(ff_status s, const char* what) {
  if (s != FF_OK) throw Error(s, std::string(what) + ": " + ff_status_name(s) + ": " + ff_last_error());
}

// One decoded Gaussian set.
class Gaussians {
 public:
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
  std::vector<float> means() const {
    std::vector<float> m(size_t(count()) * 3);
    check(ff_gaussians_read(g, m.data(), nullptr, nullptr, nullptr, nullptr), "ff_gaussians_read");
    return m;
  }
  ff_gaussians* g = nullptr;
};

// g seen through cam by renderer r → RGBA8 [cam.height, cam.width, 4] (bg: RGB background, null: black).
inline std::vector<uint8_t> render(ff_renderer* r, const Gaussians& g, const ff_camera& cam, const float bg[3]) {
  std::vector<uint8_t> rgba(size_t(cam.width) * size_t(cam.height) * 4);
  check(ff_render(r, g.g, &cam, bg, rgba.data(), 0), "ff_render");
  return rgba;
}

// A model and a CPU renderer.
class Runtime {
 public:
  Runtime() = default;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime() {
    ff_renderer_free(renderer);
    ff_model_close(model);
  }
  void open_memory(const void* bytes, size_t size, int threads) {
    check(ff_model_open_memory(bytes, size, threads, &model), "ff_model_open_memory");
    finish(threads);
  }
  void open_file(const std::string& path, int threads) {
    check(ff_model_open(path.c_str(), threads, &model), "ff_model_open");
    finish(threads);
  }
  std::string name(int i) const {
    char b[256];
    check(ff_model_identity_name(model, i, b, sizeof b), "ff_model_identity_name");
    return b;
  }
  std::vector<float> code(int i) const {
    std::vector<float> c(size_t(info.code_dim));
    check(ff_model_get_code(model, i, c.data(), info.code_dim), "ff_model_get_code");
    return c;
  }
  std::vector<float> positions(int i) const {  // i = −1: the identities' mean
    std::vector<float> x(size_t(info.num_gaussians) * 3);
    check(ff_model_get_positions(model, i, x.data(), x.size()), "ff_model_get_positions");
    return x;
  }
  Gaussians identity(int i) const {
    ff_gaussians* g = nullptr;
    check(ff_decode_identity(model, i, &g), "ff_decode_identity");
    return Gaussians(g);
  }
  // xyz null: the identities' mean positions
  Gaussians decode(const std::vector<float>& code, const std::vector<float>* xyz) const {
    ff_gaussians* g = nullptr;
    check(ff_decode_code(model, code.data(), int(code.size()), xyz ? xyz->data() : nullptr, xyz ? xyz->size() : 0, &g),
          "ff_decode_code");
    return Gaussians(g);
  }
  std::vector<uint8_t> render(const Gaussians& g, const ff_camera& cam, const float bg[3]) const {
    return facefield::render(renderer, g, cam, bg);
  }
  ff_model* model = nullptr;
  ff_renderer* renderer = nullptr;
  ff_model_info info{};

 private:
  void finish(int threads) {
    check(ff_model_get_info(model, &info), "ff_model_get_info");
    check(ff_renderer_create(threads, &renderer), "ff_renderer_create");
  }
};

}  // namespace facefield
