// train/data/image.cpp — stb-backed image decoding (private, static stb symbols), PNG writing through
// flame::write_png, blur, contact sheets.
#include "train/data/image.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/check.h"
#include "flame/mesh_raster.h"
#include "flame/npy.h"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_GIF
#define STBI_NO_PSD
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS (1 << 15)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace ff::data {

namespace {
// stb keeps the failure reason in a thread-local-free global; we only use it for messages.
std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}
}  // namespace

ImageInfo probe_image(const std::string& path) {
  // PNG/JPEG headers sit at the start; 64 KiB covers JPEG files with large EXIF/ICC blocks before SOF in practice.
  // Fall back to the whole file when the header is further in.
  ImageInfo in;
  {
    std::ifstream f(path, std::ios::binary);
    FF_CHECK(f.good(), path, ": cannot open");
    std::vector<uint8_t> head(65536);
    f.read(reinterpret_cast<char*>(head.data()), std::streamsize(head.size()));
    head.resize(size_t(f.gcount()));
    if (stbi_info_from_memory(head.data(), int(head.size()), &in.width, &in.height, &in.channels)) return in;
  }
  std::vector<uint8_t> b = npy::read_file_bytes(path);
  FF_CHECK(b.size() < size_t(std::numeric_limits<int>::max()), path, ": file too large");
  FF_CHECK(stbi_info_from_memory(b.data(), int(b.size()), &in.width, &in.height, &in.channels), path,
           ": unreadable image (", stb_reason(), ")");
  return in;
}

Image8 decode_image(const uint8_t* bytes, size_t size, const std::string& name, int want) {
  FF_CHECK(want >= 0 && want <= 4, "decode_image: want_channels must be 0..4");
  FF_CHECK(size < size_t(std::numeric_limits<int>::max()), name, ": file too large");
  int w = 0, h = 0, c = 0;
  uint8_t* p = stbi_load_from_memory(bytes, int(size), &w, &h, &c, want);
  FF_CHECK(p != nullptr, name, ": cannot decode image (", stb_reason(), ")");
  Image8 im;
  im.width = w;
  im.height = h;
  im.channels = want ? want : c;
  im.pixels.assign(p, p + size_t(w) * h * im.channels);
  stbi_image_free(p);
  return im;
}

Image8 read_image(const std::string& path, int want) {
  std::vector<uint8_t> b = npy::read_file_bytes(path);
  return decode_image(b.data(), b.size(), path, want);
}

void write_png(const std::string& path, const Image8& im, int compression) {
  FF_CHECK(im.pixels.size() == size_t(std::max(im.width, 0)) * size_t(std::max(im.height, 0)) * size_t(std::max(im.channels, 0)),
           "write_png: inconsistent image ", im.width, "x", im.height, "x", im.channels, " (", im.pixels.size(),
           " bytes) for '", path, "'");
  flame::write_png(path, im.width, im.height, im.channels, im.pixels.data(), compression);
}

void gaussian_blur(float* plane, int w, int h, double sigma) {
  if (sigma <= 0 || w <= 0 || h <= 0) return;
  int r = int(std::ceil(3 * sigma));
  std::vector<float> k(size_t(2 * r + 1));
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[size_t(i + r)] = float(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (float& x : k) x = float(x / sum);
  // a line padded by r clamped samples on each side, so the tap loop has no bounds checks
  std::vector<float> line(size_t(std::max(w, h) + 2 * r));
  auto pass = [&](float* base, int n, size_t stride) {
    for (int i = 0; i < n + 2 * r; ++i) line[size_t(i)] = base[size_t(std::clamp(i - r, 0, n - 1)) * stride];
    for (int i = 0; i < n; ++i) {
      const float* l = &line[size_t(i)];
      float s = 0;
      for (int t = 0; t <= 2 * r; ++t) s += k[size_t(t)] * l[t];
      base[size_t(i) * stride] = s;
    }
  };
  for (int y = 0; y < h; ++y) pass(plane + size_t(y) * w, w, 1);  // rows
  for (int x = 0; x < w; ++x) pass(plane + x, h, size_t(w));      // columns
}

Image8 contact_sheet(const std::vector<const Image8*>& tiles, int cols, int max_tile_w, int pad) {
  FF_CHECK(!tiles.empty() && cols >= 1, "contact_sheet: no tiles");
  const Image8& t0 = *tiles[0];
  for (auto* t : tiles)
    FF_CHECK(t->width == t0.width && t->height == t0.height && t->channels == 3, "contact_sheet: tiles must be equal-size RGB");
  int f = 1;
  while (t0.width / f > max_tile_w && f < t0.width) ++f;
  int tw = t0.width / f, th = t0.height / f;
  int n = int(tiles.size()), rows = (n + cols - 1) / cols;
  Image8 out(cols * tw + (cols + 1) * pad, rows * th + (rows + 1) * pad, 3, 64);
  for (int i = 0; i < n; ++i) {
    int ox = pad + (i % cols) * (tw + pad), oy = pad + (i / cols) * (th + pad);
    for (int y = 0; y < th; ++y)
      for (int x = 0; x < tw; ++x)
        for (int c = 0; c < 3; ++c) {
          int s = 0;
          for (int dy = 0; dy < f; ++dy)
            for (int dx = 0; dx < f; ++dx) s += tiles[size_t(i)]->at(x * f + dx, y * f + dy)[c];
          out.at(ox + x, oy + y)[c] = uint8_t((s + f * f / 2) / (f * f));
        }
  }
  return out;
}

}  // namespace ff::data
