// train/model.h — the identity field model (docs/model.md §1), facefield's version.
//
//   codes c [N,80] (0.01·randn) ──E [64,80] (randn)──▶ z = E·c [N,64]
//   z ──nn::Generator──▶ UV feature texture [N,F=64,R=64,R]
//   texture ──grid_sample at the UV of each row──▶ [N,rows,F] + position embedding [A,F] of the row's anchor
//   four MLP decoders F→hidden→ReLU→K·C:  colour = sigmoid,  log-scale = out + μ_scale,
//   rotation = out + μ_rot (normalised by the renderer / on export),  opacity = sigmoid(out + μ_opac)
//   Gaussian g = K·a + k takes slot k of anchor a's decoder output; it sits at xyz[subject, g].
//
// Placement (ModelConfig::placement), both from the subjects' face-mask meshes (common topology):
//   "seed": the seed exactly — A anchors = mesh vertices, G = A·K Gaussians, Gaussian g at vertex g of the
//           mesh midpoint-subdivided until it has ≥ G vertices (nested prefixes, flame/mesh.h); every
//           Gaussian of anchor a reads the texture at a's UV. Position and feature are spatially unrelated
//           (Gaussian 12a+k is not near anchor a): docs/model.md §6, kept only for comparison.
//   "uv" (default): Gaussian (a, k) sits on its own surface point in anchor a's barycentric dual cell (the
//           part of a's incident triangles where a has the largest barycentric weight; triangles drawn
//           area-weighted, stratified over k, from a seeded counter RNG), is placed on every subject by the
//           same (triangle, barycentric) pair, and samples the texture at its own interpolated UV. Its slot
//           k of the decoder is applied per Gaussian (a batched matmul over slots, no wasted outputs).
// Learnable means: μ_scale = log(sqrt(mean squared distance to the 3 nearest Gaussians)) on the reference
// surface (the mean of the training subjects' meshes) — the seed's distCUDA2 — repeated over xyz; μ_rot =
// (1,0,0,0); μ_opac = logit(opacity_init) (default, 0.1) or the seed's raw 0.1 (opacity_bias = "seed").
// Positions xyz [N,G,3] are per-subject parameters initialised from each subject's own mesh (the seed's lr
// 1.6e-7 keeps them nearly fixed).
// Expression correction (correction_dim C > 0, docs/animation.md §7): linear in the frame's coefficients
// e = (ψ_0 … ψ_{C−4}, jaw axis-angle) [C] and shared by all identities, per Gaussian slot g: colour delta
// corr_color[g]·e [3] and an offset corr_offset[g]·e along the posed triangle's unit normal; both initialised to zero,
// so an untrained correction changes nothing. Applied to posed views only (train/trainer.h render_subject,
// runtime/rig.h apply_posed_corrections); the decoded (neutral) Gaussians never see it.
//
// Ownership: the model owns its parameters (leaves with requires_grad, created on `device` from the Context's
// counter RNG in a fixed order) and buffers; the Context must outlive it.
//
//   ff::train::SurfaceLayout lay = ff::train::build_layout(meshes, cfg);
//   ff::train::IdentityModel model(ctx, cfg, lay, init_xyz, ff::Device::cpu());
//   ff::train::GaussianBatch gb = model.decode(model.code_rows(subject_index));   // [B,G,...]
#pragma once
#include <array>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "flame/mesh.h"
#include "nn/generator.h"

namespace ffrt {
struct GaussianSet;  // runtime/formats.h
}

namespace ff::train {

struct ModelConfig {
  int code_dim = 80;        // identity code size
  int z_dim = 64;           // generator latent (E is [z_dim, code_dim])
  int feat_dim = 64;        // texture channels = per-anchor feature size
  int tex_res = 64;         // texture resolution (power of two ≥ 4)
  int K = 12;               // Gaussians per anchor
  int hidden = 64;          // decoder hidden width
  int channel_base = 4096;  // generator channels = clamp(channel_base / res, channel_min, channel_max)
  int channel_max = 512;
  int channel_min = 16;
  int mapping_layers = 2;
  std::string placement = "uv";       // "uv" or "seed"
  std::string opacity_bias = "logit"; // "logit": μ_opac = logit(opacity_init); "seed": raw opacity_init
  double opacity_init = 0.1;
  uint64_t placement_seed = 7;        // the uv placement's sample points
  int correction_dim = 0;             // C: coefficients of the expression correction (0: none); the Trainer sets
                                      // it to the head model's E + 3 when TrainConfig::expression_correction is on
  DType dtype = DType::F32;           // F64 only for CPU gradient checks

  nn::GeneratorConfig generator() const;
};

// Fixed geometry derived from the subjects' meshes: where Gaussians are and where they read the texture.
struct SurfaceLayout {
  std::string placement;
  int A = 0;  // anchors (= mesh vertices)
  int G = 0;  // Gaussians = A·K
  int K = 0;
  int rows = 0;                          // decoder rows: A ("seed") or G ("uv")
  std::vector<float> row_uv;             // [rows, 2] grid_sample coords in [-1,1] (x = 2u−1, y = 1−2v)
  std::vector<int64_t> row_anchor;       // [rows] anchor of each row (position-embedding index)
  // uv placement: Gaussian g = Σ_j bary[g,j]·V[tri[g,j]]
  std::vector<int32_t> tri;              // [G,3]
  std::vector<double> bary;              // [G,3]
  int subdiv_levels = 0;                 // seed placement: midpoint subdivisions applied
  // Positions of all G Gaussians on a mesh of the common topology → [G,3] (float).
  std::vector<float> place(const flame::Mesh& mesh) const;
};

// meshes: the training subjects' face meshes (the first one's UVs are used; all must share the topology)
SurfaceLayout build_layout(const std::vector<flame::Mesh>& meshes, const ModelConfig& cfg);
// per-vertex UVs in [0,1] of a mesh: the first wedge UV of each vertex, or the per-vertex uvs; [V,2]
std::vector<double> vertex_uvs(const flame::Mesh& m);

// mean squared distance to the k nearest other points (the seed's distCUDA2, exact), clamped ≥ 1e-7
std::vector<double> knn_mean_sq_dist(const std::vector<float>& pts /*[P,3]*/, int k = 3);

// Decoded Gaussians of B subjects (all [B,G,...], differentiable).
struct GaussianBatch {
  Tensor colors;     // [B,G,3] sigmoid RGB
  Tensor log_scales; // [B,G,3] out + μ_scale (the renderer gets exp)
  Tensor rotations;  // [B,G,4] out + μ_rot (unnormalised; renderer normalises)
  Tensor opacities;  // [B,G]   sigmoid(out + μ_opac)
  Tensor texture;    // [B,F,R,R] the generator output (for inspection)
};

// Row `row` of a GaussianBatch at positions means [G,3] as the runtime's host arrays (runtime/formats.h:
// activated opacities and colours, log-scales, unnormalised rotations), on any device: what ffrt::write_ply,
// write_splat and pack_from_gaussians take (the engine's .ply exports go through it).
ffrt::GaussianSet host_gaussians(const GaussianBatch& gb, int64_t row, std::vector<float> means);

class IdentityModel {
 public:
  // init_xyz: one [G,3] position set per training subject (layout.place(mesh_s)); ref_xyz: [G,3] reference
  // surface for μ_scale (mean of the training subjects).
  IdentityModel(Context& ctx, const ModelConfig& cfg, const SurfaceLayout& layout,
                const std::vector<std::vector<float>>& init_xyz, const std::vector<float>& ref_xyz,
                Device device = Device::cpu());

  // codes [B,code_dim] → Gaussians of B identities (= decode_texture(texture(codes)))
  GaussianBatch decode(const Tensor& codes) const { return decode_texture(texture(codes)); }
  // the two halves (benches time them apart): codes → z = E·c → generator → [B,F,R,R]; texture → Gaussians
  Tensor texture(const Tensor& codes) const;
  GaussianBatch decode_texture(const Tensor& texture) const;
  // rows of the code table (differentiable wrt codes), subjects I64 [B] on the model's device
  Tensor code_rows(const Tensor& subjects) const { return index_select(codes, 0, subjects); }
  Tensor positions(int subject) const { return select(xyz, 0, subject); }  // [G,3]

  const ModelConfig& config() const { return cfg_; }
  const SurfaceLayout& layout() const { return layout_; }
  Device device() const { return dev_; }
  Context& ctx() const { return ctx_; }
  int num_subjects() const { return int(xyz.shape()[0]); }
  nn::Generator& generator() { return gen_; }

  // Parameters by name in a fixed order ("codes", "E", "G.<stylegan name>", "pos_embedding",
  // "dec.<attr>.<l>.weight|bias", "mu_scale", "mu_rot", "mu_opac", "xyz", then with a correction "corr_color",
  // "corr_offset"); buffers: the generator's.
  std::vector<nn::NamedParam> named_parameters() const;
  std::vector<nn::NamedParam> named_buffers() const;
  // The seed's optimiser groups (docs/model.md §3.3): name → tensors; with a correction also "correction_color",
  // "correction_offset".
  struct Group {
    std::string name;
    std::vector<Tensor> params;
  };
  std::vector<Group> param_groups() const;
  int64_t parameter_count() const;

  // ---- parameters (leaves) ----
  Tensor codes;          // [N,code_dim]
  Tensor E;              // [z_dim,code_dim]
  Tensor pos_embedding;  // [A,F]
  struct Decoder {
    std::string name;    // color, scale, rot, opac
    int channels = 0;    // C
    Tensor w1, b1, w2, b2;  // [hidden,F], [hidden], [K·C,hidden], [K·C]
  };
  std::vector<Decoder> decoders;  // color, scale, rot, opac
  Tensor mu_scale;       // [G,3]
  Tensor mu_rot;         // [G,4]
  Tensor mu_opac;        // [G,1]
  Tensor xyz;            // [N,G,3]
  Tensor corr_color;     // [G,3,C] (undefined when C = 0)
  Tensor corr_offset;    // [G,C]

  // The correction's coefficient vector of a frame: (expression ψ_0 … ψ_{C−4}, jaw axis-angle); throws when the
  // frame has a non-zero coefficient past C − 3. Requires C > 0.
  std::vector<double> correction_coefficients(const std::vector<double>& expression,
                                              const std::array<double, 15>& pose) const;

 private:
  Context& ctx_;
  ModelConfig cfg_;
  SurfaceLayout layout_;
  Device dev_;
  nn::Generator gen_;
  Tensor row_grid_;      // [1,1,rows,2]
  Tensor row_anchor_;    // I64 [rows] (uv placement)
  Tensor decode_head(const Decoder& d, const Tensor& feat /*[B,rows,F]*/) const;  // → [B,G,C]
};

}  // namespace ff::train
