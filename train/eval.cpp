// train/eval.cpp — metrics, PNG grids, loss curve (see eval.h).
#include "train/eval.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

#include "core/check.h"
#include "tensor/io.h"

#include "flame/mesh_raster.h"

namespace ff::train {

namespace {
// separable 11-tap Gaussian (σ 1.5), zero padding, on one plane
void blur(const std::vector<double>& in, std::vector<double>& out, int W, int H) {
  static double w[11];
  static bool init = false;
  if (!init) {
    double s = 0;
    for (int i = 0; i < 11; ++i) s += (w[i] = std::exp(-double((i - 5) * (i - 5)) / (2 * 1.5 * 1.5)));
    for (double& x : w) x /= s;
    init = true;
  }
  std::vector<double> tmp(size_t(W) * H, 0.0);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      double s = 0;
      for (int k = -5; k <= 5; ++k) {
        int xx = x + k;
        if (xx >= 0 && xx < W) s += w[k + 5] * in[size_t(y) * W + xx];
      }
      tmp[size_t(y) * W + x] = s;
    }
  out.assign(size_t(W) * H, 0.0);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      double s = 0;
      for (int k = -5; k <= 5; ++k) {
        int yy = y + k;
        if (yy >= 0 && yy < H) s += w[k + 5] * tmp[size_t(yy) * W + x];
      }
      out[size_t(y) * W + x] = s;
    }
}
}  // namespace

std::vector<double> ssim_map(const float* img, const float* gt, int W, int H) {
  const size_t P = size_t(W) * H;
  std::vector<double> out(3 * P);
  std::vector<double> x(P), y(P), xx(P), yy(P), xy(P), mx, my, sxx, syy, sxy;
  const double C1 = 0.01 * 0.01, C2 = 0.03 * 0.03;
  for (int c = 0; c < 3; ++c) {
    for (size_t i = 0; i < P; ++i) {
      x[i] = img[c * P + i], y[i] = gt[c * P + i];
      xx[i] = x[i] * x[i], yy[i] = y[i] * y[i], xy[i] = x[i] * y[i];
    }
    blur(x, mx, W, H), blur(y, my, W, H), blur(xx, sxx, W, H), blur(yy, syy, W, H), blur(xy, sxy, W, H);
    for (size_t i = 0; i < P; ++i) {
      double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cxy = sxy[i] - mx[i] * my[i];
      out[c * P + i] = ((2 * mx[i] * my[i] + C1) * (2 * cxy + C2)) /
                       ((mx[i] * mx[i] + my[i] * my[i] + C1) * (vx + vy + C2));
    }
  }
  return out;
}

ImageMetrics image_metrics(const float* img, const float* gt, const std::vector<float>& mask, int W, int H) {
  const size_t P = size_t(W) * H;
  std::vector<float> m = mask;
  if (m.empty()) {
    m.assign(P, 0.f);
    for (size_t i = 0; i < P; ++i) m[i] = (gt[i] + gt[P + i] + gt[2 * P + i]) > 0 ? 1.f : 0.f;
  }
  FF_CHECK(m.size() == P, "image_metrics: mask has ", m.size(), " pixels, image ", P);
  double se = 0, sem = 0, wm = 0;
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < P; ++i) {
      double d = double(img[c * P + i]) - gt[c * P + i];
      se += d * d;
      sem += m[i] * d * d;
      wm += m[i];
    }
  auto psnr = [](double mse) { return 10 * std::log10(1.0 / std::max(mse, 1e-12)); };
  ImageMetrics r;
  r.psnr = psnr(se / double(3 * P));
  r.psnr_mask = wm > 0 ? psnr(sem / wm) : 0;
  std::vector<double> s = ssim_map(img, gt, W, H);
  double ss = 0, ssm = 0;
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < P; ++i) ss += s[c * P + i], ssm += m[i] * s[c * P + i];
  r.ssim = ss / double(3 * P);
  r.ssim_mask = wm > 0 ? ssm / wm : 0;
  return r;
}

namespace {
// the canvas → PNG, creating the parent directory (the trainer's eval/ folder)
void write_picture(const std::string& path, const flame::Canvas& cv) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  flame::write_png(path, cv.width, cv.height, 3, cv.rgb.data());
}
}  // namespace

void write_eval_grid(const std::string& path, const std::vector<GridRow>& rows, const std::string& title) {
  FF_CHECK(!rows.empty(), "write_eval_grid: no rows");
  int cw = 0, ch = 0;
  for (auto& r : rows) cw = std::max(cw, r.width), ch = std::max(ch, r.height);
  const int label_h = 14, title_h = 18, pad = 4;
  std::string head = title + "   (ground truth | render | |error| x4)";
  int W = 3 * cw + 4 * pad;
  for (auto& r : rows) W = std::max(W, flame::Canvas::text_width(r.label) + 2 * pad);
  W = std::max(W, flame::Canvas::text_width(head) + 2 * pad);
  const int H = title_h + int(rows.size()) * (ch + label_h + pad) + pad;
  flame::Canvas cv(W, H, {40, 40, 40});
  const std::array<uint8_t, 3> white = {235, 235, 235};
  cv.text(pad, 4, head, white);
  for (size_t r = 0; r < rows.size(); ++r) {
    const GridRow& g = rows[r];
    const size_t P = size_t(g.width) * g.height;
    const int y0 = title_h + int(r) * (ch + label_h + pad);
    cv.text(pad, y0 + 2, g.label, white);
    for (int col = 0; col < 3; ++col) {
      const int x0 = pad + col * (cw + pad);
      for (int y = 0; y < g.height; ++y)
        for (int x = 0; x < g.width; ++x)
          for (int c = 0; c < 3; ++c) {
            const size_t i = c * P + size_t(y) * g.width + x;
            double v = col == 0 ? g.gt[i] : col == 1 ? g.render[i] : 4.0 * std::abs(double(g.render[i]) - g.gt[i]);
            cv.rgb[(size_t(y0 + label_h + y) * W + x0 + x) * 3 + c] = uint8_t(std::lround(std::clamp(v, 0.0, 1.0) * 255));
          }
    }
  }
  write_picture(path, cv);
}

void write_loss_curve(const std::string& path, const std::vector<double>& loss, const std::string& title, int W, int H) {
  flame::Canvas cv(W, H, {255, 255, 255});
  const int L = 60, R = 20, T = 30, B = 40;
  const std::array<uint8_t, 3> black = {0, 0, 0}, grey = {200, 200, 200}, light = {160, 190, 235}, dark = {20, 60, 170};
  cv.text(L, 8, title, black);
  std::vector<double> v;
  for (double x : loss)
    if (std::isfinite(x) && x > 0) v.push_back(x);
  if (v.size() >= 2) {
    const int n = int(v.size());
    double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    double llo = std::floor(std::log10(lo) * 4) / 4, lhi = std::ceil(std::log10(hi) * 4) / 4;
    if (lhi - llo < 0.25) lhi = llo + 0.25;
    auto X = [&](double i) { return L + int((W - L - R - 1) * i / (n - 1)); };
    auto Y = [&](double val) { return T + int((H - T - B - 1) * (lhi - std::log10(val)) / (lhi - llo)); };
    for (double e = llo; e <= lhi + 1e-9; e += 0.25) {  // horizontal grid with labels
      int y = Y(std::pow(10.0, e));
      cv.line(L, y, W - R, y, grey);
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.3g", std::pow(10.0, e));
      cv.text(4, y - 4, buf, black);
    }
    for (int k = 0; k <= 4; ++k) {  // x ticks
      int i = (n - 1) * k / 4, x = X(i);
      cv.line(x, H - B, x, H - B + 4, black);
      cv.text(x - 10, H - B + 8, std::to_string(i + 1), black);
    }
    cv.text(W / 2 - 20, H - 14, "step", black);
    for (int i = 1; i < n; ++i) cv.line(X(i - 1), Y(v[i - 1]), X(i), Y(v[i]), light);
    const int win = std::max(1, n / 50);
    double acc = 0;
    std::vector<double> ma(n);
    for (int i = 0; i < n; ++i) {
      acc += v[i];
      if (i >= win) acc -= v[i - win];
      ma[i] = acc / std::min(i + 1, win);
    }
    for (int i = 1; i < n; ++i) {
      cv.line(X(i - 1), Y(ma[i - 1]), X(i), Y(ma[i]), dark);
      cv.line(X(i - 1), Y(ma[i - 1]) + 1, X(i), Y(ma[i]) + 1, dark);
    }
  }
  cv.line(L, T, L, H - B, black);
  cv.line(L, H - B, W - R, H - B, black);
  write_picture(path, cv);
}

void write_bar_chart(const std::string& path, const std::string& title, const std::vector<std::string>& groups,
                     const std::vector<BarSeries>& series, const std::string& y_label, double y_min, int H) {
  FF_CHECK(!groups.empty() && !series.empty(), "write_bar_chart: nothing to plot in '", path, "'");
  for (auto& s : series)
    FF_CHECK(s.values.size() == groups.size(), "write_bar_chart: series '", s.name, "' has ", s.values.size(),
             " values for ", groups.size(), " groups");
  static const std::array<uint8_t, 3> palette[] = {{150, 150, 150}, {230, 140, 40}, {60, 110, 200},
                                                   {40, 160, 80},    {200, 60, 60},  {140, 90, 180}};
  auto width_of = [](const std::string& t) { return flame::Canvas::text_width(t); };
  const int L = 60, R = 20, T = 46, B = 40, bar = 22, gap = 18;
  const int S = int(series.size());
  std::vector<int> gw(groups.size());
  int plot_w = 0;
  for (size_t g = 0; g < groups.size(); ++g) plot_w += (gw[g] = std::max(S * bar + gap, width_of(groups[g]) + 8));
  int legend_w = 0;
  for (auto& s : series) legend_w += width_of(s.name) + 30;
  const int W = std::max({L + plot_w + R, legend_w + L + R, width_of(title) + 2 * L});
  double hi = y_min + 1e-9;
  for (auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) hi = std::max(hi, v);
  const double span = hi - y_min, step = std::pow(10.0, std::floor(std::log10(span)));
  const double tick = span / step > 5 ? step : span / step > 2 ? step / 2 : step / 5;
  hi = y_min + std::ceil(span / tick) * tick;
  auto Y = [&](double v) { return T + int((H - T - B) * (hi - std::clamp(v, y_min, hi)) / (hi - y_min)); };
  flame::Canvas cv(W, H, {255, 255, 255});
  cv.text(L, 6, title, {0, 0, 0});
  for (int k = 0, x = L; k < S; ++k) {  // legend
    cv.fill_rect(x, 22, 10, 10, palette[k % 6]);
    cv.text(x + 14, 23, series[k].name, {0, 0, 0});
    x += width_of(series[k].name) + 30;
  }
  char buf[32];
  for (double v = y_min; v <= hi + 1e-9; v += tick) {  // horizontal grid with labels
    cv.fill_rect(L, Y(v), plot_w, 1, {215, 215, 215});
    std::snprintf(buf, sizeof buf, "%g", v);
    cv.text(L - 6 - width_of(buf), Y(v) - 3, buf, {0, 0, 0});
  }
  cv.text(4, T - 12, y_label, {0, 0, 0});
  for (size_t g = 0, x0 = L; g < groups.size(); x0 += gw[g], ++g) {
    const int bx = int(x0) + (gw[g] - S * bar) / 2;
    for (int k = 0; k < S; ++k) {
      const double v = series[k].values[g];
      const int x = bx + k * bar;
      if (!std::isfinite(v)) {
        cv.text(x + 2, H - B - 10, "n/a", {120, 120, 120});
        continue;
      }
      cv.fill_rect(x + 1, Y(v), bar - 2, H - B - Y(v), palette[k % 6]);
      std::snprintf(buf, sizeof buf, "%.3g", v);
      cv.text(x + 1, Y(v) - 9, buf, {0, 0, 0});
    }
    cv.text(int(x0) + (gw[g] - width_of(groups[g])) / 2, H - B + 8, groups[g], {0, 0, 0});
  }
  cv.fill_rect(L, T, 1, H - B - T, {0, 0, 0});
  cv.fill_rect(L, H - B, plot_w, 1, {0, 0, 0});
  write_picture(path, cv);
}

}  // namespace ff::train
