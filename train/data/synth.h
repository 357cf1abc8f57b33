// train/data/synth.h — synthetic multi-view identities written in exactly the NeRSemble layout (so NersembleReader reads
// them like real data): facefield's built-in default dataset and its test data.
//
// Per identity i (everything keyed by (seed, i) through core/rng.h's counter RNG: deterministic for a seed,
// independent of thread count and of N):
//   geometry   β ~ N(0, shape_std²) on the head model's shape modes, expression 0, a small jaw opening and neck
//              pose, scale ~ U(0.97, 1.03), a small random head rotation/translation = the tracked rigid
//              cano→world. All tracked numbers are rounded to float32 first, so what the npz stores is exactly
//              what was rendered.
//   appearance a procedural texture baked per identity in UV space (texture_size², linear RGB): every texel's
//              point on the neutral template is placed in a face frame (origin between the eyes, unit = the
//              inter-ocular distance, from the model's 68 iBUG landmarks — or a mean-face layout on the
//              bounding box when the model has none) and coloured by: a skin tone from a light-to-dark range with
//              low-frequency blotches and pores, cheek redness, lips (outer-lip polygon, a darker mouth line),
//              eyes (sclera in the eye polygon, an iris disc with radial streaks, limbal ring and pupil at the
//              eye centre, a catch-light, lash lines), brows with hair strokes, nostrils, and per identity
//              freckles / stubble / moles / a hairline where the mesh reaches it. Edges of the UV islands are
//              dilated so bilinear lookups never see the empty background.
//   expressions  with sequences > 1 or timesteps > 1 (SynthOptions), every identity gets `sequences` sequences named
//              as NeRSemble's (nersemble_sequences(): EXP-1-head, EXP-2-eyes, ...; the reference sequence first) of
//              `timesteps` timesteps each (frames 0..T-1), one tracking npz per sequence in NeRSemble's layout. The
//              REFERENCE frame (sequence 0, timestep 0) is neutral: expression 0, jaw/neck/eyes 0 (the identity's
//              shape, scale, rigid pose and cameras are drawn as in the single-frame case, then the small jaw/neck pose
//              of the single-frame case is zeroed). Every other frame draws, deterministically per (seed, identity,
//              sequence, timestep): a mixture of the built-in head model's named expressions (flame/headmodel.h) with
//              the sequence's own emphasis (eyes: eye_close_*, brows; cheeks+nose: cheek_puff, nose_wrinkle, smile;
//              lips: pucker, smile, frown, mouth_left, lip raise/depress; mouth, tongue, jaw: jaw_open, stretch and a
//              wide jaw rotation; head: larger neck and head motion; other names: every mode), a jaw opening (jaw
//              pose, x axis), neck pose, eye gaze (written; the built-in model has no eyeballs) and a small rigid head
//              motion (head_motion_deg, 5 mm). A FLAME model gets N(0, expression_std²) on its first 10 modes. The frame
//              is rendered from its tracked head scale·FLAME(shape, expression, [0, neck, jaw, eyes]) — the mesh
//              preprocessing writes for it. The built-in head has no mouth interior: the triangles spanning the lips
//              (mouth-opening faces) stretch over the open mouth and show the lip/skin texture, with no teeth or
//              tongue; the eye openings likewise close over the eyes with the eye texture stretched.
//              split.json's heldout_frames holds out the last `heldout_sequences` sequences of every training
//              identity (held-out identities are held out whole).
//   rig        16 cameras named by the NeRSemble serials (222200037 is the frontal centre camera) on a frontal
//              hemisphere ~1 m from the head: 7 at eye level (azimuth 0, ±22, ±45, ±70°), 5 above (+22°: 0, ±30,
//              ±60°), 4 below (−20°: ±13, ±40°), each jittered per identity (σ 0.8 cm position, 0.7° roll); shared
//              intrinsics of a 2200×3208 calibration image (fx ≈ 8800 px, centred principal point ± 8 px), so
//              images-2x would be 1100×1604 and the configured size is a fraction of it.
//   rendering  z-buffered triangle rasterization (flame/mesh_raster.h) with ss×ss supersampling, perspective-
//              correct UVs and normals, bilinear texture lookup, Lambert key + fill light with wrap (soft skin)
//              and ambient, linear → sRGB; black background; the alpha map is the supersampled coverage.
// Outputs: per identity calibration/camera_params.json, the tracking npz, images-2x/cam_<serial>.png,
// alpha_map/cam_<serial>.png; then (unless disabled) the preprocessing of train/data/preprocess.h (meshes,
// cano2world, face masks, masked GT); split.json (held-out identities chosen by the seed, never used for
// training), synth.json (the options and model), contact_sheet_centre.png (every identity from 222200037) and
// contact_sheet_views.png (identity 0 from all 16 cameras).
//
//   ff::data::SynthOptions o; o.out = "/tmp/synth"; o.n = 8;
//   ff::data::SynthReport r = ff::data::write_synth_dataset(model, o);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "flame/flame.h"
#include "train/data/nersemble_reader.h"
#include "train/data/image.h"
#include "train/data/nersemble.h"

namespace ff::data {

struct SynthOptions {
  std::string out;                  // dataset root (created)
  int n = 64;                       // identities
  uint64_t seed = 0;
  int width = 275, height = 401;    // image size (2200×3208 / 8)
  int heldout = -1;                 // identities listed as held out in split.json; -1: min(8, n/4)
  std::string model_name = "builtin";  // recorded in synth.json (preprocessing a synth dataset needs the same model)
  int texture_size = 512;
  int supersample = 2;
  double shape_std = 1.0;           // β ~ N(0, shape_std²)
  int n_shape = -1;                 // shape modes sampled (-1: all of the model's, at most 300)
  double camera_distance = 1.0;     // metres
  double focal = 8800;              // fx = fy at the 2200×3208 calibration resolution
  int threads = 0;                  // 0: hardware threads
  bool preprocess = true;           // run preprocess_dataset on the result
  bool contact_sheets = true;
  int png_compression = 4;
  std::string sequence = kDefaultSequence;  // the reference sequence (the first one)
  // expressions (see the header comment); 1 × 1 = the single neutral-ish frame (the default, as before)
  int sequences = 1;                // per identity, named by nersemble_sequences() (at most 10)
  int timesteps = 1;                // per sequence
  double expression_std = 0.5;      // typical expression coefficient; jaw/neck/eye amplitudes scale with it
  double head_motion_deg = 3;       // σ of the per-frame rigid head rotation (EXP-1-head: twice that)
  int heldout_sequences = -1;       // last sequences held out per training identity; -1: 1 when sequences ≥ 2, else 0
  bool verbose = false;
};
// Whether the options ask for expression frames (sequences > 1 or timesteps > 1).
bool synth_has_expressions(const SynthOptions& opts);
// The sequence names of an identity: opts.sequence, then nersemble_sequences() without it, `sequences` of them.
std::vector<std::string> synth_sequence_names(const SynthOptions& opts);
// The held-out sequence count write_synth_dataset uses: opts.heldout_sequences, or 1 / 0 when it is −1.
int synth_heldout_sequences(const SynthOptions& opts);

// One identity, fully resolved (what the files describe).
struct SynthIdentity {
  std::string name;                 // zero-padded index ("000")
  int index = 0;
  FlameTracking tracking;           // as written (float32-exact)
  CameraParams calibration;         // as written to camera_params.json
  std::vector<ff::Camera> cameras;  // sorted by serial: name = serial, splat intrinsics at width×height, canonical viewmat
  std::vector<Mat4> world_2_cam;    // [cameras] OpenCV world → camera
  std::vector<double> canonical_vertices;  // [V, 3] tracked neutral mesh (canonical frame)
  Mat4 cano2world{};
  std::vector<Image8> images;       // [cameras] RGB, when rendered
  std::vector<Image8> alpha;        // [cameras] coverage, when rendered
  Image8 texture;                   // sRGB 8-bit copy of the baked albedo, when rendered
  std::vector<float> albedo;        // [texture², 3] the linear albedo the renderer samples, when rendered
  // Expression frames: `tracking`, canonical_vertices, cano2world, cameras and images above are the REFERENCE frame's
  // (sequence 0, timestep 0); sequence_tracking[0] == tracking.
  std::vector<std::string> sequences;           // [Q]
  std::vector<FlameTracking> sequence_tracking; // [Q], T timesteps each (frames 0..T-1)
};

// Frame (sequence q, timestep t) of an identity: its canonical head [V, 3] (the reference frame: canonical_vertices;
// any other: tracked_frame_vertices, with the expression), its rigid cano2world, its cameras (viewmat = world_2_cam ·
// cano2world, sorted by serial) and, rendered from them, its images and coverage (`id` must have been rendered).
struct SynthFrame {
  std::vector<double> vertices;
  Mat4 cano2world{};
  std::vector<ff::Camera> cameras;
  std::vector<Image8> images, alpha;
};
SynthFrame synth_frame(const flame::FlameModel& model, const SynthOptions& opts, const SynthIdentity& id, int q, int t,
                       bool render = true);

// Build (and, when `render`, rasterize) identity `index`. Requires a model with UVs (uvs + uv_faces).
SynthIdentity synth_identity(const flame::FlameModel& model, const SynthOptions& opts, int index, bool render = true);

struct SynthReport {
  int identities = 0, views = 0, frames = 0;  // frames per identity
  double seconds_render = 0, seconds_write = 0, seconds_preprocess = 0, seconds_total = 0;
  std::vector<std::string> heldout;
  std::string text() const;
};
SynthReport write_synth_dataset(const flame::FlameModel& model, const SynthOptions& opts);
// The held-out count write_synth_dataset uses: opts.heldout, or min(8, n/4) when it is −1.
int synth_heldout(const SynthOptions& opts);

// The 16-camera rig (azimuth, elevation in degrees) by serial; the first entry is the centre camera.
struct RigCamera {
  std::string serial;
  double azimuth_deg, elevation_deg;
};
const std::vector<RigCamera>& synth_rig();

// Subject directory name for identity i of n.
std::string synth_subject_name(int i, int n);

}  // namespace ff::data
