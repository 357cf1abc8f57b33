// runtime/infer.h — forward-only inference of the identity field model (train/model.h) on plain float buffers.
//
//   code c ─E─▶ z ─normalize_2nd_moment─▶ mapping (equalized-lr FC, ReLU·√2) ─▶ w (same w for every layer)
//   synthesis: const 4×4 → per block [conv0 (2× up: transposed 3×3 + FIR [1,3,3,1], gain 4)] conv1 (3×3) — each a
//   modulated conv (styles = affine(w), demodulation rsqrt(Σ s²·Σₖw² + 1e-8)) + constant noise·strength + bias,
//   ReLU·√2 — and a ToRGB skip (1×1 modulated conv, no demodulation) added to the FIR-upsampled image;
//   texture [F,R,R] ─bilinear (grid_sample, align_corners=False, zero padding) at each row's UV─▶ + position
//   embedding ─▶ 4 MLP decoders (Linear F→hidden, ReLU, Linear hidden→K·C; Gaussian g = K·a + k takes slot k):
//   colour sigmoid, log-scale + μ_scale, rotation + μ_rot, opacity sigmoid(· + μ_opac).
// The convolutions run as register-blocked GEMMs (16 output channels × 16 pixels) on the model's pool.
// Parameters are read by the checkpoint's names (formats.h, kind-2 packs); the StyleGAN2 settings that are not
// stored (ReLU mapping and synthesis, lr_mul 0.01, constant noise, no clamp) are the model's (ModelConfig).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/formats.h"
#include "runtime/pool.h"

namespace ffrt {

class Network {
 public:
  // Throws Error(kUnsupported/kFormat) naming the missing or mis-shaped array.
  Network(const Pack& p, const std::string& what);
  ~Network();

  int code_dim() const { return code_dim_; }
  int num_identities() const { return N_; }
  int num_gaussians() const { return G_; }
  int texture_resolution() const { return res_; }
  int feature_channels() const { return F_; }
  const float* code(int i) const { return &codes_[size_t(i) * code_dim_]; }
  const float* positions(int i) const { return &xyz_[size_t(i) * G_ * 3]; }
  const std::vector<float>& mean_positions() const { return mean_xyz_; }
  const std::vector<std::string>& names() const { return names_; }

  // code [code_dim] → texture [F,R,R]
  void texture(const float* code, std::vector<float>& tex, Pool& pool) const;
  // texture + positions [G,3] → Gaussians
  void decode(const std::vector<float>& tex, const float* xyz, GaussianSet& out, Pool& pool) const;

  struct Impl;

 private:
  int code_dim_ = 0, z_dim_ = 0, w_dim_ = 0, F_ = 0, res_ = 0, K_ = 0, hidden_ = 0, A_ = 0, G_ = 0, rows_ = 0, N_ = 0;
  std::vector<float> codes_, xyz_, mean_xyz_;
  std::vector<std::string> names_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ffrt
