// train/identity_dataset.cpp — InMemoryDataset and the toy scene (see dataset.h).
#include "train/identity_dataset.h"

#include <algorithm>
#include <cmath>

#include "autograd/graph.h"
#include "core/geometry.h"
#include "core/rng.h"
#include "splat/splat_op.h"

namespace ff::train {

void InMemoryDataset::load_view(int s, int v, std::vector<uint8_t>& rgb, std::vector<uint8_t>& mask) const {
  const Subject& sub = subjects.at(s);
  rgb = sub.images.at(v);
  mask = v < int(sub.masks.size()) ? sub.masks[v] : std::vector<uint8_t>();
}

namespace {

struct ToyFace {
  double rx, ry, rz, nose, skin[3], iris[3], lips[3], eye_dx, mouth_w;
};

ToyFace toy_face(uint64_t seed, int id) {
  auto u = [&](int k) { return rng::uniform_at(seed * 1000003ULL + uint64_t(id), uint64_t(k)); };
  ToyFace f;
  f.rx = 0.075 * (0.9 + 0.2 * u(0));
  f.ry = 0.095 * (0.9 + 0.2 * u(1));
  f.rz = 0.060 * (0.85 + 0.3 * u(2));
  f.nose = 0.012 + 0.02 * u(3);
  const double tone = u(4);
  f.skin[0] = 0.55 + 0.4 * tone, f.skin[1] = 0.38 + 0.32 * tone, f.skin[2] = 0.28 + 0.3 * tone;
  const double ie = u(5);
  f.iris[0] = 0.1 + 0.3 * ie, f.iris[1] = 0.15 + 0.35 * u(6), f.iris[2] = 0.1 + 0.5 * (1 - ie);
  f.lips[0] = 0.55 + 0.35 * u(7), f.lips[1] = 0.15 + 0.2 * u(8), f.lips[2] = 0.2 + 0.15 * u(8);
  f.eye_dx = 0.13 + 0.06 * u(9);
  f.mouth_w = 0.12 + 0.08 * u(10);
  return f;
}

void toy_point(const ToyFace& f, double u, double v, double* p) {
  const double th = (u - 0.5) * 1.8, ph = (v - 0.5) * 1.8;
  const double bump = f.nose * std::exp(-(th * th / 0.02 + (ph + 0.05) * (ph + 0.05) / 0.08));
  p[0] = f.rx * std::sin(th) * std::cos(ph);
  p[1] = -f.ry * std::sin(ph);
  p[2] = -(f.rz * std::cos(th) * std::cos(ph) + bump);
}

void toy_color(const ToyFace& f, double u, double v, float* rgb) {
  double c[3] = {f.skin[0], f.skin[1], f.skin[2]};
  const double shade = 0.75 + 0.25 * std::cos((u - 0.5) * 2.2) * std::cos((v - 0.5) * 1.6);
  for (double& x : c) x *= shade;
  auto ell = [](double du, double dv, double a, double b) { return du * du / (a * a) + dv * dv / (b * b); };
  for (int side = -1; side <= 1; side += 2) {
    const double ex = 0.5 + side * f.eye_dx, ey = 0.62;
    const double e = ell(u - ex, v - ey, 0.07, 0.035);
    if (e < 1) c[0] = 0.93, c[1] = 0.92, c[2] = 0.9;        // sclera
    if (ell(u - ex, v - ey, 0.03, 0.03) < 1) std::copy(f.iris, f.iris + 3, c);
    if (ell(u - ex, v - ey, 0.012, 0.012) < 1) c[0] = c[1] = c[2] = 0.05;  // pupil
    if (ell(u - ex, v - (ey + 0.08), 0.08, 0.015) < 1) c[0] *= 0.35, c[1] *= 0.3, c[2] *= 0.3;  // brow
  }
  if (ell(u - 0.5, v - 0.28, f.mouth_w, 0.03) < 1) std::copy(f.lips, f.lips + 3, c);
  for (int i = 0; i < 3; ++i) rgb[i] = float(std::clamp(c[i], 0.0, 1.0));
}

flame::Mesh toy_mesh(const ToyFace& f, int rows, int cols) {
  flame::Mesh m;
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      double u = double(j) / (cols - 1), v = double(i) / (rows - 1), p[3];
      toy_point(f, u, v, p);
      m.vertices.insert(m.vertices.end(), p, p + 3);
      m.uvs.push_back(u);
      m.uvs.push_back(v);
    }
  for (int i = 0; i + 1 < rows; ++i)
    for (int j = 0; j + 1 < cols; ++j) {
      int a = i * cols + j, b = a + 1, c = a + cols, d = c + 1;
      m.faces.insert(m.faces.end(), {a, c, b, b, c, d});
    }
  return m;
}

}  // namespace

InMemoryDataset make_toy_dataset(const ToyOptions& opt) {
  FF_CHECK(opt.subjects >= 1 && opt.views >= 1 && opt.rows >= 2 && opt.cols >= 2, "make_toy_dataset: bad options");
  InMemoryDataset ds;
  ds.desc = "toy scene: " + std::to_string(opt.subjects) + " subjects × " + std::to_string(opt.views) + " views, " +
            std::to_string(opt.width) + "×" + std::to_string(opt.height);
  Context ctx(opt.seed, 1);
  NoGrad ng(ctx);
  const int W = opt.width, H = opt.height;
  for (int s = 0; s < opt.subjects; ++s) {
    const int id = opt.first_subject + s;
    ToyFace f = toy_face(opt.seed, id);
    InMemoryDataset::Subject sub;
    sub.name = "toy" + std::to_string(id);
    sub.mesh = toy_mesh(f, opt.rows, opt.cols);
    // teacher: dense textured Gaussians on the subject's surface
    const int tr = opt.render ? 4 * opt.rows * 3 : 0, tc = opt.render ? 4 * opt.cols * 3 : 0;
    std::vector<float> means, scales, rots, opac, cols;
    const double spacing = 1.8 * std::max(f.rx, f.ry) / std::max(1, std::max(tr, tc));
    for (int i = 0; i < tr; ++i)
      for (int j = 0; j < tc; ++j) {
        double u = (j + 0.5) / tc, v = (i + 0.5) / tr, p[3];
        toy_point(f, u, v, p);
        float rgb[3];
        toy_color(f, u, v, rgb);
        means.insert(means.end(), {float(p[0]), float(p[1]), float(p[2])});
        scales.insert(scales.end(), {float(spacing), float(spacing), float(spacing * 0.3)});
        rots.insert(rots.end(), {1.f, 0.f, 0.f, 0.f});
        opac.push_back(0.95f);
        cols.insert(cols.end(), rgb, rgb + 3);
      }
    const int64_t N = int64_t(opac.size());
    splat::GaussianTensors g;
    g.means = from_vector<float>(ctx, means, {N, 3});
    g.scales = from_vector<float>(ctx, scales, {N, 3});
    g.rotations = from_vector<float>(ctx, rots, {N, 4});
    g.opacities = from_vector<float>(ctx, opac, {N});
    g.colors = from_vector<float>(ctx, cols, {N, 3});
    for (int v = 0; v < opt.views; ++v) {
      Camera cam;
      cam.name = "cam" + std::to_string(v);
      cam.width = W;
      cam.height = H;
      const double az = opt.views == 1 ? 0.0 : (-0.7 + 1.4 * v / (opt.views - 1));
      const double el = (v % 2 ? 0.15 : -0.1);
      const double D = 0.5;
      // camera centre on a sphere around the origin in front of the face (−z), looking at the origin
      const double c[3] = {D * std::sin(az) * std::cos(el), -D * std::sin(el), -D * std::cos(az) * std::cos(el)};
      Vec3d fwd{-c[0] / D, -c[1] / D, -c[2] / D};
      const Vec3d up{0, -1, 0};  // OpenCV: y down, so "up" is −y
      Vec3d right = normalized(cross(fwd, up));
      // x right = −(fwd × up_world)… choose x so that the camera's y points down (world +y)
      Vec3d down = cross(fwd, right);
      if (down[1] < 0) {
        for (double& x : right) x = -x;
        for (double& x : down) x = -x;
      }
      const double* R[3] = {right.data(), down.data(), fwd.data()};
      for (int r = 0; r < 3; ++r) {
        for (int k = 0; k < 3; ++k) cam.viewmat[4 * r + k] = R[r][k];
        cam.viewmat[4 * r + 3] = -(R[r][0] * c[0] + R[r][1] * c[1] + R[r][2] * c[2]);
      }
      cam.viewmat[15] = 1;
      cam.intrinsics = {2.0 * H, 2.0 * H, W / 2.0, H / 2.0};
      if (!opt.render) {
        sub.cameras.push_back(cam);
        sub.images.emplace_back(size_t(W) * H * 3, uint8_t(128));
        sub.masks.emplace_back(size_t(W) * H, uint8_t(255));
        continue;
      }
      std::vector<float> vm(cam.viewmat.begin(), cam.viewmat.end()), in(cam.intrinsics.begin(), cam.intrinsics.end());
      auto out = splat::render(g, from_vector<float>(ctx, vm, {1, 4, 4}), from_vector<float>(ctx, in, {1, 4}), W, H);
      std::vector<float> img = out.image.to_vector<float>(), al = out.alpha.to_vector<float>();
      std::vector<uint8_t> rgb(size_t(W) * H * 3), mask(size_t(W) * H);
      for (int p = 0; p < W * H; ++p) {
        for (int ch = 0; ch < 3; ++ch)
          rgb[3 * size_t(p) + ch] = uint8_t(std::lround(std::clamp(img[size_t(ch) * W * H + p], 0.f, 1.f) * 255));
        mask[p] = al[p] > 0.5f ? 255 : 0;
      }
      sub.cameras.push_back(cam);
      sub.images.push_back(std::move(rgb));
      sub.masks.push_back(std::move(mask));
    }
    ds.subjects.push_back(std::move(sub));
  }
  return ds;
}

}  // namespace ff::train
