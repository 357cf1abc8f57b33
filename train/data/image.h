// train/data/image.h — 8-bit images: PNG/JPEG decode (stb_image), PNG encode (stb_image_write), header-only size
// probing, a separable Gaussian blur and a contact-sheet builder.
//
// Image8 is interleaved (HWC), row-major, top row first — the file layout; training wants planar float CHW,
// which NersembleReader produces. stb is compiled privately into image.cpp (STB_*_STATIC), so no other layer can clash
// with its symbols.
//
//   ff::data::Image8 im = ff::data::read_image("cam_222200037.png", 3);   // force 3 channels
//   ff::data::write_png("out.png", im);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ff::data {

struct Image8 {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // [H, W, C]
  Image8() = default;
  Image8(int w, int h, int c, uint8_t fill = 0) : width(w), height(h), channels(c), pixels(size_t(w) * h * c, fill) {}
  uint8_t* at(int x, int y) { return &pixels[(size_t(y) * width + x) * channels]; }
  const uint8_t* at(int x, int y) const { return &pixels[(size_t(y) * width + x) * channels]; }
  bool empty() const { return pixels.empty(); }
};

// Rec. 601 luma of an RGB triple, in the triple's own scale (bytes or [0, 1]): the grey level of the detector's
// texture test (train/fit/detect.cpp) and of the detail stage's shading (train/fit/detail_fit.cpp)
template <class T>
inline double luma601(const T* rgb) {
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
}

struct ImageInfo {
  int width = 0, height = 0, channels = 0;
};

// Reads only the header (PNG / JPEG / anything stb knows). Throws ff::Error naming the file when unreadable or
// not a regular file.
ImageInfo probe_image(const std::string& path);
// Decodes the whole file; want_channels 0 keeps the file's channels, else converts (1 = grey, 3 = RGB, 4 = RGBA).
// Integrity first (stb checks none of it): a PNG must have every chunk's CRC-32 right and end with IEND; a JPEG's
// segments must lie inside the file, its Huffman tables be well-formed, and EOI end its last scan (truncated files
// are refused). Every failure is an ff::Error naming the file.
Image8 read_image(const std::string& path, int want_channels = 0);
Image8 decode_image(const uint8_t* bytes, size_t size, const std::string& name, int want_channels = 0);
// PNG, written atomically, through flame::write_png (flame/mesh_raster.h). compression 1..9 (zlib level).
void write_png(const std::string& path, const Image8& im, int compression = 6);

// In-place separable Gaussian blur of a float plane [H, W] (σ in pixels, kernel radius ⌈3σ⌉, edges clamped).
void gaussian_blur(float* plane, int width, int height, double sigma);

// Tiles equally sized images into a grid with `cols` columns and a `pad`-pixel grey gutter; each tile is
// box-downscaled by an integer factor so that it is at most max_tile_w wide.
Image8 contact_sheet(const std::vector<const Image8*>& tiles, int cols, int max_tile_w = 1 << 30, int pad = 2);

}  // namespace ff::data
