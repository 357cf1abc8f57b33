// train/data/image.cpp — stb-backed image decoding (private, static stb symbols), PNG writing through
// flame::write_png, blur, contact sheets.
#include "train/data/image.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>

#include <zlib.h>

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

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// stb_image checks neither PNG chunk CRCs nor the zlib Adler-32, so a flipped bit decodes into wrong pixels. Walk
// the chunks: every chunk lies inside the file and its CRC-32 (zlib's crc32 over type + data) matches, and IEND is
// there (a truncated file is refused). The IDAT CRCs cover every compressed byte, so Adler-32 adds nothing.
void verify_png_chunks(const uint8_t* b, size_t n, const std::string& name) {
  size_t pos = 8;  // after the signature
  for (;;) {
    FF_CHECK(n - pos >= 12, name, ": corrupt PNG (truncated at byte ", pos, ", no IEND chunk)");
    const uint32_t len = be32(b + pos);
    FF_CHECK(len <= n - pos - 12, name, ": corrupt PNG (chunk at byte ", pos, " claims ", len, " bytes, ", n - pos - 12,
             " left)");
    const uint8_t* type = b + pos + 4;
    const uint32_t want = be32(type + 4 + len);
    const uint32_t got = uint32_t(crc32(crc32(0L, Z_NULL, 0), type, uInt(4 + len)));
    const std::string tname(reinterpret_cast<const char*>(type), 4);
    FF_CHECK(got == want, name, ": corrupt PNG (CRC mismatch in chunk '", tname, "' at byte ", pos, ")");
    pos += 12 + size_t(len);
    if (tname == "IEND") return;
  }
}

// JPEG has no checksum, and stb_image decodes a truncated JPEG into grey rows without an error (and, in the
// stb_image 2.27 the system ships, overruns a Huffman table whose code counts exceed 256: found by
// fuzz/fuzz_image.cpp). Walk the segments: each lies inside the file, every DHT table is well-formed, entropy-coded
// data after SOS runs to the next marker, and EOI is reached (bytes after EOI are allowed).
void verify_dht(const uint8_t* p, size_t len, size_t at, const std::string& name) {
  for (size_t k = 0; k < len;) {
    FF_CHECK(len - k >= 17, name, ": corrupt JPEG (short Huffman table in the segment at byte ", at, ")");
    FF_CHECK((p[k] >> 4) <= 1 && (p[k] & 15) <= 3, name, ": corrupt JPEG (Huffman table class/id ", int(p[k]),
             " in the segment at byte ", at, ")");
    size_t codes = 0, kraft = 0;  // Σ count[len]·2^(16−len): below 2^16 for a prefix code without the all-ones code
    for (int j = 1; j <= 16; ++j) {
      codes += p[k + size_t(j)];
      kraft += size_t(p[k + size_t(j)]) << (16 - j);
    }
    FF_CHECK(codes <= 256 && codes <= len - k - 17, name, ": corrupt JPEG (Huffman table with ", codes,
             " codes in the segment at byte ", at, ")");
    FF_CHECK(kraft < (size_t(1) << 16), name, ": corrupt JPEG (Huffman table code lengths are not a prefix code, in ",
             "the segment at byte ", at, ")");
    k += 17 + codes;
  }
}

void verify_jpeg_segments(const uint8_t* b, size_t n, size_t start, const std::string& name) {
  const std::string truncated = name + ": truncated JPEG (no end-of-image marker after the last scan)";
  for (size_t i = start;;) {  // after SOI
    FF_CHECK(i + 1 < n, truncated);
    FF_CHECK(b[i] == 0xFF, name, ": corrupt JPEG (expected a marker at byte ", i, ")");
    const uint8_t m = b[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    const size_t at = i;
    i += 2;
    if (m == 0xD9) return;                                  // EOI
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;    // TEM, RSTn: no length
    FF_CHECK(n - i >= 2, truncated);
    const size_t len = size_t(b[i]) << 8 | b[i + 1];
    FF_CHECK(len >= 2 && len <= n - i, name, ": truncated JPEG (segment at byte ", at, " claims ", len, " bytes, ",
             n - i, " left)");
    if (m == 0xC4) verify_dht(b + i + 2, len - 2, at, name);
    i += len;
    if (m == 0xDA)  // entropy-coded data: up to the next marker that is neither stuffing (FF 00) nor RSTn
      while (i + 1 < n && !(b[i] == 0xFF && b[i + 1] != 0x00 && (b[i + 1] < 0xD0 || b[i + 1] > 0xD7))) ++i;
  }
}

void verify_image_bytes(const uint8_t* b, size_t n, const std::string& name) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 8 && std::memcmp(b, kPng, 8) == 0) verify_png_chunks(b, n, name);
  else {
    // stb_image takes anything starting with fill bytes 0xFF… then SOI (D8) for a JPEG: check exactly those
    size_t soi = 0;
    while (soi < n && b[soi] == 0xFF) ++soi;
    if (soi >= 1 && soi < n && b[soi] == 0xD8) verify_jpeg_segments(b, n, soi + 1, name);
  }
}
}  // namespace

ImageInfo probe_image(const std::string& path) {
  // PNG/JPEG headers sit at the start; 64 KiB covers JPEG files with large EXIF/ICC blocks before SOF in practice.
  // Fall back to the whole file when the header is further in.
  ImageInfo in;
  npy::regular_file_size(path);  // a directory or a pipe is refused naming the path before anything is read
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
  verify_image_bytes(bytes, size, name);
  int w = 0, h = 0, c = 0;
  // A header may claim far more pixels than the bytes can encode (a 600-byte JPEG claiming 16k × 16k decodes for
  // minutes): refuse more than 4000 pixels per stored byte (real photos stay below ~100, flat synthetic images
  // below ~1000) and more than 2^28 pixels in all.
  if (stbi_info_from_memory(bytes, int(size), &w, &h, &c)) {
    const double px = double(w) * double(h);
    FF_CHECK(px <= 4000.0 * double(size) && px <= double(1 << 28), name, ": header claims ", w, "x", h,
             " pixels, implausible for ", size, " bytes (a damaged or hostile file)");
  }
  uint8_t* p = stbi_load_from_memory(bytes, int(size), &w, &h, &c, want);
  FF_CHECK(p != nullptr, name, ": cannot decode image (", stb_reason(), ")");
  Image8 im;
  im.width = w;
  im.height = h;
  im.channels = want ? want : c;
  try {
    im.pixels.assign(p, p + size_t(w) * h * im.channels);
  } catch (const std::bad_alloc&) {
    stbi_image_free(p);
    FF_THROW(name, ": out of memory for a ", w, "x", h, "x", im.channels, " image");
  }
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
