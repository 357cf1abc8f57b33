// train/model_file.cpp — self-contained model files (see model_file.h).
#include "train/model_file.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "flame/headmodel.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace ff::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

Tensor text_tensor(Context& ctx, const std::string& s) {
  return from_vector<uint8_t>(ctx, std::vector<uint8_t>(s.begin(), s.end()), {int64_t(s.size())});
}
std::string tensor_text(const Tensor& t) {
  const std::vector<uint8_t> v = t.to_vector<uint8_t>();
  return std::string(v.begin(), v.end());
}
std::string joined_lines(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += i + "\n";
  return s;
}
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '\n') out.push_back(cur), cur.clear();
    else cur += c;
  }
  return out;
}

std::string model_config_json(const ModelConfig& m) {
  TrainConfig c;
  c.model = m;
  return json::parse(config_to_json(c))["model"].dump();
}

// Named host tensors of a model file, whatever its kind: checkpoint names as stored, pack arrays as tensors.
struct Records {
  std::string what;
  std::map<std::string, Tensor> t;
  bool is_pack = false;
  const Tensor* find(const std::string& name) const {
    auto it = t.find(name);
    return it == t.end() ? nullptr : &it->second;
  }
  const Tensor& get(const std::string& name) const {
    const Tensor* p = find(name);
    FF_CHECK(p, what, " has no '", name, "' record");
    return *p;
  }
  // a parameter or buffer: "param/<n>" / "buffer/<n>" in checkpoints, "<n>" in packs
  const Tensor& weight(const std::string& prefix, const std::string& name) const {
    return get(is_pack ? name : prefix + name);
  }
};

ffrt::Array tensor_array(const std::string& name, const Tensor& t) {
  Tensor c = t.detach().to(Device::cpu()).contiguous();
  ffrt::Array a;
  a.name = name;
  a.shape.assign(c.shape().begin(), c.shape().end());
  a.dtype = uint8_t(c.dtype());  // tensor/tensor.h DType codes = the container's dtype codes
  const char* p = static_cast<const char*>(c.raw_data());
  a.data.assign(p, p + size_t(c.numel()) * dtype_size(c.dtype()));
  return a;
}

// Checkpoints and packs are the same container (runtime/container.h): one path reads both.
Records read_records(Context& ctx, const std::string& path) {
  Records r;
  r.what = "model file '" + path + "'";
  FF_CHECK(fs::exists(path), "model file '", path, "' does not exist");
  FF_CHECK(fs::is_regular_file(path), "model file '", path, "' is not a regular file");
  const std::string bytes = read_file(path);
  const bool pack = ffrt::is_pack(bytes);
  FF_CHECK(pack || ffrt::is_checkpoint(bytes), r.what, " is neither a facefield checkpoint (.ffck) nor a model pack (.ffpk)");
  const ffrt::ContainerView v = rethrow_as_ff([&] {
    return ffrt::parse_container(bytes, pack ? ffrt::FileKind::kPack : ffrt::FileKind::kCheckpoint, "'" + path + "'");
  });
  if (pack)
    FF_CHECK(v.header.pack_kind == ffrt::kPackModel, r.what, " holds one identity's decoded Gaussians, not a model ",
             "(export a model pack with `export --model CHECKPOINT --format model`)");
  r.is_pack = pack;
  for (auto& [n, t] : tensors_from_records(ctx, v.records)) r.t.emplace(n, t);
  if (!pack) {
    r.t.emplace("ckpt/config", text_tensor(ctx, v.header.meta));
    r.t.emplace("ckpt/step", from_vector<int64_t>(ctx, {v.header.step}, {1}));
  }
  return r;
}

}  // namespace

NamedTensors model_records(Context& ctx, const IdentityModel& model, const std::vector<std::string>& names,
                           const std::vector<std::vector<Camera>>& cameras, const HeadModelRef& head) {
  const SurfaceLayout& L = model.layout();
  NamedTensors r;
  r.emplace_back("model/config", text_tensor(ctx, model_config_json(model.config())));
  r.emplace_back("layout/info", from_vector<int64_t>(ctx, {L.A, L.G, L.K, L.rows, L.subdiv_levels}, {5}));
  r.emplace_back("layout/placement", text_tensor(ctx, L.placement));
  r.emplace_back("layout/row_uv", from_vector<float>(ctx, L.row_uv, {int64_t(L.rows), 2}));
  r.emplace_back("layout/row_anchor",
                 from_vector<int32_t>(ctx, std::vector<int32_t>(L.row_anchor.begin(), L.row_anchor.end()), {int64_t(L.rows)}));
  r.emplace_back("layout/tri", from_vector<int32_t>(ctx, L.tri, {int64_t(L.tri.size() / 3), 3}));
  r.emplace_back("layout/bary", from_vector<double>(ctx, L.bary, {int64_t(L.bary.size() / 3), 3}));
  r.emplace_back("names", text_tensor(ctx, joined_lines(names)));
  std::vector<int32_t> id, size;
  std::vector<double> V, K;
  std::vector<std::string> cn;
  for (size_t s = 0; s < cameras.size(); ++s)
    for (const Camera& c : cameras[s]) {
      id.push_back(int32_t(s));
      size.push_back(c.width), size.push_back(c.height);
      V.insert(V.end(), c.viewmat.begin(), c.viewmat.end());
      K.insert(K.end(), c.intrinsics.begin(), c.intrinsics.end());
      cn.push_back(c.name);
    }
  const int64_t C = int64_t(id.size());
  r.emplace_back("cameras/identity", from_vector<int32_t>(ctx, id, {C}));
  r.emplace_back("cameras/size", from_vector<int32_t>(ctx, size, {C, 2}));
  r.emplace_back("cameras/viewmat", from_vector<double>(ctx, V, {C, 16}));
  r.emplace_back("cameras/intrinsics", from_vector<double>(ctx, K, {C, 4}));
  r.emplace_back("cameras/names", text_tensor(ctx, joined_lines(cn)));
  r.emplace_back("head/spec", text_tensor(ctx, head.spec));
  r.emplace_back("head/content_id", text_tensor(ctx, head.content_id));
  return r;
}

ModelFile load_model_file(Context& ctx, const std::string& path, Device device) {
  Records r = read_records(ctx, path);
  ModelFile mf;
  mf.path = path;
  if (!r.find("layout/info") || !r.find("model/config")) {
    FF_THROW(r.what, " was written by an older facefield that did not store the whole surface layout, so it cannot ",
             "be used without its training dataset. Upgrade it once: `upgrade_model --model ", path,
             " --data_dir TRAINING_DATA --out NEW.ffck` (then export packs from the new file)");
  }
  // config
  TrainConfig tc;
  config_from_json(tc, "{\"model\":" + tensor_text(r.get("model/config")) + "}", r.what + " (model/config)");
  if (const Tensor* c = r.find("ckpt/config")) mf.train_config_json = tensor_text(*c);
  if (const Tensor* s = r.find("ckpt/step")) {
    mf.step = s->to_vector<int64_t>().at(0);
    FF_CHECK(mf.step >= 0 && mf.step <= kMaxCheckpointStep, r.what, " holds step ", mf.step, ", outside [0, ",
             kMaxCheckpointStep, "]");
  }
  // layout
  SurfaceLayout L;
  const std::vector<int64_t> info = r.get("layout/info").to_vector<int64_t>();
  FF_CHECK(info.size() == 5, r.what, ": layout/info has ", info.size(), " values, expected 5");
  L.A = int(info[0]), L.G = int(info[1]), L.K = int(info[2]), L.rows = int(info[3]), L.subdiv_levels = int(info[4]);
  L.placement = tensor_text(r.get("layout/placement"));
  FF_CHECK(L.placement == "uv" || L.placement == "seed", r.what, ": unknown placement '", L.placement, "'");
  FF_CHECK(L.A > 0 && L.K > 0 && int64_t(L.G) == int64_t(L.A) * L.K && (L.rows == L.A || L.rows == L.G), r.what,
           ": inconsistent layout (A ", L.A, ", G ", L.G, ", K ", L.K, ", rows ", L.rows, ")");
  L.row_uv = r.get("layout/row_uv").to(DType::F32).to_vector<float>();
  for (int32_t a : r.get("layout/row_anchor").to(DType::I32).to_vector<int32_t>()) L.row_anchor.push_back(a);
  L.tri = r.get("layout/tri").to(DType::I32).to_vector<int32_t>();
  L.bary = r.get("layout/bary").to(DType::F64).to_vector<double>();
  FF_CHECK(L.row_uv.size() == size_t(L.rows) * 2 && L.row_anchor.size() == size_t(L.rows), r.what,
           ": layout rows do not match layout/info");
  FF_CHECK(L.placement == "seed" || (L.tri.size() == size_t(L.G) * 3 && L.bary.size() == size_t(L.G) * 3), r.what,
           ": uv placement needs layout/tri and layout/bary of ", L.G, " Gaussians");
  for (int32_t a : L.row_anchor) FF_CHECK(a >= 0 && a < L.A, r.what, ": layout/row_anchor holds ", a, " (A = ", L.A, ")");
  // identities: positions give N and the reference surface (μ_scale's init, overwritten by the stored values)
  const Tensor xyz = r.weight("param/", "xyz").to(DType::F32);
  FF_CHECK(xyz.dim() == 3 && xyz.shape()[1] == L.G && xyz.shape()[2] == 3 && xyz.shape()[0] > 0, r.what, ": xyz has shape ",
           xyz.shape(), ", expected [N,", L.G, ",3]");
  const int N = int(xyz.shape()[0]);
  const std::vector<float> all = xyz.to_vector<float>();
  std::vector<std::vector<float>> init(static_cast<size_t>(N));
  std::vector<float> ref(size_t(L.G) * 3, 0.f);
  for (int s = 0; s < N; ++s) {
    init[size_t(s)].assign(all.begin() + size_t(s) * L.G * 3, all.begin() + size_t(s + 1) * L.G * 3);
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += init[size_t(s)][i] / float(N);
  }
  mf.model = std::make_unique<IdentityModel>(ctx, tc.model, L, init, ref, device);
  for (auto& p : mf.model->named_parameters()) {
    const Tensor& src = r.weight("param/", p.name);
    FF_CHECK(src.shape() == p.tensor.shape(), r.what, ": '", p.name, "' has shape ", src.shape(), ", the model ",
             p.tensor.shape());
    p.tensor.copy_(src.to(p.tensor.dtype()).to(p.tensor.device()));
  }
  for (auto& b : mf.model->named_buffers()) {
    const Tensor& src = r.weight("buffer/", b.name);
    FF_CHECK(src.shape() == b.tensor.shape(), r.what, ": '", b.name, "' has shape ", src.shape(), ", the model ",
             b.tensor.shape());
    b.tensor.copy_(src.to(b.tensor.dtype()).to(b.tensor.device()));
  }
  // a well-formed file with NaN/Inf values would render garbage without a word: refused, naming the tensor
  for (auto& p : mf.model->named_parameters()) check_finite(p.tensor, p.name, path);
  for (auto& b : mf.model->named_buffers()) check_finite(b.tensor, b.name, path);
  // names, cameras, head model
  mf.names = split_lines(tensor_text(r.get("names")));
  mf.names.resize(size_t(N));
  mf.cameras.resize(size_t(N));
  const std::vector<int32_t> id = r.get("cameras/identity").to_vector<int32_t>();
  const std::vector<int32_t> size = r.get("cameras/size").to_vector<int32_t>();
  const std::vector<double> V = r.get("cameras/viewmat").to_vector<double>(), K = r.get("cameras/intrinsics").to_vector<double>();
  std::vector<std::string> cn = split_lines(tensor_text(r.get("cameras/names")));
  FF_CHECK(size.size() == 2 * id.size() && V.size() == 16 * id.size() && K.size() == 4 * id.size(), r.what,
           ": camera records disagree in count");
  cn.resize(id.size());
  for (size_t c = 0; c < id.size(); ++c) {
    FF_CHECK(id[c] >= 0 && id[c] < N, r.what, ": camera ", c, " belongs to identity ", id[c], " (", N, " identities)");
    Camera cam;
    cam.name = cn[c];
    cam.width = size[2 * c], cam.height = size[2 * c + 1];
    FF_CHECK(cam.width > 0 && cam.height > 0, r.what, ": camera ", c, " has size ", cam.width, "x", cam.height);
    std::copy(V.begin() + long(16 * c), V.begin() + long(16 * c + 16), cam.viewmat.begin());
    std::copy(K.begin() + long(4 * c), K.begin() + long(4 * c + 4), cam.intrinsics.begin());
    mf.cameras[size_t(id[c])].push_back(cam);
  }
  mf.head.spec = tensor_text(r.get("head/spec"));
  mf.head.content_id = tensor_text(r.get("head/content_id"));
  return mf;
}

ffrt::Pack model_pack(const IdentityModel& model, const std::vector<std::string>& all_names,
                      const std::vector<std::vector<Camera>>& all_cameras, const HeadModelRef& head,
                      const std::vector<int>& subset) {
  std::vector<int> ids = subset;
  if (ids.empty())
    for (int i = 0; i < model.num_subjects(); ++i) ids.push_back(i);
  for (int i : ids)
    FF_CHECK(i >= 0 && i < model.num_subjects(), "model_pack: identity ", i, " out of range (", model.num_subjects(),
             " identities)");
  Context& ctx = model.ctx();
  ffrt::Pack p;
  p.kind = ffrt::kPackModel;
  // per-identity rows: codes, xyz
  const Tensor idx = from_vector<int64_t>(ctx, std::vector<int64_t>(ids.begin(), ids.end()), {int64_t(ids.size())},
                                          model.device());
  for (auto& np : model.named_parameters()) {
    Tensor t = np.tensor.detach();
    if (np.name == "codes" || np.name == "xyz") t = index_select(t, 0, idx);
    p.arrays.push_back(tensor_array(np.name, t.to(DType::F32)));
  }
  for (auto& nb : model.named_buffers()) p.arrays.push_back(tensor_array(nb.name, nb.tensor.to(DType::F32)));
  std::vector<std::string> names;
  std::vector<std::vector<Camera>> cams;
  for (int i : ids) {
    names.push_back(size_t(i) < all_names.size() ? all_names[size_t(i)] : "");
    cams.push_back(size_t(i) < all_cameras.size() ? all_cameras[size_t(i)] : std::vector<Camera>());
  }
  for (auto& [n, t] : model_records(ctx, model, names, cams, head)) p.arrays.push_back(tensor_array(n, t));
  const ModelConfig& c = model.config();
  const SurfaceLayout& L = model.layout();
  p.meta = json{{"format", "facefield identity pack"}, {"kind", "model"}, {"identities", ids.size()},
                {"gaussians", L.G}, {"placement", L.placement}, {"code_dim", c.code_dim}, {"z_dim", c.z_dim},
                {"feat_dim", c.feat_dim}, {"tex_res", c.tex_res}, {"K", c.K}, {"hidden", c.hidden},
                {"head_model", head.spec}}
               .dump();
  return p;
}

flame::FlameModel find_head_model(const ModelFile& m, const std::string& override_spec) {
  FF_CHECK(!m.head.spec.empty(), "model file '", m.path, "' was trained on surfaces that come from no head model ",
           "(e.g. the toy scene): it cannot be fitted to a photo");
  std::string spec = m.head.spec;
  const char* env = std::getenv("FF_HEAD_MODEL");
  if (!override_spec.empty()) spec = override_spec;
  else if (env && *env) spec = env;
  if (!flame::is_builtin_model_name(spec) && !fs::exists(spec)) {
    // a FLAME file named by its file name: look next to FF_HEAD_MODEL and in FF_FLAME_DIR
    std::vector<fs::path> dirs;
    if (env && *env) dirs.push_back(fs::path(env).parent_path());
    if (const char* d = std::getenv("FF_FLAME_DIR")) dirs.push_back(d);
    for (const auto& d : dirs)
      if (fs::exists(d / fs::path(spec).filename())) {
        spec = (d / fs::path(spec).filename()).string();
        break;
      }
    FF_CHECK(fs::exists(spec), "model file '", m.path, "' was trained on the head model '", m.head.spec,
             "', which is not here: pass its file (--head_model FILE, or FF_HEAD_MODEL=FILE, or FF_FLAME_DIR=DIR)");
  }
  flame::FlameModel hm = flame::load_head_model(spec);
  const std::string id = flame::head_model_content_id(hm);
  FF_CHECK(m.head.content_id.empty() || id == m.head.content_id, "head model '", spec, "' (content id ", id,
           ") is not the one model file '", m.path, "' was trained on ('", m.head.spec, "', content id ",
           m.head.content_id, ")");
  return hm;
}

}  // namespace ff::train
