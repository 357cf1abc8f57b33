// train/identity_dataset.h — what the trainer needs from a multi-view identity dataset, and an in-memory implementation.
//
// The trainer reads subjects, their calibrated views and one face-mask mesh per subject through the small
// abstract interface `IdentityDataset`. The NeRSemble-layout reader (train/data/) is adapted to it in
// train/data_adapter.cpp (open_dataset); tests build an InMemoryDataset directly (make_toy_dataset).
//
// Conventions (those of splat/splat.h): cameras are world→camera 4×4 row-major OpenCV matrices in the
// subject's canonical (FLAME) space — the seed's W2C·cano2world — and intrinsics (fx, fy, cx, cy) in pixels
// of the stored image, measured from the image edge. Images are RGB u8 [H,W,3] already masked on black (the
// seed's ground truth); masks are u8 [H,W] (255 = face) or empty when the dataset has none.
// Meshes: every subject's face mesh has the same topology (vertex i is the same semantic point for all
// subjects, FLAME's face mask or the built-in head model's), in canonical space, with UVs in [0,1] either as
// wedge UVs (uvs + uv_faces) or per vertex (uvs [V,2], uv_faces empty).
//
//   ff::train::InMemoryDataset ds = ff::train::make_toy_dataset({.subjects = 3, .views = 6});
//   ff::train::Camera cam = ds.camera(0, 2);
//   std::vector<uint8_t> rgb, mask; ds.load_view(0, 2, rgb, mask);
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/geometry.h"
#include "flame/mesh.h"
#include "train/rig_pose.h"

namespace ff::train {

using ff::Camera;

// Which head model a surface was built on: `spec` as given to flame::load_head_model ("builtin" or a FLAME file
// path) and the content id of the loaded model (flame::head_model_content_id), checked when it is loaded again.
struct HeadModelRef {
  std::string spec;
  std::string content_id;
};  // core/geometry.h: name, width×height, world(canonical)→camera viewmat, intrinsics

class IdentityDataset {
 public:
  virtual ~IdentityDataset() = default;
  virtual std::string description() const = 0;  // one line: where it came from, counts
  virtual int num_subjects() const = 0;
  virtual std::string subject_name(int s) const = 0;
  virtual int num_views(int s) const = 0;
  virtual Camera camera(int s, int v) const = 0;
  // rgb: [H,W,3] u8 (resized to the camera's width/height by the dataset); mask: [H,W] u8 or empty
  virtual void load_view(int s, int v, std::vector<uint8_t>& rgb, std::vector<uint8_t>& mask) const = 0;
  // the subject's face-mask mesh in canonical space (same topology for all subjects), with UVs
  virtual flame::Mesh face_mesh(int s) const = 0;
  // the head model whose face-mask topology the meshes share ("" spec when the meshes come from no head model,
  // e.g. the toy scene); stored in checkpoints so photo fitting places Gaussians on the same surface
  virtual HeadModelRef head_model() const { return {}; }

  // Expression data (issue #17; docs/animation.md). A view is one (frame, camera) image. face_mesh(s) and
  // head_vertices(s) are the subject's REFERENCE frame: its neutral face (expression 0, jaw/neck/eyes 0 — for
  // real tracking, the chosen reference timestep). view_pose(s, v) is the head-model parameters of view v's frame
  // relative to that reference (expression, neck/jaw/eye axis-angles; global pose 0, rotation identity and
  // translation 0: rigid head motion is already in the camera's viewmat). Static datasets: every view neutral.
  virtual RigPose view_pose(int s, int v) const { (void)s; (void)v; return {}; }
  // The subject's whole head-model mesh [V,3] (all head-model vertices, canonical space, reference frame), to pose
  // it with train/animation.h HeadRig; empty when the dataset's meshes come from no head model (toy scene).
  virtual std::vector<double> head_vertices(int s) const { (void)s; return {}; }
  // The frame a view shows, "<sequence>/<timestep>" (e.g. "EXP-1-head/00000"); "" for single-frame datasets.
  // Views of one frame share it; evaluation groups by it.
  virtual std::string view_frame(int s, int v) const { (void)s; (void)v; return ""; }
};

// Everything in memory: for tests, the toy scene and small adapters.
class InMemoryDataset : public IdentityDataset {
 public:
  struct Subject {
    std::string name;
    flame::Mesh mesh;
    std::vector<Camera> cameras;
    std::vector<std::vector<uint8_t>> images;  // per view [H,W,3]
    std::vector<std::vector<uint8_t>> masks;   // per view [H,W] or empty
    std::vector<RigPose> poses;                // per view, or empty (all neutral)
    std::vector<std::string> frames;           // per view "<sequence>/<timestep>", or empty
    std::vector<double> head;                  // [V,3] whole head-model mesh, or empty
  };
  std::string desc = "in-memory dataset";
  std::vector<Subject> subjects;

  std::string description() const override { return desc; }
  int num_subjects() const override { return int(subjects.size()); }
  std::string subject_name(int s) const override { return subjects.at(s).name; }
  int num_views(int s) const override { return int(subjects.at(s).cameras.size()); }
  Camera camera(int s, int v) const override { return subjects.at(s).cameras.at(v); }
  void load_view(int s, int v, std::vector<uint8_t>& rgb, std::vector<uint8_t>& mask) const override;
  flame::Mesh face_mesh(int s) const override { return subjects.at(s).mesh; }
  RigPose view_pose(int s, int v) const override {
    const Subject& sub = subjects.at(s);
    return sub.poses.empty() ? RigPose{} : sub.poses.at(v);
  }
  std::vector<double> head_vertices(int s) const override { return subjects.at(s).head; }
  std::string view_frame(int s, int v) const override {
    const Subject& sub = subjects.at(s);
    return sub.frames.empty() ? std::string() : sub.frames.at(v);
  }
};

// A small deterministic synthetic scene for tests and smoke runs: a UV-mapped face-like ellipsoidal cap
// (grid mesh, rows × cols vertices) whose shape varies per subject, a procedural per-subject texture (skin
// tone, two eyes, brows, mouth), rendered by splat/ from `views` cameras on a frontal arc. Ground truth is
// rendered from dense textured Gaussians on the subject's own surface, so the identity model can fit it.
struct ToyOptions {
  int subjects = 4;
  int views = 6;
  int width = 48, height = 64;
  int rows = 9, cols = 9;    // mesh resolution
  uint64_t seed = 1;
  int first_subject = 0;     // subject ids start here (held-out sets use a different range)
  bool render = true;        // false: flat grey images (benches at sizes the CPU teacher render would be slow at)
};
InMemoryDataset make_toy_dataset(const ToyOptions& opt);

// Open a dataset folder: the NeRSemble layout of train/data (also what `ffdata synth` writes), every sequence and
// timestep of every subject (train/data_adapter.cpp). `split`, when the folder defines one (split.json): "train" = the
// training identities without their held-out expressions, "heldout_expr" = only the training identities' held-out
// expressions (evaluation; identities without any are left out), "heldout" = the held-out identities; "" = all.
std::unique_ptr<IdentityDataset> open_dataset(const std::string& root, const std::string& split, int max_subjects = -1);

}  // namespace ff::train
