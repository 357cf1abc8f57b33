// flame/mesh_raster.cpp — see mesh_raster.h.
#include "flame/mesh_raster.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/file.h"
#include "core/geometry.h"

// stb in this translation unit only (static functions: no clash with other users of stb in the program).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
// PNG deflate through zlib (flame/ links it): several times faster than stb's own compressor.
#include <zlib.h>
static unsigned char* ff_png_deflate(unsigned char* data, int len, int* out_len, int level) {
  uLongf n = compressBound(uLong(len));
  unsigned char* out = static_cast<unsigned char*>(malloc(n));
  if (!out) return nullptr;
  if (compress2(out, &n, data, uLong(len), level) != Z_OK) {
    free(out);
    return nullptr;
  }
  *out_len = int(n);
  return out;
}
#define STBIW_ZLIB_COMPRESS ff_png_deflate
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace ff::flame {

namespace {
using V3 = Vec3d;
V3 sub(const V3& a, const V3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
uint8_t encode(double x, float gamma) {
  x = std::clamp(x, 0.0, 1.0);
  if (gamma != 1.f) x = std::pow(x, 1.0 / gamma);
  return uint8_t(std::lround(x * 255.0));
}
}  // namespace

void rasterize(const double* verts, int nv, const int32_t* faces, int nf, const RasterView& v, int ss, GBuffer& g,
               bool cull) {
  FF_CHECK(v.width > 0 && v.height > 0 && ss >= 1 && ss <= 8, "rasterize: bad size ", v.width, "x", v.height, " ss ", ss);
  FF_CHECK(v.fx > 0 && v.fy > 0, "rasterize: fx/fy must be positive");
  FF_CHECK(nv >= 0 && nf >= 0 && (nv == 0 || verts) && (nf == 0 || faces), "rasterize: bad mesh arguments");
  g.width = v.width;
  g.height = v.height;
  g.ss = ss;
  const int W = v.width * ss, H = v.height * ss;
  const size_t n = size_t(W) * H;
  g.tri.assign(n, -1);
  g.bary.resize(n * 2);
  g.depth.assign(n, INFINITY);
  const double fx = v.fx * ss, fy = v.fy * ss, cx = v.cx * ss, cy = v.cy * ss;
  const std::array<double, 16>& M = v.viewmat;
  // camera-space vertices and their projections
  std::vector<double> pc(size_t(nv) * 3), uv(size_t(nv) * 2);
  for (int i = 0; i < nv; ++i) {
    const double* p = verts + size_t(i) * 3;
    for (int a = 0; a < 3; ++a)
      pc[size_t(i) * 3 + a] = M[size_t(a * 4)] * p[0] + M[size_t(a * 4 + 1)] * p[1] + M[size_t(a * 4 + 2)] * p[2] + M[size_t(a * 4 + 3)];
    double z = pc[size_t(i) * 3 + 2];
    if (z > v.near) {
      uv[size_t(i) * 2] = fx * pc[size_t(i) * 3] / z + cx;
      uv[size_t(i) * 2 + 1] = fy * pc[size_t(i) * 3 + 1] / z + cy;
    }
  }
  for (int f = 0; f < nf; ++f) {
    const int32_t* t = faces + size_t(f) * 3;
    FF_CHECK(t[0] >= 0 && t[0] < nv && t[1] >= 0 && t[1] < nv && t[2] >= 0 && t[2] < nv, "rasterize: face ", f,
             " index out of range");
    const double *P0 = &pc[size_t(t[0]) * 3], *P1 = &pc[size_t(t[1]) * 3], *P2 = &pc[size_t(t[2]) * 3];
    if (P0[2] <= v.near || P1[2] <= v.near || P2[2] <= v.near) continue;
    if (cull) {
      const V3 nrm = cross({P1[0] - P0[0], P1[1] - P0[1], P1[2] - P0[2]}, {P2[0] - P0[0], P2[1] - P0[1], P2[2] - P0[2]});
      if (dot(nrm, {P0[0], P0[1], P0[2]}) >= 0) continue;
    }
    const double x0 = uv[size_t(t[0]) * 2], y0 = uv[size_t(t[0]) * 2 + 1];
    const double x1 = uv[size_t(t[1]) * 2], y1 = uv[size_t(t[1]) * 2 + 1];
    const double x2 = uv[size_t(t[2]) * 2], y2 = uv[size_t(t[2]) * 2 + 1];
    const double area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);
    if (!(std::fabs(area) > 1e-12)) continue;
    // sample (i, j) at (i + 0.5, j + 0.5): covered samples satisfy i + 0.5 ∈ [min, max]
    int xa = std::max(0, int(std::ceil(std::min({x0, x1, x2}) - 0.5)));
    int xb = std::min(W - 1, int(std::floor(std::max({x0, x1, x2}) - 0.5)));
    int ya = std::max(0, int(std::ceil(std::min({y0, y1, y2}) - 0.5)));
    int yb = std::min(H - 1, int(std::floor(std::max({y0, y1, y2}) - 0.5)));
    if (xa > xb || ya > yb) continue;
    const double inv_area = 1.0 / area;
    const double iz0 = 1.0 / P0[2], iz1 = 1.0 / P1[2], iz2 = 1.0 / P2[2];
    for (int j = ya; j <= yb; ++j) {
      const double py = j + 0.5;
      for (int i = xa; i <= xb; ++i) {
        const double px = i + 0.5;
        // screen-space barycentrics (sign-normalised by the area)
        double b1 = ((px - x0) * (y2 - y0) - (x2 - x0) * (py - y0)) * inv_area;
        double b2 = ((x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)) * inv_area;
        double b0 = 1.0 - b1 - b2;
        if (b0 < 0 || b1 < 0 || b2 < 0) continue;
        double iz = b0 * iz0 + b1 * iz1 + b2 * iz2;
        double z = 1.0 / iz;
        size_t s = size_t(j) * W + i;
        if (!(z < g.depth[s])) continue;
        g.depth[s] = float(z);
        g.tri[s] = f;
        g.bary[s * 2] = float(b1 * iz1 * z);
        g.bary[s * 2 + 1] = float(b2 * iz2 * z);
      }
    }
  }
}

std::vector<double> vertex_normals(const double* v, int nv, const int32_t* faces, int nf) {
  std::vector<double> n(size_t(nv) * 3, 0.0);
  for (int f = 0; f < nf; ++f) {
    const int32_t* t = faces + size_t(f) * 3;
    const double *a = v + size_t(t[0]) * 3, *b = v + size_t(t[1]) * 3, *c = v + size_t(t[2]) * 3;
    const V3 fn = cross({b[0] - a[0], b[1] - a[1], b[2] - a[2]}, {c[0] - a[0], c[1] - a[1], c[2] - a[2]});
    for (int k = 0; k < 3; ++k)
      for (int a2 = 0; a2 < 3; ++a2) n[size_t(t[k]) * 3 + a2] += fn[a2];
  }
  for (int i = 0; i < nv; ++i) {
    double* p = &n[size_t(i) * 3];
    double l = std::sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
    if (l > 0) {
      p[0] /= l;
      p[1] /= l;
      p[2] /= l;
    } else {
      p[2] = 1;
    }
  }
  return n;
}

RasterImage rasterize_mesh(const double* vertices, int V, const int32_t* faces, int F,
                           const PinholeCamera<double>& cam, const RasterOptions& o) {
  FF_CHECK(o.width > 0 && o.height > 0 && int64_t(o.width) * o.height <= (int64_t(1) << 28),
           "rasterize_mesh: bad image size ", o.width, "x", o.height);
  FF_CHECK(V >= 0 && F >= 0 && (V == 0 || vertices) && (F == 0 || faces), "rasterize_mesh: bad mesh arguments");
  if (o.face_albedo) FF_CHECK(o.face_albedo->size() == size_t(F) * 3, "rasterize_mesh: face_albedo must be [F, 3]");
  if (o.vertex_albedo)
    FF_CHECK(o.vertex_albedo->size() == size_t(V) * 3, "rasterize_mesh: vertex_albedo must be [V, 3]");
  const int W = o.width, H = o.height;
  RasterImage img;
  img.width = W;
  img.height = H;
  img.bary.assign(size_t(W) * H * 3, 0.f);

  // camera-space positions and normals
  std::vector<V3> pc(static_cast<size_t>(V)), nv(static_cast<size_t>(V), V3{0, 0, 0});
  for (int v = 0; v < V; ++v) {
    const double* x = vertices + size_t(v) * 3;
    for (int r = 0; r < 3; ++r)
      pc[size_t(v)][size_t(r)] = cam.R[r * 3] * x[0] + cam.R[r * 3 + 1] * x[1] + cam.R[r * 3 + 2] * x[2] + cam.t[r];
  }
  std::vector<V3> nf(static_cast<size_t>(F));
  for (int f = 0; f < F; ++f) {
    const int32_t* t = faces + size_t(f) * 3;
    for (int k = 0; k < 3; ++k) FF_CHECK(t[k] >= 0 && t[k] < V, "rasterize_mesh: face ", f, " vertex ", t[k], " out of range");
    V3 n = cross(sub(pc[size_t(t[1])], pc[size_t(t[0])]), sub(pc[size_t(t[2])], pc[size_t(t[0])]));
    nf[size_t(f)] = normalized(n);
    for (int k = 0; k < 3; ++k)
      for (int c = 0; c < 3; ++c) nv[size_t(t[k])][size_t(c)] += n[size_t(c)];
  }
  for (auto& n : nv) n = normalized(n);

  // visibility: the G-buffer at one sample per pixel
  RasterView view;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) view.viewmat[size_t(r * 4 + c)] = cam.R[r * 3 + c];
    view.viewmat[size_t(r * 4 + 3)] = cam.t[r];
  }
  view.viewmat[15] = 1;
  view.fx = cam.fx, view.fy = cam.fy, view.cx = cam.cx, view.cy = cam.cy;
  view.width = W, view.height = H;
  view.near = o.near;
  GBuffer g;
  rasterize(vertices, V, faces, F, view, 1, g);
  img.depth = std::move(g.depth);
  img.face_id = std::move(g.tri);
  for (size_t i = 0; i < size_t(W) * H; ++i)
    if (img.face_id[i] >= 0) {
      const float b1 = g.bary[i * 2], b2 = g.bary[i * 2 + 1];
      img.bary[i * 3] = 1.f - b1 - b2;
      img.bary[i * 3 + 1] = b1;
      img.bary[i * 3 + 2] = b2;
    }

  // shading pass
  V3 L = normalized(o.light_dir);
  img.rgb.resize(size_t(W) * H * 3);
  for (size_t i = 0; i < size_t(W) * H; ++i) {
    int32_t f = img.face_id[i];
    double col[3] = {o.background[0], o.background[1], o.background[2]};
    if (f >= 0) {
      const int32_t* t = faces + size_t(f) * 3;
      const float* bc = &img.bary[i * 3];
      V3 n = nf[size_t(f)];
      V3 p{0, 0, 0};
      for (int k = 0; k < 3; ++k)
        for (int c = 0; c < 3; ++c) p[size_t(c)] += bc[k] * pc[size_t(t[k])][size_t(c)];
      if (o.smooth_normals) {
        V3 s{0, 0, 0};
        for (int k = 0; k < 3; ++k)
          for (int c = 0; c < 3; ++c) s[size_t(c)] += bc[k] * nv[size_t(t[k])][size_t(c)];
        s = normalized(s);
        if (dot(s, s) > 0) n = s;
      }
      if (dot(n, p) > 0) n = {-n[0], -n[1], -n[2]};  // face the camera
      double alb[3] = {o.albedo[0], o.albedo[1], o.albedo[2]};
      if (o.face_albedo && (*o.face_albedo)[size_t(f) * 3] >= 0) {
        for (int c = 0; c < 3; ++c) alb[c] = (*o.face_albedo)[size_t(f) * 3 + size_t(c)];
      } else if (o.vertex_albedo) {
        for (int c = 0; c < 3; ++c) {
          alb[c] = 0;
          for (int k = 0; k < 3; ++k) alb[c] += bc[k] * (*o.vertex_albedo)[size_t(t[k]) * 3 + size_t(c)];
        }
      }
      double lam = std::max(0.0, dot(n, L));
      for (int c = 0; c < 3; ++c) col[c] = alb[c] * (o.ambient + o.diffuse * lam);
    }
    for (int c = 0; c < 3; ++c) img.rgb[i * 3 + size_t(c)] = encode(col[c], f >= 0 ? o.gamma : 1.f);
  }
  return img;
}

PinholeCamera<double> look_at_camera(const std::array<double, 3>& eye, const std::array<double, 3>& target,
                                     const std::array<double, 3>& up, double fx, double fy, double cx, double cy) {
  V3 f = normalized(sub(target, eye));
  V3 r = normalized(cross(f, up));
  FF_CHECK(dot(f, f) > 0 && dot(r, r) > 0, "look_at_camera: degenerate eye/target/up");
  V3 d = cross(f, r);  // image down
  PinholeCamera<double> c;
  c.fx = fx;
  c.fy = fy;
  c.cx = cx;
  c.cy = cy;
  for (int k = 0; k < 3; ++k) {
    c.R[k] = r[size_t(k)];
    c.R[3 + k] = d[size_t(k)];
    c.R[6 + k] = f[size_t(k)];
  }
  for (int i = 0; i < 3; ++i) c.t[i] = -(c.R[i * 3] * eye[0] + c.R[i * 3 + 1] * eye[1] + c.R[i * 3 + 2] * eye[2]);
  return c;
}

std::vector<uint8_t> downsample(const std::vector<uint8_t>& img, int W, int H, int C, int k) {
  FF_CHECK(k >= 1 && W % k == 0 && H % k == 0 && img.size() == size_t(W) * H * C,
           "downsample: size ", W, "x", H, "x", C, " is not divisible by ", k);
  int w = W / k, h = H / k;
  std::vector<uint8_t> out(size_t(w) * h * C);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < C; ++c) {
        int s = 0;
        for (int dy = 0; dy < k; ++dy)
          for (int dx = 0; dx < k; ++dx) s += img[(size_t(y * k + dy) * W + size_t(x * k + dx)) * C + size_t(c)];
        out[(size_t(y) * w + size_t(x)) * C + size_t(c)] = uint8_t((s + k * k / 2) / (k * k));
      }
  return out;
}

Canvas::Canvas(int w, int h, std::array<uint8_t, 3> fill) : width(w), height(h) {
  FF_CHECK(w > 0 && h > 0 && int64_t(w) * h <= (int64_t(1) << 28), "Canvas: bad size ", w, "x", h);
  rgb.resize(size_t(w) * h * 3);
  for (size_t i = 0; i < size_t(w) * h; ++i)
    for (int c = 0; c < 3; ++c) rgb[i * 3 + size_t(c)] = fill[size_t(c)];
}

void Canvas::paste(const uint8_t* img, int w, int h, int x0, int y0) {
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int X = x0 + x, Y = y0 + y;
      if (X < 0 || Y < 0 || X >= width || Y >= height) continue;
      for (int c = 0; c < 3; ++c) rgb[(size_t(Y) * width + size_t(X)) * 3 + size_t(c)] = img[(size_t(y) * w + size_t(x)) * 3 + size_t(c)];
    }
}

void Canvas::fill_rect(int x0, int y0, int w, int h, std::array<uint8_t, 3> col) {
  for (int y = std::max(0, y0); y < std::min(height, y0 + h); ++y)
    for (int x = std::max(0, x0); x < std::min(width, x0 + w); ++x)
      for (int c = 0; c < 3; ++c) rgb[(size_t(y) * width + size_t(x)) * 3 + size_t(c)] = col[size_t(c)];
}

void Canvas::dot(double cx, double cy, double r, std::array<uint8_t, 3> col) {
  for (int y = int(std::floor(cy - r)); y <= int(std::ceil(cy + r)); ++y)
    for (int x = int(std::floor(cx - r)); x <= int(std::ceil(cx + r)); ++x)
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) fill_rect(x, y, 1, 1, col);
}

void Canvas::line(int x0, int y0, int x1, int y1, std::array<uint8_t, 3> col) {
  const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  for (int err = dx + dy;;) {
    fill_rect(x0, y0, 1, 1, col);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void Canvas::text(int x, int y, const std::string& s, std::array<uint8_t, 3> col, int scale) {
  std::vector<char> buf(s.size() * 300 + 1000);
  std::string str = s;
  int quads = stb_easy_font_print(0, 0, str.data(), nullptr, buf.data(), int(buf.size()));
  const float* q = reinterpret_cast<const float*>(buf.data());  // 4 vertices × (x, y, z, rgba) = 16 bytes each
  for (int i = 0; i < quads; ++i) {
    const float* v = q + size_t(i) * 16;
    float qx0 = v[0], qy0 = v[1], qx1 = v[8], qy1 = v[9];
    int X0 = x + int(std::lround(std::min(qx0, qx1) * scale)), X1 = x + int(std::lround(std::max(qx0, qx1) * scale));
    int Y0 = y + int(std::lround(std::min(qy0, qy1) * scale)), Y1 = y + int(std::lround(std::max(qy0, qy1) * scale));
    fill_rect(X0, Y0, X1 - X0, Y1 - Y0, col);
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  std::string str = s;
  return stb_easy_font_width(str.data()) * scale;
}

void write_png(const std::string& path, int w, int h, int channels, const uint8_t* data, int compression) {
  FF_CHECK(w > 0 && h > 0 && channels >= 1 && channels <= 4 && data, "write_png: bad image for '", path, "' (", w, "x",
           h, "x", channels, ")");
  FF_CHECK(compression >= 1 && compression <= 9, "write_png: compression level ", compression, " for '", path,
           "' is not in 1..9");
  // stb's level is a global of this file: set per call. Concurrent writers (synth/preprocess threads) use one level;
  // a different level would only change the file size.
  stbi_write_png_compression_level = compression;
  std::string bytes;
  int ok = stbi_write_png_to_func(
      [](void* ctx, void* d, int n) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(d), size_t(n)); },
      &bytes, w, h, channels, data, w * channels);
  FF_CHECK(ok && !bytes.empty(), "write_png: encoding '", path, "' failed");
  try {
    write_file_atomic(path, bytes);
  } catch (const Error& e) {
    FF_THROW("write_png: cannot write '", path, "': ", e.what());
  }
}

}  // namespace ff::flame
