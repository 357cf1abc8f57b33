// train/data/nersemble_reader.h — the reader of NeRSemble-layout datasets (real or `ffdata synth`): validation on open,
// a bounded uint8 image cache with background prefetch, and the trainer's (subject, camera) → image/mask/camera
// call. Layout and camera conventions: train/data/nersemble.h.
//
// Open. Every directory under the root holding calibration/ or sequences/ is a subject. For each one the reader
// parses camera_params.json and the tracking npz, probes every image header (no decode), and records problems:
//   error   (the subject is unusable): unreadable/invalid camera_params.json or tracking npz, tracked frame
//           missing, a camera missing from camera_params.json (vs DatasetOptions::cameras, or else the cameras
//           calibrated in at least half of the subjects), a calibrated camera without an image, an unreadable
//           image, an image (or
//           preprocessed mask / masked image) whose size differs from the dataset's size, preprocessed files
//           missing when require_preprocessed;
//   warning (kept): an image without calibration, an extra camera (ignored), preprocessed outputs partly
//           present (raw images are used), a subject listed in split.json that does not exist.
// Non-strict: subjects with errors are skipped (each reported; ValidationReport::skipped_text() names them and
// why); strict: open() throws ff::Error with the report when there is any error. An unusable split.json
// (unreadable, not JSON, wrong types, a subject both train and held out) is refused by open() either way.
// Every failure in the reader's threads (scan, prefetch, preload) reaches the caller as ff::Error naming the file
// (std::bad_alloc and other exceptions included), never std::terminate.
// The dataset's image size is DatasetOptions::width×height when given, else the most common size found.
//
// Frames. By default only the REFERENCE frame is read (DatasetOptions::sequence / frame: the seed's EXP-1-head frame
// 0), one view per camera, exactly as the seed. With DatasetOptions::sequences set, every timestep of those sequences
// is read too (timesteps/frame_<t>/ folders present on disk, at most max_timesteps per sequence, each looked up in its
// sequence's tracking npz): a VIEW is then one (frame, camera) pair. Views are ordered frame-major — the reference
// frame first, then the other frames of the reference sequence, then the other sequences by name, timesteps ascending —
// and by serial within a frame; a single-frame dataset has exactly the views it had before. Each frame has its own
// rigid head pose (the camera's viewmat = world_2_cam · cano2world of that frame) and, when preprocessed, its own
// meshes and masks in its timestep folder. split.json's heldout_frames mark held-out expressions; FrameSplit selects
// them. Errors of a frame (tracking npz missing or without the frame, a camera without an image, ...) make the subject
// unusable like any other error, naming the file.
//
// Images. Each view is decoded once into a compact uint8 entry (RGB [H,W,3] + mask [H,W], 4 B/pixel), kept in an
// LRU cache bounded by cache_bytes, optionally persisted to disk_cache (raw, checksummed, keyed by the source
// files' size and mtime: re-opening skips PNG/JPEG decoding). prefetch() queues views for the background
// thread(s); load() returns at once on a hit, waits for an in-flight decode, or decodes itself on a miss. A
// trainer that prefetches its next mini-batch never waits on disk in steady state (cache_stats() counts waits).
//
// Ground truth (GtSource::Auto): preprocessed subjects give filled_masked_images/ (masked GT on black) and
// flamemask_proj/ (soft face mask); others give the raw image and alpha_map/ (or an all-ones mask).
//
//   ff::data::NersembleReader ds = ff::data::NersembleReader::open("/data/synth64");
//   std::printf("%s", ds.report().text().c_str());
//   ds.prefetch({{0, 0}, {0, 1}});
//   std::vector<float> img(3 * ds.height() * ds.width()), mask(ds.height() * ds.width());
//   ds.load(0, 1, img.data(), mask.data());
//   const ff::Camera& cam = ds.subject(0).cameras[1];   // cam.name (serial), cam.viewmat (canonical→camera)
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/geometry.h"
#include "flame/mesh.h"
#include "train/data/nersemble.h"

namespace ff::data {

enum class Severity { Warning, Error };

struct Problem {
  Severity severity = Severity::Error;
  std::string subject;  // "" for dataset-level problems
  std::string camera;   // serial or ""
  std::string file;     // offending file or ""
  std::string what;
};

struct SubjectSummary {
  std::string name;
  bool ok = false;        // usable (no error)
  bool heldout = false;   // listed under "heldout" in split.json
  int frames = 1;         // frames found (the reference included)
  int heldout_frames = 0; // of them held out by split.json's heldout_frames
  bool preprocessed = false;
  int cameras = 0;        // calibrated cameras with images
  int width = 0, height = 0;
  std::string gt;         // "masked" or "raw"
};

struct ValidationReport {
  std::string root;
  int width = 0, height = 0;  // the dataset's image size
  std::vector<std::string> cameras;  // expected serials
  std::vector<SubjectSummary> subjects;
  std::vector<Problem> problems;
  std::string split_error;  // non-empty: split.json exists but is unusable (counts as an error; open() refuses)
  int errors() const;
  int warnings() const;
  int usable() const;
  std::string text() const;  // multi-line human-readable report (ends with skipped_text())
  // one line per skipped (unusable) subject and every error that made it so; "" when none is skipped
  std::string skipped_text() const;
};

enum class GtSource { Auto, Masked, Raw };
enum class Split { Train, Heldout, All };
// Frames of the selected subjects: those not held out by split.json's heldout_frames (training), only the held-out ones
// (held-out-expression evaluation; subjects without any are left out), or all.
enum class FrameSplit { Train, Heldout, All };

struct DatasetOptions {
  std::string sequence = kDefaultSequence;
  int frame = 0;                                 // timesteps/frame_<frame>; also the tracked frame used
                                                 // (sequence/frame = the reference frame)
  std::vector<std::string> sequences;            // more frames: empty = the reference frame only; {"*"} = every
                                                 // folder under sequences/; else these sequences (all timesteps)
  int max_timesteps = 0;                         // per sequence, the first ones (0: all)
  FrameSplit frames = FrameSplit::Train;         // split.json heldout_frames: which frames are read
  std::string image_folder = kDefaultImageFolder;
  bool strict = false;                           // any error refuses the whole dataset (warnings do not)
  Split split = Split::Train;                    // split.json: train subjects only by default
  std::vector<std::string> subjects;             // restrict to these names (empty: all)
  std::vector<std::string> cameras;              // expected serials (empty: union over subjects)
  int width = 0, height = 0;                     // expected image size (0: the most common size)
  int calib_width = kCalibWidth, calib_height = kCalibHeight;
  PrincipalPoint principal_point = PrincipalPoint::Exact;
  GtSource gt = GtSource::Auto;
  bool require_preprocessed = false;
  size_t cache_bytes = size_t(8) << 30;          // in-memory uint8 cache bound (LRU)
  std::string disk_cache;                        // directory for decoded views ("" = none)
  int prefetch_threads = 1;                      // background decoders (0: none; load() decodes on a miss)
};

// One timestep of one sequence of a subject.
struct Frame {
  std::string sequence;
  int64_t frame = 0;              // timesteps/frame_<frame>
  int timestep = 0;               // index of `frame` in tracking->frames
  std::shared_ptr<const FlameTracking> tracking;  // the sequence's tracking npz
  SubjectPaths paths;             // frame_dir etc. of this frame
  Mat4 cano2world{};              // rigid canonical → world of this frame
  Mat34 cano2world_scaled{};      // [s·R | t] (this frame's flame_cano2world.txt)
  bool reference = false;         // the subject's reference frame (DatasetOptions::sequence / frame)
  bool heldout = false;           // held out by split.json's heldout_frames
  std::string name() const { return frame_name(sequence, frame); }
};

struct Subject {
  std::string name;
  SubjectPaths paths;             // of the reference frame
  bool heldout = false;
  bool preprocessed = false;      // every preprocessed file of every frame read is present
  // Per VIEW (one per camera for a single-frame dataset; frame-major, see "Frames" above): name = serial, width×height
  // = the dataset's image size, intrinsics in the splat.h / core/geometry.h convention at that size, viewmat =
  // canonical → camera = world_2_cam · cano2world of the view's frame (what training renders with)
  std::vector<ff::Camera> cameras;
  std::vector<Mat4> world_2_cam;  // [views] OpenCV world → camera (camera_params.json)
  std::vector<std::string> images;  // raw image file per view
  std::vector<Frame> frames;      // the frames read (FrameSplit), in view order
  std::vector<int> view_frame;    // [views] index into frames
  int frames_found = 1;           // frames of the subject on disk (every split), as SubjectSummary::frames
  // the reference frame (whether or not its views were selected): the seed's single frame
  FlameTracking tracking;
  int timestep = 0;               // index of DatasetOptions::frame in tracking.frames
  Mat4 cano2world{};              // rigid canonical → world
  Mat34 cano2world_scaled{};      // [s·R | t] (flame_cano2world.txt)
  int camera_index(const std::string& serial) const;  // first view of camera `serial`, −1 if absent
};

// One decoded view in the cache's compact form.
struct ViewU8 {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;   // [H, W, 3]
  std::vector<uint8_t> mask;  // [H, W]
  size_t bytes() const { return rgb.size() + mask.size(); }
};

struct CacheStats {
  uint64_t hits = 0;          // load() found the view ready
  uint64_t waits = 0;         // load() waited for an in-flight prefetch
  uint64_t misses = 0;        // load() decoded itself
  uint64_t decoded = 0;       // views decoded from PNG/JPEG
  uint64_t disk_hits = 0;     // views read from the disk cache
  uint64_t evictions = 0;
  size_t bytes = 0;           // current in-memory size
  size_t entries = 0;
};

class NersembleReader {
 public:
  // Scans and validates; throws ff::Error when strict and anything is wrong, or when no subject is usable.
  static NersembleReader open(const std::string& root, const DatasetOptions& opts = {});
  NersembleReader(NersembleReader&&) noexcept;
  NersembleReader& operator=(NersembleReader&&) noexcept;
  ~NersembleReader();

  const ValidationReport& report() const;
  const DatasetOptions& options() const;
  int num_subjects() const;
  const Subject& subject(int i) const;
  int find_subject(const std::string& name) const;  // −1 if absent
  int width() const;
  int height() const;

  // image [3, H, W] in [0, 1], mask [1, H, W] in [0, 1] (either may be null). Throws if the files are unreadable.
  void load(int subject, int camera, float* image, float* mask);
  // The cached uint8 view (decoding or waiting as load() does).
  std::shared_ptr<const ViewU8> view_u8(int subject, int camera);
  // Queue views for the background decoder(s); already cached or queued views are skipped.
  void prefetch(const std::vector<std::pair<int, int>>& views);
  void prefetch_subject(int subject);
  // Decode every view now, on `threads` threads (0: hardware threads). Bounded by cache_bytes like any load.
  void preload_all(int threads = 0);
  // Block until the prefetch queue is empty and no decode is in flight.
  void wait_prefetch();
  CacheStats cache_stats() const;

  struct Impl;

 private:
  explicit NersembleReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Scan + validate only (what `ffdata check` prints); never throws for dataset problems.
ValidationReport validate_dataset(const std::string& root, const DatasetOptions& opts = {});

// A preprocessed mesh of a subject: level −1 = 00000.ply (the canonical head), 0 = 00000_facemask.ply,
// k ≥ 1 = its k-th subdivision. Throws when the file is missing or malformed.
flame::Mesh read_subject_mesh(const Subject& s, int level);

// SplitFile / read_split / write_split (root/split.json) live in train/data/nersemble.h.

}  // namespace ff::data
