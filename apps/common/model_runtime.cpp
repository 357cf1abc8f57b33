// apps/common/model_runtime.cpp — see model_runtime.h.
#include "apps/common/model_runtime.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "apps/common/cli.h"
#include "core/file.h"
#include "train/data/image.h"
#include "train/fit/gif.h"

namespace ff::apps {

int OpenedModel::num_views(int identity) const {
  return identity >= 0 && size_t(identity) < file.cameras.size() ? int(file.cameras[size_t(identity)].size()) : 0;
}

const Camera& OpenedModel::camera_of(const std::string& s) const {
  auto is_index = [](const std::string& t) {
    if (t.empty()) return false;
    for (char c : t)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return t.size() < 9;
  };
  const size_t colon = s.find(':');
  FF_CHECK(colon != std::string::npos && is_index(s.substr(0, colon)) && is_index(s.substr(colon + 1)), "camera '", s,
           "' must be IDENTITY:VIEW (e.g. 0:3)");
  FF_CHECK(has_cameras(), "camera '", s, "': model file '", file.path, "' holds no training cameras");
  const int id = std::stoi(s.substr(0, colon)), v = std::stoi(s.substr(colon + 1));
  FF_CHECK(id < int(file.cameras.size()), "camera '", s, "': identity ", id, " out of range (", file.cameras.size(),
           " identities)");
  FF_CHECK(v < num_views(id), "camera '", s, "': view ", v, " out of range (identity ", id, " has ", num_views(id),
           " training views)");
  return file.cameras[size_t(id)][size_t(v)];
}

std::unique_ptr<OpenedModel> open_model(Context& ctx, const std::string& path, int threads) {
  Step step("reading model file '" + path + "'");
  auto m = std::make_unique<OpenedModel>();
  FF_CHECK(std::filesystem::is_regular_file(path), "model file '", path, "' does not exist or is not a file");
  const std::string bytes = read_file(path);
  if (ffrt::is_pack(bytes) && ffrt::parse_pack(bytes, "'" + path + "'").kind == ffrt::kPackGaussians) {
    m->rt.open_file(path, threads);  // one identity's decoded Gaussians: nothing for the engine to load
    return m;
  }
  m->file = train::load_model_file(ctx, path, Device::cpu());
  const std::string pack = ffrt::pack_bytes(train::model_pack(m->file));
  m->rt.open_memory(pack.data(), pack.size(), threads);
  return m;
}

CodeFile read_code_file(const std::string& path, int code_dim, int num_gaussians) {
  Step step("reading code file '" + path + "'");
  CodeFile cf = parse_code_file(read_file(path), path, code_dim, num_gaussians);
  const std::filesystem::path ply = std::filesystem::path(path).parent_path() / "face.ply";
  if (cf.xyz.empty() && num_gaussians > 0 && std::filesystem::exists(ply)) {
    ffrt::GaussianSet g = ffrt::read_ply(ply.string());
    if (int(g.size()) == num_gaussians) cf.xyz = g.means;
  }
  return cf;
}

void write_png_rgba(const std::string& path, const std::vector<uint8_t>& rgba, int w, int h, bool keep_alpha) {
  data::Image8 im(w, h, keep_alpha ? 4 : 3);
  for (size_t i = 0; i < size_t(w) * h; ++i)
    for (int c = 0; c < im.channels; ++c) im.pixels[i * size_t(im.channels) + size_t(c)] = rgba[4 * i + size_t(c)];
  data::write_png(path, im);
}

bool have_ffmpeg() { return std::system("command -v ffmpeg > /dev/null 2>&1") == 0; }

struct FrameSequence::Gif {
  fit::GifWriter writer;
};

FrameSequence::FrameSequence(std::string folder, std::string program, int width, int height, int fps, bool gif)
    : folder_(std::move(folder)), program_(std::move(program)), width_(width), height_(height), fps_(fps) {
  if (gif) gif_ = std::make_unique<Gif>(Gif{fit::GifWriter(width, height, std::max(1, 100 / fps))});
}
FrameSequence::~FrameSequence() = default;

void FrameSequence::add(const std::vector<uint8_t>& rgba) {
  char name[64];
  std::snprintf(name, sizeof name, "frame_%04d.png", count_);
  write_png_rgba((std::filesystem::path(folder_) / name).string(), rgba, width_, height_, false);
  if (gif_) {
    std::vector<uint8_t> rgb(size_t(width_) * size_t(height_) * 3);
    for (size_t i = 0; i < size_t(width_) * size_t(height_); ++i)
      for (int c = 0; c < 3; ++c) rgb[3 * i + size_t(c)] = rgba[4 * i + size_t(c)];
    gif_->writer.add_frame(rgb.data());
  }
  ++count_;
}

void FrameSequence::finish(bool mp4, const std::string& target) {
  const char* p = program_.c_str();
  if (gif_) {
    gif_->writer.save((std::filesystem::path(folder_) / (program_ + ".gif")).string());
    std::printf("%s: wrote %s/%s.gif\n", p, target.c_str(), p);
  }
  if (!mp4) return;
  if (!have_ffmpeg()) {
    std::printf("%s: ffmpeg not found, no MP4 (frames and GIF written)\n", p);
    return;
  }
  const std::string cmd = "ffmpeg -loglevel error -y -framerate " + std::to_string(fps_) + " -i '" + folder_ +
                          "/frame_%04d.png' -pix_fmt yuv420p -vf 'pad=ceil(iw/2)*2:ceil(ih/2)*2' '" + folder_ + "/" +
                          program_ + ".mp4'";
  if (std::system(cmd.c_str()) == 0) std::printf("%s: wrote %s/%s.mp4\n", p, target.c_str(), p);
  else std::fprintf(stderr, "%s: ffmpeg failed; the PNG frames and GIF are complete\n", p);
}

}  // namespace ff::apps
