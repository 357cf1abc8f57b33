// tests/train/test_motion.cpp — motion sources (train/motion.h): procedural motions, the CSV format (read, write,
// refusals naming the file, line and column), NeRSemble tracking .npz (relative rigid motion, expression trimming,
// refusal of a broken file).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/file.h"
#include "flame/headmodel.h"
#include "train/data/nersemble.h"
#include "train/motion.h"

using namespace ff;

namespace {
std::string temp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("ff_test_motion_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}
}  // namespace

TEST_CASE("motion: procedural talk, smile, look_around on the built-in head") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  for (const std::string& n : train::procedural_motion_names()) {
    CAPTURE(n);
    const train::Motion m = train::procedural_motion(n, hm, 24);
    REQUIRE(m.frames.size() == 24);
    double moved = 0;
    for (const auto& p : m.frames) {
      for (double v : p.expression) CHECK(std::isfinite(v));
      for (double v : p.pose) moved = std::max(moved, std::abs(v));
      for (double v : p.expression) moved = std::max(moved, std::abs(v));
    }
    CHECK(moved > 0.05);
  }
  const int smile = flame::builtin_expression_index("smile");
  CHECK(train::procedural_motion("smile", hm, 8).frames[4].expression[size_t(smile)] == doctest::Approx(1.0));
  double jaw = 0;
  for (const auto& p : train::procedural_motion("talk", hm, 30).frames) jaw = std::max(jaw, p.pose[3 * flame::kJaw]);
  CHECK(jaw > 0.1);
  CHECK_THROWS_WITH(train::load_motion("dance", hm, 10), doctest::Contains("talk, smile, look_around"));
  CHECK_THROWS_WITH(train::procedural_motion("talk", hm, 0), doctest::Contains("frames"));
}

TEST_CASE("motion: CSV columns, comments, and a write/read round trip") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  const train::Motion m = train::parse_motion_csv(
      "# a comment\nframe, smile, expr_3, jaw_x, neck_y, right_eye_z, rot_y, trans_z\n\n0, 0.5, 0.25, 0.1, -0.2, 0.01, 0, 0.02\n"
      "1,1,0,0,0,0,0.3,0\r\n",
      "m.csv", hm);
  REQUIRE(m.frames.size() == 2);
  const auto& p = m.frames[0];
  CHECK(p.expression[size_t(flame::builtin_expression_index("smile"))] == 0.5);
  CHECK(p.expression[3] == 0.25);
  CHECK(p.pose[3 * flame::kJaw] == 0.1);
  CHECK(p.pose[3 * flame::kNeck + 1] == -0.2);
  CHECK(p.pose[3 * flame::kRightEye + 2] == 0.01);
  CHECK(p.translation[2] == 0.02);
  CHECK(p.rotation[0] == 1.0);
  CHECK(m.frames[1].rotation[0] == doctest::Approx(std::cos(0.3)));   // rot_y 0.3
  CHECK(m.frames[1].rotation[2] == doctest::Approx(std::sin(0.3)));

  const train::Motion talk = train::procedural_motion("look_around", hm, 12);
  train::Motion withrot = talk;
  withrot.frames[3] = m.frames[1];
  const train::Motion back = train::parse_motion_csv(train::motion_csv(withrot), "back.csv", hm);
  REQUIRE(back.frames.size() == withrot.frames.size());
  for (size_t f = 0; f < back.frames.size(); ++f) {
    const auto &a = withrot.frames[f], &b = back.frames[f];
    for (size_t k = 0; k < a.expression.size(); ++k) CHECK(b.expression[k] == a.expression[k]);
    for (size_t k = 0; k < 15; ++k) CHECK(b.pose[k] == a.pose[k]);
    for (size_t k = 0; k < 9; ++k) CHECK(b.rotation[k] == doctest::Approx(a.rotation[k]).epsilon(1e-14));
    for (size_t k = 0; k < 3; ++k) CHECK(b.translation[k] == a.translation[k]);
  }
  // a file on disk
  const std::string dir = temp_dir(), path = dir + "/talk.csv";
  train::write_motion_csv(path, talk);
  CHECK(train::load_motion(path, hm, 1).frames.size() == 12);
  std::filesystem::remove_all(dir);
}

TEST_CASE("motion: bad CSV input is refused naming the file, line and column") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  auto refuses = [&](const std::string& text, const std::string& needle) {
    CAPTURE(text);
    CHECK_THROWS_WITH(train::parse_motion_csv(text, "bad.csv", hm), doctest::Contains("bad.csv"));
    CHECK_THROWS_WITH(train::parse_motion_csv(text, "bad.csv", hm), doctest::Contains(needle.c_str()));
  };
  refuses("", "empty");
  refuses("# only a comment\n", "empty");
  refuses("jaw_x,neck_x\n", "no rows");
  refuses("jaw_x,wobble\n0,0\n", "unknown column 'wobble'");
  refuses("jaw_x,jaw_x\n0,0\n", "appears twice");
  refuses("jaw_x,neck_x\n0,0\n1\n", "line 3");
  refuses("jaw_x,neck_x\n0,zero\n", "column 2");
  refuses("jaw_x,neck_x\n0,nan\n", "not a finite number");
  refuses("jaw_x,\n0,0\n", "empty column name");
  refuses("expr_14\n0\n", "14 expression components");
  refuses("jaw_w\n0\n", "unknown column");
  CHECK_THROWS_WITH(train::read_motion_csv("/nonexistent/m.csv", hm), doctest::Contains("/nonexistent/m.csv"));
  CHECK_THROWS_WITH(train::load_motion("m.bvh", hm, 1), doctest::Contains(".npz"));
}

TEST_CASE("motion: NeRSemble tracking npz — tracked joints, relative rigid motion, trimmed expression, refusals") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  data::FlameTracking tr;
  tr.T = 3;
  tr.E = 20;
  tr.shape.assign(10, 0.5);
  tr.expression.assign(size_t(tr.T) * size_t(tr.E), 0.0);
  tr.expression[1] = 0.5f;
  tr.expression[size_t(tr.E) * 2 + 17] = 0.25f;  // beyond the built-in model's 14
  tr.rotation = {0.1, 0.2, 0.0, 0.1, 0.4, 0.0, -0.2, 0.2, 0.1};
  tr.translation = {0.0, 0.01, 0.5, 0.02, 0.01, 0.5, 0.0, 0.0, 0.6};
  tr.jaw.assign(9, 0.0);
  tr.jaw[3] = 0.125;
  tr.neck.assign(9, 0.0);
  tr.neck[7] = -0.25;
  tr.eyes.assign(18, 0.0);
  tr.eyes[6 + 4] = 0.0625;
  tr.scale = 1.0;
  tr.frames = {0, 1, 2};
  const std::string dir = temp_dir(), path = dir + "/tracked_flame_params.npz";
  data::write_tracking(path, tr);
  const train::Motion m = train::load_motion(path, hm, 1);
  REQUIRE(m.frames.size() == 3);
  CHECK(m.frames[0].expression.size() == size_t(hm.E));
  CHECK(m.frames[0].expression[1] == 0.5);
  CHECK(m.frames[1].pose[3 * flame::kJaw] == 0.125);
  CHECK(m.frames[2].pose[3 * flame::kNeck + 1] == -0.25);
  CHECK(m.frames[1].pose[3 * flame::kRightEye + 1] == 0.0625);
  REQUIRE(m.warnings.size() == 1);
  CHECK(m.warnings[0].find("the first 14") != std::string::npos);
  // frame 0 is the canonical pose; frame 1 turned by the difference of the tracked rotations
  for (int i = 0; i < 9; ++i) CHECK(m.frames[0].rotation[size_t(i)] == (i % 4 == 0 ? 1.0 : 0.0));
  for (double t : m.frames[0].translation) CHECK(t == 0.0);
  const auto R0 = data::euler_xyz_to_matrix(tr.rotation.data()), R1 = data::euler_xyz_to_matrix(tr.rotation.data() + 3);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double ref = 0;
      for (int k = 0; k < 3; ++k) ref += R0[size_t(3 * k + i)] * R1[size_t(3 * k + j)];
      CHECK(m.frames[1].rotation[size_t(3 * i + j)] == doctest::Approx(ref).epsilon(1e-6));
    }
  // broken files are refused naming them
  const std::string broken = dir + "/broken.npz";
  {
    std::string bytes = read_file(path);
    write_file_atomic(broken, bytes.substr(0, bytes.size() / 2));
  }
  CHECK_THROWS_WITH(train::load_motion(broken, hm, 1), doctest::Contains("broken.npz"));
  write_file_atomic(broken, std::string("not a zip at all"));
  CHECK_THROWS_WITH(train::load_motion(broken, hm, 1), doctest::Contains("broken.npz"));
  std::filesystem::remove_all(dir);
}
