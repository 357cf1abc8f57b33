// train/fit/gif.h — a minimal animated-GIF (GIF89a) encoder: a fixed 6×7×6 RGB palette (252 colours; green gets
// the extra level because the eye is most sensitive to it) with 4×4 ordered (Bayer) dithering, variable-width
// LZW (9..12 bits, clear code at 4096), a NETSCAPE2.0 loop block, one Graphic Control Extension per frame.
// Frames must all be width × height RGB8. Deterministic; no dependencies.
//
//   ff::fit::GifWriter g(W, H, /*delay_cs=*/6);
//   for (auto& f : frames) g.add_frame(f.data());
//   g.save("turntable.gif");     // atomic (temp file + rename)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ff::fit {

class GifWriter {
 public:
  GifWriter(int width, int height, int delay_centiseconds = 5, int loops = 0 /*0 = forever*/);
  void add_frame(const uint8_t* rgb /*[H,W,3]*/);
  const std::vector<uint8_t>& bytes();  // the finished file (adds the trailer once)
  void save(const std::string& path);
  int frames() const { return frames_; }

  // palette index of a colour with the dither threshold of pixel (x, y) (exposed for tests)
  static uint8_t quantize(const uint8_t rgb[3], int x, int y);
  static void palette_rgb(int index, uint8_t out[3]);

 private:
  int w_, h_, delay_, frames_ = 0;
  bool finished_ = false;
  std::vector<uint8_t> out_;
};

// LZW-compress palette indices as GIF image data (min code size byte + sub-blocks + terminator); exposed for tests.
std::vector<uint8_t> gif_lzw_encode(const uint8_t* indices, size_t n, int min_code_size);
// The matching decoder (tests): sub-blocks → indices.
std::vector<uint8_t> gif_lzw_decode(const uint8_t* data, size_t n, size_t expected);

}  // namespace ff::fit
