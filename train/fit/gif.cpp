// train/fit/gif.cpp — GIF89a encoder (see gif.h). The LZW loop follows the classic scheme (as in gif.h by
// C. Tangora): emit the current prefix when the extension is unknown, add the extension as the next code, widen the
// code when the next code no longer fits, and clear the table when it reaches 4095 codes.
#include "train/fit/gif.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/check.h"

namespace ff::fit {

namespace {
constexpr int kLevels[3] = {6, 7, 6};
constexpr int kBayer4[16] = {0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5};

void put16(std::vector<uint8_t>& o, int v) {
  o.push_back(uint8_t(v & 255));
  o.push_back(uint8_t((v >> 8) & 255));
}

struct BitWriter {
  std::vector<uint8_t> bytes;
  uint32_t acc = 0;
  int nbits = 0;
  void write(uint32_t code, int size) {
    acc |= code << nbits;
    nbits += size;
    while (nbits >= 8) {
      bytes.push_back(uint8_t(acc & 255));
      acc >>= 8;
      nbits -= 8;
    }
  }
  void flush() {
    if (nbits > 0) bytes.push_back(uint8_t(acc & 255));
    acc = 0;
    nbits = 0;
  }
};
}  // namespace

void GifWriter::palette_rgb(int i, uint8_t out[3]) {
  if (i >= 252) {
    out[0] = out[1] = out[2] = 0;
    return;
  }
  int r = i / (7 * 6), g = (i / 6) % 7, b = i % 6;
  out[0] = uint8_t((r * 255 + 2) / 5);
  out[1] = uint8_t((g * 255 + 3) / 6);
  out[2] = uint8_t((b * 255 + 2) / 5);
}

uint8_t GifWriter::quantize(const uint8_t rgb[3], int x, int y) {
  double thr = (kBayer4[(y & 3) * 4 + (x & 3)] + 0.5) / 16.0;  // in (0, 1)
  int q[3];
  for (int c = 0; c < 3; ++c) {
    double v = rgb[c] / 255.0 * (kLevels[c] - 1);
    int lo = int(v);
    q[c] = std::min(kLevels[c] - 1, lo + ((v - lo) > thr ? 1 : 0));
  }
  return uint8_t(q[0] * 42 + q[1] * 6 + q[2]);
}

std::vector<uint8_t> gif_lzw_encode(const uint8_t* idx, size_t n, int min_code_size) {
  const int clear = 1 << min_code_size, eoi = clear + 1;
  std::vector<uint16_t> next(4096 * 256, 0);  // next[code*256 + byte] = extended code, 0 = none
  BitWriter bw;
  int code_size = min_code_size + 1, max_code = eoi;
  bw.write(clear, code_size);
  int cur = -1;
  for (size_t i = 0; i < n; ++i) {
    uint8_t p = idx[i];
    if (cur < 0) {
      cur = p;
    } else if (next[size_t(cur) * 256 + p]) {
      cur = next[size_t(cur) * 256 + p];
    } else {
      bw.write(uint32_t(cur), code_size);
      next[size_t(cur) * 256 + p] = uint16_t(++max_code);
      if (max_code >= (1 << code_size)) ++code_size;
      if (max_code == 4095) {
        bw.write(clear, code_size);
        std::fill(next.begin(), next.end(), 0);
        code_size = min_code_size + 1;
        max_code = eoi;
      }
      cur = p;
    }
  }
  if (cur >= 0) bw.write(uint32_t(cur), code_size);
  bw.write(uint32_t(eoi), code_size);
  bw.flush();
  std::vector<uint8_t> out;
  out.push_back(uint8_t(min_code_size));
  for (size_t i = 0; i < bw.bytes.size(); i += 255) {
    size_t k = std::min<size_t>(255, bw.bytes.size() - i);
    out.push_back(uint8_t(k));
    out.insert(out.end(), bw.bytes.begin() + i, bw.bytes.begin() + i + k);
  }
  out.push_back(0);
  return out;
}

std::vector<uint8_t> gif_lzw_decode(const uint8_t* d, size_t n, size_t expected) {
  FF_CHECK(n >= 2, "gif: no image data");
  const int mcs = d[0];
  std::vector<uint8_t> bytes;
  size_t pos = 1;
  while (pos < n && d[pos] != 0) {
    size_t k = d[pos];
    FF_CHECK(pos + 1 + k <= n, "gif: truncated sub-block");
    bytes.insert(bytes.end(), d + pos + 1, d + pos + 1 + k);
    pos += 1 + k;
  }
  const int clear = 1 << mcs, eoi = clear + 1;
  std::vector<std::vector<uint8_t>> dict;
  auto reset = [&] {
    dict.assign(size_t(eoi) + 1, {});
    for (int i = 0; i < clear; ++i) dict[i] = {uint8_t(i)};
  };
  reset();
  int code_size = mcs + 1, prev = -1;
  size_t bit = 0;
  std::vector<uint8_t> out;
  while (bit + size_t(code_size) <= bytes.size() * 8) {
    uint32_t code = 0;
    for (int b = 0; b < code_size; ++b, ++bit) code |= uint32_t((bytes[bit / 8] >> (bit % 8)) & 1) << b;
    if (int(code) == clear) {
      reset();
      code_size = mcs + 1;
      prev = -1;
      continue;
    }
    if (int(code) == eoi) break;
    std::vector<uint8_t> entry;
    if (code < dict.size()) {
      entry = dict[code];
    } else {
      FF_CHECK(prev >= 0 && code == dict.size(), "gif: bad LZW code");
      entry = dict[prev];
      entry.push_back(dict[prev][0]);
    }
    out.insert(out.end(), entry.begin(), entry.end());
    if (prev >= 0 && dict.size() < 4096) {
      auto e = dict[prev];
      e.push_back(entry[0]);
      dict.push_back(e);
    }
    if (dict.size() == size_t(1) << code_size && code_size < 12) ++code_size;
    prev = int(code);
  }
  FF_CHECK(out.size() == expected, "gif: decoded ", out.size(), " indices, expected ", expected);
  return out;
}

GifWriter::GifWriter(int w, int h, int delay, int loops) : w_(w), h_(h), delay_(delay) {
  FF_CHECK(w > 0 && h > 0 && w < 65536 && h < 65536, "gif: bad size ", w, "x", h);
  for (char c : {'G', 'I', 'F', '8', '9', 'a'}) out_.push_back(uint8_t(c));  // signature (insert() trips GCC 12's
                                                                           // -Wstringop-overflow false positive)
  put16(out_, w);
  put16(out_, h);
  out_.push_back(0xF7);  // global colour table, 8 bits colour resolution, 256 entries
  out_.push_back(0);     // background index
  out_.push_back(0);     // aspect
  for (int i = 0; i < 256; ++i) {
    uint8_t c[3];
    palette_rgb(i, c);
    out_.insert(out_.end(), c, c + 3);
  }
  // NETSCAPE2.0 looping
  const uint8_t ext[] = {0x21, 0xFF, 0x0B, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0', 0x03, 0x01};
  out_.insert(out_.end(), ext, ext + sizeof ext);
  put16(out_, loops);
  out_.push_back(0);
}

void GifWriter::add_frame(const uint8_t* rgb) {
  FF_CHECK(!finished_, "gif: frame added after the file was finished");
  std::vector<uint8_t> idx(size_t(w_) * h_);
  for (int y = 0; y < h_; ++y)
    for (int x = 0; x < w_; ++x) idx[size_t(y) * w_ + x] = quantize(rgb + (size_t(y) * w_ + x) * 3, x, y);
  const uint8_t gce[] = {0x21, 0xF9, 0x04, 0x04 /*do not dispose*/};
  out_.insert(out_.end(), gce, gce + 4);
  put16(out_, delay_);
  out_.push_back(0);  // transparent index (unused)
  out_.push_back(0);
  out_.push_back(0x2C);
  put16(out_, 0);
  put16(out_, 0);
  put16(out_, w_);
  put16(out_, h_);
  out_.push_back(0);  // no local table, not interlaced
  auto lzw = gif_lzw_encode(idx.data(), idx.size(), 8);
  out_.insert(out_.end(), lzw.begin(), lzw.end());
  ++frames_;
}

const std::vector<uint8_t>& GifWriter::bytes() {
  if (!finished_) {
    out_.push_back(0x3B);
    finished_ = true;
  }
  return out_;
}

void GifWriter::save(const std::string& path) {
  const auto& b = bytes();
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    FF_CHECK(bool(f), "gif: cannot write '", tmp, "'");
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    FF_CHECK(bool(f), "gif: write failed for '", tmp, "'");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace ff::fit
