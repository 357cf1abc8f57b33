// tests/train/test_model_file.cpp — self-contained model files (train/model_file.h): a checkpoint and a model pack
// load without the Trainer or the dataset and decode exactly as the trained model; cameras, names, layout and head
// model survive; a pre-change checkpoint is refused with the upgrade command; the head model is checked by content
// id; upgrade_model's path (old checkpoint + dataset → new checkpoint) gives the same model.
#include <doctest/doctest.h>

#include <filesystem>

#include "flame/headmodel.h"
#include "runtime/include/facefield.hpp"
#include "tests/train/train_test_util.h"
#include "train/checkpoint.h"
#include "train/model_file.h"

using namespace ff;
namespace fs = std::filesystem;

namespace {

std::vector<float> decoded_colors(train::IdentityModel& m, int s) {
  NoGrad ng(m.ctx());
  Tensor idx = from_vector<int64_t>(m.ctx(), {int64_t(s)}, {1});
  return m.decode(m.code_rows(idx)).colors.to(DType::F32).to_vector<float>();
}

// a toy dataset that says which head model made its meshes (as the NeRSemble adapter does)
struct HeadedScene : train::InMemoryDataset {
  train::HeadModelRef ref;
  train::HeadModelRef head_model() const override { return ref; }
};

void check_same_model(train::IdentityModel& a, train::IdentityModel& b) {
  REQUIRE(a.num_subjects() == b.num_subjects());
  CHECK(a.layout().G == b.layout().G);
  CHECK(a.layout().placement == b.layout().placement);
  CHECK(a.layout().row_uv == b.layout().row_uv);
  CHECK(a.layout().row_anchor == b.layout().row_anchor);
  CHECK(a.layout().tri == b.layout().tri);
  CHECK(a.layout().bary == b.layout().bary);
  auto pa = a.named_parameters(), pb = b.named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].name);
    CHECK(pa[i].name == pb[i].name);
    CHECK(pa[i].tensor.to(DType::F32).to_vector<float>() == pb[i].tensor.to(DType::F32).to_vector<float>());
  }
  for (int s = 0; s < a.num_subjects(); ++s) CHECK(decoded_colors(a, s) == decoded_colors(b, s));
}

}  // namespace

TEST_CASE("model file: a checkpoint and its model pack load with no dataset and decode as the trained model") {
  for (const char* placement : {"uv", "seed"}) {
    CAPTURE(placement);
    Context ctx(3, 2);
    const std::string dir = testing::temp_dir(std::string("modelfile_") + placement);
    auto base = testing::tiny_scene(3, 4);
    auto ds = std::make_shared<HeadedScene>();
    static_cast<train::InMemoryDataset&>(*ds) = *base;
    ds->ref = {"builtin", "0123456789abcdef"};
    train::TrainConfig cfg = testing::tiny_train(dir + "/run");
    cfg.model.placement = placement;
    cfg.steps = 3;
    train::Trainer tr(ctx, cfg, ds, nullptr);
    for (int i = 0; i < 3; ++i) tr.step();
    const std::string ck = dir + "/m.ffck";
    tr.save_checkpoint(ck);
    base.reset();  // nothing below can reach the dataset

    train::ModelFile mf = train::load_model_file(ctx, ck);
    check_same_model(tr.model(), *mf.model);
    CHECK(mf.step == 3);
    CHECK(mf.head.spec == "builtin");
    CHECK(mf.head.content_id == "0123456789abcdef");
    REQUIRE(mf.names.size() == 3);
    CHECK(mf.names[1] == ds->subject_name(1));
    REQUIRE(mf.cameras.size() == 3);
    REQUIRE(mf.cameras[2].size() == 4);
    const Camera& c = mf.cameras[2][3];
    const Camera& want = ds->camera(2, 3);
    CHECK(c.viewmat == want.viewmat);
    CHECK(c.intrinsics == want.intrinsics);
    CHECK(c.width == want.width);
    CHECK(c.name == want.name);
    CHECK_FALSE(mf.train_config_json.empty());

    // the model pack holds the same (subset → those identities, their cameras and names)
    ffrt::write_pack(dir + "/m.ffpk", train::model_pack(mf, {2, 0}));
    train::ModelFile pk = train::load_model_file(ctx, dir + "/m.ffpk");
    REQUIRE(pk.model->num_subjects() == 2);
    CHECK(pk.names[0] == mf.names[2]);
    CHECK(pk.names[1] == mf.names[0]);
    CHECK(pk.cameras[0].size() == 4);
    CHECK(pk.cameras[0][3].viewmat == c.viewmat);
    CHECK(pk.head.content_id == mf.head.content_id);
    CHECK(pk.step == -1);
    CHECK(decoded_colors(*pk.model, 0) == decoded_colors(*mf.model, 2));
    CHECK(decoded_colors(*pk.model, 1) == decoded_colors(*mf.model, 0));
    // the runtime opens the checkpoint and the pack directly, with the identities' names
    for (const std::string& f : {ck, dir + "/m.ffpk"}) {
      facefield::Runtime rt;
      rt.open_file(f, 1);
      CHECK(rt.name(0) == (f == ck ? mf.names[0] : mf.names[2]));
    }
    // the whole pack (no subset) is the same model
    ffrt::write_pack(dir + "/all.ffpk", train::model_pack(mf));
    train::ModelFile all = train::load_model_file(ctx, dir + "/all.ffpk");
    check_same_model(*mf.model, *all.model);
    fs::remove_all(dir);
  }
}

TEST_CASE("model file: a checkpoint from before self-contained files is refused with the upgrade command") {
  Context ctx(0, 1);
  const std::string dir = testing::temp_dir("modelfile_old");
  train::TrainConfig cfg = testing::tiny_train(dir + "/run");
  auto ds = testing::tiny_scene(2, 2);
  train::Trainer tr(ctx, cfg, ds, nullptr);
  // what an older facefield wrote: parameters, buffers, Adam state and only the row layout
  train::Checkpoint ck;
  ck.config_json = train::config_to_json(cfg);
  for (auto& p : tr.model().named_parameters()) ck.tensors.emplace_back("param/" + p.name, p.tensor);
  for (auto& b : tr.model().named_buffers()) ck.tensors.emplace_back("buffer/" + b.name, b.tensor);
  const auto& L = tr.model().layout();
  ck.tensors.emplace_back("layout/row_uv", from_vector<float>(ctx, L.row_uv, {int64_t(L.rows), 2}));
  train::write_checkpoint(dir + "/old.ffck", ck);
  CHECK_THROWS_WITH_AS(train::load_model_file(ctx, dir + "/old.ffck"), doctest::Contains("upgrade_model --model"),
                       ff::Error);
  // not a model file at all / missing / a directory
  write_file_atomic(dir + "/x.txt", std::string("hello world, not a model"));
  CHECK_THROWS_WITH_AS(train::load_model_file(ctx, dir + "/x.txt"), doctest::Contains("neither"), ff::Error);
  CHECK_THROWS_WITH_AS(train::load_model_file(ctx, dir + "/none.ffck"), doctest::Contains("does not exist"), ff::Error);
  CHECK_THROWS_WITH_AS(train::load_model_file(ctx, dir), doctest::Contains("not a regular file"), ff::Error);
  // a pack of one identity's decoded Gaussians is no model
  ffrt::GaussianSet g;
  g.resize(2);
  for (auto& q : g.rotations) q = 1;
  ffrt::write_pack(dir + "/g.ffpk", ffrt::pack_from_gaussians(g));
  CHECK_THROWS_WITH_AS(train::load_model_file(ctx, dir + "/g.ffpk"), doctest::Contains("decoded Gaussians"), ff::Error);
  fs::remove_all(dir);
}

TEST_CASE("model file: the head model is found by name and checked by content id") {
  Context ctx(0, 1);
  const flame::FlameModel& b = flame::builtin_head_model_ref();
  const std::string id = flame::head_model_content_id(b);
  CHECK(id.size() == 16);
  CHECK(id == flame::head_model_content_id(flame::load_head_model("builtin")));  // stable
  flame::FlameModel moved = b;
  moved.v_template[0] += 1e-9;
  CHECK(flame::head_model_content_id(moved) != id);
  train::ModelFile mf;
  mf.path = "m.ffck";
  mf.head = {"builtin", id};
  CHECK(train::find_head_model(mf).V == b.V);
  mf.head.content_id = "ffffffffffffffff";
  CHECK_THROWS_WITH_AS(train::find_head_model(mf), doctest::Contains("is not the one"), ff::Error);
  mf.head = {"", ""};
  CHECK_THROWS_WITH_AS(train::find_head_model(mf), doctest::Contains("no head model"), ff::Error);
  mf.head = {"flame2023.pkl", "0000000000000000"};
  if (!std::getenv("FF_HEAD_MODEL") && !std::getenv("FF_FLAME_DIR"))
    CHECK_THROWS_WITH_AS(train::find_head_model(mf), doctest::Contains("FF_FLAME_DIR"), ff::Error);
}
