// train/fit/facemesh.cpp — see facemesh.h.
#include "train/fit/facemesh.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/file.h"
#include "flame/landmarks.h"
#include "tensor/kernels.h"

namespace ff::fit {

// facemesh_data.cpp: the vendored third_party/facemesh/facemesh.{json,bin}
const uint8_t* facemesh_json_bytes(size_t* size);
const uint8_t* facemesh_bin_bytes(size_t* size);

namespace {

using json = nlohmann::json;

std::string base64_decode(const std::string& s, const std::string& what) {
  auto val = [&](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int acc = 0, bits = 0;
  for (char c : s) {
    if (c == '=') break;
    int v = val(c);
    FF_CHECK(v >= 0, what, ": attribute string '", s, "' is not base64");
    acc = (acc << 6) | v, bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xff));
    }
  }
  return out;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      uint32_t m = man;
      do {
        ++e;
        m <<= 1;
      } while (!(m & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct Weight {
  std::vector<int64_t> shape;
  std::vector<float> f;    // float weights (dequantised)
  std::vector<int32_t> i;  // int32 weights
};

enum class Op { Input, Const, Conv, Depthwise, Add, Prelu, MaxPool, Pad, Reshape, Sigmoid, Identity };

struct Node {
  std::string name;
  Op op = Op::Identity;
  std::vector<int> inputs;  // node indices
  int stride = 1, ksize = 1;
  bool same = false;         // padding "SAME" (else "VALID")
  bool prelu = false;        // _FusedConv2D with Prelu after BiasAdd
  Tensor w, b, alpha;        // conv/depthwise weight [O, C/g, kh, kw]; bias [O]; PReLU slope [C]
  std::array<int, 6> pad{};  // Pad: top bottom left right channel-before channel-after
};

// TF's SAME padding for one axis: total = max((ceil(n/s) − 1)·s + k − n, 0), the odd one after
std::pair<int, int> same_padding(int64_t n, int k, int s) {
  const int64_t out = (n + s - 1) / s;
  const int64_t total = std::max<int64_t>((out - 1) * s + k - n, 0);
  return {int(total / 2), int(total - total / 2)};
}

// zero padding of an NCHW [1, C, H, W] tensor: rows (t, b), columns (l, r), channels (c0, c1)
Tensor pad_nchw(const Tensor& x, int t, int b, int l, int r, int c0, int c1) {
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = zeros(x.ctx(), {1, C + c0 + c1, H + t + b, W + l + r});
  const float* s = x.data<float>();
  float* d = y.data<float>();
  const int64_t W2 = W + l + r, H2 = H + t + b;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H; ++i) std::copy_n(s + (c * H + i) * W, W, d + ((c + c0) * H2 + i + t) * W2 + l);
  return y;
}

// PReLU in place on an NCHW [1, C, H, W] tensor: x < 0 → x · alpha[c]
void prelu_(const Tensor& y, const Tensor& alpha, const std::string& what) {
  const int64_t C = y.size(1), P = y.size(2) * y.size(3);
  FF_CHECK(alpha.numel() == C, what, ": PReLU has ", alpha.numel(), " slopes for ", C, " channels");
  float* d = y.data<float>();
  const float* a = alpha.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t q = 0; q < P; ++q) d[c * P + q] = d[c * P + q] >= 0 ? d[c * P + q] : d[c * P + q] * a[c];
}

// An NCHW [1, C, H, W] tensor's values in NHWC order (TF's flatten)
std::vector<float> nhwc_flat(const Tensor& x) {
  const int64_t C = x.size(1), P = x.size(2) * x.size(3);
  std::vector<float> v(size_t(x.numel()));
  const float* s = x.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t q = 0; q < P; ++q) v[size_t(q * C + c)] = s[c * P + q];
  return v;
}

}  // namespace

struct TfjsGraph::Impl {
  std::string what;
  std::vector<Node> nodes;
  std::map<std::string, int> index;            // node name → index
  std::map<std::string, std::string> outputs;  // signature name → node name
  std::vector<int64_t> in_shape;
  Context ctx{0};  // owns the weights' storage
};

TfjsGraph::~TfjsGraph() = default;
TfjsGraph::TfjsGraph(TfjsGraph&&) noexcept = default;

TfjsGraph::TfjsGraph(const std::string& text, const std::vector<std::vector<uint8_t>>& shards, const std::string& what)
    : impl_(std::make_unique<Impl>()) {
  Impl& g = *impl_;
  g.what = what;
  json m;
  try {
    m = json::parse(text);
  } catch (const std::exception& e) {
    FF_THROW(what, ": not a TF.js model.json (", e.what(), ")");
  }
  // a missing or mistyped field of the JSON surfaces as nlohmann's exception: turned into one naming the model
  try {
    FF_CHECK(m.contains("modelTopology") && m["modelTopology"].contains("node") && m.contains("weightsManifest"), what,
             ": not a TF.js graph model (no modelTopology.node or weightsManifest)");

    // weights: the manifest's groups in order, each over its shards concatenated
    std::map<std::string, Weight> weights;
    size_t shard = 0;
    for (const json& group : m["weightsManifest"]) {
      std::vector<uint8_t> bytes;
      for (size_t k = 0; k < group["paths"].size(); ++k, ++shard) {
        FF_CHECK(shard < shards.size(), what, ": the manifest names more weight files than were given (", shards.size(),
                 ")");
        bytes.insert(bytes.end(), shards[shard].begin(), shards[shard].end());
      }
      size_t off = 0;
      for (const json& w : group["weights"]) {
        Weight wt;
        int64_t n = 1;
        for (const json& d : w["shape"]) {
          wt.shape.push_back(d.get<int64_t>());
          FF_CHECK(wt.shape.back() >= 0, what, ": weight ", w["name"], " has a negative size");
          n *= wt.shape.back();
        }
        const std::string dtype = w["dtype"];
        std::string quant;
        if (w.contains("quantization")) quant = w["quantization"]["dtype"];
        const size_t elem = quant == "float16" ? 2 : 4;
        FF_CHECK(quant.empty() || quant == "float16", what, ": weight ", w["name"], " is quantised as ", quant,
                 " (this reader knows float16)");
        FF_CHECK(dtype == "float32" || (dtype == "int32" && quant.empty()), what, ": weight ", w["name"], " has dtype ",
                 dtype);
        FF_CHECK(off + size_t(n) * elem <= bytes.size(), what, ": the weight files end inside ", w["name"], " (",
                 bytes.size(), " bytes)");
        const uint8_t* p = bytes.data() + off;
        if (dtype == "int32") {
          wt.i.resize(size_t(n));
          std::memcpy(wt.i.data(), p, size_t(n) * 4);
        } else {
          wt.f.resize(size_t(n));
          if (elem == 2) {
            for (int64_t k = 0; k < n; ++k) {
              uint16_t h;
              std::memcpy(&h, p + 2 * k, 2);
              wt.f[size_t(k)] = half_to_float(h);
            }
          } else {
            std::memcpy(wt.f.data(), p, size_t(n) * 4);
          }
        }
        off += size_t(n) * elem;
        weights[w["name"].get<std::string>()] = std::move(wt);
      }
      FF_CHECK(off == bytes.size(), what, ": the weight files hold ", bytes.size(), " bytes, the manifest ", off);
    }
    FF_CHECK(shard == shards.size(), what, ": ", shards.size(), " weight files given, the manifest names ", shard);

    // nodes
    const json& nodes = m["modelTopology"]["node"];
    for (const json& n : nodes) g.index[n["name"].get<std::string>()] = int(g.index.size());
    g.nodes.resize(nodes.size());
    auto attr_s = [&](const json& n, const char* key) -> std::string {
      if (!n.contains("attr") || !n["attr"].contains(key)) return {};
      return base64_decode(n["attr"][key]["s"].get<std::string>(), what);
    };
    auto attr_hw = [&](const json& n, const char* key) -> int {  // NHWC list: H and W equal
      FF_CHECK(n.contains("attr") && n["attr"].contains(key), what, ": node ", n["name"], " has no ", key);
      const json& l = n["attr"][key]["list"]["i"];
      FF_CHECK(l.size() == 4 && l[1] == l[2] && l[0] == "1" && l[3] == "1", what, ": node ", n["name"], " ", key, " ",
               l.dump(), " (this reader takes [1, k, k, 1])");
      return std::stoi(l[1].get<std::string>());
    };
    auto nchw_weight = [&](const Weight& wt, bool depthwise, const std::string& name) {
      FF_CHECK(wt.shape.size() == 4, what, ": conv weight ", name, " has ", wt.shape.size(), " dims");
      const int64_t kh = wt.shape[0], kw = wt.shape[1], ci = wt.shape[2], co = wt.shape[3];
      // TF: [kh, kw, in, out] (depthwise: [kh, kw, C, multiplier]) → ours [O, C/groups, kh, kw]
      const Shape s = depthwise ? Shape{ci * co, 1, kh, kw} : Shape{co, ci, kh, kw};
      std::vector<float> v(wt.f.size());
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x)
          for (int64_t c = 0; c < ci; ++c)
            for (int64_t o = 0; o < co; ++o) {
              const float val = wt.f[size_t(((y * kw + x) * ci + c) * co + o)];
              if (depthwise) v[size_t(((c * co + o) * kh + y) * kw + x)] = val;
              else v[size_t(((o * ci + c) * kh + y) * kw + x)] = val;
            }
      return from_vector<float>(g.ctx, v, s);
    };
    auto weight = [&](const std::string& name) -> const Weight& {
      auto it = weights.find(name);
      FF_CHECK(it != weights.end(), what, ": no weight ", name);
      return it->second;
    };
    for (size_t k = 0; k < nodes.size(); ++k) {
      const json& n = nodes[k];
      Node& d = g.nodes[k];
      d.name = n["name"];
      const std::string op = n["op"];
      std::vector<std::string> ins;
      if (n.contains("input"))
        for (const json& i : n["input"]) {
          std::string s = i;
          s = s.substr(0, s.find(':'));
          FF_CHECK(g.index.count(s), what, ": node ", d.name, " reads unknown node ", s);
          ins.push_back(s);
          d.inputs.push_back(g.index[s]);
        }
      auto need = [&](size_t count) {
        FF_CHECK(ins.size() >= count, what, ": node ", d.name, " (", op, ") has ", ins.size(), " inputs");
      };
      if (op == "Placeholder") {
        d.op = Op::Input;
        for (const json& dim : n["attr"]["shape"]["shape"]["dim"])
          g.in_shape.push_back(std::stoll(dim["size"].get<std::string>()));
        FF_CHECK(g.in_shape.size() == 4, what, ": input ", d.name, " is not NHWC");
        g.in_shape[0] = 1;
      } else if (op == "Const") {
        d.op = Op::Const;
      } else if (op == "_FusedConv2D" || op == "DepthwiseConv2dNative") {
        const bool dw = op == "DepthwiseConv2dNative";
        d.op = dw ? Op::Depthwise : Op::Conv;
        need(dw ? 2 : 3);
        d.stride = attr_hw(n, "strides");
        const std::string pad = attr_s(n, "padding"), fmt = attr_s(n, "data_format");
        FF_CHECK(pad == "SAME" || pad == "VALID", what, ": node ", d.name, " padding '", pad, "'");
        FF_CHECK(fmt.empty() || fmt == "NHWC", what, ": node ", d.name, " data_format '", fmt, "'");
        if (n["attr"].contains("dilations"))
          FF_CHECK(attr_hw(n, "dilations") == 1, what, ": node ", d.name, " dilated");
        d.same = pad == "SAME";
        d.w = nchw_weight(weight(ins[1]), dw, ins[1]);
        if (!dw) {
          std::vector<std::string> fused;
          for (const json& s : n["attr"]["fused_ops"]["list"]["s"]) fused.push_back(base64_decode(s, what));
          FF_CHECK(!fused.empty() && fused[0] == "BiasAdd" && fused.size() <= 2 &&
                       (fused.size() == 1 || fused[1] == "Prelu"),
                   what, ": node ", d.name, " fuses ops this reader does not know");
          d.b = from_vector<float>(g.ctx, weight(ins[2]).f, {d.w.size(0)});
          if (fused.size() == 2) {
            need(4);
            d.prelu = true;
            d.alpha = from_vector<float>(g.ctx, weight(ins[3]).f, {int64_t(weight(ins[3]).f.size())});
          }
        }
        d.inputs.resize(1);  // weights are held by the node
      } else if (op == "AddV2" || op == "Add") {
        d.op = Op::Add;
        need(2);
      } else if (op == "Prelu") {
        d.op = Op::Prelu;
        need(2);
        d.alpha = from_vector<float>(g.ctx, weight(ins[1]).f, {int64_t(weight(ins[1]).f.size())});
        d.inputs.resize(1);
      } else if (op == "MaxPool") {
        d.op = Op::MaxPool;
        d.ksize = attr_hw(n, "ksize");
        d.stride = attr_hw(n, "strides");
        FF_CHECK(attr_s(n, "padding") == "VALID", what, ": node ", d.name, " MaxPool padding must be VALID");
      } else if (op == "Pad") {
        d.op = Op::Pad;
        need(2);
        const Weight& p = weight(ins[1]);
        FF_CHECK(p.i.size() == 8 && p.i[0] == 0 && p.i[1] == 0, what, ": node ", d.name, " pads the batch");
        d.pad = {p.i[2], p.i[3], p.i[4], p.i[5], p.i[6], p.i[7]};
        for (int v : d.pad) FF_CHECK(v >= 0, what, ": node ", d.name, " negative padding");
        d.inputs.resize(1);
      } else if (op == "Reshape") {
        d.op = Op::Reshape;
        d.inputs.resize(1);
      } else if (op == "Sigmoid") {
        d.op = Op::Sigmoid;
      } else if (op == "Identity") {
        d.op = Op::Identity;
      } else {
        FF_THROW(what, ": node ", d.name, " has op ", op, ", which this reader does not implement");
      }
      if (d.op != Op::Input && d.op != Op::Const) FF_CHECK(!d.inputs.empty(), what, ": node ", d.name, " has no input");
    }
    FF_CHECK(!g.in_shape.empty(), what, ": no Placeholder input");
    if (m.contains("signature") && m["signature"].contains("outputs"))
      for (auto& [key, v] : m["signature"]["outputs"].items()) {
        std::string node = v["name"];
        g.outputs[key] = node.substr(0, node.find(':'));
        FF_CHECK(g.index.count(g.outputs[key]), what, ": output ", key, " names unknown node ", node);
      }
  } catch (const json::exception& e) {
    FF_THROW(what, ": malformed TF.js graph model (", e.what(), ")");
  }
}

TfjsGraph TfjsGraph::read(const std::string& json_path) {
  const std::string text = read_file(json_path);
  std::vector<std::vector<uint8_t>> shards;
  json m = json::parse(text, nullptr, false);
  FF_CHECK(!m.is_discarded() && m.contains("weightsManifest"), json_path, ": not a TF.js model.json");
  const std::filesystem::path dir = std::filesystem::path(json_path).parent_path();
  for (const json& group : m["weightsManifest"])
    for (const json& p : group["paths"]) {
      const std::string s = read_file((dir / p.get<std::string>()).string());
      shards.emplace_back(s.begin(), s.end());
    }
  return TfjsGraph(text, shards, json_path);
}

std::vector<int64_t> TfjsGraph::input_shape() const { return impl_->in_shape; }

std::vector<std::string> TfjsGraph::output_names() const {
  std::vector<std::string> v;
  for (auto& [k, n] : impl_->outputs) v.push_back(k);
  return v;
}

std::vector<std::vector<float>> TfjsGraph::run(Context& ctx, const std::vector<float>& input,
                                               const std::vector<std::string>& outputs) const {
  const Impl& g = *impl_;
  const int64_t H = g.in_shape[1], W = g.in_shape[2], C = g.in_shape[3];
  FF_CHECK(int64_t(input.size()) == H * W * C, g.what, ": input has ", input.size(), " values, the model takes ", H,
           "x", W, "x", C);
  std::vector<Tensor> val(g.nodes.size());
  std::vector<char> state(g.nodes.size(), 0);  // 0 not reached, 1 being evaluated (on the path), 2 done
  // evaluate in dependency order: depth-first from the output (the graph's depth is its layer count, ~70)
  std::function<void(int)> eval = [&](int k) {
    if (state[size_t(k)] == 2) return;
    const Node& n = g.nodes[size_t(k)];
    FF_CHECK(state[size_t(k)] == 0, g.what, ": the graph has a cycle through ", n.name);
    state[size_t(k)] = 1;
    for (int i : n.inputs) eval(i);
    {
      auto in = [&](int j) -> const Tensor& { return val[size_t(n.inputs[size_t(j)])]; };
      Tensor y;
      switch (n.op) {
        case Op::Input: {  // NHWC → NCHW
          std::vector<float> v(input.size());
          for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < H * W; ++p) v[size_t(c * H * W + p)] = input[size_t(p * C + c)];
          y = from_vector<float>(ctx, v, {1, C, H, W});
          break;
        }
        case Op::Const: FF_THROW(g.what, ": node ", n.name, " reads a constant as data");
        case Op::Conv:
        case Op::Depthwise: {
          Tensor x = in(0);
          const int kh = int(n.w.size(2)), kw = int(n.w.size(3));
          Conv2dParams p;
          p.stride_h = p.stride_w = n.stride;
          p.groups = n.op == Op::Depthwise ? int(x.size(1)) : 1;
          if (n.same) {
            auto [t, b] = same_padding(x.size(2), kh, n.stride);
            auto [l, r] = same_padding(x.size(3), kw, n.stride);
            if (t == b && l == r) p.pad_h = t, p.pad_w = l;
            else x = pad_nchw(x, t, b, l, r, 0, 0);
          }
          FF_CHECK(n.w.size(1) * p.groups == x.size(1), g.what, ": node ", n.name, " takes ", n.w.size(1) * p.groups,
                   " channels, gets ", x.size(1));
          y = kernels::conv2d(x, n.w, n.b, p);
          if (n.prelu) prelu_(y, n.alpha, g.what + ": node " + n.name);
          break;
        }
        case Op::Add: {
          FF_CHECK(in(0).shape() == in(1).shape(), g.what, ": node ", n.name, " adds ", in(0).shape(), " and ",
                   in(1).shape());
          y = in(0).clone();
          float* d = y.data<float>();
          const float* b = in(1).data<float>();
          for (int64_t q = 0; q < y.numel(); ++q) d[q] += b[q];
          break;
        }
        case Op::Prelu:
          y = in(0).clone();
          prelu_(y, n.alpha, g.what + ": node " + n.name);
          break;
        case Op::MaxPool: {
          const Tensor& x = in(0);
          const int64_t Cx = x.size(1), Hx = x.size(2), Wx = x.size(3);
          const int64_t Ho = (Hx - n.ksize) / n.stride + 1, Wo = (Wx - n.ksize) / n.stride + 1;
          y = empty(ctx, {1, Cx, Ho, Wo});
          const float* s = x.data<float>();
          float* d = y.data<float>();
          for (int64_t c = 0; c < Cx; ++c)
            for (int64_t i = 0; i < Ho; ++i)
              for (int64_t j = 0; j < Wo; ++j) {
                float mx = -INFINITY;
                for (int a = 0; a < n.ksize; ++a)
                  for (int b = 0; b < n.ksize; ++b)
                    mx = std::max(mx, s[(c * Hx + i * n.stride + a) * Wx + j * n.stride + b]);
                d[(c * Ho + i) * Wo + j] = mx;
              }
          break;
        }
        case Op::Pad: y = pad_nchw(in(0), n.pad[0], n.pad[1], n.pad[2], n.pad[3], n.pad[4], n.pad[5]); break;
        case Op::Reshape: {  // flatten in NHWC order, kept 4-d: C = the flat index
          const std::vector<float> v = nhwc_flat(in(0));
          y = from_vector<float>(ctx, v, {1, int64_t(v.size()), 1, 1});
          break;
        }
        case Op::Sigmoid: {
          y = in(0).clone();
          float* d = y.data<float>();
          for (int64_t q = 0; q < y.numel(); ++q) d[q] = 1.f / (1.f + std::exp(-d[q]));
          break;
        }
        case Op::Identity: y = in(0); break;
      }
      val[size_t(k)] = y;
      state[size_t(k)] = 2;
    }
  };
  std::vector<std::vector<float>> out;
  for (const std::string& name : outputs) {
    auto it = g.outputs.find(name);
    FF_CHECK(it != g.outputs.end(), g.what, ": no output named ", name);
    const int k = g.index.at(it->second);
    eval(k);
    out.push_back(nhwc_flat(val[size_t(k)]));
  }
  return out;
}

FaceMeshNet::FaceMeshNet(TfjsGraph graph) : graph_(std::move(graph)) {
  const auto s = graph_.input_shape();
  FF_CHECK(s.size() == 4 && s[1] == kFaceMeshInput && s[2] == kFaceMeshInput && s[3] == 3,
           "face mesh: the model's input is not 192x192 RGB");
}

const FaceMeshNet& FaceMeshNet::embedded() {
  static std::once_flag once;
  static std::unique_ptr<FaceMeshNet> net;
  std::call_once(once, [] {
    size_t nj = 0, nb = 0;
    const uint8_t* j = facemesh_json_bytes(&nj);
    const uint8_t* b = facemesh_bin_bytes(&nb);
    net = std::make_unique<FaceMeshNet>(TfjsGraph(std::string(reinterpret_cast<const char*>(j), nj),
                                                  {std::vector<uint8_t>(b, b + nb)}, "face mesh (built in)"));
  });
  return *net;
}

FaceMeshNet::Output FaceMeshNet::run(Context& ctx, const std::vector<float>& rgb) const {
  auto o = graph_.run(ctx, rgb, {"output_mesh", "output_faceflag"});
  FF_CHECK(o[0].size() == size_t(kFaceMeshPoints) * 3 && o[1].size() == 1, "face mesh: outputs of ", o[0].size(),
           " and ", o[1].size(), " values");
  return {o[0], double(o[1][0])};
}

FaceRoi roi_from_points(const std::vector<double>& xy, int left, int right, double scale) {
  const size_t n = xy.size() / 2;
  FF_CHECK(n > size_t(std::max(left, right)), "face ROI: ", n, " points");
  FaceRoi r;
  r.angle =
      std::atan2(xy[size_t(right) * 2 + 1] - xy[size_t(left) * 2 + 1], xy[size_t(right) * 2] - xy[size_t(left) * 2]);
  const double c = std::cos(r.angle), s = std::sin(r.angle);
  double u0 = 1e300, v0 = 1e300, u1 = -1e300, v1 = -1e300;
  for (size_t k = 0; k < n; ++k) {  // into the frame whose x axis is the eye line
    const double x = xy[k * 2], y = xy[k * 2 + 1];
    const double u = c * x + s * y, v = -s * x + c * y;
    u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
  }
  const double um = 0.5 * (u0 + u1), vm = 0.5 * (v0 + v1);
  r.cx = c * um - s * vm;
  r.cy = s * um + c * vm;
  r.side = scale * std::max(u1 - u0, v1 - v0);
  FF_CHECK(std::isfinite(r.side) && r.side > 1, "face ROI: degenerate points (side ", r.side, " px)");
  return r;
}

FaceRoi roi_from_landmarks68(const Landmarks68& lmk) {
  // eye centres as the eye line (iBUG 36–41 is the subject's right eye, image left)
  std::vector<double> xy(lmk.xy.begin(), lmk.xy.end());
  double le[2] = {0, 0}, re[2] = {0, 0};
  for (int l = 0; l < 6; ++l)
    for (int c = 0; c < 2; ++c)
      le[c] += lmk.xy[size_t(36 + l) * 2 + c] / 6, re[c] += lmk.xy[size_t(42 + l) * 2 + c] / 6;
  xy.insert(xy.end(), {le[0], le[1], re[0], re[1]});
  // the forehead: the brows (17–26) raised by a quarter of the brow-to-chin distance, along the face's up axis
  const double ex = re[0] - le[0], ey = re[1] - le[1], en = std::hypot(ex, ey);
  FF_CHECK(en > 0, "face ROI: the eyes coincide");
  const double upx = ey / en, upy = -ex / en;  // the eye line turned by −90° (image y grows downwards)
  const double h = std::hypot(lmk.xy[8 * 2] - 0.5 * (lmk.xy[19 * 2] + lmk.xy[24 * 2]),
                              lmk.xy[8 * 2 + 1] - 0.5 * (lmk.xy[19 * 2 + 1] + lmk.xy[24 * 2 + 1]));
  for (int l = 17; l <= 26; ++l)
    xy.insert(xy.end(), {lmk.xy[size_t(l) * 2] + 0.25 * h * upx, lmk.xy[size_t(l) * 2 + 1] + 0.25 * h * upy});
  return roi_from_points(xy, 68, 69);
}

FaceRoi roi_from_mesh(const std::vector<double>& xy) { return roi_from_points(xy, 33, 263); }

std::vector<float> crop_roi(const data::Image8& im, const FaceRoi& roi, int S) {
  FF_CHECK(im.channels == 3 && im.width > 0 && im.height > 0, "face mesh: the image is not RGB");
  FF_CHECK(S > 0 && roi.side > 0, "face mesh: crop size ", S, ", ROI side ", roi.side);
  std::vector<float> out(size_t(S) * S * 3, 0.f);
  const double c = std::cos(roi.angle), s = std::sin(roi.angle);
  // a ROI wider than the crop is averaged over k x k bilinear samples per crop pixel (a box filter), so a face
  // of a large photo is not aliased
  const int k = std::max(1, int(std::ceil(roi.side / S - 1e-9)));
  const double wk = 1.0 / (double(k) * k);
  for (int i = 0; i < S; ++i)
    for (int j = 0; j < S; ++j) {
      float* o = &out[(size_t(i) * S + j) * 3];
      for (int si = 0; si < k; ++si)
        for (int sj = 0; sj < k; ++sj) {
          const double X = ((j + (sj + 0.5) / k) / S - 0.5) * roi.side, Y = ((i + (si + 0.5) / k) / S - 0.5) * roi.side;
          // the ROI's centre is in pixel-centre coordinates, so this is the sample's pixel-centre position
          const double px = roi.cx + c * X - s * Y, py = roi.cy + s * X + c * Y;
          const int x0 = int(std::floor(px)), y0 = int(std::floor(py));
          const double ax = px - x0, ay = py - y0;
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx) {
              const int x = x0 + dx, y = y0 + dy;
              if (x < 0 || y < 0 || x >= im.width || y >= im.height) continue;  // zero outside the photo
              const double w = wk * (dx ? ax : 1 - ax) * (dy ? ay : 1 - ay);
              const uint8_t* p = im.at(x, y);
              for (int ch = 0; ch < 3; ++ch) o[ch] += float(w * p[ch] / 255.0);
            }
        }
    }
  return out;
}

FaceMeshResult run_facemesh(Context& ctx, const FaceMeshNet& net, const data::Image8& image, FaceRoi roi, int passes) {
  FF_CHECK(passes >= 1, "face mesh: passes must be >= 1, got ", passes);
  FaceMeshResult r;
  for (int p = 0; p < passes; ++p) {
    if (p > 0) roi = roi_from_mesh(r.xy);
    FaceMeshNet::Output o = net.run(ctx, crop_roi(image, roi));
    const double c = std::cos(roi.angle), s = std::sin(roi.angle), k = roi.side / kFaceMeshInput;
    r.xy.resize(size_t(kFaceMeshPoints) * 2);
    r.z.resize(size_t(kFaceMeshPoints));
    for (int v = 0; v < kFaceMeshPoints; ++v) {
      // crop pixels from the crop's edge → ROI frame (centred) → photo pixel-centre coordinates: crop_roi sampled
      // crop pixel j's centre, j + 0.5 from the edge, at the photo's pixel-centre position
      // cx + ((j + 0.5)/S − 0.5)·side (rotated), so an edge coordinate maps by the same formula, unshifted
      const double X = (o.mesh[size_t(v) * 3] - 0.5 * kFaceMeshInput) * k;
      const double Y = (o.mesh[size_t(v) * 3 + 1] - 0.5 * kFaceMeshInput) * k;
      r.xy[size_t(v) * 2] = roi.cx + c * X - s * Y;
      r.xy[size_t(v) * 2 + 1] = roi.cy + s * X + c * Y;
      r.z[size_t(v)] = o.mesh[size_t(v) * 3 + 2] * k;
    }
    r.score = o.score;
    r.roi = roi;
    r.passes = p + 1;
  }
  return r;
}

Landmarks68 landmarks68_from_facemesh(const flame::FlameModel& m, const std::vector<double>& xy) {
  FF_CHECK(m.V == kFaceMeshPoints, "face mesh landmarks: the head model has ", m.V, " vertices, Face Mesh ",
           kFaceMeshPoints, " (only the built-in head model shares its vertices)");
  FF_CHECK(xy.size() == size_t(kFaceMeshPoints) * 2, "face mesh landmarks: ", xy.size() / 2, " points");
  auto set = flame::make_landmark_set<double>(m, flame::LandmarkScheme::Contour68, nullptr, 1);
  FF_CHECK(set.count == 68, "face mesh landmarks: the head model has no 68-point scheme");
  std::vector<double> v3(size_t(kFaceMeshPoints) * 3, 0.0), l3(68 * 3);
  for (int v = 0; v < kFaceMeshPoints; ++v)
    v3[size_t(v) * 3] = xy[size_t(v) * 2], v3[size_t(v) * 3 + 1] = xy[size_t(v) * 2 + 1];
  flame::landmarks_fwd(m, set, v3.data(), l3.data());
  Landmarks68 l;
  for (int k = 0; k < 68; ++k) l.xy[size_t(k) * 2] = l3[size_t(k) * 3], l.xy[size_t(k) * 2 + 1] = l3[size_t(k) * 3 + 1];
  return l;
}

}  // namespace ff::fit
