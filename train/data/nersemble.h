// train/data/nersemble.h — the NeRSemble dataset layout: paths, camera_params.json, FLAME tracking .npz, the
// seed's canonical→world transform, and the intrinsics conversion to splat.h's pixel convention.
//
// Layout of one subject (docs/conventions.md §4, docs/model.md §3.1/§5; `SEQ` defaults to EXP-1-head):
//   <root>/<subject>/calibration/camera_params.json
//   <root>/<subject>/sequences/<SEQ>/annotations/tracking/FLAME2023_v2/tracked_flame_params.npz   (seed's source)
//        (also accepted: sequences/<SEQ>/tracking/flame2023_tracking_v2.npz | flame2023_tracking.npz)
//   <root>/<subject>/sequences/<SEQ>/timesteps/frame_<t:05d>/
//        images-2x/cam_<serial>.jpg|png        raw images (1100×1604 for real data; any size for synthetic data)
//        alpha_map/cam_<serial>.png            optional foreground alpha (written by `ffdata synth`)
//        00000.ply                             canonical head mesh          ┐
//        00000_facemask.ply, _subd.ply, _subd2.ply, _subd3.ply  face mask ├ written by preprocessing
//        flame_cano2world.txt                  3×4 [s·R | t]                │ (train/data/preprocess.h)
//        flamemask_proj/cam_<serial>.png       soft face mask per camera    │
//        filled_masked_images/cam_<serial>.png masked ground truth on black ┘
//   <root>/split.json (optional)               {"train": [...], "heldout": [...], "heldout_frames": {...}}
// A subject may have several sequences (EXP-1-head, EXP-2-eyes, ...; nersemble_sequences()) and several timesteps per
// sequence, each sequence with its own tracking npz (one row per tracked frame). The REFERENCE frame (the seed's
// EXP-1-head frame 0 by default) gives the subject's canonical neutral mesh; the other frames are expressions of it
// (train/data/nersemble_reader.h, docs/animation.md).
//
// Cameras. camera_params.json holds `intrinsics` (one shared 3×3 list, or {serial: 3×3} per camera) for the
// full-resolution 2200×3208 calibration image, and `world_2_cam` {serial: 4×4} in the OpenCV convention
// (x right, y down, z forward; pixel centres at integer coordinates).
//
// Intrinsics conversion (NeRSemble → splat.h). splat.h measures pixels from the image's top-left EDGE (pixel
// (i, j) is evaluated at (i + 0.5, j + 0.5)); OpenCV puts pixel centres at integers. For an image of W×H resized
// from the calibration size Wc×Hc (sx = W/Wc, sy = H/Hc):
//   PrincipalPoint::Exact (default): fx' = sx·fx, fy' = sy·fy, cx' = sx·(cx + 0.5), cy' = sy·(cy + 0.5)
//       i.e. the exact pixel-centre rescale c_cv' = (c + 0.5)·s − 0.5 followed by the +0.5 shift to edge-based.
//   PrincipalPoint::Seed: cx' = sx·cx, cy' = sy·cy — what the seed feeds 3DGS (K·0.5, used as edge-based);
//       0.5·s px off (0.25 px at images-2x). Kept to reproduce the seed exactly.
// nersemble_intrinsics() is the inverse (what `ffdata synth` writes).
//
// Canonical frame. Training renders in the seed's canonical space (docs/model.md §2): the tracked
// neutral mesh is FLAME(shape, expr = 0, pose = [0, neck, jaw, eyes]) × scale, and canonical → world is the rigid
// [R | t] of the tracked frame (R from rotation_matrices, else Euler XYZ = Rx·Ry·Rz; orthonormalised by SVD like the
// seed's uptoscale_transform). Camera view matrix in canonical space: W2C_cano = W2C_world · [R | t].
// flame_cano2world.txt stores [s·R | t] (3 lines × 4 numbers), as the seed's FLAME2PLY.py.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ff::data {

using Mat4 = std::array<double, 16>;  // row-major 4×4
using Mat34 = std::array<double, 12>;  // row-major 3×4

// ---- constants ----------------------------------------------------------------------------------
// The 16 NeRSemble serials in cam_id order (nersemble constants.py).
const std::vector<std::string>& nersemble_serials();
constexpr const char* kCentreSerial = "222200037";  // the seed's frontal camera
constexpr int kCalibWidth = 2200, kCalibHeight = 3208;  // resolution camera_params.json refers to
constexpr int kImages2xWidth = 1100, kImages2xHeight = 1604;
constexpr const char* kDefaultSequence = "EXP-1-head";
constexpr const char* kDefaultImageFolder = "images-2x";
// NeRSemble's expression sequence names in recording order (EXP-1-head ... EXP-9-jaw-2, FREE): what `ffdata synth`
// names its sequences.
const std::vector<std::string>& nersemble_sequences();
// "<sequence>/<frame:05d>" (e.g. "EXP-2-eyes/00003"): how a frame is named in split.json and by
// IdentityDataset::view_frame.
std::string frame_name(const std::string& sequence, int64_t frame);

// ---- paths --------------------------------------------------------------------------------------
struct SubjectPaths {
  std::string dir;         // <root>/<subject>
  std::string camera_json; // calibration/camera_params.json
  std::string seq_dir;     // sequences/<SEQ>
  std::string frame_dir;   // sequences/<SEQ>/timesteps/frame_<t:05d>
  std::string tracking;    // preferred tracking path (the seed's); see tracking_candidates()
  std::vector<std::string> tracking_candidates() const;  // every accepted tracking path, preferred first
  std::string image_dir;   // frame_dir/<image folder>
  std::string alpha_dir;   // frame_dir/alpha_map
  std::string mask_dir;    // frame_dir/flamemask_proj
  std::string masked_dir;  // frame_dir/filled_masked_images
  std::string mesh;        // frame_dir/00000.ply
  std::string facemask(int level) const;  // level 0: 00000_facemask.ply, 1: _subd.ply, k ≥ 2: _subd<k>.ply
  std::string cano2world;  // frame_dir/flame_cano2world.txt
  std::string image(const std::string& serial, const std::string& ext) const;  // image_dir/cam_<serial><ext>
  std::string alpha(const std::string& serial) const;
  std::string mask(const std::string& serial) const;
  std::string masked(const std::string& serial) const;
};
SubjectPaths subject_paths(const std::string& root, const std::string& subject, const std::string& sequence = kDefaultSequence,
                           int frame = 0, const std::string& image_folder = kDefaultImageFolder);

// ---- cameras ------------------------------------------------------------------------------------
struct Intrinsics {
  double fx = 0, fy = 0, cx = 0, cy = 0;  // pixels
};

enum class PrincipalPoint { Exact, Seed };

// camera_params.json
struct CameraParams {
  bool shared_intrinsics = true;             // one 3×3 for all cameras (v1/v2) vs per serial (benchmark)
  std::map<std::string, Intrinsics> intrinsics;  // per serial (the shared one copied to each world_2_cam serial)
  std::map<std::string, Mat4> world_2_cam;       // OpenCV world→camera
  std::vector<std::string> serials() const;      // the world_2_cam serials, sorted
};
// Throws ff::Error naming `name` for malformed JSON, wrong shapes, non-finite numbers, a non-rigid or
// non-invertible world_2_cam, fx/fy ≤ 0, or a camera without intrinsics.
CameraParams parse_camera_params(const std::string& json_text, const std::string& name);
CameraParams read_camera_params(const std::string& path);
std::string camera_params_json(const CameraParams& p);  // the layout NeRSemble ships (shared or per camera)
void write_camera_params(const std::string& path, const CameraParams& p);

// NeRSemble (OpenCV, calibration resolution) → splat.h convention at W×H; see the header comment.
Intrinsics to_splat_intrinsics(const Intrinsics& k, int width, int height, PrincipalPoint pp = PrincipalPoint::Exact,
                               int calib_width = kCalibWidth, int calib_height = kCalibHeight);
// The inverse of to_splat_intrinsics.
Intrinsics nersemble_intrinsics(const Intrinsics& splat, int width, int height, PrincipalPoint pp = PrincipalPoint::Exact,
                                int calib_width = kCalibWidth, int calib_height = kCalibHeight);

// ---- FLAME tracking .npz ------------------------------------------------------------------------
struct FlameTracking {
  int T = 0;                             // timesteps
  std::vector<double> shape;             // [S]  (file: (1, S) or (S,))
  std::vector<double> expression;        // [T, E]
  int E = 0;
  std::vector<double> rotation;          // [T, 3] Euler XYZ radians (R = Rx·Ry·Rz)
  std::vector<double> rotation_matrices; // [T, 9] or empty
  std::vector<double> translation;       // [T, 3]
  std::vector<double> jaw, neck;         // [T, 3] axis-angle
  std::vector<double> eyes;              // [T, 6] left then right, axis-angle
  double scale = 1;                      // file: (1, 1), (1,) or ()
  std::vector<int64_t> frames;           // [T]
  // index of `frame` in `frames` (the seed's lookup); throws when absent
  int index_of_frame(int64_t frame) const;
  void validate(const std::string& name) const;
};
FlameTracking parse_tracking_npz(const uint8_t* bytes, size_t size, const std::string& name);
FlameTracking read_tracking(const std::string& path);
// float32 arrays, int32 frames, shape (1, S), scale (1, 1) — the benchmark's key set.
void write_tracking(const std::string& path, const FlameTracking& t);

// ---- errors of worker threads ------------------------------------------------------------------
// Call inside a catch (...) block: the message of what a reader threw, so every thread of the data layer (scan,
// prefetch, preload, preprocess, synth) hands any failure to its caller as text naming `file` — std::bad_alloc, a
// filesystem or JSON error included — instead of letting it escape a thread (std::terminate).
std::string current_exception_message(const std::string& file);

// ---- split.json ---------------------------------------------------------------------------------
// {"train": [...], "heldout": [...], "heldout_frames": {"<subject>": ["<SEQ>", "<SEQ>/<frame:05d>", ...]}}
// (other keys ignored; "heldout_frames" optional). Held-out subjects are never used for training. heldout_frames
// holds out expressions of training subjects: an entry is a whole sequence ("EXP-9-jaw-2") or one timestep
// ("EXP-2-eyes/00003", frame number as in timesteps/frame_<frame>); those frames are never used for training either
// (the reader's FrameSplit::Heldout gives them for evaluation). parse_split throws ff::Error naming the file for
// invalid JSON, wrong types, a subject in both lists, or a malformed heldout_frames entry (not a string, an empty or
// '/'-, '.'-led sequence name, a timestep that is not 1..9 digits, a repeated entry); the reader also refuses an
// entry naming a sequence or timestep the subject does not have, or the subject's reference frame. A split.json
// that exists but cannot be read (a directory, no permission) throws too — only a missing one is empty.
struct SplitFile {
  std::vector<std::string> train, heldout;
  std::map<std::string, std::vector<std::string>> heldout_frames{};  // subject → entries, as written
  // whether frame (sequence, frame) of `subject` is held out by heldout_frames
  bool frame_heldout(const std::string& subject, const std::string& sequence, int64_t frame) const;
};
// A heldout_frames entry split into its sequence and frame (frame −1: the whole sequence); throws naming `name`
// when malformed.
std::pair<std::string, int64_t> parse_heldout_frame(const std::string& entry, const std::string& name);
SplitFile parse_split(const std::string& json_text, const std::string& name);
SplitFile read_split(const std::string& root);  // <root>/split.json; missing file → empty lists
void write_split(const std::string& root, const SplitFile& s);

// ---- transforms ---------------------------------------------------------------------------------
std::array<double, 9> euler_xyz_to_matrix(const double r[3]);  // scipy from_euler('XYZ') = Rx·Ry·Rz
// Nearest rotation by SVD (U·Vᵀ), removing scale — the seed's uptoscale_transform.
std::array<double, 9> orthonormalize(const std::array<double, 9>& m);
// [s·R | t] of timestep `t` (flame_cano2world.txt content).
Mat34 tracking_cano2world_scaled(const FlameTracking& tr, int t);
// Rigid canonical → world 4×4 [R | t] from a [s·R | t] 3×4 (orthonormalised).
Mat4 rigid_from_scaled(const Mat34& m);
Mat34 read_cano2world_txt(const std::string& path);
void write_cano2world_txt(const std::string& path, const Mat34& m);

Mat4 mat4_mul(const Mat4& a, const Mat4& b);
Mat4 mat4_rigid_inverse(const Mat4& m);  // inverse of [R | t] with R orthonormal
Mat4 mat4_identity();

}  // namespace ff::data
