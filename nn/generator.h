// nn/generator.h — the seed's StyleGAN2 "UV feature texture" generator (docs/model.md §1.2).
//
// z [N,64] → normalize_2nd_moment → mapping (2 equalized-lr FC layers, 64 wide, lr_mul 0.01, ReLU) → w,
// broadcast to num_ws copies → synthesis network (skip architecture, 4 → 64 px, channels 512, 512, 256, 128, 64,
// modulated 3×3 convs with demodulation, constant noise × learnable strength, ReLU·√2) → img [N,64,64,64].
// Module names and parameter shapes are those of stylegan2-ada-pytorch's state_dict ("mapping.fc0.weight",
// "synthesis.b8.conv0.affine.bias", ...), so weights can be exchanged by name.
//
// Ownership: a Generator owns its parameter tensors (leaves with requires_grad) and buffers (noise_const,
// resample filter). Parameters are created in a fixed order from the Context's counter RNG (ff::randn), so a
// given seed gives the same weights on every device. The Context must outlive the Generator.
//
//   ff::Context ctx(42);
//   ff::nn::Generator G(ctx, ff::nn::GeneratorConfig::seed());           // ≈9.80 M parameters
//   ff::Tensor img = G.forward(z);                                          // [1,64,64,64]
//   ff::Adam opt({{"G", G.parameter_tensors(), 2e-3}});
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "tensor/io.h"

namespace ff::nn {

enum class NoiseMode { Const, Random, None };

struct GeneratorConfig {
  int z_dim = 64, w_dim = 64;
  int img_resolution = 64, img_channels = 64;
  int mapping_layers = 2;
  double mapping_lr_mul = 0.01;
  int channel_base = 4096, channel_max = 512, channel_min = 16;
  // The seed's accidental choices (defaults) — StyleGAN2 uses LRelu / LRelu / false.
  Act mapping_act = Act::Relu;
  Act synthesis_act = Act::Relu;
  bool num_ws_off_by_one = true;  // the seed counts num_ws from 1 (11 instead of 10); the extra w is unused
  // The seed forces 'none' to 'const'; NoiseMode::None here really disables the noise.
  NoiseMode noise_mode = NoiseMode::Const;
  bool fused_modconv = false;     // false: activation scaling (the seed's train mode); true: grouped conv
  double conv_clamp = -1;         // < 0: none (the seed)
  DType dtype = DType::F32;       // F64 for finite-difference checks (CPU)

  static GeneratorConfig seed() { return {}; }
  static GeneratorConfig stylegan2();  // the same sizes with StyleGAN2's lrelu and num_ws
  int channels(int res) const;         // min(max(channel_base / res, channel_min), channel_max)
};

// a named tensor slot: the tensor is owned by the module, `name` is its state_dict key
struct NamedParam {
  std::string name;
  Tensor tensor;
};

struct FullyConnectedLayer {
  Tensor weight, bias;  // [out,in] ~ randn/lr_mul, [out] = bias_init
  double weight_gain = 1, bias_gain = 1;
  Act act = Act::Linear;
  FullyConnectedLayer() = default;
  FullyConnectedLayer(Context& ctx, int in, int out, Act act, double lr_mul, double bias_init, DType dt, Device dev);
  Tensor forward(const Tensor& x) const;
  void named(const std::string& prefix, std::vector<NamedParam>& params) const;
};

struct SynthesisLayer {
  FullyConnectedLayer affine;  // w → styles, bias_init 1
  Tensor weight, bias;         // [O,I,3,3] ~ randn, [O] zeros
  Tensor noise_strength;       // [] zeros
  Tensor noise_const;          // buffer [res,res] ~ randn
  Tensor filter;               // buffer, shared [4,4]
  int resolution = 0, up = 1;
  Act act = Act::LRelu;
  double conv_clamp = -1;
  SynthesisLayer() = default;
  SynthesisLayer(Context& ctx, int in, int out, int w_dim, int res, int up, Act act, double conv_clamp,
                 const Tensor& filter, Device dev);  // dtype: the filter's
  Tensor forward(const Tensor& x, const Tensor& w /*[N,w_dim]*/, NoiseMode mode, bool fused) const;
  void named(const std::string& prefix, std::vector<NamedParam>& params, std::vector<NamedParam>& buffers) const;
};

struct ToRGBLayer {
  FullyConnectedLayer affine;
  Tensor weight, bias;  // [img_ch, in, 1, 1] ~ randn, [img_ch] zeros
  double weight_gain = 1;
  double conv_clamp = -1;
  ToRGBLayer() = default;
  ToRGBLayer(Context& ctx, int in, int out, int w_dim, double conv_clamp, DType dt, Device dev);
  Tensor forward(const Tensor& x, const Tensor& w, bool fused) const;
  void named(const std::string& prefix, std::vector<NamedParam>& params) const;
};

struct SynthesisBlock {
  int in_channels = 0, out_channels = 0, resolution = 0;
  Tensor const_input;  // [out,4,4] (first block only), state_dict name "const"
  std::unique_ptr<SynthesisLayer> conv0;
  SynthesisLayer conv1;
  ToRGBLayer torgb;
  Tensor filter;
  int num_conv = 0, num_torgb = 1;
  SynthesisBlock(Context& ctx, int in, int out, int w_dim, int res, int img_channels, const GeneratorConfig& cfg,
                 const Tensor& filter, Device dev);
  // ws [N, num_conv + num_torgb, w_dim]; x/img undefined for the first block
  void forward(Tensor& x, Tensor& img, const Tensor& ws, NoiseMode mode, bool fused) const;
  void named(const std::string& prefix, std::vector<NamedParam>& params, std::vector<NamedParam>& buffers) const;
};

class Generator {
 public:
  Generator(Context& ctx, const GeneratorConfig& cfg = GeneratorConfig::seed(), Device dev = Device::cpu());

  Tensor mapping(const Tensor& z /*[N,z_dim]*/) const;  // → ws [N,num_ws,w_dim]
  Tensor synthesis(const Tensor& ws) const;             // → img [N,img_channels,res,res]
  Tensor forward(const Tensor& z) const { return synthesis(mapping(z)); }

  const GeneratorConfig& config() const { return cfg_; }
  int num_ws() const { return num_ws_; }
  Device device() const { return dev_; }

  // state_dict-style names, in a fixed order (mapping first, then synthesis blocks by resolution)
  std::vector<NamedParam> named_parameters() const;
  std::vector<NamedParam> named_buffers() const;  // noise_const and resample filters
  std::vector<Tensor> parameter_tensors() const;
  int64_t parameter_count() const;
  int64_t mapping_parameter_count() const;
  // Copies values (by name, any device/dtype → ours) into the existing tensors, so optimisers keep them.
  // strict: every parameter (and buffer, if include_buffers) must be present; shape mismatches always throw.
  // Returns the number of tensors loaded.
  int load(const NamedTensors& src, bool strict = true, bool include_buffers = true);
  NamedTensors state_dict(bool include_buffers = true) const;  // CPU copies, for checkpoints

 private:
  Context& ctx_;
  GeneratorConfig cfg_;
  Device dev_;
  int num_ws_ = 0;
  Tensor filter_;
  std::vector<FullyConnectedLayer> mapping_;
  std::vector<std::unique_ptr<SynthesisBlock>> blocks_;
};

}  // namespace ff::nn
