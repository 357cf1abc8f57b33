// train/data/preprocess.h — one-command, idempotent preprocessing of a NeRSemble-layout dataset, replacing the
// seed's FLAME2PLY.py + flamemask_crater.py + projection_ply.py (×2) and its hand-renamed files
// (docs/model.md §5). Per subject (outputs in timesteps/frame_<t>/, names in train/data/nersemble.h):
//   00000.ply                    the tracked neutral head in canonical space: FLAME(shape, expression = 0,
//                                pose = [0, neck, jaw, eyes]) × scale, plus the seed's 30 mouth-closing faces
//                                when the model is FLAME's 5023-vertex mesh
//   flame_cano2world.txt         [s·R | t] of the tracked frame (3 lines × 4 numbers, the seed's format)
//   00000_facemask.ply           the seed's face-mask submesh (flame/mesh.h make_face_mask; regions the model
//   00000_facemask_subd{,2,3}.ply  lacks are skipped with a warning) and its midpoint subdivisions
//   flamemask_proj/cam_<s>.png   the face mask rendered into every camera: face-mask triangles white, the rest
//                                of the head black (so the whole head occludes), supersampled, then a Gaussian
//                                blur of σ = blur_sigma · W/1100 px (the seed: PIL GaussianBlur(7) at 1100 px)
//   filled_masked_images/cam_<s>.png  the raw image × mask on black (the seed's GT)
// With `sequences` set (train/data/nersemble_reader.h "Frames"), every frame read gets the same outputs in its own
// timesteps/frame_<t>/ folder: the reference frame's 00000.ply is the tracked NEUTRAL head (expression 0, the seed's),
// every other frame's is the frame's tracked head WITH its expression (tracked_frame_vertices), so its face masks follow
// the open jaw and the expression; flame_cano2world.txt is the frame's rigid pose.
// Idempotent: an output is written only when it is missing (or --force); a rebuilt mask also rebuilds its
// masked image. Outputs are written atomically, so an interrupted run leaves no partial files.
//
//   ff::data::PreprocessReport r = ff::data::preprocess_dataset("/data/nersemble", model, {});
#pragma once
#include <string>
#include <vector>

#include "flame/flame.h"
#include "flame/mesh.h"
#include "train/data/image.h"
#include "train/data/nersemble.h"
#include "flame/mesh_raster.h"

namespace ff::data {

struct PreprocessOptions {
  std::string sequence = kDefaultSequence;
  int frame = 0;                      // sequence/frame: the reference frame
  std::vector<std::string> sequences; // more frames, as DatasetOptions::sequences (empty: the reference only; {"*"}: all)
  int max_timesteps = 0;              // per sequence (0: all)
  std::string image_folder = kDefaultImageFolder;
  std::vector<std::string> subjects;  // empty: every subject (train and held-out; every frame, held-out ones included)
  int subdivisions = 3;               // face-mask subdivision levels written (_subd, _subd2, _subd3)
  std::vector<std::string> regions;   // face-mask regions; empty: flame::seed_face_mask_regions()
  bool close_mouth = true;            // the seed's mouth faces (only applicable to 5023-vertex FLAME)
  double blur_sigma = 7.0;            // mask blur σ in pixels at 1100 px image width (scaled with the width)
  int supersample = 2;                // mask anti-aliasing (ss × ss samples per pixel)
  bool cull_backfaces = false;        // the seed's pyvista render culls; the z-buffer alone is exact for FLAME
  PrincipalPoint principal_point = PrincipalPoint::Exact;
  int calib_width = kCalibWidth, calib_height = kCalibHeight;
  bool force = false;                 // rebuild every output
  int threads = 0;                    // 0: hardware threads
  int png_compression = 6;
  bool verbose = false;               // print a line per subject
};

struct PreprocessReport {
  int subjects = 0;        // processed
  int skipped = 0;         // unusable (see the validation report)
  int written = 0;         // files written
  int kept = 0;            // files already present and kept
  std::vector<std::string> warnings;
  std::string validation;  // the dataset's validation report text
  std::string text() const;
};

PreprocessReport preprocess_dataset(const std::string& root, const flame::FlameModel& model, const PreprocessOptions& opts = {});

// ---- building blocks (shared with synth and the tests) -------------------------------------------
// Canonical neutral vertices [V, 3] of timestep t: FLAME(shape, 0, [0, neck, jaw, eyes]) × scale. Shape
// coefficients beyond the model's count are dropped (a warning is added when any of them is non-zero).
std::vector<double> tracked_neutral_vertices(const flame::FlameModel& model, const FlameTracking& tr, int t,
                                             std::vector<std::string>* warnings = nullptr);

// The frame's tracked head [V, 3] WITH its expression: FLAME(shape, expression, [0, neck, jaw, eyes]) × scale (the
// first min(E, model E) expression coefficients; a warning when a dropped one is non-zero).
std::vector<double> tracked_frame_vertices(const flame::FlameModel& model, const FlameTracking& tr, int t,
                                           std::vector<std::string>* warnings = nullptr);

struct HeadMeshes {
  flame::Mesh head;                 // full head (model faces + mouth faces when closed), canonical
  std::vector<uint8_t> face_flag;   // [head faces] 1 = face-mask triangle
  flame::FaceMask mask;
  std::vector<flame::Mesh> facemask;  // [subdivisions + 1]: level 0 = the face-mask mesh
};
HeadMeshes build_head_meshes(const flame::FlameModel& model, const std::vector<double>& vertices,
                             const PreprocessOptions& opts, std::vector<std::string>* warnings = nullptr);

// The soft face mask of `head` seen by `view` (canonical camera): 8-bit, 1 channel. The face triangles' coverage
// (ss×ss samples a pixel, occluded by the rest of the head) blurred by σ = blur_sigma_at_1100 · width / 1100 px.
// clipped (optional): the same mask × clamp(2·b − 1, 0, 1), b the whole head's coverage blurred alike, so that it is
// 0 on the head's outline and beyond it (background) and rises to 1 over ~2σ inside: soft on the outline as on the
// face region's own edge. fit_image scores and colours the face with it (it weighs the face, not the outline's mixed
// pixels and the background); the training masks and fit_image's code fit keep the blur's spill over the outline.
Image8 render_face_mask(const flame::Mesh& head, const std::vector<uint8_t>& face_flag, const flame::RasterView& view, int ss,
                        double blur_sigma_at_1100, Image8* clipped = nullptr);
// rgb × mask / 255 on black (RGB, rounded).
Image8 apply_mask(const Image8& rgb, const Image8& mask);

}  // namespace ff::data
