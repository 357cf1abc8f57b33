// apps/ffrt_bridge.h — glue between the engine (train/) and the embeddable runtime (runtime/), shared by the apps
// render, interpolate and export and by tests/train/test_runtime_formats.cpp. Header-only.
//
//   load_checkpoint_model   a .ffck → the training IdentityModel, rebuilt from the checkpoint's own config (the
//                           training dataset is reopened — toy scene or data_dir — because the surface layout
//                           is derived from its meshes), parameters and buffers loaded.
//   model_pack              an IdentityModel → a runtime "model" identity pack (generator + decoders + layout +
//                           codes + positions + names), what ff_model_open_memory / the .ffpk file hold.
//   Runtime                 RAII owner of the runtime handles (model, renderer) opened from a pack.
//   camera helpers          dataset cameras, orbits around the face, slerp between cameras (rotation slerp,
//                           centre and intrinsics linear), look-at.
//   (animated GIFs: train/fit/gif.h, the fit_image engineer's encoder)
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/formats.h"
#include "runtime/include/facefield.h"
#include "tensor/io.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace ff::apps {

// ---- checkpoint → engine model ---------------------------------------------------------------------------
struct EngineModel {
  train::TrainConfig cfg;
  std::shared_ptr<train::Dataset> dataset;
  std::unique_ptr<train::Trainer> trainer;
  train::IdentityModel& model() const { return trainer->model(); }
};

inline EngineModel load_checkpoint_model(Context& ctx, const std::string& path, const std::string& data_dir = "") {
  train::Checkpoint ck = train::read_checkpoint(ctx, path);
  EngineModel em;
  train::config_from_json(em.cfg, ck.config_json, path + " (its config)");
  if (!data_dir.empty()) em.cfg.data_dir = data_dir, em.cfg.toy = false;
  em.cfg.device = "cpu";
  em.cfg.progress = false;
  em.cfg.resume.clear();
  em.cfg.max_heldout_subjects = 0;
  if (em.cfg.toy) {
    train::ToyOptions t;  // exactly apps/train.cpp's toy scene
    t.subjects = em.cfg.toy_subjects, t.views = em.cfg.toy_views, t.width = em.cfg.toy_width,
    t.height = em.cfg.toy_height;
    t.seed = em.cfg.seed + 1;
    em.dataset = std::make_shared<train::InMemoryDataset>(train::make_toy_dataset(t));
  } else {
    FF_CHECK(!em.cfg.data_dir.empty(), "checkpoint '", path, "' names no data_dir (pass --data_dir DIR: the surface ",
             "layout is rebuilt from the training dataset's meshes)");
    em.dataset = train::open_dataset(em.cfg.data_dir, "train", em.cfg.max_subjects);
  }
  em.trainer = std::make_unique<train::Trainer>(ctx, em.cfg, em.dataset, nullptr);
  em.trainer->load_checkpoint(path);
  return em;
}

// ---- engine model → runtime pack -------------------------------------------------------------------------
// subset: identities to keep (empty = all), in that order.
inline ffrt::Pack model_pack(const train::IdentityModel& m, const std::vector<std::string>& names,
                             const std::vector<int>& subset = {}) {
  ffrt::Pack p;
  p.kind = ffrt::kPackModel;
  std::vector<int> ids = subset;
  if (ids.empty())
    for (int i = 0; i < m.num_subjects(); ++i) ids.push_back(i);
  for (int i : ids) FF_CHECK(i >= 0 && i < m.num_subjects(), "model_pack: identity ", i, " out of range");
  auto add = [&](const std::string& name, const Tensor& t) {
    Tensor c = t.detach().to(Device::cpu()).to(DType::F32).contiguous();
    std::vector<float> v = c.to_vector<float>();
    std::vector<int64_t> shape(c.shape().begin(), c.shape().end());
    if (name == "codes" || name == "xyz") {  // rows = identities
      const size_t row = v.size() / size_t(std::max<int64_t>(shape[0], 1));
      std::vector<float> s;
      for (int i : ids) s.insert(s.end(), v.begin() + size_t(i) * row, v.begin() + size_t(i + 1) * row);
      v.swap(s);
      shape[0] = int64_t(ids.size());
    }
    p.add(name, shape, v.data());
  };
  for (auto& np : m.named_parameters()) add(np.name, np.tensor);
  for (auto& nb : m.named_buffers()) add(nb.name, nb.tensor);
  const auto& L = m.layout();
  p.add("layout/row_uv", {int64_t(L.rows), 2}, L.row_uv.data());
  {
    ffrt::Array a;
    a.name = "layout/row_anchor";
    a.dtype = ffrt::kI32;
    a.shape = {int64_t(L.rows)};
    std::vector<int32_t> ra(L.row_anchor.begin(), L.row_anchor.end());
    a.data.assign(reinterpret_cast<const char*>(ra.data()), ra.size() * 4);
    p.arrays.push_back(std::move(a));
  }
  std::string nm;
  for (size_t k = 0; k < ids.size(); ++k) nm += (size_t(ids[k]) < names.size() ? names[size_t(ids[k])] : "") + "\n";
  p.add_u8("names", nm);
  const auto& c = m.config();
  p.meta = "{\"format\":\"facefield identity pack\",\"kind\":\"model\",\"identities\":" + std::to_string(ids.size()) +
           ",\"gaussians\":" + std::to_string(L.G) + ",\"placement\":\"" + L.placement + "\",\"code_dim\":" +
           std::to_string(c.code_dim) + ",\"z_dim\":" + std::to_string(c.z_dim) + ",\"feat_dim\":" +
           std::to_string(c.feat_dim) + ",\"tex_res\":" + std::to_string(c.tex_res) + ",\"K\":" + std::to_string(c.K) +
           ",\"hidden\":" + std::to_string(c.hidden) + "}";
  return p;
}

inline std::vector<std::string> subject_names(const train::Dataset& ds) {
  std::vector<std::string> n;
  for (int s = 0; s < ds.num_subjects(); ++s) n.push_back(ds.subject_name(s));
  return n;
}

// ---- runtime handles -------------------------------------------------------------------------------------
inline void rt_check(ff_status s, const char* what) {
  FF_CHECK(s == FF_OK, what, ": ", ff_status_name(s), ": ", ff_last_error());
}

struct Gaussians {
  ff_gaussians* g = nullptr;
  Gaussians() = default;
  explicit Gaussians(ff_gaussians* p) : g(p) {}
  Gaussians(Gaussians&& o) noexcept : g(o.g) { o.g = nullptr; }
  Gaussians& operator=(Gaussians&& o) noexcept {
    std::swap(g, o.g);
    return *this;
  }
  ~Gaussians() { ff_gaussians_free(g); }
  int count() const { return ff_gaussians_count(g); }
  std::vector<float> means() const {
    std::vector<float> m(size_t(count()) * 3);
    rt_check(ff_gaussians_read(g, m.data(), nullptr, nullptr, nullptr, nullptr), "ff_gaussians_read");
    return m;
  }
};

struct Runtime {
  ff_model* model = nullptr;
  ff_renderer* renderer = nullptr;
  ff_model_info info{};
  Runtime() = default;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime() {
    ff_renderer_free(renderer);
    ff_model_close(model);
  }
  void open_pack(const ffrt::Pack& p, int threads) {
    const std::string b = ffrt::pack_bytes(p);
    rt_check(ff_model_open_memory(b.data(), b.size(), threads, &model), "ff_model_open_memory");
    finish(threads);
  }
  void open_file(const std::string& path, int threads) {
    rt_check(ff_model_open(path.c_str(), threads, &model), "ff_model_open");
    finish(threads);
  }
  void finish(int threads) {
    rt_check(ff_model_get_info(model, &info), "ff_model_get_info");
    rt_check(ff_renderer_create(threads, &renderer), "ff_renderer_create");
  }
  std::string name(int i) const {
    char b[256];
    rt_check(ff_model_identity_name(model, i, b, sizeof b), "ff_model_identity_name");
    return b;
  }
  std::vector<float> code(int i) const {
    std::vector<float> c(size_t(info.code_dim));
    rt_check(ff_model_get_code(model, i, c.data(), info.code_dim), "ff_model_get_code");
    return c;
  }
  std::vector<float> positions(int i) const {
    std::vector<float> x(size_t(info.num_gaussians) * 3);
    rt_check(ff_model_get_positions(model, i, x.data(), x.size()), "ff_model_get_positions");
    return x;
  }
  Gaussians identity(int i) const {
    ff_gaussians* g = nullptr;
    rt_check(ff_decode_identity(model, i, &g), "ff_decode_identity");
    return Gaussians(g);
  }
  Gaussians decode(const std::vector<float>& code, const std::vector<float>* xyz) const {
    ff_gaussians* g = nullptr;
    rt_check(ff_decode_code(model, code.data(), int(code.size()), xyz ? xyz->data() : nullptr, xyz ? xyz->size() : 0, &g),
             "ff_decode_code");
    return Gaussians(g);
  }
  std::vector<uint8_t> render(const Gaussians& g, const ff_camera& cam, const float bg[3]) const {
    std::vector<uint8_t> rgba(size_t(cam.width) * cam.height * 4);
    rt_check(ff_render(renderer, g.g, &cam, bg, rgba.data(), 0), "ff_render");
    return rgba;
  }
};

// A model file for the apps: a .ffpk opens directly; a .ffck is loaded by the engine (dataset reopened for the
// layout) and handed over as an in-memory pack. `engine` keeps the engine model (cameras, names) when loaded.
inline void open_model(Runtime& rt, const std::string& path, const std::string& data_dir, int threads, Context& ctx,
                       std::unique_ptr<EngineModel>* engine = nullptr) {
  const std::string head = [&] {
    FILE* f = std::fopen(path.c_str(), "rb");
    FF_CHECK(f, "cannot open '", path, "'");
    char b[8] = {0};
    size_t n = std::fread(b, 1, 8, f);
    std::fclose(f);
    return std::string(b, n);
  }();
  if (ffrt::is_checkpoint(head)) {
    auto em = std::make_unique<EngineModel>(load_checkpoint_model(ctx, path, data_dir));
    rt.open_pack(model_pack(em->model(), subject_names(*em->dataset)), threads);
    if (engine) *engine = std::move(em);
    return;
  }
  rt.open_file(path, threads);
}

// ---- cameras ---------------------------------------------------------------------------------------------
struct Cam {
  std::array<double, 9> R{};   // world→camera rotation, row-major
  std::array<double, 3> t{};   // world→camera translation
  double fx = 1, fy = 1, cx = 0, cy = 0;
  int width = 0, height = 0;
  std::array<double, 3> center() const {  // −Rᵀt
    return {-(R[0] * t[0] + R[3] * t[1] + R[6] * t[2]), -(R[1] * t[0] + R[4] * t[1] + R[7] * t[2]),
            -(R[2] * t[0] + R[5] * t[1] + R[8] * t[2])};
  }
  ff_camera to_ff() const {
    ff_camera c{};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) c.viewmat[4 * i + j] = float(R[size_t(3 * i + j)]);
      c.viewmat[4 * i + 3] = float(t[size_t(i)]);
    }
    c.viewmat[15] = 1;
    c.fx = float(fx), c.fy = float(fy), c.cx = float(cx), c.cy = float(cy);
    c.width = width, c.height = height;
    return c;
  }
};

inline Cam from_viewmat(const double* V, double fx, double fy, double cx, double cy, int w, int h) {
  Cam c;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) c.R[size_t(3 * i + j)] = V[4 * i + j];
    c.t[size_t(i)] = V[4 * i + 3];
  }
  c.fx = fx, c.fy = fy, c.cx = cx, c.cy = cy, c.width = w, c.height = h;
  return c;
}

inline Cam dataset_camera(const train::Dataset& ds, int s, int v) {
  train::Camera k = ds.camera(s, v);
  return from_viewmat(k.viewmat.data(), k.intrinsics[0], k.intrinsics[1], k.intrinsics[2], k.intrinsics[3], k.width,
                      k.height);
}

// Rescale intrinsics to a new image width (aspect kept) — any subject's calibration at any output size.
inline Cam resized(Cam c, int width) {
  if (width <= 0 || width == c.width) return c;
  const double s = double(width) / c.width;
  c.fx *= s, c.fy *= s, c.cx *= s, c.cy *= s;
  c.width = width;
  c.height = std::max(1, int(std::lround(c.height * s)));
  return c;
}

inline std::array<double, 3> normalized(std::array<double, 3> v) {
  const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  if (n > 0)
    for (auto& x : v) x /= n;
  return v;
}
inline std::array<double, 3> cross(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

// camera at eye looking at target; `down` = world direction that should point down in the image
inline Cam look_at(const std::array<double, 3>& eye, const std::array<double, 3>& target, std::array<double, 3> down,
                   double fx, double fy, double cx, double cy, int w, int h) {
  auto z = normalized({target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]});
  auto x = normalized(cross(down, z));
  if (x[0] == 0 && x[1] == 0 && x[2] == 0) x = normalized(cross({0, 0, 1}, z));
  auto y = cross(z, x);
  Cam c;
  for (int j = 0; j < 3; ++j) c.R[size_t(j)] = x[size_t(j)], c.R[size_t(3 + j)] = y[size_t(j)], c.R[size_t(6 + j)] = z[size_t(j)];
  for (int i = 0; i < 3; ++i)
    c.t[size_t(i)] = -(c.R[size_t(3 * i)] * eye[0] + c.R[size_t(3 * i + 1)] * eye[1] + c.R[size_t(3 * i + 2)] * eye[2]);
  c.fx = fx, c.fy = fy, c.cx = cx, c.cy = cy, c.width = w, c.height = h;
  return c;
}

// rotation matrix ↔ unit quaternion (w, x, y, z)
inline std::array<double, 4> mat_to_quat(const std::array<double, 9>& m) {
  std::array<double, 4> q;
  const double tr = m[0] + m[4] + m[8];
  if (tr > 0) {
    double s = std::sqrt(tr + 1.0) * 2;
    q = {0.25 * s, (m[7] - m[5]) / s, (m[2] - m[6]) / s, (m[3] - m[1]) / s};
  } else if (m[0] > m[4] && m[0] > m[8]) {
    double s = std::sqrt(1.0 + m[0] - m[4] - m[8]) * 2;
    q = {(m[7] - m[5]) / s, 0.25 * s, (m[1] + m[3]) / s, (m[2] + m[6]) / s};
  } else if (m[4] > m[8]) {
    double s = std::sqrt(1.0 + m[4] - m[0] - m[8]) * 2;
    q = {(m[2] - m[6]) / s, (m[1] + m[3]) / s, 0.25 * s, (m[5] + m[7]) / s};
  } else {
    double s = std::sqrt(1.0 + m[8] - m[0] - m[4]) * 2;
    q = {(m[3] - m[1]) / s, (m[2] + m[6]) / s, (m[5] + m[7]) / s, 0.25 * s};
  }
  const double n = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  for (auto& v : q) v /= n;
  return q;
}
inline std::array<double, 9> quat_to_mat(const std::array<double, 4>& q) {
  const double w = q[0], x = q[1], y = q[2], z = q[3];
  return {1 - 2 * (y * y + z * z), 2 * (x * y - w * z),     2 * (x * z + w * y),
          2 * (x * y + w * z),     1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
          2 * (x * z - w * y),     2 * (y * z + w * x),     1 - 2 * (x * x + y * y)};
}
inline std::array<double, 4> slerp(std::array<double, 4> a, std::array<double, 4> b, double u) {
  double d = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
  if (d < 0) {
    for (auto& v : b) v = -v;
    d = -d;
  }
  std::array<double, 4> q;
  if (d > 0.9995) {
    for (int k = 0; k < 4; ++k) q[size_t(k)] = a[size_t(k)] + u * (b[size_t(k)] - a[size_t(k)]);
  } else {
    const double th = std::acos(d), s = std::sin(th);
    const double wa = std::sin((1 - u) * th) / s, wb = std::sin(u * th) / s;
    for (int k = 0; k < 4; ++k) q[size_t(k)] = wa * a[size_t(k)] + wb * b[size_t(k)];
  }
  const double n = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  for (auto& v : q) v /= n;
  return q;
}

// Between two cameras at u ∈ [0,1]: rotation slerp, camera centre and intrinsics linear (size of a).
inline Cam interpolate_camera(const Cam& a, const Cam& b, double u) {
  Cam c = a;
  c.R = quat_to_mat(slerp(mat_to_quat(a.R), mat_to_quat(b.R), u));
  const auto ca = a.center(), cb = b.center();
  std::array<double, 3> ctr;
  for (int k = 0; k < 3; ++k) ctr[size_t(k)] = ca[size_t(k)] + u * (cb[size_t(k)] - ca[size_t(k)]);
  for (int i = 0; i < 3; ++i)
    c.t[size_t(i)] = -(c.R[size_t(3 * i)] * ctr[0] + c.R[size_t(3 * i + 1)] * ctr[1] + c.R[size_t(3 * i + 2)] * ctr[2]);
  const double sx = double(a.width) / b.width, sy = double(a.height) / b.height;  // b's intrinsics at a's size
  c.fx = a.fx + u * (b.fx * sx - a.fx);
  c.fy = a.fy + u * (b.fy * sy - a.fy);
  c.cx = a.cx + u * (b.cx * sx - a.cx);
  c.cy = a.cy + u * (b.cy * sy - a.cy);
  return c;
}

// Orbit: `frames` cameras around `target` about the axis `up` (unit), starting from `start`'s centre and
// orientation (its distance, elevation and intrinsics), sweeping `degrees` (360: full turn; otherwise ±degrees/2
// around the start, there and back).
inline std::vector<Cam> orbit(const Cam& start, const std::array<double, 3>& target, std::array<double, 3> up,
                              int frames, double degrees) {
  up = normalized(up);
  const auto c0 = start.center();
  const std::array<double, 3> d0 = {c0[0] - target[0], c0[1] - target[1], c0[2] - target[2]};
  std::vector<Cam> out;
  for (int f = 0; f < frames; ++f) {
    double ang;
    if (degrees >= 360) ang = 2 * M_PI * f / frames;
    else ang = degrees * M_PI / 180 * 0.5 * std::sin(2 * M_PI * f / frames);
    // Rodrigues rotation of d0 and of the camera axes about `up`
    auto rot = [&](const std::array<double, 3>& v) {
      const double c = std::cos(ang), s = std::sin(ang), k = up[0] * v[0] + up[1] * v[1] + up[2] * v[2];
      const auto x = cross(up, v);
      return std::array<double, 3>{v[0] * c + x[0] * s + up[0] * k * (1 - c), v[1] * c + x[1] * s + up[1] * k * (1 - c),
                                   v[2] * c + x[2] * s + up[2] * k * (1 - c)};
    };
    const auto d = rot(d0);
    const std::array<double, 3> eye = {target[0] + d[0], target[1] + d[1], target[2] + d[2]};
    Cam c = start;
    for (int i = 0; i < 3; ++i) {
      const auto row = rot({start.R[size_t(3 * i)], start.R[size_t(3 * i + 1)], start.R[size_t(3 * i + 2)]});
      for (int j = 0; j < 3; ++j) c.R[size_t(3 * i + j)] = row[size_t(j)];
    }
    for (int i = 0; i < 3; ++i)
      c.t[size_t(i)] = -(c.R[size_t(3 * i)] * eye[0] + c.R[size_t(3 * i + 1)] * eye[1] + c.R[size_t(3 * i + 2)] * eye[2]);
    out.push_back(c);
  }
  return out;
}

inline std::array<double, 3> centroid(const std::vector<float>& xyz) {
  std::array<double, 3> c{0, 0, 0};
  const size_t n = xyz.size() / 3;
  for (size_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) c[size_t(k)] += xyz[3 * i + size_t(k)] / double(n);
  return c;
}

}  // namespace ff::apps

// ---- app helpers: options, code files, default cameras, frame output -------------------------------------------
#include <filesystem>
#include <nlohmann/json.hpp>

#include "train/data/image.h"

namespace ff::apps {

// Options "--name value" / "--name=value" against a table of (name, default, help); --help prints the table.
struct Options {
  struct Opt {
    std::string name, def, help;
  };
  std::string usage;
  std::vector<Opt> table;
  std::map<std::string, std::string> val;
  std::vector<std::string> given;
  Options(std::string u, std::vector<Opt> t) : usage(std::move(u)), table(std::move(t)) {
    for (auto& o : table) val[o.name] = o.def;
  }
  void print_help() const {
    std::printf("%s\n\nOptions (default in brackets):\n", usage.c_str());
    for (auto& o : table)
      std::printf("  --%-20s %s [%s]\n", o.name.c_str(), o.help.c_str(), o.def.empty() ? "none" : o.def.c_str());
    std::printf("  --%-20s %s\n", "help", "this text");
  }
  // returns false when --help was printed
  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        print_help();
        return false;
      }
      FF_CHECK(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (options are --name value; see --help)");
      std::string k = a.substr(2), v;
      const size_t eq = k.find('=');
      if (eq != std::string::npos) v = k.substr(eq + 1), k = k.substr(0, eq);
      FF_CHECK(val.count(k), "unknown option --", k, " (see --help)");
      if (eq == std::string::npos) {
        FF_CHECK(i + 1 < argc, "option --", k, " needs a value");
        v = argv[++i];
      }
      val[k] = v;
      given.push_back(k);
    }
    return true;
  }
  const std::string& str(const std::string& k) const { return val.at(k); }
  bool has(const std::string& k) const { return !val.at(k).empty(); }
  bool was_given(const std::string& k) const { return std::find(given.begin(), given.end(), k) != given.end(); }
  long integer(const std::string& k, long lo, long hi) const {
    const std::string& s = val.at(k);
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    FF_CHECK(!s.empty() && *end == 0 && v >= lo && v <= hi, "--", k, " must be an integer in [", lo, ", ", hi, "], got '",
             s, "'");
    return v;
  }
  double number(const std::string& k, double lo, double hi) const {
    const std::string& s = val.at(k);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    FF_CHECK(!s.empty() && *end == 0 && std::isfinite(v) && v >= lo && v <= hi, "--", k, " must be a number in [", lo,
             ", ", hi, "], got '", s, "'");
    return v;
  }
  std::vector<std::string> list(const std::string& k) const {
    std::vector<std::string> out;
    std::string cur;
    for (char c : val.at(k) + ",") {
      if (c == ',') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    return out;
  }
  std::array<float, 3> color(const std::string& k) const {
    auto l = list(k);
    FF_CHECK(l.size() == 3, "--", k, " must be r,g,b in [0,1], got '", val.at(k), "'");
    std::array<float, 3> c;
    for (int i = 0; i < 3; ++i) {
      char* end = nullptr;
      c[size_t(i)] = std::strtof(l[size_t(i)].c_str(), &end);
      FF_CHECK(*end == 0 && c[size_t(i)] >= 0 && c[size_t(i)] <= 1, "--", k, " must be r,g,b in [0,1], got '", val.at(k), "'");
    }
    return c;
  }
};

inline bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = (s[0] == '-' ? 1 : 0); i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return s != "-";
}

// A code file written by fit_image (fit.json: "code", and the photo camera "viewmat" + "camera"); positions come
// from the sibling face.ply when it has the model's Gaussian count, else they stay empty (→ the mean positions).
struct CodeFile {
  std::string path;
  std::vector<float> code, xyz;
  bool has_camera = false;
  Cam camera;
};
inline CodeFile read_code_file(const std::string& path, int code_dim, int num_gaussians) {
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
  if (j.contains("viewmat") && j.contains("camera") && j["viewmat"].is_array() && j["viewmat"].size() == 16) {
    double V[16];
    for (int i = 0; i < 16; ++i) V[i] = j["viewmat"][size_t(i)].get<double>();
    const json& k = j["camera"];
    cf.camera = from_viewmat(V, k.value("fx", 0.0), k.value("fy", 0.0), k.value("cx", 0.0), k.value("cy", 0.0),
                             k.value("width", 0), k.value("height", 0));
    cf.has_camera = cf.camera.fx > 0 && cf.camera.fy > 0 && cf.camera.width > 0 && cf.camera.height > 0;
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

// A frontal camera for a face in canonical space (y up, z out of the face): on +z, the Gaussians filling ~80%
// of the image height.
inline Cam default_camera(const std::vector<float>& xyz, int width, int height) {
  const auto c = centroid(xyz);
  double r = 1e-6;
  for (size_t i = 0; i + 2 < xyz.size(); i += 3) {
    const double dx = xyz[i] - c[0], dy = xyz[i + 1] - c[1], dz = xyz[i + 2] - c[2];
    r = std::max(r, std::sqrt(dx * dx + dy * dy + dz * dz));
  }
  const double dist = 4 * r, f = 0.5 * std::min(width, height) * dist / (1.25 * r);
  return look_at({c[0], c[1], c[2] + dist}, c, {0, -1, 0}, f, f, 0.5 * width, 0.5 * height, width, height);
}

// the world direction that is "up" in a camera's image: −(second row of R)
inline std::array<double, 3> camera_up(const Cam& c) { return {-c.R[3], -c.R[4], -c.R[5]}; }

inline void write_png_rgba(const std::string& path, const std::vector<uint8_t>& rgba, int w, int h, bool keep_alpha) {
  data::Image8 im(w, h, keep_alpha ? 4 : 3);
  for (size_t i = 0; i < size_t(w) * h; ++i)
    for (int c = 0; c < im.channels; ++c) im.pixels[i * size_t(im.channels) + size_t(c)] = rgba[4 * i + size_t(c)];
  data::write_png(path, im);
}

inline bool have_ffmpeg() { return std::system("command -v ffmpeg > /dev/null 2>&1") == 0; }

// "S:V" → (subject, view) of the dataset
inline std::pair<int, int> parse_view(const std::string& s, const train::Dataset& ds) {
  const size_t colon = s.find(':');
  FF_CHECK(colon != std::string::npos && is_integer(s.substr(0, colon)) && is_integer(s.substr(colon + 1)),
           "camera '", s, "' must be SUBJECT:VIEW (e.g. 0:3)");
  const int sub = std::stoi(s.substr(0, colon)), v = std::stoi(s.substr(colon + 1));
  FF_CHECK(sub >= 0 && sub < ds.num_subjects(), "camera '", s, "': subject ", sub, " out of range (", ds.num_subjects(),
           " subjects)");
  FF_CHECK(v >= 0 && v < ds.num_views(sub), "camera '", s, "': view ", v, " out of range (subject ", sub, " has ",
           ds.num_views(sub), " views)");
  return {sub, v};
}

}  // namespace ff::apps
