// apps/common/model_runtime.cpp — see model_runtime.h.
#include "apps/common/model_runtime.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "train/data/image.h"

namespace ff::apps {

void rt_check(ff_status s, const char* what) { FF_CHECK(s == FF_OK, what, ": ", ff_status_name(s), ": ", ff_last_error()); }

std::vector<float> Gaussians::means() const {
  std::vector<float> m(size_t(count()) * 3);
  rt_check(ff_gaussians_read(g, m.data(), nullptr, nullptr, nullptr, nullptr), "ff_gaussians_read");
  return m;
}

Runtime::~Runtime() {
  ff_renderer_free(renderer);
  ff_model_close(model);
}
void Runtime::open_pack(const ffrt::Pack& p, int threads) {
  const std::string b = ffrt::pack_bytes(p);
  rt_check(ff_model_open_memory(b.data(), b.size(), threads, &model), "ff_model_open_memory");
  finish(threads);
}
void Runtime::open_file(const std::string& path, int threads) {
  rt_check(ff_model_open(path.c_str(), threads, &model), "ff_model_open");
  finish(threads);
}
void Runtime::finish(int threads) {
  rt_check(ff_model_get_info(model, &info), "ff_model_get_info");
  rt_check(ff_renderer_create(threads, &renderer), "ff_renderer_create");
}
std::string Runtime::name(int i) const {
  char b[256];
  rt_check(ff_model_identity_name(model, i, b, sizeof b), "ff_model_identity_name");
  return b;
}
std::vector<float> Runtime::code(int i) const {
  std::vector<float> c(size_t(info.code_dim));
  rt_check(ff_model_get_code(model, i, c.data(), info.code_dim), "ff_model_get_code");
  return c;
}
std::vector<float> Runtime::positions(int i) const {
  std::vector<float> x(size_t(info.num_gaussians) * 3);
  rt_check(ff_model_get_positions(model, i, x.data(), x.size()), "ff_model_get_positions");
  return x;
}
Gaussians Runtime::identity(int i) const {
  ff_gaussians* g = nullptr;
  rt_check(ff_decode_identity(model, i, &g), "ff_decode_identity");
  return Gaussians(g);
}
Gaussians Runtime::decode(const std::vector<float>& code, const std::vector<float>* xyz) const {
  ff_gaussians* g = nullptr;
  rt_check(ff_decode_code(model, code.data(), int(code.size()), xyz ? xyz->data() : nullptr, xyz ? xyz->size() : 0, &g),
           "ff_decode_code");
  return Gaussians(g);
}
std::vector<uint8_t> Runtime::render(const Gaussians& g, const ff_camera& cam, const float bg[3]) const {
  std::vector<uint8_t> rgba(size_t(cam.width) * cam.height * 4);
  rt_check(ff_render(renderer, g.g, &cam, bg, rgba.data(), 0), "ff_render");
  return rgba;
}

ff_camera runtime_camera(const Camera& c) {
  ff_camera r{};
  for (int i = 0; i < 16; ++i) r.viewmat[i] = float(c.viewmat[size_t(i)]);
  r.fx = float(c.fx()), r.fy = float(c.fy()), r.cx = float(c.cx()), r.cy = float(c.cy());
  r.width = c.width, r.height = c.height;
  return r;
}

int OpenedModel::num_views(int identity) const {
  return identity >= 0 && size_t(identity) < file.cameras.size() ? int(file.cameras[size_t(identity)].size()) : 0;
}

const Camera& OpenedModel::camera_of(const std::string& s) const {
  auto is_index = [](const std::string& t) {
    if (t.empty()) return false;
    for (char c : t)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return t.size() < 9;
  };
  const size_t colon = s.find(':');
  FF_CHECK(colon != std::string::npos && is_index(s.substr(0, colon)) && is_index(s.substr(colon + 1)), "camera '", s,
           "' must be IDENTITY:VIEW (e.g. 0:3)");
  FF_CHECK(has_cameras(), "camera '", s, "': model file '", file.path, "' holds no training cameras");
  const int id = std::stoi(s.substr(0, colon)), v = std::stoi(s.substr(colon + 1));
  FF_CHECK(id < int(file.cameras.size()), "camera '", s, "': identity ", id, " out of range (", file.cameras.size(),
           " identities)");
  FF_CHECK(v < num_views(id), "camera '", s, "': view ", v, " out of range (identity ", id, " has ", num_views(id),
           " training views)");
  return file.cameras[size_t(id)][size_t(v)];
}

std::unique_ptr<OpenedModel> open_model(Context& ctx, const std::string& path, int threads) {
  auto m = std::make_unique<OpenedModel>();
  FF_CHECK(std::filesystem::is_regular_file(path), "model file '", path, "' does not exist or is not a file");
  const std::string bytes = read_file(path);
  if (ffrt::is_pack(bytes) && ffrt::parse_pack(bytes, "'" + path + "'").kind == ffrt::kPackGaussians) {
    m->rt.open_file(path, threads);  // one identity's decoded Gaussians: nothing for the engine to load
    return m;
  }
  m->file = train::load_model_file(ctx, path, Device::cpu());
  m->rt.open_pack(train::model_pack(m->file), threads);
  return m;
}

CodeFile read_code_file(const std::string& path, int code_dim, int num_gaussians) {
  using json = nlohmann::json;
  CodeFile cf;
  cf.path = path;
  json j = json::parse(read_file(path), nullptr, false);
  FF_CHECK(!j.is_discarded() && j.is_object(), "code file '", path, "' is not a JSON object");
  const json* c = j.contains("code") ? &j["code"] : nullptr;
  FF_CHECK(c && c->is_array(), "code file '", path, "' has no \"code\" array (fit_image's fit.json has one)");
  for (auto& v : *c) {
    FF_CHECK(v.is_number(), "code file '", path, "': \"code\" must hold numbers");
    cf.code.push_back(v.get<float>());
  }
  FF_CHECK(int(cf.code.size()) == code_dim, "code file '", path, "' has a code of ", cf.code.size(),
           " values; the model's codes have ", code_dim);
  if (j.contains("viewmat") && j.contains("camera") && j["viewmat"].is_array() && j["viewmat"].size() == 16 &&
      j["camera"].is_object()) {
    for (size_t i = 0; i < 16; ++i) {
      FF_CHECK(j["viewmat"][i].is_number(), "code file '", path, "': \"viewmat\" must hold 16 numbers");
      cf.camera.viewmat[i] = j["viewmat"][i].get<double>();
    }
    const json& k = j["camera"];
    cf.camera.intrinsics = {k.value("fx", 0.0), k.value("fy", 0.0), k.value("cx", 0.0), k.value("cy", 0.0)};
    cf.camera.width = k.value("width", 0), cf.camera.height = k.value("height", 0);
    cf.has_camera = cf.camera.fx() > 0 && cf.camera.fy() > 0 && cf.camera.width > 0 && cf.camera.height > 0;
  }
  const std::filesystem::path ply = std::filesystem::path(path).parent_path() / "face.ply";
  if (std::filesystem::exists(ply)) {
    ffrt::GaussianSet g = ffrt::read_ply(ply.string());
    if (int(g.size()) == num_gaussians) cf.xyz = g.means;
  }
  if (j.contains("positions") && j["positions"].is_array() && int(j["positions"].size()) == 3 * num_gaussians) {
    cf.xyz.clear();
    for (auto& v : j["positions"]) cf.xyz.push_back(v.get<float>());
  }
  return cf;
}

void write_png_rgba(const std::string& path, const std::vector<uint8_t>& rgba, int w, int h, bool keep_alpha) {
  data::Image8 im(w, h, keep_alpha ? 4 : 3);
  for (size_t i = 0; i < size_t(w) * h; ++i)
    for (int c = 0; c < im.channels; ++c) im.pixels[i * size_t(im.channels) + size_t(c)] = rgba[4 * i + size_t(c)];
  data::write_png(path, im);
}

bool have_ffmpeg() { return std::system("command -v ffmpeg > /dev/null 2>&1") == 0; }

}  // namespace ff::apps
