// tests/apps/test_animator.cpp — apps/common/animator.h on a small model built on the built-in head model: the neutral
// frame renders exactly like the static identity (bitwise), an open jaw changes the lower face and not the rest,
// a model file without a head-model layout is refused.
#include <doctest/doctest.h>

#include <filesystem>

#include <unistd.h>

#include "apps/common/animator.h"
#include "core/check.h"
#include "flame/headmodel.h"
#include "train/data/preprocess.h"
#include "tests/train/train_test_util.h"
#include "train/model_file.h"

using namespace ff;


TEST_CASE("animator: neutral frame renders like the static identity, the jaw moves the lower face") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  // two identities on the built-in head (random shapes), a model pack naming the head model
  std::vector<flame::Mesh> faces;
  data::PreprocessOptions po;
  po.subdivisions = 0;
  for (int s = 0; s < 2; ++s) {
    std::vector<double> beta(8);
    for (int i = 0; i < 8; ++i) beta[size_t(i)] = std::sin(1.3 * i + 2.0 * s);
    flame::FlameInput<double> in;
    in.n_shape = 8;
    in.shape = beta.data();
    flame::FlameOutput<double> out;
    flame::flame_fwd(hm, in, out, nullptr, 1);
    faces.push_back(data::build_head_meshes(hm, out.vertices, po).facemask[0]);
  }
  Context ctx(1, 2);
  const train::ModelConfig cfg = testing::tiny_model();
  const train::SurfaceLayout lay = train::build_layout(faces, cfg);
  std::vector<std::vector<float>> xyz = {lay.place(faces[0]), lay.place(faces[1])};
  std::vector<float> ref(xyz[0].size());
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = 0.5f * (xyz[0][i] + xyz[1][i]);
  train::IdentityModel model(ctx, cfg, lay, xyz, ref);
  const auto dir = std::filesystem::temp_directory_path() / ("ff_test_animator_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "m.ffpk").string();
  ffrt::write_pack(path, train::model_pack(model, {"a", "b"}, {}, {"builtin", flame::head_model_content_id(hm)}));

  auto m = apps::open_model(ctx, path, 2);
  const flame::FlameModel head = train::find_head_model(m->file);
  const apps::Animator anim(*m, head, m->rt.code(1), m->rt.positions(1), 2);
  const Camera cam = frontal_camera(anim.neutral_means(), 96, 96);
  const float bg[3] = {0, 0, 0};
  const auto still = m->rt.render(m->rt.identity(1), runtime_camera(cam), bg);
  const auto neutral = m->rt.render(anim.pose(train::RigPose{}), runtime_camera(cam), bg);
  CHECK(neutral == still);

  train::RigPose jaw;
  jaw.pose[3 * flame::kJaw] = 0.3;
  const auto open = m->rt.render(anim.pose(jaw), runtime_camera(cam), bg);
  // rows that changed: some in the lower half, none in the top quarter
  int changed_low = 0, changed_top = 0;
  for (int y = 0; y < cam.height; ++y)
    for (int x = 0; x < cam.width; ++x) {
      const size_t i = 4 * (size_t(y) * size_t(cam.width) + size_t(x));
      if (std::abs(int(open[i]) - int(still[i])) + std::abs(int(open[i + 1]) - int(still[i + 1])) > 6) {
        if (y >= cam.height / 2) ++changed_low;
        if (y < cam.height / 4) ++changed_top;
      }
    }
  CHECK(changed_low > 20);
  CHECK(changed_top == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("animator: load_app_motion: 'photo' holds a code file's photo_pose, others are train/motion.h's; stride") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  train::RigPose photo;
  photo.expression = {0.0, 0.7};
  photo.pose[3 * flame::kJaw] = 0.15;
  const train::Motion p = apps::load_app_motion("photo", hm, 5, 2, &photo);
  REQUIRE(p.frames.size() == 3);  // frames 0, 2, 4
  for (const train::RigPose& f : p.frames) {
    CHECK(f.expression == photo.expression);
    CHECK(f.pose == photo.pose);
  }
  CHECK_THROWS_WITH_AS(apps::load_app_motion("photo", hm, 5, 1, nullptr), doctest::Contains("photo_pose"), ff::Error);
  const train::Motion talk = apps::load_app_motion("talk", hm, 12, 1, nullptr);
  const train::Motion talk3 = apps::load_app_motion("talk", hm, 12, 3, nullptr);
  REQUIRE(talk.frames.size() == 12);
  REQUIRE(talk3.frames.size() == 4);
  CHECK(talk3.frames[1].pose == talk.frames[3].pose);
  CHECK(talk3.frames[1].expression == talk.frames[3].expression);
}
