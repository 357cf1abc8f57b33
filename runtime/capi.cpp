// runtime/capi.cpp — the C API of runtime/include/facefield.h over formats/infer/raster. Every entry point
// catches everything and turns it into a status + thread-local message.
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "runtime/formats.h"
#include "runtime/include/facefield.h"
#include "runtime/infer.h"
#include "runtime/raster.h"
#include "runtime/rig.h"
#ifdef FF_RUNTIME_CUDA
#include "runtime/raster_cuda.h"
#endif

struct ff_model {
  std::mutex mu;
  std::unique_ptr<ffrt::Network> net;  // kind-2 packs and checkpoints
  ffrt::GaussianSet gaussians;         // kind-1 packs
  std::unique_ptr<ffrt::Pool> pool;
  std::string what;
};

struct ff_gaussians {
  ffrt::GaussianSet g;
  std::vector<float> scales;  // exp(log_scales), what the rasterizer takes
  uint64_t id = 0;            // unique for the process's lifetime (the CUDA renderer's upload cache key)
};

struct ff_rig {
  std::mutex mu;
  std::unique_ptr<ffrt::Rig> rig;
  std::unique_ptr<ffrt::Pool> pool;
};

// One rasterizer: the CPU one, or (CUDA builds) one on a CUDA device.
struct ff_renderer {
  std::mutex mu;
  std::unique_ptr<ffrt::Rasterizer> cpu;
  std::vector<float> colors;  // a set with SH: its colours for the camera of the render in progress
#ifdef FF_RUNTIME_CUDA
  std::unique_ptr<ffrt::CudaRasterizer> cuda;
#endif
};

namespace {

thread_local std::string t_error;

ff_status fail(ff_status s, const std::string& msg) {
  t_error = msg;
  return s;
}

template <class F>
ff_status guard(F&& f) {
  try {
    f();
    return FF_OK;
  } catch (const ffrt::Error& e) {
    return fail(ff_status(e.status), e.what());
  } catch (const std::bad_alloc&) {
    return fail(FF_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(FF_ERROR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(FF_ERROR_INTERNAL, "internal error: unknown exception");
  }
}

[[noreturn]] void invalid(const std::string& msg) { throw ffrt::Error(ffrt::kInvalid, msg); }
void need(const void* p, const char* fn, const char* arg) {
  if (!p) invalid(std::string(fn) + ": " + arg + " is NULL");
}

// finite values, nonzero quaternions; builds the activated scales
ff_gaussians* make_gaussians(ffrt::GaussianSet&& g, const std::string& what) {
  g.check(what);
  const size_t n = g.size();
  auto bad = [&](size_t i, const char* field) {
    invalid(what + ": Gaussian " + std::to_string(i) + " has a non-finite or invalid " + field);
  };
  for (size_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {
      if (!std::isfinite(g.means[3 * i + c])) bad(i, "mean");
      if (!std::isfinite(g.log_scales[3 * i + c])) bad(i, "scale");
      if (!std::isfinite(g.colors[3 * i + c])) bad(i, "colour");
    }
    const float* q = &g.rotations[4 * i];
    if (!std::isfinite(q[0]) || !std::isfinite(q[1]) || !std::isfinite(q[2]) || !std::isfinite(q[3]) ||
        q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3] == 0.f)
      bad(i, "rotation (zero quaternion?)");
    if (!(g.opacities[i] >= 0.f && g.opacities[i] <= 1.f)) bad(i, "opacity (must be in [0,1])");
    if (g.has_sh())
      for (int k = 0; k < ffrt::kShRest * 3; ++k)
        if (!std::isfinite(g.sh_rest[i * ffrt::kShRest * 3 + size_t(k)])) bad(i, "SH coefficient");
  }
  if (n > size_t(1) << 30) invalid(what + ": too many Gaussians");
  static std::atomic<uint64_t> next_id{1};
  std::unique_ptr<ff_gaussians> out(new ff_gaussians);
  out->id = next_id.fetch_add(1);
  out->scales.resize(n * 3);
  for (size_t i = 0; i < n * 3; ++i) out->scales[i] = std::exp(g.log_scales[i]);
  out->g = std::move(g);
  return out.release();
}

void check_identity(ff_model* m, int identity, bool allow_mean, const char* fn) {
  const int n = m->net ? m->net->num_identities() : 1;
  if (identity < (allow_mean ? -1 : 0) || identity >= n)
    invalid(std::string(fn) + ": identity " + std::to_string(identity) + " out of range (" + m->what + " has " +
            std::to_string(n) + ")");
}

void need_generator(ff_model* m, const char* fn) {
  if (!m->net)
    throw ffrt::Error(ffrt::kUnsupported, std::string(fn) + ": " + m->what +
                                              " holds one identity's decoded Gaussians, not a generator; decode it "
                                              "with ff_decode_identity(model, 0, …)");
}

ff_gaussians* decode(ff_model* m, const float* code, const float* xyz) {
  std::vector<float> tex;
  m->net->texture(code, tex, *m->pool);
  ffrt::GaussianSet g;
  m->net->decode(tex, xyz, g, *m->pool);
  return make_gaussians(std::move(g), "decoded Gaussians");
}

ff_status open_bytes(const std::string& bytes, const std::string& what, int threads, ff_model** out) {
  return guard([&] {
    need(out, "ff_model_open", "out");
    std::unique_ptr<ff_model> m(new ff_model);
    m->what = what;
    ffrt::Pack p = ffrt::parse_model_file(bytes, what);
    if (p.kind == ffrt::kPackRig)
      throw ffrt::Error(ffrt::kUnsupported, what + " is a rig file: open it with ff_rig_open, and the identity's model "
                                                   "(or the rig's own Gaussians, ff_rig_gaussians) to pose");
    if (p.kind == ffrt::kPackGaussians) {
      m->gaussians = ffrt::gaussians_from_pack(p, what);
      std::unique_ptr<ff_gaussians> check(make_gaussians(ffrt::GaussianSet(m->gaussians), what));
    } else {
      m->net.reset(new ffrt::Network(p, what));
    }
    m->pool.reset(new ffrt::Pool(threads));
    *out = m.release();
  });
}

// the file's bytes handed to open(bytes, what), what = the quoted path for messages
template <class Open>
ff_status open_path(const char* path, const void* out, const char* fn, Open&& open) {
  std::string bytes;
  ff_status s = guard([&] {
    need(path, fn, "path");
    need(out, fn, "out");
    bytes = ffrt::read_file(path);
  });
  if (s != FF_OK) return s;
  return open(bytes, std::string("'") + path + "'");
}
template <class Open>
ff_status open_memory(const void* data, size_t size, const void* out, const char* fn, const char* what, Open&& open) {
  std::string bytes;
  ff_status s = guard([&] {
    need(data, fn, "data");
    need(out, fn, "out");
    bytes.assign(static_cast<const char*>(data), size);
  });
  if (s != FF_OK) return s;
  return open(bytes, what);
}

ff_status open_rig(const std::string& bytes, const std::string& what, int threads, ff_rig** out) {
  return guard([&] {
    if (threads < 0) invalid("ff_rig_open: threads must be ≥ 0, got " + std::to_string(threads));
    std::unique_ptr<ff_rig> r(new ff_rig);
    r->rig.reset(new ffrt::Rig(ffrt::parse_rig(bytes, what), what));
    r->pool.reset(new ffrt::Pool(threads));
    *out = r.release();
  });
}

// the C parameters (NULL: neutral; an all-zero rotation: the identity)
ffrt::RigParams rig_params(const ff_rig_params* p) {
  ffrt::RigParams r;
  if (!p) return r;
  r.expression = p->expression;
  r.num_expression = p->num_expression;
  std::memcpy(r.pose, p->pose, sizeof r.pose);
  bool zero = true;
  for (float v : p->rotation) zero = zero && v == 0.f;
  if (!zero) std::memcpy(r.rotation, p->rotation, sizeof r.rotation);
  std::memcpy(r.translation, p->translation, sizeof r.translation);
  return r;
}

}  // namespace

extern "C" {

#ifdef FF_RUNTIME_CUDA
FF_API const char* ff_version(void) { return "1.3 (cpu+cuda)"; }
FF_API int ff_cuda_device_count(void) { return ffrt::cuda_device_count(); }
#else
FF_API const char* ff_version(void) { return "1.3 (cpu)"; }
FF_API int ff_cuda_device_count(void) { return 0; }
#endif

FF_API const char* ff_status_name(ff_status s) {
  switch (s) {
    case FF_OK: return "FF_OK";
    case FF_ERROR_INVALID_ARGUMENT: return "FF_ERROR_INVALID_ARGUMENT";
    case FF_ERROR_IO: return "FF_ERROR_IO";
    case FF_ERROR_FORMAT: return "FF_ERROR_FORMAT";
    case FF_ERROR_UNSUPPORTED: return "FF_ERROR_UNSUPPORTED";
    case FF_ERROR_OUT_OF_MEMORY: return "FF_ERROR_OUT_OF_MEMORY";
    case FF_ERROR_INTERNAL: return "FF_ERROR_INTERNAL";
  }
  return "FF_ERROR_UNKNOWN";
}

FF_API const char* ff_last_error(void) { return t_error.c_str(); }

FF_API ff_status ff_model_open(const char* path, int threads, ff_model** out) {
  return open_path(path, out, "ff_model_open",
                   [&](const std::string& b, const std::string& what) { return open_bytes(b, what, threads, out); });
}

FF_API ff_status ff_model_open_memory(const void* data, size_t size, int threads, ff_model** out) {
  return open_memory(data, size, out, "ff_model_open_memory", "model in memory",
                     [&](const std::string& b, const std::string& what) { return open_bytes(b, what, threads, out); });
}

FF_API void ff_model_close(ff_model* m) { delete m; }

FF_API ff_status ff_model_get_info(ff_model* m, ff_model_info* info) {
  return guard([&] {
    need(m, "ff_model_get_info", "model");
    need(info, "ff_model_get_info", "info");
    std::lock_guard<std::mutex> l(m->mu);
    ff_model_info r{};
    if (m->net) {
      r.num_identities = m->net->num_identities();
      r.code_dim = m->net->code_dim();
      r.num_gaussians = m->net->num_gaussians();
      r.has_generator = 1;
      r.texture_resolution = m->net->texture_resolution();
      r.feature_channels = m->net->feature_channels();
    } else {
      r.num_identities = 1;
      r.num_gaussians = int(m->gaussians.size());
    }
    *info = r;
  });
}

FF_API ff_status ff_model_identity_name(ff_model* m, int identity, char* buf, size_t size) {
  return guard([&] {
    need(m, "ff_model_identity_name", "model");
    need(buf, "ff_model_identity_name", "buf");
    if (size == 0) invalid("ff_model_identity_name: size is 0");
    std::lock_guard<std::mutex> l(m->mu);
    check_identity(m, identity, false, "ff_model_identity_name");
    const std::string n = m->net ? m->net->names()[size_t(identity)] : std::string();
    const size_t k = std::min(size - 1, n.size());
    std::memcpy(buf, n.data(), k);
    buf[k] = '\0';
  });
}

FF_API ff_status ff_model_get_code(ff_model* m, int identity, float* code, int code_dim) {
  return guard([&] {
    need(m, "ff_model_get_code", "model");
    need(code, "ff_model_get_code", "code");
    std::lock_guard<std::mutex> l(m->mu);
    need_generator(m, "ff_model_get_code");
    check_identity(m, identity, false, "ff_model_get_code");
    if (code_dim != m->net->code_dim())
      invalid("ff_model_get_code: code_dim " + std::to_string(code_dim) + " != the model's " +
              std::to_string(m->net->code_dim()));
    std::memcpy(code, m->net->code(identity), sizeof(float) * size_t(code_dim));
  });
}

FF_API ff_status ff_model_get_positions(ff_model* m, int identity, float* xyz, size_t count) {
  return guard([&] {
    need(m, "ff_model_get_positions", "model");
    need(xyz, "ff_model_get_positions", "xyz");
    std::lock_guard<std::mutex> l(m->mu);
    check_identity(m, identity, true, "ff_model_get_positions");
    const size_t G = m->net ? size_t(m->net->num_gaussians()) : m->gaussians.size();
    if (count != 3 * G)
      invalid("ff_model_get_positions: count " + std::to_string(count) + " != 3·" + std::to_string(G));
    const float* src = !m->net ? m->gaussians.means.data()
                               : identity < 0 ? m->net->mean_positions().data() : m->net->positions(identity);
    std::memcpy(xyz, src, sizeof(float) * count);
  });
}

FF_API ff_status ff_decode_identity(ff_model* m, int identity, ff_gaussians** out) {
  return guard([&] {
    need(m, "ff_decode_identity", "model");
    need(out, "ff_decode_identity", "out");
    std::lock_guard<std::mutex> l(m->mu);
    check_identity(m, identity, false, "ff_decode_identity");
    if (!m->net) {
      *out = make_gaussians(ffrt::GaussianSet(m->gaussians), m->what);
      return;
    }
    *out = decode(m, m->net->code(identity), m->net->positions(identity));
  });
}

FF_API ff_status ff_decode_code(ff_model* m, const float* code, int code_dim, const float* positions,
                                size_t positions_count, ff_gaussians** out) {
  return guard([&] {
    need(m, "ff_decode_code", "model");
    need(code, "ff_decode_code", "code");
    need(out, "ff_decode_code", "out");
    std::lock_guard<std::mutex> l(m->mu);
    need_generator(m, "ff_decode_code");
    if (code_dim != m->net->code_dim())
      invalid("ff_decode_code: code has " + std::to_string(code_dim) + " values, the model's codes have " +
              std::to_string(m->net->code_dim()));
    for (int i = 0; i < code_dim; ++i)
      if (!std::isfinite(code[i])) invalid("ff_decode_code: code[" + std::to_string(i) + "] is not finite");
    const size_t G = size_t(m->net->num_gaussians());
    if (positions && positions_count != 3 * G)
      invalid("ff_decode_code: positions_count " + std::to_string(positions_count) + " != 3·" + std::to_string(G));
    *out = decode(m, code, positions ? positions : m->net->mean_positions().data());
  });
}

FF_API ff_status ff_decode_mix(ff_model* m, int n, const int* ids, const float* weights, ff_gaussians** out) {
  return guard([&] {
    need(m, "ff_decode_mix", "model");
    need(ids, "ff_decode_mix", "identities");
    need(weights, "ff_decode_mix", "weights");
    need(out, "ff_decode_mix", "out");
    if (n < 1) invalid("ff_decode_mix: n must be ≥ 1, got " + std::to_string(n));
    std::lock_guard<std::mutex> l(m->mu);
    need_generator(m, "ff_decode_mix");
    const int D = m->net->code_dim();
    const size_t G3 = size_t(m->net->num_gaussians()) * 3;
    std::vector<float> code(size_t(D), 0.f), xyz(G3, 0.f);
    for (int k = 0; k < n; ++k) {
      check_identity(m, ids[k], false, "ff_decode_mix");
      if (!std::isfinite(weights[k])) invalid("ff_decode_mix: weight " + std::to_string(k) + " is not finite");
      const float w = weights[k];
      const float* c = m->net->code(ids[k]);
      const float* p = m->net->positions(ids[k]);
      for (int i = 0; i < D; ++i) code[size_t(i)] += w * c[i];
      for (size_t i = 0; i < G3; ++i) xyz[i] += w * p[i];
    }
    *out = decode(m, code.data(), xyz.data());
  });
}

FF_API ff_status ff_gaussians_create(int n, const float* means, const float* scales, const float* rotations,
                                     const float* opacities, const float* colors, ff_gaussians** out) {
  return guard([&] {
    need(out, "ff_gaussians_create", "out");
    if (n < 0) invalid("ff_gaussians_create: n must be ≥ 0, got " + std::to_string(n));
    if (n > 0) {
      need(means, "ff_gaussians_create", "means");
      need(scales, "ff_gaussians_create", "scales");
      need(rotations, "ff_gaussians_create", "rotations");
      need(opacities, "ff_gaussians_create", "opacities");
      need(colors, "ff_gaussians_create", "colors");
    }
    ffrt::GaussianSet g;
    g.resize(size_t(n));
    for (size_t i = 0; i < size_t(n) * 3; ++i) {
      if (!(scales[i] > 0.f) || !std::isfinite(scales[i]))
        invalid("ff_gaussians_create: Gaussian " + std::to_string(i / 3) + " has a non-positive or non-finite scale");
      g.means[i] = means[i];
      g.log_scales[i] = std::log(scales[i]);
      g.colors[i] = colors[i];
    }
    if (n > 0) {
      std::memcpy(g.rotations.data(), rotations, sizeof(float) * size_t(n) * 4);
      std::memcpy(g.opacities.data(), opacities, sizeof(float) * size_t(n));
    }
    ff_gaussians* r = make_gaussians(std::move(g), "ff_gaussians_create");
    for (size_t i = 0; i < size_t(n) * 3; ++i) r->scales[i] = scales[i];  // exactly the caller's values
    *out = r;
  });
}

FF_API ff_status ff_gaussians_load(const char* path, ff_gaussians** out) {
  return guard([&] {
    need(path, "ff_gaussians_load", "path");
    need(out, "ff_gaussians_load", "out");
    *out = make_gaussians(ffrt::load_gaussians(path), std::string("'") + path + "'");
  });
}

FF_API void ff_gaussians_free(ff_gaussians* g) { delete g; }

FF_API int ff_gaussians_count(const ff_gaussians* g) { return g ? int(g->g.size()) : 0; }

FF_API ff_status ff_gaussians_read(const ff_gaussians* g, float* means, float* scales, float* rotations,
                                   float* opacities, float* colors) {
  return guard([&] {
    need(g, "ff_gaussians_read", "gaussians");
    const size_t n = g->g.size();
    if (means) std::memcpy(means, g->g.means.data(), n * 12);
    if (scales) std::memcpy(scales, g->scales.data(), n * 12);
    if (rotations) std::memcpy(rotations, g->g.rotations.data(), n * 16);
    if (opacities) std::memcpy(opacities, g->g.opacities.data(), n * 4);
    if (colors) std::memcpy(colors, g->g.colors.data(), n * 12);
  });
}

FF_API ff_status ff_gaussians_save(const ff_gaussians* g, const char* path, ff_format format, int sh_degree) {
  return guard([&] {
    need(g, "ff_gaussians_save", "gaussians");
    need(path, "ff_gaussians_save", "path");
    switch (format) {
      case FF_FORMAT_PLY: ffrt::write_ply(path, g->g, sh_degree); break;
      case FF_FORMAT_SPLAT: ffrt::write_splat(path, g->g); break;
      case FF_FORMAT_PACK: ffrt::write_pack(path, ffrt::pack_from_gaussians(g->g)); break;
      default: invalid("ff_gaussians_save: unknown format " + std::to_string(int(format)));
    }
  });
}

FF_API ff_status ff_renderer_create(int threads, ff_renderer** out) {
  return guard([&] {
    need(out, "ff_renderer_create", "out");
    if (threads < 0) invalid("ff_renderer_create: threads must be ≥ 0, got " + std::to_string(threads));
    std::unique_ptr<ff_renderer> r(new ff_renderer);
    r->cpu.reset(new ffrt::Rasterizer(threads));
    *out = r.release();
  });
}

FF_API ff_status ff_renderer_create_cuda(int device, ff_renderer** out) {
  return guard([&] {
    need(out, "ff_renderer_create_cuda", "out");
#ifdef FF_RUNTIME_CUDA
    std::unique_ptr<ff_renderer> r(new ff_renderer);
    try {
      r->cuda.reset(new ffrt::CudaRasterizer(device));
    } catch (const ffrt::Error& e) {
      throw ffrt::Error(e.status, std::string("ff_renderer_create_cuda: ") + e.what());
    }
    *out = r.release();
#else
    (void)device;
    throw ffrt::Error(ffrt::kUnsupported,
                      "ff_renderer_create_cuda: this library was built without CUDA (link libfacefield_cuda)");
#endif
  });
}

FF_API void ff_renderer_free(ff_renderer* r) { delete r; }

static ff_status render_impl(ff_renderer* r, const ff_gaussians* g, const ff_camera* cam, const float* bg,
                             const ffrt::RasterOutput& o, const char* fn) {
  return guard([&] {
    need(r, fn, "renderer");
    need(g, fn, "gaussians");
    need(cam, fn, "camera");
    if (bg)
      for (int c = 0; c < 3; ++c)
        if (!std::isfinite(bg[c])) invalid(std::string(fn) + ": background is not finite");
    ffrt::RasterCamera c;
    std::memcpy(c.viewmat, cam->viewmat, sizeof c.viewmat);
    c.fx = cam->fx, c.fy = cam->fy, c.cx = cam->cx, c.cy = cam->cy, c.width = cam->width, c.height = cam->height;
    ffrt::RasterGaussians rg;
    rg.n = int(g->g.size());
    rg.means = g->g.means.data();
    rg.scales = g->scales.data();
    rg.rotations = g->g.rotations.data();
    rg.opacities = g->g.opacities.data();
    rg.colors = g->g.colors.data();
    std::lock_guard<std::mutex> l(r->mu);
    if (g->g.has_sh()) {  // view-dependent colours: evaluated for this camera (the CUDA upload cache cannot keep them)
      ffrt::view_colors(g->g, c.viewmat, r->colors, r->cpu ? &r->cpu->pool() : nullptr);
      rg.colors = r->colors.data();
    }
#ifdef FF_RUNTIME_CUDA
    if (r->cuda) return r->cuda->render(rg, g->g.has_sh() ? 0 : g->id, c, bg, o);
#endif
    r->cpu->render(rg, c, bg, o);
  });
}

FF_API ff_status ff_render(ff_renderer* r, const ff_gaussians* g, const ff_camera* cam, const float* background,
                           uint8_t* rgba, size_t stride) {
  if (!rgba) return fail(FF_ERROR_INVALID_ARGUMENT, "ff_render: rgba is NULL");
  ffrt::RasterOutput o;
  o.rgba = rgba;
  o.stride = stride ? stride : (cam && cam->width > 0 ? size_t(cam->width) * 4 : 0);
  return render_impl(r, g, cam, background, o, "ff_render");
}

FF_API ff_status ff_render_float(ff_renderer* r, const ff_gaussians* g, const ff_camera* cam, const float* background,
                                 float* rgb_chw, float* alpha) {
  if (!rgb_chw) return fail(FF_ERROR_INVALID_ARGUMENT, "ff_render_float: rgb_chw is NULL");
  ffrt::RasterOutput o;
  o.rgb_chw = rgb_chw;
  o.alpha = alpha;
  return render_impl(r, g, cam, background, o, "ff_render_float");
}

FF_API ff_status ff_gaussians_save_ply(const ff_gaussians* g, const char* path, int sh_degree, int y_down) {
  return guard([&] {
    need(g, "ff_gaussians_save_ply", "gaussians");
    need(path, "ff_gaussians_save_ply", "path");
    if (y_down != 0 && y_down != 1)
      invalid("ff_gaussians_save_ply: y_down must be 0 or 1, got " + std::to_string(y_down));
    ffrt::write_ply(path, g->g, sh_degree, y_down == 1);
  });
}

FF_API ff_status ff_rig_open(const char* path, int threads, ff_rig** out) {
  return open_path(path, out, "ff_rig_open",
                   [&](const std::string& b, const std::string& what) { return open_rig(b, what, threads, out); });
}

FF_API ff_status ff_rig_open_memory(const void* data, size_t size, int threads, ff_rig** out) {
  return open_memory(data, size, out, "ff_rig_open_memory", "rig in memory",
                     [&](const std::string& b, const std::string& what) { return open_rig(b, what, threads, out); });
}

FF_API void ff_rig_close(ff_rig* rig) { delete rig; }

FF_API ff_status ff_rig_get_info(ff_rig* rig, ff_rig_info* info) {
  return guard([&] {
    need(rig, "ff_rig_get_info", "rig");
    need(info, "ff_rig_get_info", "info");
    const ffrt::RigData& d = rig->rig->data();
    ff_rig_info r{};
    r.num_vertices = d.V;
    r.num_faces = d.F;
    r.num_expression = d.E;
    r.num_joints = d.J;
    r.num_gaussians = d.G;
    r.has_gaussians = d.gaussians.size() > 0 ? 1 : 0;
    *info = r;
  });
}

FF_API ff_status ff_rig_gaussians(ff_rig* rig, ff_gaussians** out) {
  return guard([&] {
    need(rig, "ff_rig_gaussians", "rig");
    need(out, "ff_rig_gaussians", "out");
    const ffrt::RigData& d = rig->rig->data();
    if (d.gaussians.size() == 0)
      throw ffrt::Error(ffrt::kUnsupported, "ff_rig_gaussians: " + rig->rig->what() +
                                                " holds no Gaussians; decode the identity from its model");
    *out = make_gaussians(ffrt::GaussianSet(d.gaussians), rig->rig->what());
  });
}

FF_API ff_status ff_rig_pose(ff_rig* rig, const ff_gaussians* neutral, const ff_rig_params* params,
                             ff_gaussians** out) {
  return guard([&] {
    need(rig, "ff_rig_pose", "rig");
    need(out, "ff_rig_pose", "out");
    std::lock_guard<std::mutex> l(rig->mu);
    const ffrt::RigData& d = rig->rig->data();
    std::unique_ptr<ff_gaussians> own;
    if (!neutral) {
      if (d.gaussians.size() == 0)
        invalid("ff_rig_pose: neutral is NULL and " + rig->rig->what() + " holds no Gaussians");
      own.reset(make_gaussians(ffrt::GaussianSet(d.gaussians), rig->rig->what()));
      neutral = own.get();
    }
    ffrt::GaussianSet posed;
    rig->rig->pose(neutral->g, rig_params(params), posed, *rig->pool);
    std::unique_ptr<ff_gaussians> g(make_gaussians(std::move(posed), "posed Gaussians"));
    // a Gaussian whose log-scale did not change keeps the neutral's activated scale bit for bit (it may have been
    // given by the caller, ff_gaussians_create, rather than computed as exp(log-scale))
    for (size_t i = 0; i < g->scales.size(); ++i)
      if (g->g.log_scales[i] == neutral->g.log_scales[i]) g->scales[i] = neutral->scales[i];
    *out = g.release();
  });
}

FF_API ff_status ff_rig_posed_vertices(ff_rig* rig, const ff_rig_params* params, float* vertices, size_t count) {
  return guard([&] {
    need(rig, "ff_rig_posed_vertices", "rig");
    need(vertices, "ff_rig_posed_vertices", "vertices");
    const int V = rig->rig->data().V;
    if (count != size_t(V) * 3)
      invalid("ff_rig_posed_vertices: count " + std::to_string(count) + " != 3·" + std::to_string(V));
    std::vector<float> v;
    rig->rig->posed_vertices(rig_params(params), v);
    std::memcpy(vertices, v.data(), sizeof(float) * count);
  });
}

FF_API ff_status ff_rig_faces(ff_rig* rig, int32_t* faces, size_t count) {
  return guard([&] {
    need(rig, "ff_rig_faces", "rig");
    need(faces, "ff_rig_faces", "faces");
    const std::vector<int32_t>& f = rig->rig->data().faces;
    if (count != f.size()) invalid("ff_rig_faces: count " + std::to_string(count) + " != " + std::to_string(f.size()));
    if (count) std::memcpy(faces, f.data(), sizeof(int32_t) * count);
  });
}

}  // extern "C"
