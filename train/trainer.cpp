// train/trainer.cpp — the training loop, evaluation, checkpoints and outputs (see trainer.h).
#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "core/file.h"
#include "core/rng.h"
#include "flame/headmodel.h"
#include "runtime/binding.h"
#include "runtime/formats.h"
#include "splat/splat_op.h"
#include "train/checkpoint.h"
#include "train/eval.h"
#include "train/model_file.h"

namespace ff::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// seeded Fisher–Yates permutation of 0..n-1
std::vector<int> permutation(int n, uint64_t key) {
  std::vector<int> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int i = n - 1; i > 0; --i) {
    int j = int(rng::bits_at(key, uint64_t(i)) % uint64_t(i + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

uint64_t key3(uint64_t a, uint64_t b, uint64_t c) { return rng::mix64(rng::mix64(a ^ 0x51ed27ULL) ^ (rng::mix64(b) + c)); }

std::vector<int> parse_views(const std::string& spec, int V) {
  std::vector<int> out;
  if (spec == "none" || spec.empty()) return out;
  if (spec == "auto") {
    if (V < 4) return out;
    out = {V / 3, (2 * V) / 3};
    return out;
  }
  std::stringstream ss(spec);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    int v = std::stoi(tok);
    FF_CHECK(v >= 0 && v < V, "heldout_views: view ", v, " out of range (", V, " views)");
    out.push_back(v);
  }
  return out;
}

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string fmt_time(double s) {
  char b[32];
  if (!std::isfinite(s) || s < 0) return "?";
  int t = int(s + 0.5);
  if (t >= 3600) std::snprintf(b, sizeof b, "%dh%02dm", t / 3600, (t / 60) % 60);
  else std::snprintf(b, sizeof b, "%dm%02ds", t / 60, t % 60);
  return b;
}

}  // namespace

// the most frontal camera: the one whose centre direction is closest to the mean direction of all centres
int frontal_view(const std::vector<Camera>& cameras) {
  FF_CHECK(!cameras.empty(), "frontal_view: no cameras");
  const int V = int(cameras.size());
  std::vector<std::array<double, 3>> d(V);
  std::array<double, 3> mean{0, 0, 0};
  for (int v = 0; v < V; ++v) {
    auto c = cameras[v].center();
    double n = std::sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]) + 1e-12;
    for (int k = 0; k < 3; ++k) d[v][k] = c[k] / n, mean[k] += d[v][k];
  }
  int best = 0;
  double bd = -1e300;
  for (int v = 0; v < V; ++v) {
    double dot = d[v][0] * mean[0] + d[v][1] * mean[1] + d[v][2] * mean[2];
    if (dot > bd) bd = dot, best = v;
  }
  return best;
}

int frontal_view(const IdentityDataset& ds, int s) {
  std::vector<Camera> cameras;
  for (int v = 0; v < ds.num_views(s); ++v) cameras.push_back(ds.camera(s, v));
  return frontal_view(cameras);
}

std::shared_ptr<IdentityDataset> open_heldout_expressions(const std::string& root) {
  const fs::path split = fs::path(root) / "split.json";
  if (!fs::exists(split)) return nullptr;
  const json j = json::parse(read_file(split.string()), nullptr, false);  // open_dataset validates the file
  if (j.is_discarded() || !j.is_object() || !j.contains("heldout_frames") || j["heldout_frames"].empty()) return nullptr;
  return open_dataset(root, "heldout_expr");
}

Trainer::Trainer(Context& ctx, const TrainConfig& cfg, std::shared_ptr<IdentityDataset> train, std::shared_ptr<IdentityDataset> heldout,
                 std::shared_ptr<Communicator> comm)
    : ctx_(ctx), cfg_(cfg), train_(std::move(train)), heldout_(std::move(heldout)),
      comm_(comm ? std::move(comm) : single_process()) {
  FF_CHECK(train_ && train_->num_subjects() > 0, "Trainer: no training subjects");
  FF_CHECK(cfg.device == "cpu" || cfg.device == "cuda", "Trainer: device must be cpu or cuda, got '", cfg.device, "'");
  FF_CHECK(cfg.loss_region == "image" || cfg.loss_region == "mask", "Trainer: loss_region must be image or mask, got '",
           cfg.loss_region, "'");
  FF_CHECK(cfg.batch_views >= 1 && cfg.minibatch_subjects >= 1 && cfg.minibatch_iters >= 1,
           "Trainer: batch_views, minibatch_subjects and minibatch_iters must be ≥ 1");
  FF_CHECK(cfg.batch_views >= comm_->size(), "Trainer: batch_views ", cfg.batch_views, " is less than the ",
           comm_->size(), " ranks of this job (", comm_->name(), "): each rank takes at least one (subject, view) pair "
           "of a step, so pass --batch_views ", comm_->size(), " or more (a multiple of the rank count balances them)");
  if (cfg.device == "cuda") {
    FF_CHECK(Context::cuda_available(), "Trainer: device cuda requested but ", Context::cuda_unavailable_reason());
    dev_ = Device::cuda(ctx.cuda_device());
  } else {
    dev_ = Device::cpu();
  }
  if (cfg.threads > 0) ctx.set_threads(cfg.threads);
  const int N = train_->num_subjects();
  std::vector<flame::Mesh> meshes;
  for (int s = 0; s < N; ++s) {
    meshes.push_back(train_->face_mesh(s));
    const int V = train_->num_views(s);
    heldout_views_.push_back(parse_views(cfg.heldout_views, V));
    std::vector<int> tv;
    for (int v = 0; v < V; ++v)
      if (std::find(heldout_views_[s].begin(), heldout_views_[s].end(), v) == heldout_views_[s].end()) tv.push_back(v);
    FF_CHECK(!tv.empty(), "Trainer: subject ", train_->subject_name(s), " has no training views left");
    train_views_.push_back(tv);
  }
  SurfaceLayout layout = build_layout(meshes, cfg.model);
  std::vector<std::vector<float>> xyz;
  std::vector<float> ref(size_t(layout.G) * 3, 0.f);
  for (auto& m : meshes) {
    xyz.push_back(layout.place(m));
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += xyz.back()[i] / float(N);
  }
  cfg_.model.correction_dim = 0;
  if (cfg.expression_correction) {
    FF_CHECK(!train_->head_model().spec.empty(), "Trainer: expression_correction needs a dataset that names its head ",
             "model (dataset '", train_->description(), "' names none)");
    cfg_.model.correction_dim = head_model(*train_).E + 3;
  }
  model_ = std::make_unique<IdentityModel>(ctx, cfg_.model, layout, xyz, ref, dev_);

  const std::map<std::string, double> lrs = {
      {"color_decoder", cfg.lr_color}, {"scale_decoder", cfg.lr_scale},   {"rot_decoder", cfg.lr_rot},
      {"opac_decoder", cfg.lr_opac},   {"generator", cfg.lr_generator},   {"embeddings", cfg.lr_embeddings},
      {"pos_embedding", cfg.lr_pos_embedding}, {"codes", cfg.lr_codes}, {"mu_scale", cfg.lr_mu},
      {"mu_rot", cfg.lr_mu},           {"mu_opac", cfg.lr_mu},            {"xyz", cfg.lr_xyz},
      {"correction_color", cfg.lr_correction}, {"correction_offset", cfg.lr_correction_offset}};
  std::map<const TensorImpl*, std::string> names;
  for (auto& p : model_->named_parameters()) names[p.tensor.impl_ptr().get()] = p.name;
  std::vector<ParamGroup> groups;
  for (auto& g : model_->param_groups()) {
    groups.push_back({g.name, g.params, lrs.at(g.name)});
    for (auto& p : g.params) param_names_.push_back(names.at(p.impl_ptr().get()));
  }
  AdamOptions ao;
  ao.eps = cfg.adam_eps;
  opt_ = std::make_unique<Adam>(groups, ao);
  total_steps_ = cfg.steps > 0 ? cfg.steps
                               : std::max<int64_t>(1, cfg.steps_per_subject * N / std::max(1, cfg.batch_views));
}

std::vector<std::pair<int, int>> Trainer::pairs_of_step(int64_t t) const {
  FF_CHECK(t >= 0, "Trainer::pairs_of_step: step ", t, " is negative");
  const int N = train_->num_subjects();
  const int mbs = std::min(cfg_.minibatch_subjects, N), mbi = cfg_.minibatch_iters;
  std::vector<std::pair<int, int>> out;
  for (int b = 0; b < cfg_.batch_views; ++b) {
    const int64_t u = t * cfg_.batch_views + b;
    const int64_t per_outer = int64_t(N) * mbi;
    const int64_t o = u / per_outer, p = u % per_outer;
    std::vector<int> perm = permutation(N, key3(cfg_.seed, 1, uint64_t(o)));
    const int64_t m = p / (int64_t(mbs) * mbi);
    const int sz = int(std::min<int64_t>(mbs, N - m * mbs));
    const int64_t q = p - m * mbs * mbi;
    const int64_t rep = q / sz;
    const int s = perm[size_t(m * mbs + q % sz)];
    // the subject's visit count so far → its shuffled view stack
    const int64_t c = o * mbi + rep;
    const auto& tv = train_views_[s];
    const int nv = int(tv.size());
    std::vector<int> vp = permutation(nv, key3(cfg_.seed, 2 + uint64_t(s), uint64_t(c / nv)));
    out.emplace_back(s, tv[vp[size_t(c % nv)]]);
  }
  return out;
}

Trainer::GT Trainer::load_gt(const IdentityDataset& ds, int s, const std::vector<int>& views) const {
  // uint8 to the device as stored ([C,H,W,3] + [C,H,W]); the HWC→CHW permutation, the cast and the 1/255
  // scale run there (one strided cast-copy + one scale), so a 1100×1604 view moves 7 MB instead of 28.
  const Camera c0 = ds.camera(s, views[0]);
  const int W = c0.width, H = c0.height, C = int(views.size());
  const size_t P = size_t(W) * H;
  Tensor u_img, u_msk;
  const bool cached = cfg_.gt_cache_mb > 0 && &ds == train_.get();
  if (cached) {  // device-resident uint8 views, filled on first use while under the budget
    u_img = empty(ctx_, {C, H, W, 3}, DType::U8, dev_);
    u_msk = empty(ctx_, {C, 1, H, W}, DType::U8, dev_);
  }
  Tensor h_img = cached ? Tensor() : empty(ctx_, {C, H, W, 3}, DType::U8);
  Tensor h_msk = cached ? Tensor() : empty(ctx_, {C, 1, H, W}, DType::U8);
  std::vector<uint8_t> rgb, mask;
  for (int i = 0; i < C; ++i) {
    if (cached) {
      auto it = gt_cache_.find({s, views[i]});
      if (it != gt_cache_.end()) {
        u_img.as_strided({H, W, 3}, {int64_t(3) * W, 3, 1}, int64_t(i) * 3 * P).copy_(it->second.first);
        u_msk.as_strided({1, H, W}, {int64_t(P), W, 1}, int64_t(i) * P).copy_(it->second.second);
        continue;
      }
    }
    ds.load_view(s, views[i], rgb, mask);
    FF_CHECK(rgb.size() == 3 * P, "Trainer: view ", views[i], " of ", ds.subject_name(s), " has ", rgb.size() / 3,
             " pixels, camera says ", W, "×", H, " (all views of a subject must share the image size)");
    if (mask.size() != P) mask.assign(P, uint8_t(255));
    if (cached) {
      Tensor di = from_vector<uint8_t>(ctx_, rgb, {H, W, 3}).to(dev_);
      Tensor dm = from_vector<uint8_t>(ctx_, mask, {1, H, W}).to(dev_);
      u_img.as_strided({H, W, 3}, {int64_t(3) * W, 3, 1}, int64_t(i) * 3 * P).copy_(di);
      u_msk.as_strided({1, H, W}, {int64_t(P), W, 1}, int64_t(i) * P).copy_(dm);
      if (gt_cache_bytes_ + int64_t(4 * P) <= cfg_.gt_cache_mb * 1048576) {
        gt_cache_[{s, views[i]}] = {di, dm};
        gt_cache_bytes_ += int64_t(4 * P);
      }
      continue;
    }
    std::copy(rgb.begin(), rgb.end(), h_img.data<uint8_t>() + size_t(i) * 3 * P);
    std::copy(mask.begin(), mask.end(), h_msk.data<uint8_t>() + size_t(i) * P);
  }
  if (!cached) u_img = h_img.to(dev_), u_msk = h_msk.to(dev_);
  GT gt;
  gt.image = empty(ctx_, {C, 3, H, W}, DType::F32, dev_);
  gt.image.copy_(u_img.as_strided({C, 3, H, W}, {int64_t(3 * P), 1, int64_t(3) * W, 3}));
  gt.image = kernels::unary(kernels::Unary::MulScalar, gt.image, {1.0 / 255});
  gt.mask = kernels::unary(kernels::Unary::MulScalar, u_msk.to(DType::F32), {1.0 / 255});
  return gt;
}

namespace {
// Finiteness of many tensors with one host synchronisation: Σ 0·x is NaN exactly when some x is NaN or ±Inf.
bool all_finite_fused(const std::vector<Tensor>& ts) {
  Tensor acc;
  for (const Tensor& t : ts) {
    if (!t.defined() || t.numel() == 0) continue;
    Tensor z = kernels::reduce(kernels::Reduce::Sum, kernels::unary(kernels::Unary::MulScalar, t, {0.0}), {}, false);
    acc = acc.defined() ? kernels::binary(kernels::Binary::Add, acc, z) : z;
  }
  return !acc.defined() || std::isfinite(acc.item());
}
}  // namespace

Tensor Trainer::viewmats(const IdentityDataset& ds, int s, const std::vector<int>& views) const {
  std::vector<float> v;
  for (int i : views) {
    Camera c = ds.camera(s, i);
    v.insert(v.end(), c.viewmat.begin(), c.viewmat.end());
  }
  return from_vector<float>(ctx_, v, {int64_t(views.size()), 4, 4}).to(dev_);
}

Tensor Trainer::intrinsics(const IdentityDataset& ds, int s, const std::vector<int>& views) const {
  std::vector<float> v;
  for (int i : views) {
    Camera c = ds.camera(s, i);
    v.insert(v.end(), c.intrinsics.begin(), c.intrinsics.end());
  }
  return from_vector<float>(ctx_, v, {int64_t(views.size()), 4}).to(dev_);
}

namespace {
bool same_pose(const RigPose& a, const RigPose& b) {
  const size_t E = std::max(a.expression.size(), b.expression.size());
  for (size_t e = 0; e < E; ++e)
    if ((e < a.expression.size() ? a.expression[e] : 0.0) != (e < b.expression.size() ? b.expression[e] : 0.0))
      return false;
  return a.pose == b.pose && a.rotation == b.rotation && a.translation == b.translation;
}
// unit normal of each Gaussian's triangle on the posed face [G,3] (runtime/binding.h triangle_normal, as the
// runtime's apply_posed_corrections)
std::vector<double> posed_normals(const GaussianBinding& b, const std::vector<double>& face) {
  std::vector<double> n(size_t(b.G) * 3);
  for (int g = 0; g < b.G; ++g) {
    const int32_t* t = &b.tri[size_t(g) * 3];
    ffrt::binding::triangle_normal(&face[size_t(t[0]) * 3], &face[size_t(t[1]) * 3], &face[size_t(t[2]) * 3],
                                   &n[size_t(g) * 3]);
  }
  return n;
}
}  // namespace

const flame::FlameModel& Trainer::head_model(const IdentityDataset& ds) const {
  const HeadModelRef ref = ds.head_model();
  if (!head_model_) {
    head_model_ = std::make_unique<flame::FlameModel>(flame::load_head_model(ref.spec));
    head_model_ref_ = {ref.spec, flame::head_model_content_id(*head_model_)};
    FF_CHECK(ref.content_id.empty() || ref.content_id == head_model_ref_.content_id, "Trainer: head model '", ref.spec,
             "' has content id ", head_model_ref_.content_id, ", dataset '", ds.description(), "' was built on ",
             ref.content_id);
  }
  FF_CHECK(ref.content_id.empty() || ref.content_id == head_model_ref_.content_id, "Trainer: dataset '",
           ds.description(), "' names head model ", ref.content_id, ", training poses with ",
           head_model_ref_.content_id, " (one head model per run)");
  return *head_model_;
}

const Trainer::SubjectRig& Trainer::subject_rig(const IdentityDataset& ds, int s) const {
  auto& slot = rigs_[{&ds, s}];
  if (slot) return *slot;
  const HeadModelRef ref = ds.head_model();
  FF_CHECK(!ref.spec.empty(), "Trainer: subject ", ds.subject_name(s), " of dataset '", ds.description(),
           "' has views with a non-neutral expression/pose, but the dataset names no head model to pose it with");
  head_model(ds);
  std::vector<double> head = ds.head_vertices(s);
  FF_CHECK(!head.empty(), "Trainer: subject ", ds.subject_name(s), " of dataset '", ds.description(),
           "' has views with a non-neutral expression/pose, but the dataset gives no head-model mesh "
           "(IdentityDataset::head_vertices) to pose it with");
  HeadRig rig(*head_model_, std::move(head));
  GaussianBinding binding = GaussianBinding::from_layout(model_->layout(), rig.neutral_face());
  slot = std::make_unique<SubjectRig>(SubjectRig{std::move(rig), std::move(binding)});
  return *slot;
}

Tensor Trainer::render_subject(const GaussianBatch& gb, int b, const Tensor& means, const IdentityDataset& ds, int s,
                               const std::vector<int>& views, bool pose) const {
  splat::GaussianTensors g;
  g.means = means;
  g.scales = exp(select(gb.log_scales, 0, b));
  g.rotations = select(gb.rotations, 0, b);
  g.opacities = select(gb.opacities, 0, b);
  g.colors = select(gb.colors, 0, b);
  const Camera c0 = ds.camera(s, views[0]);
  std::vector<RigPose> poses;
  bool any_posed = false;
  if (pose && cfg_.pose_views)
    for (int v : views) {
      poses.push_back(ds.view_pose(s, v));
      any_posed |= !poses.back().is_neutral();
    }
  if (!any_posed)  // the static path (every view of a static dataset)
    return splat::render(g, viewmats(ds, s, views), intrinsics(ds, s, views), c0.width, c0.height).image;
  // runs of consecutive views sharing a pose: one render each, concatenated in the order of `views`
  const SubjectRig& r = subject_rig(ds, s);
  std::vector<Tensor> parts;
  for (size_t i = 0; i < views.size();) {
    size_t j = i + 1;
    while (j < views.size() && same_pose(poses[j], poses[i])) ++j;
    const std::vector<int> run(views.begin() + int64_t(i), views.begin() + int64_t(j));
    splat::GaussianTensors gp = g;
    if (!poses[i].is_neutral()) {
      const std::vector<double> posed_face = r.rig.posed_face(poses[i]);
      const Tensor face = from_vector<double>(ctx_, posed_face, {int64_t(r.binding.A), 3})
                              .to(means.dtype())
                              .to(dev_);
      const PosedGaussians p = pose_gaussians(r.binding, face, means, g.rotations, select(gb.log_scales, 0, b));
      gp.means = p.means;
      gp.rotations = p.rotations;
      gp.scales = exp(p.log_scales);
      if (model_->corr_color.defined()) {  // the expression correction (train/model.h), linear in e
        const int64_t G = r.binding.G, C = model_->config().correction_dim;
        const Tensor e = from_vector<double>(ctx_, model_->correction_coefficients(poses[i].expression, poses[i].pose),
                                             {C, 1})
                             .to(means.dtype())
                             .to(dev_);
        const Tensor normals = from_vector<double>(ctx_, posed_normals(r.binding, posed_face), {G, 3})
                                   .to(means.dtype())
                                   .to(dev_);
        gp.colors = g.colors + reshape(matmul(reshape(model_->corr_color, {G * 3, C}), e), {G, 3});
        gp.means = p.means + matmul(model_->corr_offset, e) * normals;
      }
    }
    parts.push_back(splat::render(gp, viewmats(ds, s, run), intrinsics(ds, s, run), c0.width, c0.height).image);
    i = j;
  }
  return parts.size() == 1 ? parts[0] : concat(parts, 0);
}

StepStats Trainer::step() {
  StepStats st;
  st.step = step_;
  st.pairs = pairs_of_step(step_);
  // this rank's part of the step (all of it in a single process); its loss terms keep their global weights
  const bool dist = comm_->size() > 1;
  const RankSlice mine = rank_slice(int64_t(st.pairs.size()), comm_->rank(), comm_->size());
  std::vector<int> subs;
  std::map<int, std::vector<int>> views_of;
  for (int64_t i = mine.first; i < mine.end; ++i) {
    const auto& [s, v] = st.pairs[size_t(i)];
    if (!views_of.count(s)) subs.push_back(s);
    views_of[s].push_back(v);
  }
  std::vector<int64_t> sidx(subs.begin(), subs.end());
  Tensor idx = from_vector<int64_t>(ctx_, sidx, {int64_t(sidx.size())}).to(dev_);
  // the rows of codes and xyz every rank updates: the subjects of the whole step, in order of first appearance
  std::vector<int> step_subs = subs;
  Tensor step_idx = idx;
  if (dist) {
    step_subs.clear();
    for (auto& pr : st.pairs)
      if (std::find(step_subs.begin(), step_subs.end(), pr.first) == step_subs.end()) step_subs.push_back(pr.first);
    step_idx = from_vector<int64_t>(ctx_, std::vector<int64_t>(step_subs.begin(), step_subs.end()),
                                    {int64_t(step_subs.size())}).to(dev_);
  }
  auto fail = [&](const std::string& what) {
    st.ok = false;
    st.failure = what;
    st.loss = std::nan("");
  };

  PhaseTimes* pt = phase_times;
  double tmark = 0;
  auto lap = [&](double PhaseTimes::*field) {
    if (!pt) return;
    ctx_.synchronize();
    const double t = now_s();
    if (field) pt->*field += t - tmark;
    tmark = t;
  };
  lap(nullptr);
  opt_->zero_grad();
  Tensor tex = model_->texture(model_->code_rows(idx));
  lap(&PhaseTimes::generator);
  GaussianBatch gb = model_->decode_texture(tex);
  lap(&PhaseTimes::decoders);
  {
    // scales too: a finite log-scale above ~88 overflows exp in the renderer (a diverging learning rate)
    const std::vector<std::pair<const char*, Tensor>> attrs = {
        {"decoded colors", gb.colors},
        {"decoded log_scales", gb.log_scales},
        {"decoded scales (exp of log_scales)", kernels::unary(kernels::Unary::Exp, gb.log_scales.detach(), {})},
        {"decoded rotations", gb.rotations},
        {"decoded opacities", gb.opacities}};
    std::vector<Tensor> ts;
    for (auto& a : attrs) ts.push_back(a.second);
    for (int sub : subs) ts.push_back(model_->positions(sub));
    if (!all_finite_fused(ts)) {  // name the first offender (slow path only)
      for (auto& [name, t] : attrs)
        if (st.ok && !kernels::all_finite(t)) fail(name);
      for (int sub : subs)
        if (st.ok && !kernels::all_finite(model_->positions(sub))) fail("xyz of subject " + train_->subject_name(sub));
      if (st.ok) fail("decoded Gaussians");
    }
  }
  lap(&PhaseTimes::checks);
  Tensor loss;
  if (st.ok) {
    const double total = double(st.pairs.size());
    for (size_t b = 0; b < subs.size(); ++b) {
      const int s = subs[b];
      const auto& vv = views_of[s];
      Tensor means = model_->positions(s);
      lap(&PhaseTimes::checks);
      Tensor img = render_subject(gb, int(b), means, *train_, s, vv);
      lap(&PhaseTimes::splat);
      GT gt = load_gt(*train_, s, vv);
      lap(&PhaseTimes::data);
      Tensor l = splat::l1_dssim_loss(img, gt.image, cfg_.loss_region == "mask" ? gt.mask : Tensor(),
                                      float(cfg_.lambda_dssim));
      lap(&PhaseTimes::loss);
      l = l * (double(vv.size()) / total);
      loss = loss.defined() ? loss + l : l;
    }
  }
  if (st.ok && cfg_.scale_reg_weight > 0 && step_ >= cfg_.scale_reg_start) {
    Tensor s2 = sum(square(exp(gb.log_scales)), {2});  // [B,G]
    if (!dist) {
      loss = loss + mean(square(s2)) * cfg_.scale_reg_weight;
    } else {  // each subject of the step counted once, by the rank holding its first pair, over the global count
      std::vector<int64_t> owned;
      for (size_t b = 0; b < subs.size(); ++b) {
        int64_t first = 0;
        while (st.pairs[size_t(first)].first != subs[b]) ++first;
        if (first >= mine.first) owned.push_back(int64_t(b));
      }
      if (!owned.empty())
        loss = loss + mean(square(index_select(s2, 0, from_vector<int64_t>(ctx_, owned, {int64_t(owned.size())}).to(dev_)))) *
                          (cfg_.scale_reg_weight * double(owned.size()) / double(step_subs.size()));
    }
  }
  if (st.ok) {
    st.loss = loss.item();
    if (!std::isfinite(st.loss)) fail("loss");
  }
  bool failed_here = !st.ok;  // this rank found the non-finite value (and names it)
  if (dist) {  // every rank learns whether any rank failed; the step's loss is the sum of the ranks' terms
    Tensor agree = from_vector<double>(ctx_, {st.ok ? st.loss : 0.0, st.ok ? 0.0 : 1.0}, {2}).to(dev_);
    all_reduce_sum(*comm_, agree);
    const std::vector<double> a = agree.to(Device::cpu()).to_vector<double>();
    if (st.ok && a[1] > 0) fail("value on another rank (that rank names it)");
    if (st.ok) st.loss = a[0];
  }
  lap(&PhaseTimes::loss);
  if (st.ok) {
    backward(loss);
    lap(&PhaseTimes::backward);
    if (after_backward) after_backward(step_, *model_);
    if (dist) all_reduce_gradients(step_subs);  // the same gradients on every rank from here on
    std::vector<Tensor> grads;
    for (auto& g : opt_->groups())
      for (auto& p : g.params) grads.push_back(p.grad());
    if (!all_finite_fused(grads)) {  // name the first offender (slow path only)
      for (size_t k = 0; k < grads.size() && st.ok; ++k)
        if (grads[k].defined() && !kernels::all_finite(grads[k])) fail("gradient of " + param_names_[k]);
      if (st.ok) fail("gradients");
    }
  }
  if (st.ok) {
    opt_->set_active_rows(model_->codes, step_idx);
    opt_->set_active_rows(model_->xyz, step_idx);
    lap(&PhaseTimes::checks);
    opt_->step();
    lap(&PhaseTimes::adam);
    if (pt) pt->steps++;
    bad_in_row_ = 0;
  } else {
    opt_->zero_grad();  // nothing was updated: the next step starts from the last good state
    ++bad_in_row_;
    std::string where;
    for (auto& [s, v] : st.pairs)
      where += (where.empty() ? "" : ", ") + train_->subject_name(s) + "/" + train_->camera(s, v).name;
    if (comm_->rank() == 0 || failed_here)
      std::fprintf(stderr, "\n[train] %sstep %lld: non-finite %s (pairs %s) — step skipped, parameters and optimiser "
                   "state unchanged (%d consecutive, limit %d)\n",
                   dist ? ("rank " + std::to_string(comm_->rank()) + ": ").c_str() : "", static_cast<long long>(step_),
                   st.failure.c_str(), where.c_str(), bad_in_row_, cfg_.max_bad_steps);
    if (bad_in_row_ >= cfg_.max_bad_steps) {
      ++step_;
      losses_.push_back(st.loss);
      FF_THROW("training stopped at step ", st.step, ": ", bad_in_row_, " consecutive non-finite steps (last: ",
               st.failure, ")");
    }
  }
  losses_.push_back(st.loss);
  ++step_;
  return st;
}

void Trainer::all_reduce_gradients(const std::vector<int>& subjects) {
  // one flat buffer: a flag per parameter (1 where this rank has a gradient: a parameter no rank touched keeps
  // none, as in one process), then each gradient — codes and xyz only as their rows `subjects`
  std::vector<Tensor> params;
  for (auto& g : opt_->groups())
    for (auto& p : g.params) params.push_back(p);
  const DType dt = params.at(0).dtype();
  const int64_t P = int64_t(params.size());
  std::vector<int64_t> rows(subjects.begin(), subjects.end());
  const Tensor row_idx = from_vector<int64_t>(ctx_, rows, {int64_t(rows.size())}).to(dev_);
  auto per_identity = [&](const Tensor& p) {
    return p.impl_ptr() == model_->codes.impl_ptr() || p.impl_ptr() == model_->xyz.impl_ptr();
  };
  std::vector<int64_t> offset(params.size()), count(params.size());
  int64_t total = P;
  for (int64_t k = 0; k < P; ++k) {
    const Tensor& p = params[size_t(k)];
    FF_CHECK(p.dtype() == dt, "Trainer: parameters of mixed dtypes (", param_names_[size_t(k)], ")");
    count[size_t(k)] = per_identity(p) ? int64_t(rows.size()) * (p.numel() / p.shape()[0]) : p.numel();
    offset[size_t(k)] = total;
    total += count[size_t(k)];
  }
  Tensor flat = zeros(ctx_, {total}, dt, dev_);
  std::vector<double> flags(params.size(), 0.0);
  for (int64_t k = 0; k < P; ++k) {
    const Tensor g = params[size_t(k)].grad();
    if (!g.defined()) continue;
    flags[size_t(k)] = 1;
    const Tensor src = (per_identity(params[size_t(k)]) ? kernels::index_select(g, 0, row_idx) : g)
                           .contiguous();
    flat.as_strided({count[size_t(k)]}, {1}, offset[size_t(k)]).copy_(src.as_strided({count[size_t(k)]}, {1}));
  }
  flat.as_strided({P}, {1}).copy_(from_vector<double>(ctx_, flags, {P}).to(dt));
  all_reduce_sum(*comm_, flat, &comm_bytes_, &comm_seconds_);
  const std::vector<double> any = flat.as_strided({P}, {1}).to(Device::cpu()).to(DType::F64).to_vector<double>();
  for (int64_t k = 0; k < P; ++k) {
    const Tensor& p = params[size_t(k)];
    if (any[size_t(k)] == 0) {
      p.zero_grad();
      continue;
    }
    if (per_identity(p)) {  // the other rows stay zero (Adam updates the rows `subjects` only)
      Tensor g = zeros_like(p);
      const int64_t row = p.numel() / p.shape()[0];
      for (size_t j = 0; j < rows.size(); ++j)
        g.as_strided({row}, {1}, rows[j] * row).copy_(flat.as_strided({row}, {1}, offset[size_t(k)] + int64_t(j) * row));
      p.set_grad(g);
    } else {
      Tensor g = empty_like(p);
      g.as_strided({count[size_t(k)]}, {1}).copy_(flat.as_strided({count[size_t(k)]}, {1}, offset[size_t(k)]));
      p.set_grad(g);
    }
  }
}

// ---- evaluation ---------------------------------------------------------------------------------------

namespace {
struct Acc {
  int n = 0;
  double psnr = 0, psnr_mask = 0, ssim = 0, ssim_mask = 0;
  void add(const ImageMetrics& m) { ++n, psnr += m.psnr, psnr_mask += m.psnr_mask, ssim += m.ssim, ssim_mask += m.ssim_mask; }
};

// renders img [C,3,H,W] of `views` of subject s scored against the ground truth (gt_image, gt_mask), into acc; the
// first view's row is added to grid while it has fewer than grid_rows rows (grid null: none)
void score_views(const Tensor& img, const Tensor& gt_image, const Tensor& gt_mask, const std::vector<int>& views,
                 const IdentityDataset& ds, int s, Acc& acc, std::vector<GridRow>* grid, int grid_rows,
                 const std::string& tag) {
  std::vector<float> r = img.to_vector<float>(), g = gt_image.to_vector<float>(), m = gt_mask.to_vector<float>();
  const Camera c0 = ds.camera(s, views[0]);
  const size_t P = size_t(c0.width) * c0.height;
  for (size_t i = 0; i < views.size(); ++i) {
    std::vector<float> mk(m.begin() + i * P, m.begin() + (i + 1) * P);
    acc.add(image_metrics(&r[i * 3 * P], &g[i * 3 * P], mk, c0.width, c0.height));
    if (grid && i == 0 && int(grid->size()) < grid_rows) {  // one view per identity
      GridRow row;
      row.label = tag + " " + ds.subject_name(s) + " / " + ds.camera(s, views[i]).name;
      row.gt.assign(g.begin() + i * 3 * P, g.begin() + (i + 1) * 3 * P);
      row.render.assign(r.begin() + i * 3 * P, r.begin() + (i + 1) * 3 * P);
      row.width = c0.width, row.height = c0.height;
      grid->push_back(std::move(row));
    }
  }
}

SetMetrics set_metrics(const std::string& name, const Acc& a, const Acc& b) {
  SetMetrics sm;
  sm.set = name;
  sm.images = a.n;
  if (a.n) sm.psnr = a.psnr / a.n, sm.psnr_mask = a.psnr_mask / a.n, sm.ssim = a.ssim / a.n, sm.ssim_mask = a.ssim_mask / a.n;
  if (b.n)
    sm.base_psnr = b.psnr / b.n, sm.base_psnr_mask = b.psnr_mask / b.n, sm.base_ssim = b.ssim / b.n,
    sm.base_ssim_mask = b.ssim_mask / b.n;
  return sm;
}
}  // namespace

std::vector<SetMetrics> Trainer::evaluate(bool write_grid) {
  const uint64_t rng_saved = ctx_.rng_counter();  // evaluation never perturbs the training's random stream
  std::vector<SetMetrics> out;
  std::vector<GridRow> grid;
  auto eval_images = [&](const Tensor& img, const GT& gt, const std::vector<int>& views, const IdentityDataset& ds, int s,
                         Acc& acc, bool add_grid, const std::string& tag) {
    score_views(img, gt.image, gt.mask, views, ds, s, acc, add_grid ? &grid : nullptr, cfg_.grid_rows, tag);
  };
  auto finish = [&](const std::string& name, const Acc& a, const Acc& b) { out.push_back(set_metrics(name, a, b)); };
  {
    NoGrad ng(ctx_);
    Tensor mean_code = mean(model_->codes, {0}, true);  // [1,D]
    GaussianBatch base = model_->decode(mean_code);
    // training identities: held-out views (or, without any, their training views)
    const int N = std::min(train_->num_subjects(), std::max(1, cfg_.eval_subjects));
    bool any_heldout = false;
    for (int s = 0; s < N; ++s) any_heldout |= !heldout_views_[s].empty();
    Acc own, mc;
    for (int s = 0; s < N; ++s) {
      const auto& views = any_heldout ? heldout_views_[s] : train_views_[s];
      if (views.empty()) continue;
      Tensor idx = from_vector<int64_t>(ctx_, {int64_t(s)}, {1}).to(dev_);
      GaussianBatch gb = model_->decode(model_->code_rows(idx));
      GT gt = load_gt(*train_, s, views);
      Tensor means = model_->positions(s);
      eval_images(render_subject(gb, 0, means, *train_, s, views), gt, views, *train_, s, own, s < 2,
                  any_heldout ? "held-out view" : "train view");
      eval_images(render_subject(base, 0, means, *train_, s, views), gt, views, *train_, s, mc, false, "");
    }
    finish(any_heldout ? "heldout_views" : "train_views", own, mc);
  }
  // held-out identities: fit the code only (everything else frozen), then evaluate on the other views
  if (heldout_ && cfg_.max_heldout_subjects > 0 && heldout_->num_subjects() > 0) {
    const int M = std::min(heldout_->num_subjects(), cfg_.max_heldout_subjects);
    std::vector<Tensor> pos;
    std::vector<int> fitv(M);
    for (int m = 0; m < M; ++m) {
      pos.push_back(from_vector<float>(ctx_, model_->layout().place(heldout_->face_mesh(m)), {model_->layout().G, 3})
                        .to(model_->config().dtype)
                        .to(dev_));
      fitv[m] = cfg_.fit_view >= 0 ? std::min(cfg_.fit_view, heldout_->num_views(m) - 1) : frontal_view(*heldout_, m);
    }
    std::vector<Tensor> frozen;
    for (auto& p : model_->named_parameters())
      if (p.tensor.requires_grad()) frozen.push_back(p.tensor), p.tensor.set_requires_grad(false);
    Tensor codes = randn(ctx_, {M, model_->config().code_dim}, model_->config().dtype, dev_, 0.0, 0.01);
    codes.set_requires_grad(true);
    AdamOptions ao;
    ao.eps = cfg_.adam_eps;
    Adam fit({{"codes", {codes}, cfg_.eval_fit_lr}}, ao);
    std::vector<GT> fit_gt;
    for (int m = 0; m < M; ++m) fit_gt.push_back(load_gt(*heldout_, m, {fitv[m]}));
    try {
      for (int it = 0; it < cfg_.eval_fit_steps; ++it) {
        fit.zero_grad();
        GaussianBatch gb = model_->decode(codes);
        Tensor loss;
        for (int m = 0; m < M; ++m) {
          Tensor img = render_subject(gb, m, pos[m], *heldout_, m, {fitv[m]});
          Tensor l = splat::l1_dssim_loss(img, fit_gt[m].image, Tensor(), float(cfg_.lambda_dssim)) * (1.0 / M);
          loss = loss.defined() ? loss + l : l;
        }
        backward(loss);
        if (!kernels::all_finite(codes.grad())) break;  // keep the last good codes
        fit.step();
      }
    } catch (...) {
      for (auto& p : frozen) p.set_requires_grad(true);
      throw;
    }
    for (auto& p : frozen) p.set_requires_grad(true);
    NoGrad ng(ctx_);
    GaussianBatch gb = model_->decode(codes.detach());
    GaussianBatch base = model_->decode(mean(model_->codes, {0}, true));
    Acc own, mc;
    for (int m = 0; m < M; ++m) {
      std::vector<int> views;
      for (int v = 0; v < heldout_->num_views(m); ++v)
        if (v != fitv[m]) views.push_back(v);
      if (views.empty()) views.push_back(fitv[m]);
      GT gt = load_gt(*heldout_, m, views);
      eval_images(render_subject(gb, m, pos[m], *heldout_, m, views), gt, views, *heldout_, m, own, m < 2,
                  "held-out id");
      eval_images(render_subject(base, 0, pos[m], *heldout_, m, views), gt, views, *heldout_, m, mc, false, "");
    }
    finish("heldout_ids", own, mc);
  }
  if (heldout_expr_)
    for (SetMetrics& m : evaluate_expressions(*heldout_expr_, &grid)) out.push_back(m);
  ctx_.set_rng_counter(rng_saved);
  if (write_grid && !grid.empty()) {
    char name[64];
    std::snprintf(name, sizeof name, "step_%08lld.png", static_cast<long long>(step_));
    write_eval_grid((fs::path(cfg_.out_dir) / "eval" / name).string(), grid,
                    "facefield eval, step " + std::to_string(step_));
  }
  return out;
}

std::vector<SetMetrics> Trainer::evaluate_expressions(const IdentityDataset& ds, std::vector<GridRow>* grid) {
  NoGrad ng(ctx_);
  std::map<std::string, int> by_name;
  for (int s = 0; s < train_->num_subjects(); ++s) by_name[train_->subject_name(s)] = s;
  const GaussianBatch base = model_->decode(mean(model_->codes, {0}, true));
  Acc posed, posed_mc, neutral, neutral_mc;
  const int chunk = 8;  // views per render (bounds the memory of a long sequence)
  int evaluated = 0;
  for (int e = 0; e < ds.num_subjects() && evaluated < std::max(1, cfg_.eval_subjects); ++e) {
    auto it = by_name.find(ds.subject_name(e));
    if (it == by_name.end()) continue;  // not a training identity: no code to evaluate
    ++evaluated;
    const int s = it->second;
    const Tensor idx = from_vector<int64_t>(ctx_, {int64_t(s)}, {1}).to(dev_);
    const GaussianBatch gb = model_->decode(model_->code_rows(idx));
    const Tensor means = model_->positions(s);
    for (int v0 = 0; v0 < ds.num_views(e); v0 += chunk) {
      std::vector<int> views;
      for (int v = v0; v < std::min(ds.num_views(e), v0 + chunk); ++v) views.push_back(v);
      const GT gt = load_gt(ds, e, views);
      score_views(render_subject(gb, 0, means, ds, e, views, true), gt.image, gt.mask, views, ds, e, posed,
                  v0 == 0 ? grid : nullptr, cfg_.grid_rows, "held-out expr, posed");
      score_views(render_subject(gb, 0, means, ds, e, views, false), gt.image, gt.mask, views, ds, e, neutral,
                  v0 == 0 ? grid : nullptr, cfg_.grid_rows, "held-out expr, static");
      score_views(render_subject(base, 0, means, ds, e, views, true), gt.image, gt.mask, views, ds, e, posed_mc,
                  nullptr, 0, "");
      score_views(render_subject(base, 0, means, ds, e, views, false), gt.image, gt.mask, views, ds, e, neutral_mc,
                  nullptr, 0, "");
    }
  }
  return {set_metrics("heldout_expr", posed, posed_mc), set_metrics("heldout_expr_static", neutral, neutral_mc)};
}

namespace {
constexpr const char* kMetricsCsvHeader =
    "step,set,images,psnr,psnr_mask,ssim,ssim_mask,base_psnr,base_psnr_mask,base_ssim,base_ssim_mask\n";

// metrics.csv's rows with step ≤ last_step (all rows: last_step < 0), header first; "" when there is no file.
// A row that does not start with a step number (e.g. a line cut by a crash of an older, appending writer) is dropped.
std::string metrics_csv_upto(const std::string& path, int64_t last_step) {
  if (!fs::exists(path)) return "";
  std::istringstream in(read_file(path));
  std::string out = kMetricsCsvHeader, line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    const size_t comma = line.find(',');
    if (comma == 0 || comma == std::string::npos || line.find_first_not_of("0123456789") != comma) continue;
    if (comma > 16) continue;  // more digits than any step
    if (last_step >= 0 && std::stoll(line.substr(0, comma)) > last_step) continue;
    out += line + "\n";
  }
  return out;
}
}  // namespace

void Trainer::append_metrics_csv(const std::vector<SetMetrics>& m) const {
  // rewritten whole and atomically: a kill leaves the previous file, never a cut row
  const std::string path = (fs::path(cfg_.out_dir) / "metrics.csv").string();
  std::string text = metrics_csv_upto(path, -1);
  if (text.empty()) text = kMetricsCsvHeader;
  char line[512];
  for (auto& s : m) {
    std::snprintf(line, sizeof line, "%lld,%s,%d,%.4f,%.4f,%.5f,%.5f,%.4f,%.4f,%.5f,%.5f\n",
                  static_cast<long long>(step_), s.set.c_str(), s.images, s.psnr, s.psnr_mask, s.ssim, s.ssim_mask,
                  s.base_psnr, s.base_psnr_mask, s.base_ssim, s.base_ssim_mask);
    text += line;
  }
  write_file_atomic(path, text);
}

// ---- checkpoints and exports ----------------------------------------------------------------------------

void Trainer::save_checkpoint(const std::string& path) const {
  Checkpoint ck;
  ck.step = step_;
  ck.rng_counter = ctx_.rng_counter();
  ck.config_json = config_to_json(cfg_);
  for (auto& p : model_->named_parameters()) ck.tensors.emplace_back("param/" + p.name, p.tensor);
  for (auto& b : model_->named_buffers()) ck.tensors.emplace_back("buffer/" + b.name, b.tensor);
  auto& state = opt_->state();
  for (size_t k = 0; k < state.size(); ++k) {
    ck.tensors.emplace_back("adam.m/" + param_names_[k], state[k].m);
    ck.tensors.emplace_back("adam.v/" + param_names_[k], state[k].v);
    ck.tensors.emplace_back("adam.step/" + param_names_[k], from_vector<int64_t>(ctx_, {state[k].step}, {1}));
  }
  ck.tensors.emplace_back("train/losses", from_vector<double>(ctx_, losses_, {int64_t(losses_.size())}));
  // everything inference and photo fitting need (train/model_file.h): the checkpoint is a self-contained model file
  std::vector<std::string> names;
  std::vector<std::vector<Camera>> cameras(size_t(train_->num_subjects()));
  for (int sub = 0; sub < train_->num_subjects(); ++sub) {
    names.push_back(train_->subject_name(sub));
    for (int v = 0; v < train_->num_views(sub); ++v) cameras[size_t(sub)].push_back(train_->camera(sub, v));
  }
  for (auto& rec : model_records(ctx_, *model_, names, cameras, train_->head_model())) ck.tensors.push_back(rec);
  write_checkpoint(path, ck);
}

void Trainer::load_checkpoint(const std::string& path) {
  Checkpoint ck = read_checkpoint(ctx_, path);
  // the model's shape-defining options must agree
  json saved = json::parse(ck.config_json, nullptr, false);
  FF_CHECK(!saved.is_discarded(), "checkpoint '", path, "': its config is not valid JSON");
  json mine = json::parse(config_to_json(cfg_));
  const json defaults = json::parse(config_to_json(TrainConfig{}))["model"];
  for (auto& [k, v] : mine["model"].items())
    FF_CHECK(saved.contains("model") && (saved["model"].contains(k) ? saved["model"][k] == v : v == defaults[k]),
             "checkpoint '", path,
             "' was trained with model.", k, " = ", saved.contains("model") && saved["model"].contains(k) ? saved["model"][k].dump() : "?",
             ", this run has ", v.dump(), " (resume with the checkpoint's model options)");
  std::map<std::string, Tensor> t(ck.tensors.begin(), ck.tensors.end());
  // every value is checked before anything is changed: a refused checkpoint leaves the trainer as it was
  std::vector<std::pair<Tensor, Tensor>> copies;  // (destination, checked source)
  auto take = [&](const std::string& name, const Tensor& dst) {
    auto it = t.find(name);
    FF_CHECK(it != t.end(), "checkpoint '", path, "' has no tensor '", name, "'");
    FF_CHECK(it->second.shape() == dst.shape(), "checkpoint '", path, "': '", name, "' has shape ", it->second.shape(),
             ", the model ", dst.shape(), " (a different dataset or subject count?)");
    check_finite(it->second, name, path);
    copies.emplace_back(dst, it->second);
  };
  for (auto& p : model_->named_parameters()) take("param/" + p.name, p.tensor);
  for (auto& b : model_->named_buffers()) take("buffer/" + b.name, b.tensor);
  auto& state = opt_->state();
  std::vector<int64_t> adam_steps;
  for (size_t k = 0; k < state.size(); ++k) {
    take("adam.m/" + param_names_[k], state[k].m);
    take("adam.v/" + param_names_[k], state[k].v);
    auto it = t.find("adam.step/" + param_names_[k]);
    FF_CHECK(it != t.end(), "checkpoint '", path, "' has no Adam step for '", param_names_[k], "'");
    const std::vector<int64_t> as = it->second.to(DType::I64).to_vector<int64_t>();
    FF_CHECK(as.size() == 1 && as[0] >= 0 && as[0] <= kMaxCheckpointStep, "checkpoint '", path, "': Adam step of '",
             param_names_[k], "' is ", as.empty() ? std::string("missing") : std::to_string(as[0]), ", outside [0, ",
             kMaxCheckpointStep, "]");
    adam_steps.push_back(as[0]);
  }
  for (auto& [dst, src] : copies) dst.copy_(src.to(dst.dtype()));
  for (size_t k = 0; k < state.size(); ++k) state[k].step = adam_steps[k];
  auto it = t.find("train/losses");
  losses_ = it != t.end() ? it->second.to_vector<double>() : std::vector<double>();
  step_ = ck.step;
  ctx_.set_rng_counter(ck.rng_counter);
  bad_in_row_ = 0;
}

void Trainer::export_ply(const std::string& final_dir) const {
  // written into "<dir>.tmp.<pid>" and renamed, so `dir` is complete whenever it exists (a kill leaves the temp
  // folder, removed by the next run); an existing `dir` (this program's earlier export of the step) is replaced
  const std::string dir = final_dir + ".tmp." + std::to_string(long(::getpid()));
  fs::remove_all(dir);
  NoGrad ng(ctx_);
  fs::create_directories(dir);
  const int n = std::min(train_->num_subjects(), std::max(1, cfg_.export_subjects));
  for (int s = 0; s < n; ++s) {
    Tensor idx = from_vector<int64_t>(ctx_, {int64_t(s)}, {1}).to(dev_);
    GaussianBatch gb = model_->decode(model_->code_rows(idx));
    const ffrt::GaussianSet g = host_gaussians(gb, 0, model_->positions(s).to(DType::F32).to_vector<float>());
    if (s == 0) ffrt::write_ply((fs::path(dir) / "point_cloud.ply").string(), g);
    ffrt::write_ply((fs::path(dir) / (train_->subject_name(s) + ".ply")).string(), g);
  }
  fs::remove_all(final_dir);
  fs::rename(dir, final_dir);
}

void Trainer::write_cameras_json() const {
  json arr = json::array();
  int id = 0;
  for (int s = 0; s < train_->num_subjects(); ++s)
    for (int v = 0; v < train_->num_views(s); ++v) {
      Camera c = train_->camera(s, v);
      auto ctr = c.center();
      json rot = json::array();
      for (int i = 0; i < 3; ++i) rot.push_back({c.viewmat[0 * 4 + i], c.viewmat[1 * 4 + i], c.viewmat[2 * 4 + i]});  // C2W R = Rᵀ
      bool held = std::find(heldout_views_[s].begin(), heldout_views_[s].end(), v) != heldout_views_[s].end();
      arr.push_back({{"id", id++},
                     {"img_name", train_->subject_name(s) + "/" + c.name},
                     {"width", c.width},
                     {"height", c.height},
                     {"position", {ctr[0], ctr[1], ctr[2]}},
                     {"rotation", rot},
                     {"fx", c.intrinsics[0]},
                     {"fy", c.intrinsics[1]},
                     {"cx", c.intrinsics[2]},
                     {"cy", c.intrinsics[3]},
                     {"split", held ? "heldout_view" : "train"}});
    }
  std::string s = arr.dump(1);
  write_file_atomic((fs::path(cfg_.out_dir) / "cameras.json").string(), s);
}

// ---- the run --------------------------------------------------------------------------------------------

namespace {
// out_dir names this program writes atomically ("<name>.tmp.<pid>" while writing)
bool own_output_name(const std::string& n) {
  return n == "config.json" || n == "cameras.json" || n == "metrics.json" || n == "metrics.csv" ||
         n == "losses.csv" || n == "loss_curve.png";
}
// "iteration_<digits>" (point_cloud/) and "step_<digits>.png" (eval/)
bool numbered_name(const std::string& n, const std::string& prefix, const std::string& suffix) {
  return n.size() > prefix.size() + suffix.size() && n.compare(0, prefix.size(), prefix) == 0 &&
         n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         std::min(n.find_first_not_of("0123456789", prefix.size()), n.size()) == n.size() - suffix.size();
}
}  // namespace

void Trainer::run() {
  if (comm_->rank() != 0) {  // the other ranks: rank 0's checkpoint, then the same steps; rank 0 writes every file
    if (!cfg_.resume.empty()) {
      std::string path;
      broadcast_string(*comm_, path);
      load_checkpoint(path);
    }
    while (step_ < total_steps_) step();
    return;
  }
  DirLock lock(cfg_.out_dir);  // one run per out_dir, released when run() returns or throws
  if (!lock.taken_over_from().empty())
    std::fprintf(stderr, "[train] %s was left by %s, which is gone (stale lock): taken over\n", lock.path().c_str(),
                 lock.taken_over_from().c_str());
  const std::string ckdir = (fs::path(cfg_.out_dir) / "checkpoints").string();
  {  // leftovers of writes a killed run did not finish
    std::vector<std::string> removed = remove_stale_checkpoint_temps(ckdir);
    for (auto& r : remove_stale_temp_files(cfg_.out_dir, own_output_name)) removed.push_back(r);
    for (auto& r : remove_stale_temp_files((fs::path(cfg_.out_dir) / "point_cloud").string(),
                                           [](const std::string& n) { return numbered_name(n, "iteration_", ""); }))
      removed.push_back(r);
    for (auto& r : remove_stale_temp_files((fs::path(cfg_.out_dir) / "eval").string(),
                                           [](const std::string& n) { return numbered_name(n, "step_", ".png"); }))
      removed.push_back(r);
    for (auto& r : removed) std::fprintf(stderr, "[train] removed %s (an unfinished write of a killed run)\n", r.c_str());
  }
  if (!cfg_.resume.empty()) {
    std::string path = cfg_.resume;
    if (path == "latest") {
      // the newest checkpoint that loads; each one skipped is named with the reason
      auto all = list_checkpoints(ckdir);
      FF_CHECK(!all.empty(), "--resume latest: no checkpoint in ", ckdir);
      std::string why;
      path.clear();
      for (auto it = all.rbegin(); it != all.rend() && path.empty(); ++it) {
        try {
          load_checkpoint(*it);
          path = *it;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "[train] --resume latest: skipped %s: %s\n", it->c_str(), e.what());
          why += std::string("\n  ") + e.what();
        }
      }
      FF_CHECK(!path.empty(), "--resume latest: no checkpoint in ", ckdir, " can be loaded:", why);
    } else {
      load_checkpoint(path);
    }
    broadcast_string(*comm_, path);  // the other ranks load the checkpoint rank 0 chose
    FF_CHECK(step_ <= total_steps_, "checkpoint '", path, "' is at step ", step_, ", past this run's total of ",
             total_steps_, " steps: resume with --steps ", step_, " or more");
    std::fprintf(stderr, "[train] resumed from %s at step %lld\n", path.c_str(), static_cast<long long>(step_));
    // metrics.csv rows of evaluations after the checkpoint are redone by this run
    const std::string metrics = (fs::path(cfg_.out_dir) / "metrics.csv").string();
    const std::string kept = metrics_csv_upto(metrics, step_);
    if (!kept.empty()) write_file_atomic(metrics, kept);
  }
  write_file_atomic((fs::path(cfg_.out_dir) / "config.json").string(), config_to_json(cfg_) + "\n");
  write_cameras_json();
  std::fprintf(stderr, "[train] %s\n[train] %d identities, %d Gaussians each (%s placement, K=%d), %lld parameters, "
               "%lld steps on %s\n",
               train_->description().c_str(), train_->num_subjects(), model_->layout().G,
               model_->layout().placement.c_str(), model_->layout().K,
               static_cast<long long>(model_->parameter_count()), static_cast<long long>(total_steps_),
               dev_.str().c_str());
  if (comm_->size() > 1)
    std::fprintf(stderr, "[train] data parallel: %d ranks (%s), %d of the %d pairs of a step on each\n", comm_->size(),
                 comm_->name().c_str(), int(rank_slice(cfg_.batch_views, 0, comm_->size()).end), cfg_.batch_views);
  const bool tty = isatty(fileno(stderr));
  const double t0 = now_s();
  double last_print = 0;
  const int64_t first = step_;
  double ema = std::nan("");
  auto save = [&]() {
    save_checkpoint(checkpoint_path(ckdir, step_));
    prune_checkpoints(ckdir, cfg_.keep_ckpts);
    export_ply((fs::path(cfg_.out_dir) / "point_cloud" / ("iteration_" + std::to_string(step_))).string());
  };
  while (step_ < total_steps_) {
    StepStats st = step();
    if (st.ok) ema = std::isnan(ema) ? st.loss : 0.98 * ema + 0.02 * st.loss;
    const double el = now_s() - t0;
    const double rate = double(step_ - first) / std::max(el, 1e-9);
    if (cfg_.progress && (now_s() - last_print > (tty ? 0.25 : 10.0) || step_ == total_steps_)) {
      last_print = now_s();
      const double frac = double(step_) / double(total_steps_);
      char bar[32];
      const int w = 24, fill = int(frac * w);
      for (int i = 0; i < w; ++i) bar[i] = i < fill ? '#' : '.';
      bar[w] = 0;
      std::fprintf(stderr, "%s[%s] %lld/%lld %3.0f%% | %.2f step/s | loss %.4f | elapsed %s | ETA %s%s",
                   tty ? "\r" : "", bar, static_cast<long long>(step_), static_cast<long long>(total_steps_),
                   100 * frac, rate, ema, fmt_time(el).c_str(),
                   fmt_time(double(total_steps_ - step_) / std::max(rate, 1e-9)).c_str(), tty ? "   " : "\n");
    }
    // the evaluation of a step is written before its checkpoint: a kill between the two resumes from the previous
    // checkpoint, which drops the row and redoes it (the other order lost the row: resumed past it, never redone)
    if (cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0 && step_ < total_steps_) {
      auto m = evaluate(true);
      append_metrics_csv(m);
      if (tty && cfg_.progress) std::fprintf(stderr, "\n");
      for (auto& s : m)
        std::fprintf(stderr, "[eval %lld] %s: PSNR %.2f dB (mask %.2f), SSIM %.4f | mean code %.2f dB\n",
                     static_cast<long long>(step_), s.set.c_str(), s.psnr, s.psnr_mask, s.ssim, s.base_psnr);
    }
    if (cfg_.ckpt_every > 0 && step_ % cfg_.ckpt_every == 0 && step_ < total_steps_) save();
  }
  train_seconds_ = now_s() - t0;
  if (cfg_.progress && tty) std::fprintf(stderr, "\n");
  save();
  const double te = now_s();
  auto final_metrics = evaluate(true);
  const double eval_seconds = now_s() - te;
  append_metrics_csv(final_metrics);
  write_loss_curve((fs::path(cfg_.out_dir) / "loss_curve.png").string(), losses_,
                   "training loss (0.8 L1 + 0.2 D-SSIM), " + std::to_string(losses_.size()) + " steps");
  {
    std::ostringstream s;
    s << "step,loss\n";
    for (size_t i = 0; i < losses_.size(); ++i) s << i << "," << losses_[i] << "\n";
    write_file_atomic((fs::path(cfg_.out_dir) / "losses.csv").string(), s.str());
  }
  json j;
  j["steps"] = step_;
  j["steps_this_run"] = step_ - first;
  j["train_seconds"] = train_seconds_;
  j["seconds_per_step"] = train_seconds_ / double(std::max<int64_t>(1, step_ - first));
  j["eval_seconds"] = eval_seconds;
  j["parameters"] = model_->parameter_count();
  j["gaussians"] = model_->layout().G;
  j["placement"] = model_->layout().placement;
  j["identities"] = train_->num_subjects();
  j["device"] = dev_.str();
  j["ranks"] = comm_->size();
  j["allreduce_bytes_per_step"] = double(comm_bytes_) / double(std::max<int64_t>(1, step_ - first));
  j["allreduce_seconds_per_step"] = comm_seconds_ / double(std::max<int64_t>(1, step_ - first));
  int nonfinite = 0;
  for (double l : losses_) nonfinite += !std::isfinite(l);
  j["skipped_steps"] = nonfinite;
  for (auto& s : final_metrics)
    j["eval"][s.set] = {{"images", s.images},       {"psnr", s.psnr},           {"psnr_mask", s.psnr_mask},
                        {"ssim", s.ssim},           {"ssim_mask", s.ssim_mask}, {"mean_code_psnr", s.base_psnr},
                        {"mean_code_psnr_mask", s.base_psnr_mask},              {"mean_code_ssim", s.base_ssim},
                        {"mean_code_ssim_mask", s.base_ssim_mask}};
  write_file_atomic((fs::path(cfg_.out_dir) / "metrics.json").string(), j.dump(2) + "\n");
  std::printf("\n== facefield training: %lld steps in %s (%.1f ms/step), output %s\n", static_cast<long long>(step_),
              fmt_time(train_seconds_).c_str(), 1000 * train_seconds_ / double(std::max<int64_t>(1, step_ - first)),
              cfg_.out_dir.c_str());
  for (auto& s : final_metrics)
    std::printf("   %-14s %3d images | PSNR %6.2f dB (face mask %6.2f) | SSIM %.4f (face mask %.4f) | mean-code "
                "baseline PSNR %6.2f dB (face mask %6.2f), SSIM %.4f\n",
                s.set.c_str(), s.images, s.psnr, s.psnr_mask, s.ssim, s.ssim_mask, s.base_psnr, s.base_psnr_mask,
                s.base_ssim);
}

}  // namespace ff::train
