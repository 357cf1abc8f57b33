// train/fit/dlib_format.cpp — see dlib_format.h.
#include "train/fit/dlib_format.h"

#if defined(FF_WITH_DLIB)
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace ff::fit {
namespace {

// the bytes of a dlib serialisation, read front to back
class DlibBytes {
 public:
  DlibBytes(const char* p, size_t n) : p_(reinterpret_cast<const uint8_t*>(p)), end_(p_ + n) {}
  int64_t integer(int max_bytes = 8) {
    need(1);
    const uint8_t c = *p_++;
    const int len = c & 0x0F;
    if (len == 0 || len > max_bytes || (c & 0x70)) fail("integer");
    need(size_t(len));
    uint64_t v = 0;
    for (int i = len - 1; i >= 0; --i) v = v << 8 | p_[i];
    p_ += len;
    if (len == 8 && (v >> 63)) fail("integer");
    return (c & 0x80) ? -int64_t(v) : int64_t(v);
  }
  uint64_t count(uint64_t most) {
    const int64_t v = integer();
    if (v < 0 || uint64_t(v) > most) fail("count");
    return uint64_t(v);
  }
  float real() {
    const int64_t mantissa = integer(8), exponent = integer(2);
    if (exponent >= -1000 && exponent <= 1000) {
      // ldexp(float(m), e) exactly, without its call: float(m) scaled by 2^e in double is exact, and the one
      // rounding to float is ldexp's (the test compares the whole predictor with dlib's, byte for byte)
      uint64_t bits = uint64_t(exponent + 1023) << 52;
      double scale;
      std::memcpy(&scale, &bits, 8);
      return float(double(float(mantissa)) * scale);
    }
    if (exponent < 32000) return std::ldexp(float(mantissa), int(exponent));
    if (exponent == 32000) return std::numeric_limits<float>::infinity();
    if (exponent == 32001) return -std::numeric_limits<float>::infinity();
    return std::numeric_limits<float>::quiet_NaN();
  }
  dlib::matrix<float, 0, 1> column() {
    int64_t nr = integer(), nc = integer();
    if (nr < 0) nr = -nr, nc = -nc;
    if (nc != 1 || nr > (1 << 20)) fail("column matrix");
    dlib::matrix<float, 0, 1> m(nr);
    for (int64_t i = 0; i < nr; ++i) m(i) = real();
    return m;
  }
  bool done() const { return p_ == end_; }

 private:
  void need(size_t n) const {
    if (size_t(end_ - p_) < n) fail("data (the file ends early)");
  }
  [[noreturn]] static void fail(const char* what) { throw std::runtime_error(std::string("unexpected ") + what); }
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace

dlib::shape_predictor read_shape_predictor(const char* bytes, size_t size) {
  DlibBytes in(bytes, size);
  if (in.integer() != 1) throw std::runtime_error("unexpected shape_predictor version");
  const dlib::matrix<float, 0, 1> initial = in.column();
  const long parts = initial.size() / 2;
  if (parts == 0 || initial.size() % 2) throw std::runtime_error("unexpected initial shape");
  std::vector<std::vector<dlib::impl::regression_tree>> forests(in.count(1000));
  for (auto& forest : forests) {
    forest.resize(in.count(100000));
    for (dlib::impl::regression_tree& tree : forest) {
      tree.splits.resize(in.count(1 << 20));
      for (dlib::impl::split_feature& s : tree.splits) {
        s.idx1 = in.count(1 << 20);
        s.idx2 = in.count(1 << 20);
        s.thresh = in.real();
      }
      tree.leaf_values.resize(in.count(1 << 21));
      if (tree.leaf_values.size() != tree.splits.size() + 1) throw std::runtime_error("unexpected tree");
      for (auto& leaf : tree.leaf_values) {
        leaf = in.column();
        if (leaf.size() != initial.size()) throw std::runtime_error("unexpected leaf");
      }
    }
  }
  std::vector<std::vector<unsigned long>> anchors(in.count(1000));
  for (auto& a : anchors) {
    a.resize(in.count(1 << 20));
    for (unsigned long& i : a) i = in.count(uint64_t(parts - 1));
  }
  std::vector<std::vector<dlib::vector<float, 2>>> pixels(in.count(1000));
  if (pixels.size() != anchors.size() || pixels.size() != forests.size()) throw std::runtime_error("unexpected cascades");
  for (size_t c = 0; c < pixels.size(); ++c) {
    pixels[c].resize(in.count(1 << 20));
    if (pixels[c].size() != anchors[c].size()) throw std::runtime_error("unexpected deltas");
    for (size_t j = 0; j < pixels[c].size(); ++j) {
      const float dx = in.real(), dy = in.real();
      const long a = long(anchors[c][j]);
      pixels[c][j] = dlib::vector<float, 2>(initial(2 * a) + dx, initial(2 * a + 1) + dy);
    }
    for (const auto& tree : forests[c])
      for (const auto& s : tree.splits)
        if (s.idx1 >= pixels[c].size() || s.idx2 >= pixels[c].size()) throw std::runtime_error("unexpected split");
  }
  if (!in.done()) throw std::runtime_error("unexpected data after the predictor");
  return dlib::shape_predictor(initial, forests, pixels);
}

}  // namespace ff::fit
#endif
