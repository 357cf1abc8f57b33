// nn/generator.cpp — mapping + synthesis networks of the seed's generator (see nn/generator.h).
#include "nn/generator.h"

#include <cmath>
#include <map>

#include "nn/epilogue.h"

namespace ff::nn {

GeneratorConfig GeneratorConfig::stylegan2() {
  GeneratorConfig c;
  c.mapping_act = Act::LRelu;
  c.synthesis_act = Act::LRelu;
  c.num_ws_off_by_one = false;
  return c;
}

int GeneratorConfig::channels(int res) const { return std::min(std::max(channel_base / res, channel_min), channel_max); }

static Tensor param(const Tensor& t) {
  t.set_requires_grad(true);
  return t;
}

// ---- FullyConnectedLayer --------------------------------------------------------------------------
FullyConnectedLayer::FullyConnectedLayer(Context& ctx, int in, int out, Act a, double lr_mul, double bias_init,
                                         DType dt, Device dev)
    : weight_gain(lr_mul / std::sqrt(double(in))), bias_gain(lr_mul), act(a) {
  weight = param(randn(ctx, {out, in}, dt, dev, 0.0, 1.0 / lr_mul));
  bias = param(full(ctx, {out}, bias_init, dt, dev));
}

Tensor FullyConnectedLayer::forward(const Tensor& x) const {
  return fully_connected(x, weight, bias, weight_gain, bias_gain, act);
}

void FullyConnectedLayer::named(const std::string& prefix, std::vector<NamedParam>& params) const {
  params.push_back({prefix + "weight", weight});
  params.push_back({prefix + "bias", bias});
}

// ---- SynthesisLayer -------------------------------------------------------------------------------
SynthesisLayer::SynthesisLayer(Context& ctx, int in, int out, int w_dim, int res, int up_, Act a, double clamp_,
                               const Tensor& f, Device dev)
    : affine(ctx, w_dim, in, Act::Linear, 1.0, 1.0, f.dtype(), dev), filter(f), resolution(res), up(up_), act(a),
      conv_clamp(clamp_) {
  const DType dt = f.dtype();
  weight = param(randn(ctx, {out, in, 3, 3}, dt, dev));
  noise_const = randn(ctx, {res, res}, dt, dev);
  noise_strength = param(zeros(ctx, {}, dt, dev));
  bias = param(zeros(ctx, {out}, dt, dev));
}

Tensor SynthesisLayer::forward(const Tensor& x, const Tensor& w, NoiseMode mode, bool fused) const {
  Tensor styles = affine.forward(w);
  Tensor noise;
  if (mode == NoiseMode::Const) {
    noise = mul(noise_const, noise_strength);
  } else if (mode == NoiseMode::Random) {
    noise = mul(randn(x.ctx(), {x.shape()[0], 1, resolution, resolution}, x.dtype(), x.device()), noise_strength);
  }
  BiasAct ba;
  ba.act = act;
  ba.clamp = conv_clamp;
  if (!fused && mode == NoiseMode::Const) {
    // per-sample form with the fused epilogue (demodulation, noise, bias, activation in one pass on the CPU)
    const int64_t N = x.shape()[0], I = x.shape()[1];
    Tensor y = conv2d_resample(mul(x, reshape(styles, {N, I, 1, 1})), weight, filter, up, 1, 1, up == 1);
    return modconv_epilogue(y, demod_coefficients(weight, styles), noise_const, noise_strength, bias, ba);
  }
  ModConv p;
  p.up = up;
  p.padding = 1;
  p.filter = filter;
  p.flip_weight = (up == 1);
  p.fused = fused;
  Tensor y = modulated_conv2d(x, weight, styles, noise, p);
  return bias_act(y, bias, ba);
}

void SynthesisLayer::named(const std::string& prefix, std::vector<NamedParam>& params,
                           std::vector<NamedParam>& buffers) const {
  params.push_back({prefix + "weight", weight});
  params.push_back({prefix + "noise_strength", noise_strength});
  params.push_back({prefix + "bias", bias});
  affine.named(prefix + "affine.", params);
  buffers.push_back({prefix + "noise_const", noise_const});
}

// ---- ToRGBLayer -----------------------------------------------------------------------------------
ToRGBLayer::ToRGBLayer(Context& ctx, int in, int out, int w_dim, double clamp_, DType dt, Device dev)
    : affine(ctx, w_dim, in, Act::Linear, 1.0, 1.0, dt, dev), weight_gain(1.0 / std::sqrt(double(in))),
      conv_clamp(clamp_) {
  weight = param(randn(ctx, {out, in, 1, 1}, dt, dev));
  bias = param(zeros(ctx, {out}, dt, dev));
}

Tensor ToRGBLayer::forward(const Tensor& x, const Tensor& w, bool fused) const {
  Tensor styles = mul(affine.forward(w), weight_gain);
  ModConv p;
  p.demodulate = false;
  p.fused = fused;
  Tensor y = modulated_conv2d(x, weight, styles, Tensor(), p);
  BiasAct ba;
  ba.clamp = conv_clamp;
  return bias_act(y, bias, ba);
}

void ToRGBLayer::named(const std::string& prefix, std::vector<NamedParam>& params) const {
  params.push_back({prefix + "weight", weight});
  params.push_back({prefix + "bias", bias});
  affine.named(prefix + "affine.", params);
}

// ---- SynthesisBlock -------------------------------------------------------------------------------
SynthesisBlock::SynthesisBlock(Context& ctx, int in, int out, int w_dim, int res, int img_channels,
                               const GeneratorConfig& cfg, const Tensor& f, Device dev)
    : in_channels(in), out_channels(out), resolution(res), filter(f) {
  // construction order = torch's module registration order (const, conv0, conv1, torgb)
  if (in == 0) const_input = param(randn(ctx, {out, res, res}, cfg.dtype, dev));
  if (in != 0) {
    conv0 = std::make_unique<SynthesisLayer>(ctx, in, out, w_dim, res, 2, cfg.synthesis_act, cfg.conv_clamp, f, dev);
    ++num_conv;
  }
  conv1 = SynthesisLayer(ctx, out, out, w_dim, res, 1, cfg.synthesis_act, cfg.conv_clamp, f, dev);
  ++num_conv;
  torgb = ToRGBLayer(ctx, out, img_channels, w_dim, cfg.conv_clamp, cfg.dtype, dev);
}

void SynthesisBlock::forward(Tensor& x, Tensor& img, const Tensor& ws, NoiseMode mode, bool fused) const {
  int wi = 0;
  auto next_w = [&]() { return select(ws, 1, wi++); };
  if (in_channels == 0) {
    x = expand(unsqueeze(const_input, 0), {ws.shape()[0], out_channels, resolution, resolution});
    x = conv1.forward(x, next_w(), mode, fused);
  } else {
    x = conv0->forward(x, next_w(), mode, fused);
    x = conv1.forward(x, next_w(), mode, fused);
  }
  if (img.defined()) img = upsample2d(img, filter, 2);
  Tensor y = torgb.forward(x, next_w(), fused);
  img = img.defined() ? add(img, y) : y;
}

void SynthesisBlock::named(const std::string& prefix, std::vector<NamedParam>& params,
                           std::vector<NamedParam>& buffers) const {
  if (const_input.defined()) params.push_back({prefix + "const", const_input});
  if (conv0) conv0->named(prefix + "conv0.", params, buffers);
  conv1.named(prefix + "conv1.", params, buffers);
  torgb.named(prefix + "torgb.", params);
  buffers.push_back({prefix + "resample_filter", filter});
}

// ---- Generator ------------------------------------------------------------------------------------
Generator::Generator(Context& ctx, const GeneratorConfig& cfg, Device dev) : ctx_(ctx), cfg_(cfg), dev_(dev) {
  int log2 = 0;
  while ((1 << (log2 + 1)) <= cfg.img_resolution) ++log2;
  FF_CHECK((1 << log2) == cfg.img_resolution && log2 >= 2, "Generator: img_resolution ", cfg.img_resolution,
           " must be a power of two >= 4");
  FF_CHECK(cfg.mapping_layers >= 1, "Generator: at least one mapping layer");
  filter_ = setup_filter(ctx, {1, 3, 3, 1}, cfg.dtype, dev);
  // mapping: z_dim → w_dim (every layer w_dim wide, as layer_features defaults to w_dim)
  for (int i = 0; i < cfg.mapping_layers; ++i)
    mapping_.emplace_back(ctx, i == 0 ? cfg.z_dim : cfg.w_dim, cfg.w_dim, cfg.mapping_act, cfg.mapping_lr_mul, 0.0,
                          cfg.dtype, dev);
  num_ws_ = cfg.num_ws_off_by_one ? 1 : 0;
  for (int res = 4; res <= cfg.img_resolution; res *= 2) {
    const int in = res > 4 ? cfg.channels(res / 2) : 0;
    blocks_.push_back(std::make_unique<SynthesisBlock>(ctx, in, cfg.channels(res), cfg.w_dim, res, cfg.img_channels,
                                                       cfg, filter_, dev));
    num_ws_ += blocks_.back()->num_conv;
    if (res == cfg.img_resolution) num_ws_ += blocks_.back()->num_torgb;
  }
}

Tensor Generator::mapping(const Tensor& z) const {
  FF_CHECK(z.dim() == 2 && z.shape()[1] == cfg_.z_dim, "Generator::mapping: z ", z.shape(), ", expected [N,",
           cfg_.z_dim, "]");
  Tensor x = normalize_2nd_moment(z);
  for (const auto& fc : mapping_) x = fc.forward(x);
  // broadcast: all ws identical (no style mixing, truncation_psi = 1)
  return expand(unsqueeze(x, 1), {x.shape()[0], num_ws_, cfg_.w_dim});
}

Tensor Generator::synthesis(const Tensor& ws) const {
  FF_CHECK(ws.dim() == 3 && ws.shape()[1] == num_ws_ && ws.shape()[2] == cfg_.w_dim, "Generator::synthesis: ws ",
           ws.shape(), ", expected [N,", num_ws_, ",", cfg_.w_dim, "]");
  Tensor x, img;
  int64_t wi = 0;
  for (const auto& b : blocks_) {
    Tensor bw = slice(ws, 1, wi, wi + b->num_conv + b->num_torgb);
    wi += b->num_conv;
    b->forward(x, img, bw, cfg_.noise_mode, cfg_.fused_modconv);
  }
  return img;
}

std::vector<NamedParam> Generator::named_parameters() const {
  std::vector<NamedParam> p, b;
  for (size_t i = 0; i < mapping_.size(); ++i) mapping_[i].named("mapping.fc" + std::to_string(i) + ".", p);
  for (const auto& blk : blocks_) blk->named("synthesis.b" + std::to_string(blk->resolution) + ".", p, b);
  return p;
}

std::vector<NamedParam> Generator::named_buffers() const {
  std::vector<NamedParam> p, b;
  for (const auto& blk : blocks_) blk->named("synthesis.b" + std::to_string(blk->resolution) + ".", p, b);
  return b;
}

std::vector<Tensor> Generator::parameter_tensors() const {
  std::vector<Tensor> out;
  for (auto& np : named_parameters()) out.push_back(np.tensor);
  return out;
}

int64_t Generator::parameter_count() const {
  int64_t n = 0;
  for (auto& np : named_parameters()) n += np.tensor.numel();
  return n;
}

int64_t Generator::mapping_parameter_count() const {
  int64_t n = 0;
  for (auto& np : named_parameters())
    if (np.name.rfind("mapping.", 0) == 0) n += np.tensor.numel();
  return n;
}

int Generator::load(const NamedTensors& src, bool strict, bool include_buffers) {
  std::map<std::string, Tensor> by_name(src.begin(), src.end());
  std::vector<NamedParam> targets = named_parameters();
  if (include_buffers) {
    // the resample filter is shared by every block: load it once under each name (same values)
    for (auto& b : named_buffers()) targets.push_back(b);
  }
  int loaded = 0;
  NoGrad ng(ctx_);
  for (auto& t : targets) {
    auto it = by_name.find(t.name);
    if (it == by_name.end()) {
      FF_CHECK(!strict, "Generator::load: missing tensor '", t.name, "'");
      continue;
    }
    const Tensor& s = it->second;
    FF_CHECK(s.shape() == t.tensor.shape(), "Generator::load: '", t.name, "' has shape ", s.shape(), ", expected ",
             t.tensor.shape());
    t.tensor.copy_(s.to(t.tensor.dtype()).to(t.tensor.device()));
    ++loaded;
  }
  return loaded;
}

NamedTensors Generator::state_dict(bool include_buffers) const {
  NamedTensors out;
  for (auto& p : named_parameters()) out.emplace_back(p.name, p.tensor.detach().to(Device::cpu()).clone());
  if (include_buffers)
    for (auto& b : named_buffers()) out.emplace_back(b.name, b.tensor.detach().to(Device::cpu()).clone());
  return out;
}

}  // namespace ff::nn
