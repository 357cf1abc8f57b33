// fuzz/make_seeds.cpp — writes the seed inputs of the runtime-format targets (fuzz_fft, fuzz_ffck, fuzz_ffpk,
// fuzz_ply) with the code's own writers: small valid files of every kind, dtype and PLY variant, plus truncated
// and bit-flipped copies; and of fuzz_image (small PNGs and JPEGs of 1, 3, 4 channels from stb_image_write, the
// same encoder family as flame::write_png, plus damaged copies) and fuzz_split_json (valid and invalid splits). Run by fuzz/make_corpus.sh, which commits them under fuzz/corpus/<target>/.
//   fuzz_make_seeds OUT_DIR     (creates OUT_DIR/<target>/)
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/formats.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace {

std::string out_dir;

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(out_dir + "/" + target);
  ffrt::write_file(out_dir + "/" + target + "/" + name, bytes);
}
// a valid file and its damaged copies: cut in half, the last 8 bytes cut (the checksum), one bit flipped in the middle
void seed_damaged(const std::string& target, const std::string& name, const std::string& bytes) {
  seed(target, name, bytes);
  seed(target, name + ".half", bytes.substr(0, bytes.size() / 2));
  seed(target, name + ".minus8", bytes.substr(0, bytes.size() - 8));
  std::string flip = bytes;
  flip[flip.size() / 2] ^= 0x10;
  seed(target, name + ".flip", flip);
}

void append_bytes(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
}

// PNG and JPEG of 1, 3 and 4 channels (a gradient, so the filters and the DCT have work), and damaged copies
void image_seeds() {
  for (int c : {1, 3, 4}) {
    const int w = 13, h = 9;
    std::vector<unsigned char> px(size_t(w * h * c));
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>(i * 37 % 251);
    std::string png, jpg;
    stbi_write_png_to_func(append_bytes, &png, w, h, c, px.data(), w * c);
    seed_damaged("fuzz_image", "c" + std::to_string(c) + ".png", png);
    if (c == 4) continue;  // JPEG has no alpha
    stbi_write_jpg_to_func(append_bytes, &jpg, w, h, c, px.data(), 85);
    seed_damaged("fuzz_image", "c" + std::to_string(c) + ".jpg", jpg);
  }
}

ffrt::GaussianSet gaussians(int n) {
  ffrt::GaussianSet g;
  g.resize(size_t(n));
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {
      g.means[3 * i + c] = 0.1f * float(i + c);
      g.log_scales[3 * i + c] = -3.0f + 0.5f * float(c);
      g.colors[3 * i + c] = 0.25f * float(c);
    }
    g.rotations[4 * i] = 1.0f;
    g.rotations[4 * i + 1 + i % 3] = 0.5f;
    g.opacities[i] = 0.5f + 0.1f * float(i % 4);
  }
  return g;
}

// every dtype, an empty and a scalar record
void add_all_dtypes(ffrt::ContainerWriter& w) {
  const float f[6] = {1.5f, -2, 0, 3, 4, 5};
  const double d[2] = {0.25, -1e30};
  const int32_t i[3] = {-1, 0, 7};
  const int64_t l[1] = {int64_t(1) << 40};
  w.add("param/x", ffrt::kF32, {2, 3}, f, sizeof f);
  w.add("buffer/G.filter", ffrt::kF64, {2}, d, sizeof d);
  w.add("layout/tri", ffrt::kI32, {1, 3}, i, sizeof i);
  w.add("adam.step/x", ffrt::kI64, {}, l, sizeof l);
  w.add("names", ffrt::kU8, {5}, "ann\nb", 5);
  w.add("empty", ffrt::kF32, {0, 4}, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR\n");
    return 2;
  }
  out_dir = argv[1];
  try {
    for (ffrt::FileKind kind : {ffrt::FileKind::kTensors, ffrt::FileKind::kCheckpoint, ffrt::FileKind::kPack}) {
      const std::string target = kind == ffrt::FileKind::kTensors      ? "fuzz_fft"
                                 : kind == ffrt::FileKind::kCheckpoint ? "fuzz_ffck"
                                                                       : "fuzz_ffpk";
      ffrt::Header h;
      h.meta = kind == ffrt::FileKind::kTensors ? "" : "{\"steps\": 3}";
      h.step = 3;
      h.rng_counter = 12345;
      h.pack_kind = ffrt::kPackModel;
      ffrt::ContainerWriter w(kind, h);
      add_all_dtypes(w);
      seed_damaged(target, "v2_all_dtypes", w.finish());
      seed(target, "v2_empty", ffrt::ContainerWriter(kind, h).finish());
    }
    const ffrt::GaussianSet g = gaussians(5);
    seed_damaged("fuzz_ffpk", "v2_gaussians", ffrt::pack_bytes(ffrt::pack_from_gaussians(g)));
    seed_damaged("fuzz_ply", "deg0.ply", ffrt::ply_bytes(g, 0));
    seed("fuzz_ply", "deg3.ply", ffrt::ply_bytes(gaussians(2), 3));
    // the reader's other paths: ascii, other property types and order, an element before `vertex`
    seed("fuzz_ply", "ascii.ply",
         "ply\nformat ascii 1.0\ncomment made by fuzz/make_seeds.cpp\nelement vertex 2\n"
         "property float x\nproperty float y\nproperty float z\nproperty float f_dc_0\nproperty float f_dc_1\n"
         "property float f_dc_2\nproperty float opacity\nproperty float scale_0\nproperty float scale_1\n"
         "property float scale_2\nproperty float rot_0\nproperty float rot_1\nproperty float rot_2\n"
         "property float rot_3\nend_header\n0 0 0 0.1 0.2 0.3 0 -3 -3 -3 1 0 0 0\n1 2 3 -1 0 1 2 -2 -2 -2 0 1 0 0\n");
    std::string typed =
        "ply\nformat binary_little_endian 1.0\nelement face 1\nproperty uchar a\nproperty short b\n"
        "element vertex 1\nproperty double rot_0\nproperty int x\nproperty uint y\nproperty char z\n"
        "property ushort f_dc_0\nproperty float64 f_dc_1\nproperty float32 f_dc_2\nproperty int8 opacity\n"
        "property uint8 scale_0\nproperty int16 scale_1\nproperty uint16 scale_2\nproperty int32 rot_1\n"
        "property uint32 rot_2\nproperty float rot_3\nproperty float binding_0\nend_header\n";
    typed += std::string(3, '\x01');  // the face element: uchar + short
    const double rot0 = 1;
    typed.append(reinterpret_cast<const char*>(&rot0), 8);
    typed += std::string(4 + 4 + 1 + 2, '\x02');   // x y z f_dc_0
    typed += std::string(8, '\0');                 // f_dc_1
    typed += std::string(4 + 1 + 1 + 2 + 2 + 4 + 4 + 4 + 4, '\x03');  // f_dc_2 .. binding_0
    seed("fuzz_ply", "typed.ply", typed);
    image_seeds();
    seed("fuzz_split_json", "split.json", "{\"train\": [\"000\", \"001\"], \"heldout\": [\"002\"], \"note\": \"x\"}");
    seed("fuzz_split_json", "empty_lists.json", "{\"train\": [], \"heldout\": []}");
    seed("fuzz_split_json", "both.json", "{\"train\": [\"a\"], \"heldout\": [\"a\"]}");
    seed("fuzz_split_json", "types.json", "{\"train\": \"a\", \"heldout\": [1, null, {\"x\": []}]}");
    seed("fuzz_split_json", "cut.json", "{\"train\": [\"000\", \"0");
  } catch (const ffrt::Error& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
