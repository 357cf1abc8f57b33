// runtime/formats.h — facefield's interchange formats, dependency-free (C++17 standard library only), shared by
// the runtime library (runtime/) and the engine's apps (apps/export.cpp, render, interpolate) and tests.
//
//   .ply    the official 3DGS point_cloud.ply (docs/conventions.md §5.1): binary_little_endian, one `vertex` element,
//           float properties x y z nx ny nz f_dc_0..2 [f_rest_0..44] opacity scale_0..2 rot_0..3, raw values:
//           opacity = logit(o), scale = log(σ), f_dc = (rgb − 0.5)/C0, rot = the normalised (w,x,y,z), normals 0.
//           SH degree 3 by default: 45 f_rest (62 floats per Gaussian), the layout graphdeco's loader asserts, zero
//           unless the set has view-dependent colours (GaussianSet::sh_rest, written channel-major: f_rest_(c·15+k));
//           degree 0 writes DC only (17 floats) and refuses a set with SH. The reader takes every degree 0–3 and
//           keeps non-zero f_rest as sh_rest (degrees 1, 2 padded with zeros).
//           up: the canonical frame is y up (docs/conventions.md); y_down = true writes the world turned 180° about
//           x — (x, y, z) → (x, −y, −z), rotations r⊗q with r = (0, 1, 0, 0) — for viewers that assume a y-down
//           (COLMAP) world, and says so in the header (`comment facefield up -y`); parse_ply turns such a file
//           back, so facefield's readers always return the canonical frame.
//           The reader is header-driven: any property order, types char/uchar/short/ushort/int/uint/float/double
//           (and int8…float64), ascii or binary_little_endian, extra properties (binding_0, …) ignored.
//   .splat  antimatter15 (docs/conventions.md §5.2): 32 bytes per Gaussian, no header: 3×f32 position, 3×f32 linear
//           scale, RGBA u8 (A = opacity·255), quaternion u8 (w,x,y,z)·128+128 of the normalised rotation; records
//           sorted by descending exp(Σ log s)·opacity (ties by index). Colour/opacity/rotation are quantised. The
//           format has no SH: a set with view-dependent colours is written with its DC colour, as antimatter15's own
//           PLY converter does.
//   .ffpk   identity pack: the container of runtime/container.h (magic "FFPACK\r\n"); its header record "pack/kind"
//           says what it holds (1 = decoded Gaussians, 2 = model: generator + decoders + layout + codes +
//           positions, 3 = rig: one identity's animation rig, runtime/rig.h, docs/rig.md), meta is informative JSON;
//           arrays may have any name and any of the five dtypes.
//           Kind 1 arrays: means [N,3], log_scales [N,3], rotations [N,4], opacities [N] (activated), colors [N,3],
//           optionally sh_rest [N,15,3] (GaussianSet::sh_rest: view-dependent colours).
//           Kind 2 arrays: the checkpoint's parameter names (train/model.h: codes, E, G.*, pos_embedding, dec.*,
//           mu_*, xyz) and generator buffers (G.*.noise_const, G.*.resample_filter), and the model records of
//           train/model_file.h (layout/*, names, cameras/*, head/*, model/config); the runtime needs layout/row_uv
//           [rows,2] (and layout/row_anchor for uv placement) and reads names; the rest is for the engine.
//   .ffck   the training checkpoint (train/checkpoint.h, the same container) is read here too (read-only): its
//           "param/<name>" and "buffer/<name>" tensors become a kind-2 pack (f64 converted to f32), its model records
//           keep their names, its config JSON is the meta; Adam and trainer state are skipped. A runtime model needs "layout/row_uv" (or
//           "param/layout/row_uv"/"buffer/layout/row_uv").
// Readers refuse foreign files (magic), newer versions, truncated or corrupt files (sizes, checksum) with an
// ffrt::Error whose status is FF_ERROR_FORMAT and whose message names the file and the reason; version-1 packs and
// checkpoints (written before runtime/container.h) are still read.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/container.h"  // Error, Array, DType, read_file, write_file, fnv1a64
#include "runtime/raster_constants.h"

namespace ffrt {

using raster::kSH_C0;  // runtime/raster_constants.h: colour = 0.5 + kSH_C0·f_dc

// One identity's decoded Gaussians, host arrays.
struct GaussianSet {
  std::vector<float> means;       // [N,3]
  std::vector<float> log_scales;  // [N,3]
  std::vector<float> rotations;   // [N,4] (w,x,y,z), unnormalised
  std::vector<float> opacities;   // [N] activated, in [0,1]
  std::vector<float> colors;      // [N,3] RGB in [0,1]: the colour seen from every direction, or with sh_rest the
                                  // SH DC term as a colour (0.5 + C0·f_dc)
  // [N,15,3] (Gaussian, SH coefficient 1..15, channel) or empty: the SH coefficients of degrees 1–3 (3DGS f_rest,
  // its basis and sign conventions: runtime/splat_math.h sh_basis), which make the colour depend on the direction
  // the Gaussian is seen from (sh_color). Empty: view-independent colours (most sets). With SH, `colors` may leave
  // [0, 1] (the DC term alone need not be a displayable colour).
  std::vector<float> sh_rest;
  size_t size() const { return opacities.size(); }
  bool has_sh() const { return !sh_rest.empty(); }
  void resize(size_t n);  // sh_rest too when the set has it
  void check(const std::string& what) const;  // consistent sizes (throws kInvalid)
};
constexpr int kShRest = 15;  // SH coefficients of degrees 1–3 per channel

// The colour of Gaussian i of g seen along the unit direction d (from the camera towards the Gaussian, in the frame
// of g's means): colors[i] + Σₖ sh_rest[i,k]·basisₖ(d), clamped below at 0 (3DGS computeColorFromSH, through the
// renderers' own runtime/splat_math.h sh_color_along); colors[i] when g has no SH.
void sh_color(const GaussianSet& g, size_t i, const float d[3], float rgb[3]);
// The SH coefficients of degrees 1–3 of a colour function turned by the rotation R (row-major 3×3): the turned
// function's colour along d is the original's along Rᵀd (a Gaussian rotated by R keeps its colours relative to its
// own frame). Exact: each degree is rotated within itself, by a matrix found from 16 directions spread over the
// sphere (least squares, exact for functions of that degree). Build once per rotation, apply to any number of sets.
class ShRotation {
 public:
  explicit ShRotation(const double R[9]);
  void apply(const float in[kShRest * 3], float out[kShRest * 3]) const;  // [15,3] → [15,3]; may not alias

 private:
  double D1_[9], D2_[25], D3_[49];  // per degree, row-major: new coefficient m = Σ_k D[m,k]·old coefficient k
};

// view_colors (runtime/raster.h) evaluates it for every Gaussian and a camera.
// The set's colours as the SH array [N,16,3] renderers take (splat/splat.h RenderParams::sh, degree 3): the DC term
// (colors − 0.5)/C0, then sh_rest (zeros without SH).
std::vector<float> sh_coefficients(const GaussianSet& g);
// A colour as the SH degree-0 coefficient (3DGS f_dc): (rgb − 0.5)/C0.
inline float sh_dc_coefficient(float rgb) { return float((double(rgb) - 0.5) / kSH_C0); }

// ---- .ply ----
std::string ply_bytes(const GaussianSet& g, int sh_degree = 3, bool y_down = false);  // sh_degree 0 or 3
void write_ply(const std::string& path, const GaussianSet& g, int sh_degree = 3, bool y_down = false);
constexpr const char* kPlyYDownComment = "comment facefield up -y";
// sh_degree_out: degree found from the f_rest count (0..3), or null; a y-down file comes back in the canonical frame
GaussianSet parse_ply(const std::string& bytes, const std::string& what, int* sh_degree_out = nullptr);
GaussianSet read_ply(const std::string& path, int* sh_degree_out = nullptr);

// ---- .splat ----
std::string splat_bytes(const GaussianSet& g);
void write_splat(const std::string& path, const GaussianSet& g);
GaussianSet parse_splat(const std::string& bytes, const std::string& what);
GaussianSet read_splat(const std::string& path);

// ---- .ffpk / .ffck (runtime/container.h) ----
constexpr uint32_t kPackVersion = kContainerVersion;  // written; version 1 is read too
enum PackKind : uint32_t { kPackGaussians = 1, kPackModel = 2, kPackRig = 3 };  // kPackRig: runtime/rig.h
struct Pack {
  uint32_t kind = kPackGaussians;
  std::string meta;  // JSON text (informative)
  std::vector<Array> arrays;
  const Array* find(const std::string& name) const;  // null if absent
  const Array& get(const std::string& name, const std::string& what) const;  // throws kUnsupported
  void add(const std::string& name, const std::vector<int64_t>& shape, const float* data);
  void add_u8(const std::string& name, const std::string& bytes);
};
std::string pack_bytes(const Pack& p);
void write_pack(const std::string& path, const Pack& p);
Pack parse_pack(const std::string& bytes, const std::string& what);
// the records every model file holds besides parameters and buffers (train/model_file.h): layout/*, cameras/*,
// head/*, model/*, names — a checkpoint's become the pack's under the same names
bool is_model_record(const std::string& name);
// a training checkpoint → kind-2 pack (parameters, buffers and the model records; no optimiser state)
Pack parse_checkpoint(const std::string& bytes, const std::string& what);
// by magic: .ffpk or .ffck (throws kFormat naming both magics otherwise)
Pack parse_model_file(const std::string& bytes, const std::string& what);
bool is_pack(const std::string& bytes);
bool is_checkpoint(const std::string& bytes);
bool is_ply(const std::string& bytes);

Pack pack_from_gaussians(const GaussianSet& g, const std::string& meta = "");
GaussianSet gaussians_from_pack(const Pack& p, const std::string& what);
// .ply / kind-1 .ffpk by content; .splat (no header) only for a file named *.splat; anything else is refused
GaussianSet load_gaussians(const std::string& path);

}  // namespace ffrt
