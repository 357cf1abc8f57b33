// runtime/infer.cpp — see infer.h. Mirrors nn/generator.cpp, nn/layers.cpp, nn/upfirdn2d.cpp, nn/epilogue.cpp
// and train/model.cpp (decode_texture) for batch 1, forward only.
#include "runtime/infer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ffrt {
namespace {

typedef float v16f __attribute__((vector_size(64)));

std::string num(int64_t v) { return std::to_string(v); }
std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + num(s[i]);
  return o + "]";
}

inline int round16(int m) { return (m + 15) / 16 * 16; }

// C[m, p] = Σ_j AT[j, m] · B[j, p] for m < M, p < Np (Np % 16 == 0); AT has leading dimension Mp = round16(M),
// zero-padded. Tasks: (16-row block) × (chunk of 64 pixels).
void gemm(int M, int Np, int Kd, const float* AT, const float* B, float* C, Pool& pool) {
  const int Mp = round16(M), mb = Mp / 16, pb = Np / 16;
  constexpr int kChunk = 4;
  const int pc = (pb + kChunk - 1) / kChunk;
  pool.run(int64_t(mb) * pc, [&](int64_t t, int) {
    const int m0 = int(t / pc) * 16, q0 = int(t % pc) * kChunk, q1 = std::min(pb, q0 + kChunk);
    for (int q = q0; q < q1; ++q) {
      const int p0 = q * 16;
      v16f acc[16];
      for (int r = 0; r < 16; ++r) acc[r] = v16f{};
      const float* a = AT + m0;
      const float* b = B + p0;
      for (int j = 0; j < Kd; ++j, a += Mp, b += Np) {
        v16f bv;
        std::memcpy(&bv, b, 64);
        for (int r = 0; r < 16; ++r) acc[r] += a[r] * bv;
      }
      const int rmax = std::min(16, M - m0);
      for (int r = 0; r < rmax; ++r) std::memcpy(C + size_t(m0 + r) * Np + p0, &acc[r], 64);
    }
  });
}

struct FC {
  std::vector<float> w;  // [out,in] already × weight_gain
  std::vector<float> b;  // [out] already × bias_gain
  int in = 0, out = 0;
  // y = W x + b
  void apply(const float* x, float* y) const {
    for (int o = 0; o < out; ++o) {
      float s = 0;
      const float* wr = &w[size_t(o) * in];
      for (int i = 0; i < in; ++i) s += x[i] * wr[i];
      y[o] = s + b[o];
    }
  }
};

}  // namespace

struct Network::Impl {
  struct Layer {
    int I = 0, O = 0, res = 0, up = 1;
    FC affine;
    std::vector<float> AT;      // up 1: [I·9, round16(O)]; up 2: [I, round16(O·9)]
    std::vector<float> wsq;     // [O, I] Σ_k w²
    std::vector<float> bias, noise;
    float strength = 0;
  };
  struct ToRGB {
    int I = 0, O = 0;
    FC affine;                  // × 1/√I folded in
    std::vector<float> weight;  // [O, I]
    std::vector<float> bias;
  };
  struct Block {
    int res = 0, in = 0, out = 0;
    std::vector<float> const_input;
    bool has_conv0 = false;
    Layer conv0, conv1;
    ToRGB torgb;
  };
  struct Decoder {
    int C = 0;
    std::vector<float> w1t;  // [F, hidden]
    std::vector<float> b1;   // [hidden]
    std::vector<float> w2;   // [K·C, hidden]
    std::vector<float> b2;   // [K·C]
  };
  std::vector<float> E;      // [z_dim, code_dim]
  std::vector<FC> mapping;
  std::vector<Block> blocks;
  float fk[16];              // resample filter, flipped, × gain 4
  std::vector<float> pos_emb, mu_scale, mu_rot, mu_opac, row_uv;
  std::vector<int32_t> row_anchor;
  bool seed_rows = false;    // rows = anchors (seed placement): row a feeds Gaussians K·a … K·a+K−1
  Decoder dec[4];
};

Network::~Network() = default;

Network::Network(const Pack& p, const std::string& what) : impl_(new Impl) {
  if (p.kind != kPackModel) throw Error(kUnsupported, what + " holds decoded Gaussians, not a model");
  Impl& m = *impl_;
  auto arr = [&](const std::string& name, std::vector<int64_t> shape) -> std::vector<float> {
    const Array* a = p.find(name);
    if (!a) {
      if (name == "layout/row_uv")
        throw Error(kUnsupported, what + " has no surface layout ('layout/row_uv'): this checkpoint cannot be decoded "
                                         "on its own; write an identity pack with `export --model CKPT --out "
                                         "FILE.ffpk` (it rebuilds the layout from the training dataset)");
      throw Error(kFormat, what + " has no array '" + name + "' (not an identity field model?)");
    }
    bool ok = a->shape.size() == shape.size();
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == a->shape[i];
    if (!ok) throw Error(kFormat, what + ": '" + name + "' has shape " + shape_str(a->shape) + ", expected " + shape_str(shape));
    return a->floats();
  };
  auto dim = [&](const std::string& name, size_t d) -> int {
    const Array* a = p.find(name);
    if (!a || a->shape.size() <= d) throw Error(kFormat, what + " has no array '" + name + "' of rank > " + num(int64_t(d)));
    return int(a->shape[d]);
  };
  // ---- sizes ----
  N_ = dim("codes", 0);
  code_dim_ = dim("codes", 1);
  z_dim_ = dim("E", 0);
  A_ = dim("pos_embedding", 0);
  F_ = dim("pos_embedding", 1);
  hidden_ = dim("dec.color.0.weight", 0);
  K_ = dim("dec.color.2.weight", 0) / 3;
  G_ = dim("mu_scale", 0);
  if (!p.find("layout/row_uv")) arr("layout/row_uv", {-1, 2});  // throws kUnsupported naming the export command
  rows_ = dim("layout/row_uv", 0);
  if (N_ < 1 || K_ < 1 || G_ != A_ * K_)
    throw Error(kFormat, what + ": inconsistent sizes (" + num(N_) + " identities, " + num(A_) + " anchors × K " +
                             num(K_) + " ≠ " + num(G_) + " Gaussians)");
  if (rows_ != G_ && rows_ != A_)
    throw Error(kFormat, what + ": layout has " + num(rows_) + " rows; expected " + num(G_) + " (uv) or " + num(A_) + " (seed)");
  m.seed_rows = rows_ != G_;
  codes_ = arr("codes", {N_, code_dim_});
  m.E = arr("E", {z_dim_, code_dim_});
  m.pos_emb = arr("pos_embedding", {A_, F_});
  m.mu_scale = arr("mu_scale", {G_, 3});
  m.mu_rot = arr("mu_rot", {G_, 4});
  m.mu_opac = arr("mu_opac", {G_, 1});
  xyz_ = arr("xyz", {N_, G_, 3});
  m.row_uv = arr("layout/row_uv", {rows_, 2});
  m.row_anchor.resize(size_t(rows_));
  if (const Array* ra = p.find("layout/row_anchor")) {
    std::vector<float> v = ra->floats();
    if (int64_t(v.size()) != rows_) throw Error(kFormat, what + ": layout/row_anchor has the wrong length");
    for (int r = 0; r < rows_; ++r) {
      m.row_anchor[size_t(r)] = int32_t(v[size_t(r)]);
      if (m.row_anchor[size_t(r)] < 0 || m.row_anchor[size_t(r)] >= A_) throw Error(kFormat, what + ": bad row anchor");
    }
  } else {
    for (int r = 0; r < rows_; ++r) m.row_anchor[size_t(r)] = m.seed_rows ? r : r / K_;
  }
  mean_xyz_.assign(size_t(G_) * 3, 0.f);
  for (int s = 0; s < N_; ++s)
    for (size_t i = 0; i < mean_xyz_.size(); ++i) mean_xyz_[i] += xyz_[size_t(s) * G_ * 3 + i] / float(N_);
  if (const Array* nm = p.find("names")) {
    std::string s = nm->data, cur;
    for (char c : s) {
      if (c == '\n') names_.push_back(cur), cur.clear();
      else cur += c;
    }
    if (!cur.empty()) names_.push_back(cur);
  }
  names_.resize(size_t(N_));

  // ---- mapping ----
  const double lr_mul = 0.01;
  int in = z_dim_;
  for (int i = 0;; ++i) {
    const std::string pre = "G.mapping.fc" + num(i) + ".";
    if (!p.find(pre + "weight")) break;
    FC fc;
    fc.out = dim(pre + "weight", 0);
    fc.in = in;
    fc.w = arr(pre + "weight", {fc.out, in});
    fc.b = arr(pre + "bias", {fc.out});
    const float wg = float(lr_mul / std::sqrt(double(in))), bg = float(lr_mul);
    for (auto& v : fc.w) v *= wg;
    for (auto& v : fc.b) v *= bg;
    in = fc.out;
    m.mapping.push_back(std::move(fc));
  }
  if (m.mapping.empty()) throw Error(kFormat, what + " has no generator mapping network ('G.mapping.fc0.weight')");
  w_dim_ = in;

  // ---- synthesis ----
  auto affine = [&](const std::string& pre, int I, double gain) {
    FC fc;
    fc.in = w_dim_;
    fc.out = I;
    fc.w = arr(pre + "affine.weight", {I, w_dim_});
    fc.b = arr(pre + "affine.bias", {I});
    const float wg = float(1.0 / std::sqrt(double(w_dim_)));
    for (auto& v : fc.w) v *= wg;
    if (gain != 1.0) {
      for (auto& v : fc.w) v = float(double(v) * gain);
      for (auto& v : fc.b) v = float(double(v) * gain);
    }
    return fc;
  };
  auto layer = [&](const std::string& pre, int I, int O, int res, int up) {
    Impl::Layer L;
    L.I = I, L.O = O, L.res = res, L.up = up;
    std::vector<float> w = arr(pre + "weight", {O, I, 3, 3});
    L.bias = arr(pre + "bias", {O});
    L.noise = arr(pre + "noise_const", {res, res});
    const Array& ns = p.get(pre + "noise_strength", what);
    if (ns.numel() != 1) throw Error(kFormat, what + ": '" + pre + "noise_strength' must be a scalar");
    L.strength = ns.floats()[0];
    L.affine = affine(pre, I, 1.0);
    L.wsq.assign(size_t(O) * I, 0.f);
    for (int o = 0; o < O; ++o)
      for (int i = 0; i < I; ++i) {
        float s = 0;
        for (int k = 0; k < 9; ++k) s += w[(size_t(o) * I + i) * 9 + k] * w[(size_t(o) * I + i) * 9 + k];
        L.wsq[size_t(o) * I + i] = s;
      }
    if (up == 1) {
      const int Mp = round16(O);
      L.AT.assign(size_t(I) * 9 * Mp, 0.f);
      for (int o = 0; o < O; ++o)
        for (int i = 0; i < I; ++i)
          for (int k = 0; k < 9; ++k) L.AT[(size_t(i) * 9 + k) * Mp + o] = w[(size_t(o) * I + i) * 9 + k];
    } else {
      const int Mp = round16(O * 9);
      L.AT.assign(size_t(I) * Mp, 0.f);
      for (int o = 0; o < O; ++o)
        for (int i = 0; i < I; ++i)
          for (int k = 0; k < 9; ++k) L.AT[size_t(i) * Mp + size_t(o) * 9 + k] = w[(size_t(o) * I + i) * 9 + k];
    }
    return L;
  };
  int prev = 0;
  for (int res = 4;; res *= 2) {
    const std::string pre = "G.synthesis.b" + num(res) + ".";
    if (!p.find(pre + "conv1.weight")) break;
    if (res > 4096) throw Error(kFormat, what + ": implausible generator resolution");
    Impl::Block b;
    b.res = res;
    b.out = dim(pre + "conv1.weight", 0);
    b.in = prev;
    if (res == 4) {
      b.const_input = arr(pre + "const", {b.out, 4, 4});
    } else {
      b.has_conv0 = true;
      b.conv0 = layer(pre + "conv0.", prev, b.out, res, 2);
    }
    b.conv1 = layer(pre + "conv1.", b.out, b.out, res, 1);
    b.torgb.I = b.out;
    b.torgb.O = dim(pre + "torgb.weight", 0);
    b.torgb.weight = arr(pre + "torgb.weight", {b.torgb.O, b.out, 1, 1});
    b.torgb.bias = arr(pre + "torgb.bias", {b.torgb.O});
    b.torgb.affine = affine(pre + "torgb.", b.out, 1.0 / std::sqrt(double(b.out)));
    if (b.torgb.O != F_)
      throw Error(kFormat, what + ": generator outputs " + num(b.torgb.O) + " channels, the decoders read " + num(F_));
    if (res == 4) {
      std::vector<float> f = arr(pre + "resample_filter", {4, 4});
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) m.fk[i * 4 + j] = f[size_t((3 - i) * 4 + (3 - j))] * 4.0f;
    }
    prev = b.out;
    m.blocks.push_back(std::move(b));
  }
  if (m.blocks.empty()) throw Error(kFormat, what + " has no synthesis network ('G.synthesis.b4.conv1.weight')");
  res_ = m.blocks.back().res;

  // ---- decoders ----
  const char* names[4] = {"color", "scale", "rot", "opac"};
  const int chans[4] = {3, 3, 4, 1};
  for (int d = 0; d < 4; ++d) {
    const std::string pre = std::string("dec.") + names[d] + ".";
    Impl::Decoder& D = m.dec[d];
    D.C = chans[d];
    std::vector<float> w1 = arr(pre + "0.weight", {hidden_, F_});
    D.w1t.resize(size_t(F_) * hidden_);
    for (int h = 0; h < hidden_; ++h)
      for (int f = 0; f < F_; ++f) D.w1t[size_t(f) * hidden_ + h] = w1[size_t(h) * F_ + f];
    D.b1 = arr(pre + "0.bias", {hidden_});
    D.w2 = arr(pre + "2.weight", {K_ * D.C, hidden_});
    D.b2 = arr(pre + "2.bias", {K_ * D.C});
  }
}

namespace {

using Layer = Network::Impl::Layer;

inline float relu_gain(float v) { return (v > 0.f ? v : 0.f) * float(std::sqrt(2.0)); }

// demodulation coefficients d[o] = rsqrt(Σ_i s_i² wsq[o,i] + 1e-8)
std::vector<float> demod(const Layer& L, const std::vector<float>& s) {
  std::vector<float> d(static_cast<size_t>(L.O));
  for (int o = 0; o < L.O; ++o) {
    float acc = 0;
    const float* w = &L.wsq[size_t(o) * L.I];
    for (int i = 0; i < L.I; ++i) acc += s[size_t(i)] * s[size_t(i)] * w[i];
    d[size_t(o)] = 1.0f / std::sqrt(acc + 1e-8f);
  }
  return d;
}

void epilogue(const Layer& L, const std::vector<float>& d, float* y, int HW, Pool& pool) {
  pool.run(L.O, [&](int64_t o, int) {
    float* r = y + size_t(o) * HW;
    const float dd = d[size_t(o)], bb = L.bias[size_t(o)], s = L.strength;
    for (int i = 0; i < HW; ++i) r[i] = relu_gain(r[i] * dd + L.noise[size_t(i)] * s + bb);
  });
}

// modulated 3×3 conv, up 1, padding 1 (torch conv2d correlation)
void conv_up1(const Layer& L, const std::vector<float>& x, const std::vector<float>& w, std::vector<float>& out, Pool& pool,
              std::vector<float>& col) {
  const int R = L.res, HW = R * R, I = L.I;
  std::vector<float> s(static_cast<size_t>(I));
  L.affine.apply(w.data(), s.data());
  col.assign(size_t(I) * 9 * HW, 0.f);
  pool.run(I, [&](int64_t i, int) {
    const float si = s[size_t(i)];
    const float* xi = &x[size_t(i) * HW];
    for (int ky = 0; ky < 3; ++ky)
      for (int kx = 0; kx < 3; ++kx) {
        float* c = &col[(size_t(i) * 9 + ky * 3 + kx) * HW];
        for (int y = 0; y < R; ++y) {
          const int iy = y + ky - 1;
          if (iy < 0 || iy >= R) continue;
          for (int xx = 0; xx < R; ++xx) {
            const int ix = xx + kx - 1;
            if (ix >= 0 && ix < R) c[y * R + xx] = xi[iy * R + ix] * si;
          }
        }
      }
  });
  out.assign(size_t(L.O) * HW, 0.f);
  gemm(L.O, HW, I * 9, L.AT.data(), col.data(), out.data(), pool);
  epilogue(L, demod(L, s), out.data(), HW, pool);
}

// modulated 3×3 conv with 2× upsampling: transposed conv (stride 2, no flip) then FIR (pad 1, gain 4)
void conv_up2(const Layer& L, const std::vector<float>& x, const std::vector<float>& w, const float* fk,
              std::vector<float>& out, Pool& pool, std::vector<float>& col) {
  const int Ri = L.res / 2, HWi = Ri * Ri, I = L.I, O = L.O, R = L.res;
  std::vector<float> s(static_cast<size_t>(I));
  L.affine.apply(w.data(), s.data());
  std::vector<float> xs(size_t(I) * HWi);
  for (int i = 0; i < I; ++i)
    for (int p = 0; p < HWi; ++p) xs[size_t(i) * HWi + p] = x[size_t(i) * HWi + p] * s[size_t(i)];
  const bool pad = HWi % 16 != 0;  // 4×4 input: 16 pixels, always a multiple; keep a guard anyway
  if (pad) throw Error(kInternal, "conv_up2: input pixels not a multiple of 16");
  col.assign(size_t(O) * 9 * HWi, 0.f);
  gemm(O * 9, HWi, I, L.AT.data(), xs.data(), col.data(), pool);
  const int T = 2 * Ri + 1;  // transposed-conv output size
  out.assign(size_t(O) * R * R, 0.f);
  pool.run(O, [&](int64_t o, int) {
    std::vector<float> t(size_t(T) * T, 0.f);
    for (int ky = 0; ky < 3; ++ky)
      for (int kx = 0; kx < 3; ++kx) {
        const float* Y = &col[(size_t(o) * 9 + ky * 3 + kx) * HWi];
        for (int iy = 0; iy < Ri; ++iy)
          for (int ix = 0; ix < Ri; ++ix) t[size_t(2 * iy + ky) * T + 2 * ix + kx] += Y[iy * Ri + ix];
      }
    // upfirdn2d(up 1, pad 1/1): out[oy,ox] = Σ fk[ky,kx] · t[oy+ky−1, ox+kx−1]
    float* orow0 = &out[size_t(o) * R * R];
    for (int oy = 0; oy < R; ++oy) {
      float* orow = orow0 + oy * R;
      for (int ky = 0; ky < 4; ++ky) {
        const int iy = oy + ky - 1;
        if (iy < 0 || iy >= T) continue;
        const float* trow = &t[size_t(iy) * T];
        for (int kx = 0; kx < 4; ++kx) {
          const float c = fk[ky * 4 + kx];
          const int off = kx - 1;
          const int lo = std::max(0, -off), hi = std::min(R, T - off);
          for (int ox = lo; ox < hi; ++ox) orow[ox] += c * trow[ox + off];
        }
      }
    }
  });
  epilogue(L, demod(L, s), out.data(), R * R, pool);
}

// upfirdn2d(up 2, pad 2/1, gain 4) of each plane [C,R,R] → [C,2R,2R]
void upsample_img(const std::vector<float>& img, int C, int R, const float* fk, std::vector<float>& out, Pool& pool) {
  const int Ro = 2 * R, Ru = 2 * R;  // zero-inserted size
  out.assign(size_t(C) * Ro * Ro, 0.f);
  pool.run(C, [&](int64_t c, int) {
    const float* x = &img[size_t(c) * R * R];
    float* o = &out[size_t(c) * Ro * Ro];
    for (int oy = 0; oy < Ro; ++oy) {
      float* orow = o + oy * Ro;
      for (int ky = 0; ky < 4; ++ky) {
        const int u = oy + ky - 2;
        if (u < 0 || (u & 1) || u >= Ru) continue;
        const float* xrow = x + (u / 2) * R;
        for (int kx = 0; kx < 4; ++kx) {
          const float cf = fk[ky * 4 + kx];
          const int off = kx - 2;
          int lo = std::max(0, -off);
          lo += ((-(lo + off)) % 2 + 2) % 2;
          const int hi = std::min(Ro, Ru - off);
          int ix = (lo + off) / 2;
          for (int ox = lo; ox < hi; ox += 2, ++ix) orow[ox] += cf * xrow[ix];
        }
      }
    }
  });
}

void torgb(const Network::Impl::ToRGB& T, const std::vector<float>& x, int HW, const std::vector<float>& w,
           std::vector<float>& y, Pool& pool) {
  std::vector<float> s(static_cast<size_t>(T.I));
  T.affine.apply(w.data(), s.data());
  std::vector<float> xs(size_t(T.I) * HW);
  for (int i = 0; i < T.I; ++i)
    for (int p = 0; p < HW; ++p) xs[size_t(i) * HW + p] = x[size_t(i) * HW + p] * s[size_t(i)];
  const int Mp = round16(T.O);
  std::vector<float> AT(size_t(T.I) * Mp, 0.f);
  for (int o = 0; o < T.O; ++o)
    for (int i = 0; i < T.I; ++i) AT[size_t(i) * Mp + o] = T.weight[size_t(o) * T.I + i];
  y.assign(size_t(T.O) * HW, 0.f);
  gemm(T.O, HW, T.I, AT.data(), xs.data(), y.data(), pool);
  for (int o = 0; o < T.O; ++o)
    for (int p = 0; p < HW; ++p) y[size_t(o) * HW + p] += T.bias[size_t(o)];
}

inline float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

}  // namespace

void Network::texture(const float* code, std::vector<float>& tex, Pool& pool) const {
  const Impl& m = *impl_;
  // z = E c
  std::vector<float> z(static_cast<size_t>(z_dim_));
  for (int i = 0; i < z_dim_; ++i) {
    float s = 0;
    for (int j = 0; j < code_dim_; ++j) s += code[j] * m.E[size_t(i) * code_dim_ + j];
    z[size_t(i)] = s;
  }
  // normalize_2nd_moment, mapping
  float ms = 0;
  for (float v : z) ms += v * v;
  ms /= float(z_dim_);
  const float inv = 1.0f / std::sqrt(ms + 1e-8f);
  std::vector<float> w = z, t;
  for (auto& v : w) v *= inv;
  for (const FC& fc : m.mapping) {
    t.resize(size_t(fc.out));
    fc.apply(w.data(), t.data());
    for (auto& v : t) v = relu_gain(v);
    w.swap(t);
  }
  // synthesis
  std::vector<float> x, x2, img, up, y, col;
  for (const auto& b : m.blocks) {
    if (!b.has_conv0) {
      conv_up1(b.conv1, b.const_input, w, x, pool, col);
    } else {
      conv_up2(b.conv0, x, w, m.fk, x2, pool, col);
      conv_up1(b.conv1, x2, w, x, pool, col);
    }
    const int HW = b.res * b.res;
    torgb(b.torgb, x, HW, w, y, pool);
    if (img.empty()) {
      img.swap(y);
    } else {
      upsample_img(img, F_, b.res / 2, m.fk, up, pool);
      for (size_t i = 0; i < up.size(); ++i) up[i] += y[i];
      img.swap(up);
    }
  }
  tex.swap(img);
}

void Network::decode(const std::vector<float>& tex, const float* xyz, GaussianSet& out, Pool& pool) const {
  const Impl& m = *impl_;
  out.resize(size_t(G_));
  std::memcpy(out.means.data(), xyz, size_t(G_) * 3 * sizeof(float));
  const int R = res_, H = hidden_, F = F_, K = K_;
  constexpr int kRows = 64;
  const int64_t chunks = (rows_ + kRows - 1) / kRows;
  pool.run(chunks, [&](int64_t ch, int) {
    std::vector<float> feat(static_cast<size_t>(F)), h(static_cast<size_t>(H)), o(4);
    const int r1 = int(std::min<int64_t>(rows_, (ch + 1) * kRows));
    for (int r = int(ch * kRows); r < r1; ++r) {
      // grid_sample (bilinear, align_corners = False, zeros)
      const float gx = m.row_uv[size_t(r) * 2], gy = m.row_uv[size_t(r) * 2 + 1];
      const float ix = ((gx + 1.f) * float(R) - 1.f) / 2.f, iy = ((gy + 1.f) * float(R) - 1.f) / 2.f;
      const float fx = std::floor(ix), fy = std::floor(iy);
      const int x0 = int(fx), y0 = int(fy);
      const float wx1 = ix - fx, wy1 = iy - fy;
      float wt[4] = {(1 - wx1) * (1 - wy1), wx1 * (1 - wy1), (1 - wx1) * wy1, wx1 * wy1};
      const int xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
      int off[4];
      for (int c = 0; c < 4; ++c) {
        const bool ok = xs[c] >= 0 && xs[c] < R && ys[c] >= 0 && ys[c] < R;
        off[c] = ok ? ys[c] * R + xs[c] : 0;
        if (!ok) wt[c] = 0;
      }
      const float* pe = &m.pos_emb[size_t(m.row_anchor[size_t(r)]) * F];
      for (int c = 0; c < F; ++c) {
        const float* s = &tex[size_t(c) * R * R];
        feat[size_t(c)] = (wt[0] * s[off[0]] + wt[1] * s[off[1]] + wt[2] * s[off[2]] + wt[3] * s[off[3]]) + pe[c];
      }
      const int k0 = m.seed_rows ? 0 : r % K, k1 = m.seed_rows ? K : k0 + 1;
      for (int d = 0; d < 4; ++d) {
        const auto& D = m.dec[d];
        for (int j = 0; j < H; ++j) h[size_t(j)] = D.b1[size_t(j)];
        for (int f = 0; f < F; ++f) {
          const float v = feat[size_t(f)];
          const float* wr = &D.w1t[size_t(f) * H];
          for (int j = 0; j < H; ++j) h[size_t(j)] += v * wr[j];
        }
        for (auto& v : h) v = v > 0.f ? v : 0.f;
        for (int k = k0; k < k1; ++k) {
          const int g = m.seed_rows ? r * K + k : r;
          for (int c = 0; c < D.C; ++c) {
            const float* wr = &D.w2[size_t(k * D.C + c) * H];
            float s = 0;
            for (int j = 0; j < H; ++j) s += wr[j] * h[size_t(j)];
            o[size_t(c)] = s + D.b2[size_t(k * D.C + c)];
          }
          switch (d) {
            case 0:
              for (int c = 0; c < 3; ++c) out.colors[size_t(g) * 3 + c] = sigmoid(o[size_t(c)]);
              break;
            case 1:
              for (int c = 0; c < 3; ++c) out.log_scales[size_t(g) * 3 + c] = o[size_t(c)] + m.mu_scale[size_t(g) * 3 + c];
              break;
            case 2:
              for (int c = 0; c < 4; ++c) out.rotations[size_t(g) * 4 + c] = o[size_t(c)] + m.mu_rot[size_t(g) * 4 + c];
              break;
            default: out.opacities[size_t(g)] = sigmoid(o[0] + m.mu_opac[size_t(g)]); break;
          }
        }
      }
    }
  });
}

}  // namespace ffrt
