// train/data_adapter.cpp — open_dataset(): the NeRSemble-layout reader (train/data/nersemble_reader.h) seen through the
// trainer's IdentityDataset interface (train/identity_dataset.h).
//
// Cameras and images come from ff::data::NersembleReader (canonical-space view matrices, splat.h intrinsics, the
// cached uint8 ground truth: masked GT on black + soft face mask when preprocessed). The face mesh of a subject
// is rebuilt exactly as preprocessing writes 00000_facemask.ply — the head model's tracked neutral vertices
// (shape, expression 0, pose [0, neck, jaw, eyes], × scale) through the seed's face mask — because the .ply
// carries no UVs; the UVs and topology come from the head model. The head model is the built-in one unless
// the dataset's synth.json names another (or FF_HEAD_MODEL points to FLAME files).
//
// Expression data (issue #17): every sequence and timestep of a subject is read (DatasetOptions::sequences = {"*"}); a
// view is one (frame, camera) pair in the reader's frame-major order, so a single-frame dataset keeps its views and
// their order. face_mesh / head_vertices are the reference frame's neutral head (the seed's EXP-1-head frame 0);
// view_pose is train/motion.h tracked_pose_relative of the view's frame (the reference frame: exactly neutral);
// view_frame is "<sequence>/<frame>" when the dataset has more than one frame, else "". Splits: "train" = training
// subjects without their held-out expressions (split.json heldout_frames), "heldout_expr" = only those held-out
// expressions of the training subjects (evaluation), "heldout" = held-out subjects (every frame they have), anything
// else = everything.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "flame/headmodel.h"
#include "train/data/nersemble_reader.h"
#include "train/data/preprocess.h"
#include "train/identity_dataset.h"
#include "train/motion.h"

namespace ff::train {

namespace {

class NersembleDataset : public IdentityDataset {
 public:
  NersembleDataset(data::NersembleReader ds, flame::FlameModel model, std::string model_spec, std::string desc)
      : ds_(std::move(ds)), model_(std::move(model)), desc_(std::move(desc)) {
    meshes_.resize(ds_.num_subjects());
    heads_.resize(ds_.num_subjects());
    head_ = {std::move(model_spec), flame::head_model_content_id(model_)};
    for (int s = 0; s < ds_.num_subjects(); ++s) multi_frame_ = multi_frame_ || ds_.subject(s).frames_found > 1;
  }
  HeadModelRef head_model() const override { return head_; }
  std::string description() const override { return desc_; }
  int num_subjects() const override { return ds_.num_subjects(); }
  std::string subject_name(int s) const override { return ds_.subject(s).name; }
  int num_views(int s) const override { return int(ds_.subject(s).cameras.size()); }
  Camera camera(int s, int v) const override {
    return ds_.subject(s).cameras.at(v);
  }
  void load_view(int s, int v, std::vector<uint8_t>& rgb, std::vector<uint8_t>& mask) const override {
    std::shared_ptr<const data::ViewU8> view = ds_.view_u8(s, v);
    rgb = view->rgb;
    mask = view->mask;
    // keep the decoder ahead of the trainer: the subject's next views
    const int V = num_views(s);
    if (V > 1) ds_.prefetch({{s, (v + 1) % V}});
  }
  flame::Mesh face_mesh(int s) const override {
    std::lock_guard<std::mutex> lock(mu_);
    build_meshes(s);
    return meshes_[size_t(s)];
  }
  std::vector<double> head_vertices(int s) const override {
    std::lock_guard<std::mutex> lock(mu_);
    build_meshes(s);
    return heads_[size_t(s)];
  }
  RigPose view_pose(int s, int v) const override {
    const data::Subject& sub = ds_.subject(s);
    const data::Frame& fr = sub.frames.at(size_t(sub.view_frame.at(size_t(v))));
    if (fr.reference) return {};  // the neutral head itself, bit for bit
    return tracked_pose_relative(*fr.tracking, fr.timestep, sub.tracking, sub.timestep, model_.E);
  }
  std::string view_frame(int s, int v) const override {
    if (!multi_frame_) return "";
    const data::Subject& sub = ds_.subject(s);
    return sub.frames.at(size_t(sub.view_frame.at(size_t(v)))).name();
  }

 private:
  mutable data::NersembleReader ds_;
  flame::FlameModel model_;
  std::string desc_;
  HeadModelRef head_;
  bool multi_frame_ = false;  // some subject has more than its reference frame
  mutable std::mutex mu_;
  mutable std::vector<flame::Mesh> meshes_;
  mutable std::vector<std::vector<double>> heads_;

  // the reference frame's neutral head and face-mask mesh (mu_ held)
  void build_meshes(int s) const {
    if (!meshes_.at(size_t(s)).vertices.empty()) return;
    const data::Subject& sub = ds_.subject(s);
    std::vector<double> verts = data::tracked_neutral_vertices(model_, sub.tracking, sub.timestep);
    data::PreprocessOptions po;
    data::HeadMeshes hm = data::build_head_meshes(model_, verts, po);
    meshes_[size_t(s)] = hm.facemask.at(0);
    heads_[size_t(s)] = std::move(verts);
  }
};

}  // namespace

std::unique_ptr<IdentityDataset> open_dataset(const std::string& root, const std::string& split, int max_subjects) {
  data::DatasetOptions o;
  o.split = split == "train" || split == "heldout_expr" ? data::Split::Train
            : split == "heldout"                         ? data::Split::Heldout
                                                         : data::Split::All;
  o.sequences = {"*"};  // every sequence and timestep (a single-frame dataset: its one frame)
  o.frames = split == "heldout_expr"                   ? data::FrameSplit::Heldout
             : split == "train" || split == "heldout" ? data::FrameSplit::Train
                                                      : data::FrameSplit::All;
  data::NersembleReader ds = data::NersembleReader::open(root, o);
  // a subject dropped for a broken camera file or tracking npz must not vanish silently from training
  const std::string skipped = ds.report().skipped_text();
  if (!skipped.empty()) std::fprintf(stderr, "dataset %s:\n%s", root.c_str(), skipped.c_str());
  if (max_subjects > 0 && ds.num_subjects() > max_subjects) {
    std::vector<std::string> names;
    for (int i = 0; i < max_subjects; ++i) names.push_back(ds.subject(i).name);
    o.subjects = names;
    ds = data::NersembleReader::open(root, o);
  }
  // which head model made the meshes: synth.json's model_name, FF_HEAD_MODEL, else the built-in one
  std::string model_name = "builtin";
  if (const char* env = std::getenv("FF_HEAD_MODEL")) model_name = env;
  const std::filesystem::path sj = std::filesystem::path(root) / "synth.json";
  if (std::filesystem::exists(sj)) {
    std::ifstream f(sj);
    nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
    if (!j.is_discarded() && j.contains("model_name") && j["model_name"].is_string())
      model_name = j["model_name"].get<std::string>();
    else if (!j.is_discarded() && j.contains("options") && j["options"].contains("model_name"))
      model_name = j["options"]["model_name"].get<std::string>();
  }
  flame::FlameModel model = flame::load_head_model(model_name);
  std::string desc = root + " (" + split + "): " + std::to_string(ds.num_subjects()) + " subjects, " +
                     std::to_string(ds.width()) + "×" + std::to_string(ds.height()) + ", head model " + model_name;
  return std::make_unique<NersembleDataset>(std::move(ds), std::move(model), model_name, desc);
}

}  // namespace ff::train
