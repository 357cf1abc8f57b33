// train/model.cpp — the identity field model: layout (Gaussian placement), parameters, decode.
#include "train/model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/parallel.h"
#include "core/rng.h"
#include "runtime/formats.h"
#include "runtime/rig.h"

namespace ff::train {

nn::GeneratorConfig ModelConfig::generator() const {
  nn::GeneratorConfig g = nn::GeneratorConfig::seed();
  g.z_dim = z_dim;
  g.w_dim = z_dim;
  g.img_resolution = tex_res;
  g.img_channels = feat_dim;
  g.mapping_layers = mapping_layers;
  g.channel_base = channel_base;
  g.channel_max = channel_max;
  g.channel_min = channel_min;
  g.dtype = dtype;
  return g;
}

// ---- layout -------------------------------------------------------------------------------------------

std::vector<double> vertex_uvs(const flame::Mesh& m) {
  const int V = m.num_vertices();
  std::vector<double> uv(size_t(V) * 2, 0.0);
  if (!m.uv_faces.empty()) {
    FF_CHECK(m.uv_faces.size() == m.faces.size(), "vertex_uvs: uv_faces has ", m.uv_faces.size() / 3,
             " triangles, the mesh ", m.num_faces());
    std::vector<char> seen(V, 0);
    for (size_t i = 0; i < m.faces.size(); ++i) {
      int v = m.faces[i], t = m.uv_faces[i];
      FF_CHECK(t >= 0 && size_t(t) * 2 + 1 < m.uvs.size(), "vertex_uvs: uv index ", t, " out of range");
      if (!seen[v]) {
        seen[v] = 1;
        uv[2 * v] = m.uvs[2 * t];
        uv[2 * v + 1] = m.uvs[2 * t + 1];
      }
    }
    return uv;  // unreferenced vertices keep (0,0): they carry no Gaussians of their own in "uv" mode
  }
  FF_CHECK(m.uvs.size() == size_t(V) * 2, "vertex_uvs: the face mesh has no UVs (", m.uvs.size() / 2, " uvs for ", V,
           " vertices and no uv_faces); the identity model samples its texture at mesh UVs");
  return m.uvs;
}

static void uv_to_grid(double u, double v, float* out) {
  out[0] = float(2 * u - 1);  // grid x: u across the texture width
  out[1] = float(1 - 2 * v);  // grid y: v up (OBJ convention) → image rows top-down
}

SurfaceLayout build_layout(const std::vector<flame::Mesh>& meshes, const ModelConfig& cfg) {
  FF_CHECK(!meshes.empty(), "build_layout: no meshes");
  FF_CHECK(cfg.K >= 1, "build_layout: K must be ≥ 1, got ", cfg.K);
  const flame::Mesh& m0 = meshes[0];
  const int V = m0.num_vertices(), F = m0.num_faces();
  for (size_t i = 1; i < meshes.size(); ++i)
    FF_CHECK(meshes[i].num_vertices() == V && meshes[i].faces == m0.faces, "build_layout: mesh ", i,
             " does not share the topology of mesh 0 (", meshes[i].num_vertices(), " vs ", V, " vertices)");
  SurfaceLayout L;
  L.placement = cfg.placement;
  L.A = V;
  L.K = cfg.K;
  L.G = V * cfg.K;
  std::vector<double> vuv = vertex_uvs(m0);

  if (cfg.placement == "seed") {
    L.rows = L.A;
    L.row_uv.resize(size_t(L.rows) * 2);
    L.row_anchor.resize(L.rows);
    for (int a = 0; a < L.A; ++a) {
      uv_to_grid(vuv[2 * a], vuv[2 * a + 1], &L.row_uv[2 * a]);
      L.row_anchor[a] = a;
    }
    // count vertices of repeated midpoint subdivision: V' = V + unique edges; edges' = 2E + 3F; F' = 4F
    int64_t nv = V, ne = 0, nf = F;
    {
      std::vector<std::pair<int, int>> e;
      for (int f = 0; f < F; ++f)
        for (int j = 0; j < 3; ++j) {
          int a = m0.faces[3 * f + j], b = m0.faces[3 * f + (j + 1) % 3];
          e.emplace_back(std::min(a, b), std::max(a, b));
        }
      std::sort(e.begin(), e.end());
      ne = std::unique(e.begin(), e.end()) - e.begin();
    }
    while (nv < L.G) {
      FF_CHECK(L.subdiv_levels < 6 && nf > 0, "build_layout: seed placement needs ", L.G,
               " vertices but the face mesh subdivides to only ", nv);
      nv += ne;
      ne = 2 * ne + 3 * nf;
      nf *= 4;
      L.subdiv_levels++;
    }
    return L;
  }
  FF_CHECK(cfg.placement == "uv", "build_layout: placement must be \"uv\" or \"seed\", got \"", cfg.placement, "\"");

  // reference surface = mean of the meshes (areas for the stratified triangle choice)
  std::vector<double> ref(size_t(V) * 3, 0.0);
  for (auto& m : meshes)
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += m.vertices[i] / double(meshes.size());
  std::vector<double> area(F);
  for (int f = 0; f < F; ++f) {
    const double* p0 = &ref[3 * m0.faces[3 * f]];
    const double* p1 = &ref[3 * m0.faces[3 * f + 1]];
    const double* p2 = &ref[3 * m0.faces[3 * f + 2]];
    double e1[3], e2[3];
    for (int c = 0; c < 3; ++c) e1[c] = p1[c] - p0[c], e2[c] = p2[c] - p0[c];
    double cx = e1[1] * e2[2] - e1[2] * e2[1], cy = e1[2] * e2[0] - e1[0] * e2[2], cz = e1[0] * e2[1] - e1[1] * e2[0];
    area[f] = 0.5 * std::sqrt(cx * cx + cy * cy + cz * cz);
  }
  std::vector<std::vector<int>> incident(V);
  for (int f = 0; f < F; ++f)
    for (int j = 0; j < 3; ++j) incident[m0.faces[3 * f + j]].push_back(f);

  const bool wedge = !m0.uv_faces.empty();
  L.rows = L.G;
  L.row_uv.resize(size_t(L.G) * 2);
  L.row_anchor.resize(L.G);
  L.tri.resize(size_t(L.G) * 3);
  L.bary.resize(size_t(L.G) * 3);
  uint64_t counter = 0;
  auto uniform = [&]() { return rng::uniform_at(cfg.placement_seed, counter++); };
  for (int a = 0; a < L.A; ++a) {
    const auto& inc = incident[a];
    double total = 0;
    for (int f : inc) total += area[f];
    for (int k = 0; k < L.K; ++k) {
      const int g = a * L.K + k;
      L.row_anchor[g] = a;
      if (inc.empty() || total <= 0) {  // isolated vertex: its Gaussians sit on it
        for (int j = 0; j < 3; ++j) L.tri[3 * g + j] = a;
        L.bary[3 * g] = 1, L.bary[3 * g + 1] = 0, L.bary[3 * g + 2] = 0;
        uv_to_grid(vuv[2 * a], vuv[2 * a + 1], &L.row_uv[2 * g]);
        continue;
      }
      // stratified, area-weighted choice of the incident triangle
      double u = (k + uniform()) / L.K * total, acc = 0;
      int f = inc.back();
      for (int cand : inc) {
        acc += area[cand];
        if (u < acc) {
          f = cand;
          break;
        }
      }
      int ja = 0;
      while (m0.faces[3 * f + ja] != a) ++ja;
      // uniform point of the triangle, rejected until a has the largest barycentric weight (a's dual cell)
      double w[3] = {1, 0, 0};
      bool ok = false;
      for (int tries = 0; tries < 256 && !ok; ++tries) {
        double s = std::sqrt(uniform()), r2 = uniform();
        double c[3] = {1 - s, s * (1 - r2), s * r2};
        if (c[ja] >= c[(ja + 1) % 3] && c[ja] >= c[(ja + 2) % 3]) {
          std::copy(c, c + 3, w);
          ok = true;
        }
      }
      if (!ok) w[0] = w[1] = w[2] = 0, w[ja] = 1;
      double uvx = 0, uvy = 0;
      for (int j = 0; j < 3; ++j) {
        L.tri[3 * g + j] = m0.faces[3 * f + j];
        L.bary[3 * g + j] = w[j];
        int t = wedge ? m0.uv_faces[3 * f + j] : m0.faces[3 * f + j];
        uvx += w[j] * m0.uvs[2 * t];
        uvy += w[j] * m0.uvs[2 * t + 1];
      }
      uv_to_grid(uvx, uvy, &L.row_uv[2 * g]);
    }
  }
  return L;
}

std::vector<float> SurfaceLayout::place(const flame::Mesh& mesh) const {
  std::vector<float> out(size_t(G) * 3);
  if (placement == "seed") {
    flame::Mesh m = mesh;
    m.uvs.clear();
    m.uv_faces.clear();
    m.colors.clear();
    for (int l = 0; l < subdiv_levels; ++l) m = flame::subdivide_midpoint(m);
    FF_CHECK(m.num_vertices() >= G, "SurfaceLayout::place: ", m.num_vertices(), " vertices < ", G);
    for (size_t i = 0; i < out.size(); ++i) out[i] = float(m.vertices[i]);
    return out;
  }
  FF_CHECK(mesh.num_vertices() == A, "SurfaceLayout::place: mesh has ", mesh.num_vertices(), " vertices, layout ", A);
  for (int g = 0; g < G; ++g)
    for (int c = 0; c < 3; ++c) {
      double s = 0;
      for (int j = 0; j < 3; ++j) s += bary[3 * g + j] * mesh.vertices[3 * size_t(tri[3 * g + j]) + c];
      out[3 * size_t(g) + c] = float(s);
    }
  return out;
}

std::vector<double> knn_mean_sq_dist(const std::vector<float>& pts, int k) {
  const int64_t P = int64_t(pts.size() / 3);
  std::vector<double> out(P, 1e-7);
  if (P < 2) return out;
  // sort by x; scan outwards while dx² can still beat the current k-th best
  std::vector<int64_t> order(P);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return pts[3 * a] < pts[3 * b]; });
  std::vector<int64_t> rank(P);
  for (int64_t i = 0; i < P; ++i) rank[order[i]] = i;
  parallel_for(P, 64, hardware_threads(), [&](int64_t b, int64_t e) {
    std::vector<double> best;
    for (int64_t i = b; i < e; ++i) {
      best.assign(k, 1e300);
      const float* p = &pts[3 * i];
      auto consider = [&](int64_t j) {
        const float* q = &pts[3 * j];
        double d = 0;
        for (int c = 0; c < 3; ++c) d += double(p[c] - q[c]) * double(p[c] - q[c]);
        if (d < best[k - 1]) {
          best[k - 1] = d;
          for (int t = k - 1; t > 0 && best[t] < best[t - 1]; --t) std::swap(best[t], best[t - 1]);
        }
      };
      const int64_t r = rank[i];
      for (int64_t s = r + 1; s < P; ++s) {
        double dx = pts[3 * order[s]] - p[0];
        if (dx * dx > best[k - 1]) break;
        consider(order[s]);
      }
      for (int64_t s = r - 1; s >= 0; --s) {
        double dx = pts[3 * order[s]] - p[0];
        if (dx * dx > best[k - 1]) break;
        consider(order[s]);
      }
      double m = 0;
      int n = 0;
      for (double d : best)
        if (d < 1e299) m += d, ++n;
      out[i] = std::max(1e-7, n ? m / n : 1e-7);
    }
  });
  return out;
}

// ---- model ------------------------------------------------------------------------------------------------

namespace {
const char* kDecNames[4] = {"color", "scale", "rot", "opac"};
const int kDecChannels[4] = {3, 3, 4, 1};

Tensor host_tensor(Context& ctx, const std::vector<float>& v, const Shape& s, DType dt, Device dev) {
  return from_vector<float>(ctx, v, s).to(dt).to(dev);
}
Tensor leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}
}  // namespace

IdentityModel::IdentityModel(Context& ctx, const ModelConfig& cfg, const SurfaceLayout& layout,
                             const std::vector<std::vector<float>>& init_xyz, const std::vector<float>& ref_xyz,
                             Device device)
    : ctx_(ctx), cfg_(cfg), layout_(layout), dev_(device), gen_(ctx, cfg.generator(), device) {
  FF_CHECK(!init_xyz.empty(), "IdentityModel: no subjects");
  FF_CHECK(layout.K == cfg.K, "IdentityModel: layout K ", layout.K, " != config K ", cfg.K);
  const int N = int(init_xyz.size()), G = layout.G, A = layout.A, Fd = cfg.feat_dim;
  const DType dt = cfg.dtype;
  codes = leaf(randn(ctx, {N, cfg.code_dim}, dt, device, 0.0, 0.01));
  E = leaf(randn(ctx, {cfg.z_dim, cfg.code_dim}, dt, device));
  pos_embedding = leaf(randn(ctx, {A, Fd}, dt, device));
  for (int i = 0; i < 4; ++i) {
    Decoder d;
    d.name = kDecNames[i];
    d.channels = kDecChannels[i];
    const double b1 = 1.0 / std::sqrt(double(Fd)), b2 = 1.0 / std::sqrt(double(cfg.hidden));
    // PyTorch nn.Linear's default init (kaiming_uniform(a=√5) ⇒ U(±1/√fan_in) for weight and bias)
    d.w1 = leaf(rand(ctx, {cfg.hidden, Fd}, dt, device, -b1, b1));
    d.b1 = leaf(rand(ctx, {cfg.hidden}, dt, device, -b1, b1));
    d.w2 = leaf(rand(ctx, {int64_t(cfg.K) * d.channels, cfg.hidden}, dt, device, -b2, b2));
    d.b2 = leaf(rand(ctx, {int64_t(cfg.K) * d.channels}, dt, device, -b2, b2));
    decoders.push_back(d);
  }
  FF_CHECK(ref_xyz.size() == size_t(G) * 3, "IdentityModel: reference surface has ", ref_xyz.size() / 3,
           " points, expected ", G);
  std::vector<double> d2 = knn_mean_sq_dist(ref_xyz, 3);
  std::vector<float> ms(size_t(G) * 3), mr(size_t(G) * 4, 0.f), mo(G);
  const double ob = cfg.opacity_bias == "seed" ? cfg.opacity_init : std::log(cfg.opacity_init / (1 - cfg.opacity_init));
  FF_CHECK(cfg.opacity_bias == "seed" || cfg.opacity_bias == "logit", "IdentityModel: opacity_bias must be \"logit\" or ",
           "\"seed\", got \"", cfg.opacity_bias, "\"");
  for (int g = 0; g < G; ++g) {
    float s = float(std::log(std::sqrt(d2[g])));
    ms[3 * g] = ms[3 * g + 1] = ms[3 * g + 2] = s;
    mr[4 * g] = 1.f;
    mo[g] = float(ob);
  }
  mu_scale = leaf(host_tensor(ctx, ms, {G, 3}, dt, device));
  mu_rot = leaf(host_tensor(ctx, mr, {G, 4}, dt, device));
  mu_opac = leaf(host_tensor(ctx, mo, {G, 1}, dt, device));
  std::vector<float> all;
  all.reserve(size_t(N) * G * 3);
  for (auto& x : init_xyz) {
    FF_CHECK(x.size() == size_t(G) * 3, "IdentityModel: initial positions have ", x.size() / 3, " points, expected ", G);
    all.insert(all.end(), x.begin(), x.end());
  }
  xyz = leaf(host_tensor(ctx, all, {N, G, 3}, dt, device));
  FF_CHECK(cfg.correction_dim == 0 || cfg.correction_dim >= 3, "IdentityModel: correction_dim must be 0 or E + 3, got ",
           cfg.correction_dim);
  if (cfg.correction_dim > 0) {
    corr_color = leaf(zeros(ctx, {G, 3, cfg.correction_dim}, dt, device));
    corr_offset = leaf(zeros(ctx, {G, cfg.correction_dim}, dt, device));
  }
  row_grid_ = host_tensor(ctx, layout.row_uv, {1, 1, layout.rows, 2}, dt, device);
  if (layout.placement == "uv")
    row_anchor_ = from_vector<int64_t>(ctx, layout.row_anchor, {layout.rows}).to(device);
}

Tensor IdentityModel::decode_head(const Decoder& d, const Tensor& feat) const {
  const int64_t B = feat.shape()[0], K = cfg_.K, C = d.channels, A = layout_.A, G = layout_.G, H = cfg_.hidden;
  Tensor h = relu(linear(feat, d.w1, d.b1));  // [B,rows,H]
  if (layout_.placement == "seed") return reshape(linear(h, d.w2, d.b2), {B, G, C});  // Gaussian K·a+k = slot k
  // uv: row g = (a, k) uses slot k only: batched matmul over the K slots
  Tensor hk = reshape(contiguous(permute(reshape(h, {B, A, K, H}), {2, 0, 1, 3})), {K, B * A, H});
  Tensor wk = transpose(reshape(d.w2, {K, C, H}), 1, 2);  // [K,H,C]
  Tensor out = matmul(hk, wk) + reshape(d.b2, {K, 1, C});  // [K,B·A,C]
  return reshape(contiguous(permute(reshape(out, {K, B, A, C}), {1, 2, 0, 3})), {B, G, C});
}

Tensor IdentityModel::texture(const Tensor& c) const {
  FF_CHECK(c.dim() == 2 && c.shape()[1] == cfg_.code_dim, "IdentityModel::decode: codes must be [B,", cfg_.code_dim,
           "], got ", c.shape());
  Tensor z = linear(c, E, Tensor());  // [B,z_dim] = c·Eᵀ
  return gen_.forward(z);             // [B,F,R,R]
}

GaussianBatch IdentityModel::decode_texture(const Tensor& tex) const {
  const int64_t B = tex.shape()[0], Fd = cfg_.feat_dim, rows = layout_.rows;
  GaussianBatch out;
  out.texture = tex;
  Tensor grid = contiguous(expand(row_grid_, {B, 1, rows, 2}));
  Tensor s = permute(reshape(grid_sample(out.texture, grid), {B, Fd, rows}), {0, 2, 1});  // [B,rows,F]
  Tensor pe = layout_.placement == "uv" ? index_select(pos_embedding, 0, row_anchor_) : pos_embedding;
  Tensor feat = contiguous(s + pe);
  const int64_t G = layout_.G;
  out.colors = sigmoid(decode_head(decoders[0], feat));
  out.log_scales = decode_head(decoders[1], feat) + mu_scale;
  out.rotations = decode_head(decoders[2], feat) + mu_rot;
  out.opacities = reshape(sigmoid(decode_head(decoders[3], feat) + mu_opac), {B, G});
  return out;
}

std::vector<nn::NamedParam> IdentityModel::named_parameters() const {
  std::vector<nn::NamedParam> p;
  p.push_back({"codes", codes});
  p.push_back({"E", E});
  for (auto& g : gen_.named_parameters()) p.push_back({"G." + g.name, g.tensor});
  p.push_back({"pos_embedding", pos_embedding});
  for (auto& d : decoders) {
    p.push_back({"dec." + d.name + ".0.weight", d.w1});
    p.push_back({"dec." + d.name + ".0.bias", d.b1});
    p.push_back({"dec." + d.name + ".2.weight", d.w2});
    p.push_back({"dec." + d.name + ".2.bias", d.b2});
  }
  p.push_back({"mu_scale", mu_scale});
  p.push_back({"mu_rot", mu_rot});
  p.push_back({"mu_opac", mu_opac});
  p.push_back({"xyz", xyz});
  if (corr_color.defined()) {
    p.push_back({"corr_color", corr_color});
    p.push_back({"corr_offset", corr_offset});
  }
  return p;
}

std::vector<nn::NamedParam> IdentityModel::named_buffers() const {
  std::vector<nn::NamedParam> b;
  for (auto& g : gen_.named_buffers()) b.push_back({"G." + g.name, g.tensor});
  return b;
}

std::vector<IdentityModel::Group> IdentityModel::param_groups() const {
  std::vector<Group> g;
  for (auto& d : decoders) g.push_back({d.name + "_decoder", {d.w1, d.b1, d.w2, d.b2}});
  g.push_back({"generator", gen_.parameter_tensors()});
  g.push_back({"embeddings", {E}});
  g.push_back({"pos_embedding", {pos_embedding}});
  g.push_back({"codes", {codes}});
  g.push_back({"mu_scale", {mu_scale}});
  g.push_back({"mu_rot", {mu_rot}});
  g.push_back({"mu_opac", {mu_opac}});
  g.push_back({"xyz", {xyz}});
  if (corr_color.defined()) {
    g.push_back({"correction_color", {corr_color}});
    g.push_back({"correction_offset", {corr_offset}});
  }
  return g;
}

std::vector<double> IdentityModel::correction_coefficients(const std::vector<double>& expression,
                                                           const std::array<double, 15>& pose) const {
  const int C = cfg_.correction_dim;
  FF_CHECK(C >= 3, "IdentityModel::correction_coefficients: the model has no expression correction");
  for (size_t i = size_t(C - 3); i < expression.size(); ++i)
    FF_CHECK(expression[i] == 0.0, "IdentityModel: expression coefficient ", i, " is ", expression[i],
             ", the expression correction has ", C - 3);
  std::vector<double> e(static_cast<size_t>(C));
  ffrt::correction_coefficients(expression.data(), int(expression.size()), pose.data(), C, e.data());
  return e;
}

int64_t IdentityModel::parameter_count() const {
  int64_t n = 0;
  for (auto& p : named_parameters()) n += p.tensor.numel();
  return n;
}

ffrt::GaussianSet host_gaussians(const GaussianBatch& gb, int64_t row, std::vector<float> means) {
  ffrt::GaussianSet g;
  g.means = std::move(means);
  g.log_scales = select(gb.log_scales, 0, row).to(DType::F32).to_vector<float>();
  g.rotations = select(gb.rotations, 0, row).to(DType::F32).to_vector<float>();
  g.opacities = select(gb.opacities, 0, row).to(DType::F32).to_vector<float>();
  g.colors = select(gb.colors, 0, row).to(DType::F32).to_vector<float>();
  FF_CHECK(g.means.size() == 3 * g.opacities.size(), "host_gaussians: ", g.means.size() / 3, " positions for ",
           g.opacities.size(), " Gaussians");
  return g;
}

}  // namespace ff::train
