// train/eval.h — image metrics and the trainer's pictures (evaluation grids, loss curve), on the host.
//
// Metrics on images [3,H,W] in [0,1] (host float arrays):
//   PSNR  = 10·log10(1 / MSE) over all 3·H·W values (full image, black background included: the seed's), or
//           over the pixels inside a mask m [H,W] ∈ [0,1] (weighted by m: soft masks count fractionally).
//   SSIM  = the 3DGS SSIM map (11×11 Gaussian window σ 1.5, C1 = 0.01², C2 = 0.03², zero padding, per
//           channel) averaged over the image, or over the mask (weighted by m). The full-image value equals
//           1 − D-SSIM of splat::l1_dssim_loss.
// Pictures: PNGs through flame::write_png (flame/mesh_raster.h); text with stb_easy_font (header-only).
//
//   ff::train::ImageMetrics m = ff::train::image_metrics(render, gt, mask, W, H);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ff::train {

struct ImageMetrics {
  double psnr = 0, psnr_mask = 0, ssim = 0, ssim_mask = 0;
};

// img, gt: [3,H,W]; mask: [H,W] in [0,1] or empty (then the mask metrics use gt's non-black pixels)
ImageMetrics image_metrics(const float* img, const float* gt, const std::vector<float>& mask, int W, int H);
// the SSIM map [3,H,W]
std::vector<double> ssim_map(const float* img, const float* gt, int W, int H);

// A grid of rows (GT | render | error×4) with a label per row; images [3,H,W] float.
struct GridRow {
  std::string label;
  std::vector<float> gt, render;
  int width = 0, height = 0;
};
void write_eval_grid(const std::string& path, const std::vector<GridRow>& rows, const std::string& title);

// Loss curve: raw per-step losses (light) and a moving average (dark), log-scaled y, labelled axes.
void write_loss_curve(const std::string& path, const std::vector<double>& loss, const std::string& title,
                      int width = 800, int height = 400);

// Grouped bar chart (make eval's plots): one group of bars per `groups` label, one bar per series (colour, legend),
// each bar labelled with its value; a non-finite value leaves a gap marked "n/a". The y axis runs from y_min to the
// largest value (rounded up), labelled `y_label`.
struct BarSeries {
  std::string name;
  std::vector<double> values;  // [groups]
};
void write_bar_chart(const std::string& path, const std::string& title, const std::vector<std::string>& groups,
                     const std::vector<BarSeries>& series, const std::string& y_label, double y_min = 0,
                     int height = 360);

}  // namespace ff::train
