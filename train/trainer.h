// train/trainer.h — training the identity field model (docs/model.md §3, without its bugs).
//
// One optimiser step = B (subject, view) pairs (B = batch_views; 1 = the seed's one-subject-one-view step):
// decode the distinct subjects' codes in one generator batch, render each subject's views (one splat call per
// subject, its views as cameras), loss = mean over the pairs of 0.8·L1 + 0.2·D-SSIM over the image or inside
// the face mask (loss_region), + the optional scale regulariser w·mean_g((Σ_i s_gi²)²) from scale_reg_start.
// Adam (eps 1e-15) with the seed's groups and learning rates; ONLY the rows of `codes` and `xyz` of the step's
// subjects are updated (Adam::set_active_rows): inactive identities keep their values and moments, where the
// seed's dense Adam drifted them on momentum.
//
// Expression data (docs/animation.md §7): a view whose dataset pose (IdentityDataset::view_pose) is not neutral is
// rendered from the subject's decoded Gaussians posed by the head rig — HeadRig on the dataset's head_vertices(s)
// with the head model the dataset names, GaussianBinding from the model's layout, then train::pose_gaussians, so the
// gradients reach the decoded rotations and log-scales and the positions. Neutral views take the static path
// unchanged (bit for bit). Rigs are built once per subject. pose_views = false ignores the poses (the ablation).
// expression_correction adds the model's linear expression correction (train/model.h) to posed views: colours +
// corr_color·e, and after pose_gaussians means + (corr_offset·e)·n with n the posed triangle's unit normal (a
// constant of the step); its own Adam groups "correction_color" (lr_correction) and "correction_offset"
// (lr_correction_offset: metres, like positions much smaller than the colour rate).
//
// Schedule (the seed's loop, as a pure function of the step so that resuming needs only the step number):
// per outer iteration, a seeded permutation of the subjects is cut into mini-batches of minibatch_subjects;
// each mini-batch is visited minibatch_iters times, one pair per subject per visit; each subject draws its
// training views from a seeded shuffle without replacement, refilled when empty. steps_per_subject = S means
// S·N/B steps in total (the seed: 2200 per subject).
//
// Failures: a non-finite loss, Gaussian attribute or gradient stops the step before Adam — nothing is updated,
// so training continues from the last good state — and is reported with the step, subject, view and the first
// offending tensor's name. max_bad_steps consecutive failures stop the run with an ff::Error. No nan_to_num.
//
// Checkpoints (train/checkpoint.h) every ckpt_every steps and at the end, atomically, the last keep_ckpts
// kept; resume() restores parameters, buffers, Adam m/v/step, the RNG counter, the step and the loss history:
// on the CPU the continued run is bit-identical to an uninterrupted one.
// run() holds out_dir's lock (core/file.h DirLock) from start to end, removes the "<name>.tmp.<pid>" leftovers of
// its own killed writes (dead PID only), resumes "latest" from the newest checkpoint that loads (naming each one
// skipped), refuses a checkpoint past total_steps(), and drops metrics.csv rows past the resumed step.
// Values read from checkpoints are checked before anything changes: step ranges, finite parameters and Adam state.
// Reliability cases and their tests: docs/reliability.md "Training runs".
//
// Data parallel (train/distributed.h, docs/distributed.md): with a communicator of N ranks, every rank holds the
// whole model and optimiser state; rank r takes the slice rank_slice(B, r, N) of each step's B pairs (B ≥ N),
// its loss terms weighted by their share of the GLOBAL batch, and the gradients are summed over the ranks before
// the checks and Adam: the shared parameters' whole gradients, the per-identity parameters' (codes, xyz) rows
// of the step's subjects only. Every rank then applies the same Adam update to the same rows, so parameters and
// Adam state (sparse rows included) stay bit-identical on every rank. A non-finite value on any rank skips the
// step on every rank. Only rank 0 takes out_dir's lock and writes (checkpoints, eval, logs, outputs); a
// checkpoint holds no rank count, so a run resumes with any N. One rank is the old single-process path, bit for bit.
//
// Output folder (out_dir), following 3DGS habits:
//   config.json                  the full configuration (re-runnable with --config)
//   cameras.json                 3DGS-style camera list of the training subjects' views (canonical space)
//   checkpoints/step_N.ffck      last keep_ckpts checkpoints
//   .lock                        "<pid> <host>" of the run using the folder (core/file.h DirLock)
//   point_cloud/iteration_N/point_cloud.ply   3DGS .ply of the first training subject (runtime/formats.h);
//                                <subject>.ply for the first export_subjects subjects (written into
//                                iteration_N.tmp.<pid>/, renamed when complete)
//   eval/step_N.png              evaluation grid (GT | render | error) of held-out views and identities
//   metrics.csv                  one row per evaluation and set (train_views, heldout_views, heldout_ids)
//   loss_curve.png, losses.csv   per-step training loss
//   metrics.json                 final evaluation, timings, parameter counts
//
//   ff::train::TrainConfig cfg;  cfg.steps = 100;
//   ff::train::Trainer tr(ctx, cfg, train_ds, heldout_ds);   // shared_ptr<IdentityDataset>s; heldout may be null
//   tr.run();
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/optim.h"
#include "train/animation.h"
#include "train/distributed.h"
#include "train/eval.h"
#include "train/identity_dataset.h"
#include "train/model.h"

namespace ff::train {

struct TrainConfig {
  // data
  std::string data_dir;            // NeRSemble-layout dataset (ffdata synth output); "" with toy = true
  int max_subjects = -1;           // use at most this many training subjects (−1: all)
  int max_heldout_subjects = 4;    // held-out identities evaluated (0: none)
  bool heldout_expressions = true; // evaluate the training identities' held-out expressions when the dataset has
                                   // any (apps/train.cpp: open_heldout_expressions)
  std::string heldout_views = "auto";  // training subjects' held-out views: "auto", "none" or "i,j,..."
  int fit_view = -1;               // view the held-out identities are fitted on (−1: most frontal camera)
  bool toy = false;                // use the built-in toy scene (tests, smoke runs) instead of data_dir
  int toy_subjects = 4, toy_views = 6, toy_width = 48, toy_height = 64;
  // model (see ModelConfig)
  ModelConfig model;
  // optimisation
  int64_t steps = 0;               // total optimiser steps (0: steps_per_subject·N / batch_views)
  int64_t steps_per_subject = 2200;
  int batch_views = 1;             // (subject, view) pairs per step
  int minibatch_subjects = 8;
  int minibatch_iters = 10;
  double lr_color = 2e-3, lr_scale = 1e-3, lr_rot = 1e-3, lr_opac = 1e-3, lr_generator = 4e-3,
         lr_embeddings = 1e-3, lr_pos_embedding = 1e-3, lr_codes = 1e-3, lr_mu = 1e-4, lr_xyz = 1.6e-7,
         lr_correction = 1e-3, lr_correction_offset = 1e-5;  // expression correction: colour, offset (metres)
  double adam_eps = 1e-15;
  double lambda_dssim = 0.2;
  std::string loss_region = "image";  // "image" (the seed) or "mask" (inside the face mask)
  bool pose_views = true;          // expression data: render a view whose dataset pose is not neutral with the
                                   // subject's Gaussians posed by the head rig (false: every view static, the ablation)
  bool expression_correction = false;  // expression data: the model's linear expression correction (ModelConfig::
                                   // correction_dim = the dataset's head model's E + 3), applied to posed views
  double scale_reg_weight = 0.0;
  int64_t scale_reg_start = 0;
  int max_bad_steps = 5;
  int64_t gt_cache_mb = 0;         // device cache of training ground truth (uint8), MiB (0: upload every step)
  uint64_t seed = 0;
  std::string device = "cpu";      // "cpu" or "cuda"
  int threads = 0;                 // CPU threads (0: all)
  // checkpoints and outputs
  std::string out_dir = "runs/default";
  int64_t ckpt_every = 1000;
  int keep_ckpts = 3;
  int export_subjects = 2;
  std::string resume;              // checkpoint path, or "latest" (newest in out_dir/checkpoints)
  // evaluation
  int64_t eval_every = 0;          // 0: only at the end
  int eval_subjects = 8;           // training subjects evaluated on their held-out views
  int eval_fit_steps = 300;        // Adam steps fitting a held-out identity's code (everything else frozen)
  double eval_fit_lr = 1e-2;
  int grid_rows = 4;
  bool progress = true;
};

// Every option: name, type, default (as text) and help; read/write through the table.
struct OptionInfo {
  std::string name, type, help;
  std::string range;                              // numeric options: "[lo, hi]", values outside are refused
  std::function<std::string()> get;               // current value as JSON text
  std::function<void(const std::string&)> set;    // from JSON text or a bare string
};
std::vector<OptionInfo> config_options(TrainConfig& cfg);
std::string config_to_json(const TrainConfig& cfg);             // pretty JSON of every option
void config_from_json(TrainConfig& cfg, const std::string& json, const std::string& what);  // unknown keys throw
void config_set(TrainConfig& cfg, const std::string& key, const std::string& value);
std::string config_help();                                       // "--name <type> (default …) help" lines
// The toy scene a run with toy = true trains on (apps/train.cpp; upgrade_model rebuilds the same one).
ToyOptions toy_options(const TrainConfig& cfg);
// The most frontal camera: the one whose centre direction (from the canonical origin) is closest to the mean
// direction of all the cameras (held-out identities are fitted on it, in training's evaluation and in make eval).
int frontal_view(const std::vector<Camera>& cameras);
int frontal_view(const IdentityDataset& ds, int s);  // of subject s's cameras
// The training identities' held-out expressions of dataset folder `root` (open_dataset(root, "heldout_expr")), or null
// when the folder's split.json lists no heldout_frames (a static dataset has none).
std::shared_ptr<IdentityDataset> open_heldout_expressions(const std::string& root);

struct StepStats {
  int64_t step = 0;         // index of this step (0-based)
  double loss = 0;          // NaN when the step failed
  bool ok = true;
  std::string failure;      // what was non-finite
  std::vector<std::pair<int, int>> pairs;  // (subject, view) used
};

// Seconds per phase, accumulated by Trainer::step when Trainer::phase_times is set (the device is synchronised
// at every phase boundary then, so the sum is a little slower than an untimed step).
struct PhaseTimes {
  double generator = 0, decoders = 0, data = 0, splat = 0, loss = 0, checks = 0, backward = 0, adam = 0;
  int64_t steps = 0;
};

struct SetMetrics {
  std::string set;          // "heldout_views" (training identities, unseen views), "heldout_ids", "train_views",
                            // "heldout_expr" / "heldout_expr_static" (training identities' held-out expression
                            // frames, posed / rendered neutral; Trainer::set_heldout_expressions)
  int images = 0;
  double psnr = 0, psnr_mask = 0, ssim = 0, ssim_mask = 0;                  // own / fitted code
  double base_psnr = 0, base_psnr_mask = 0, base_ssim = 0, base_ssim_mask = 0;  // mean code baseline
};

class Trainer {
 public:
  // comm: the ranks training together (null: this process alone)
  Trainer(Context& ctx, const TrainConfig& cfg, std::shared_ptr<IdentityDataset> train, std::shared_ptr<IdentityDataset> heldout,
          std::shared_ptr<Communicator> comm = nullptr);

  // Full run: resume if asked, steps with progress, periodic eval/checkpoints, final eval + outputs.
  void run();
  // One optimiser step (the next one of the schedule).
  StepStats step();
  int64_t total_steps() const { return total_steps_; }
  int64_t current_step() const { return step_; }

  std::vector<SetMetrics> evaluate(bool write_grid);
  // Held-out expressions (docs/animation.md §7): frames of the training identities that training never saw (the
  // dataset's "heldout_expr" split; subjects matched to training identities by name, others skipped). evaluate()
  // adds the sets "heldout_expr" (each view posed by its dataset pose, the animated model) and
  // "heldout_expr_static" (the same identity rendered neutral, the static model), each beside the mean code.
  void set_heldout_expressions(std::shared_ptr<IdentityDataset> ds) { heldout_expr_ = std::move(ds); }
  // (the first eval_subjects matched identities, all their views; grid: one row per set and identity while short)
  std::vector<SetMetrics> evaluate_expressions(const IdentityDataset& ds, std::vector<GridRow>* grid = nullptr);
  void save_checkpoint(const std::string& path) const;
  void load_checkpoint(const std::string& path);
  void export_ply(const std::string& dir) const;

  IdentityModel& model() { return *model_; }
  Adam& optimizer() { return *opt_; }
  const TrainConfig& config() const { return cfg_; }
  const std::vector<double>& loss_history() const { return losses_; }
  const std::vector<int>& train_views(int s) const { return train_views_[s]; }
  const std::vector<int>& heldout_views(int s) const { return heldout_views_[s]; }
  // the schedule: (subject, view) pairs of step t
  std::vector<std::pair<int, int>> pairs_of_step(int64_t t) const;

  PhaseTimes* phase_times = nullptr;  // benches: per-phase timing of step()

  Communicator& communicator() const { return *comm_; }
  // gradient all-reduce totals of this process's steps (0 with one rank): bytes summed, seconds spent
  int64_t comm_bytes() const { return comm_bytes_; }
  double comm_seconds() const { return comm_seconds_; }

  // Test hook: called after backward, before the finiteness checks (e.g. to inject a NaN into a gradient).
  std::function<void(int64_t step, IdentityModel&)> after_backward;

 private:
  Context& ctx_;
  TrainConfig cfg_;
  std::shared_ptr<IdentityDataset> train_, heldout_, heldout_expr_;
  std::shared_ptr<Communicator> comm_;
  int64_t comm_bytes_ = 0;
  double comm_seconds_ = 0;
  Device dev_;
  std::unique_ptr<IdentityModel> model_;
  std::unique_ptr<Adam> opt_;
  std::vector<std::vector<int>> train_views_, heldout_views_;
  int64_t total_steps_ = 0, step_ = 0;
  int bad_in_row_ = 0;
  std::vector<double> losses_;
  std::vector<std::string> param_names_;  // Adam state order
  double train_seconds_ = 0;

  struct GT {
    Tensor image;  // [C,3,H,W]
    Tensor mask;   // [C,1,H,W]
  };
  GT load_gt(const IdentityDataset& ds, int s, const std::vector<int>& views) const;
  mutable std::map<std::pair<int, int>, std::pair<Tensor, Tensor>> gt_cache_;  // (s,v) → u8 [H,W,3], [1,H,W]
  mutable int64_t gt_cache_bytes_ = 0;
  Tensor viewmats(const IdentityDataset& ds, int s, const std::vector<int>& views) const;
  Tensor intrinsics(const IdentityDataset& ds, int s, const std::vector<int>& views) const;
  // Subject s's views rendered from row b of gb at positions means: views with a non-neutral dataset pose (when
  // pose && cfg_.pose_views) through the head rig and pose_gaussians (differentiable), neutral ones as decoded;
  // [C,3,H,W] in the order of `views`.
  Tensor render_subject(const GaussianBatch& gb, int b, const Tensor& means, const IdentityDataset& ds, int s,
                        const std::vector<int>& views, bool pose = true) const;
  // expression data: the head rig and Gaussian binding of (ds, s), built on first use (the head model ds names,
  // the subject's head_vertices)
  struct SubjectRig {
    HeadRig rig;
    GaussianBinding binding;
  };
  const SubjectRig& subject_rig(const IdentityDataset& ds, int s) const;
  const flame::FlameModel& head_model(const IdentityDataset& ds) const;  // loaded on first use, checked by content id
  mutable std::unique_ptr<flame::FlameModel> head_model_;
  mutable HeadModelRef head_model_ref_;
  mutable std::map<std::pair<const IdentityDataset*, int>, std::unique_ptr<SubjectRig>> rigs_;
  void write_cameras_json() const;
  void append_metrics_csv(const std::vector<SetMetrics>& m) const;
  // data parallel: the sum over the ranks of the gradients (per-identity parameters: the rows `subjects`)
  void all_reduce_gradients(const std::vector<int>& subjects);
};

}  // namespace ff::train
