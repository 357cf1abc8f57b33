// tests/apps/test_code_file.cpp — apps/common/code_file.h: fit.json parsed; every error names the file and the key.
#include <doctest/doctest.h>

#include <string>

#include "apps/common/code_file.h"
#include "core/check.h"

using ff::apps::parse_code_file;

TEST_CASE("code file: a fit.json with code, camera and positions") {
  const std::string j =
      R"({"code":[0.5,-1],"viewmat":[1,0,0,0,0,1,0,0,0,0,1,2,0,0,0,1],)"
      R"("camera":{"fx":500,"fy":510,"cx":128,"cy":120,"width":256,"height":240},"positions":[0,0,0,1,2,3]})";
  ff::apps::CodeFile cf = parse_code_file(j, "fit.json", 2, 2);
  CHECK(cf.code == std::vector<float>{0.5f, -1.f});
  CHECK(cf.has_camera);
  CHECK(cf.camera.width == 256);
  CHECK(cf.camera.fy() == 510);
  CHECK(cf.xyz.size() == 6);
  // positions of another model's size are ignored
  CHECK(parse_code_file(j, "fit.json", 2, 5).xyz.empty());
}

TEST_CASE("code file: wrong JSON types name the file and the key") {
  CHECK_THROWS_WITH_AS(parse_code_file(R"({"code":["a",2]})", "me/fit.json", 2, 1),
                       doctest::Contains("code file 'me/fit.json': \"code[]\" must be a number, got string"), ff::Error);
  CHECK_THROWS_WITH_AS(parse_code_file(R"({"code":[1,2],"viewmat":[1,0,0,0,0,1,0,0,0,0,1,2,0,0,0,1],"camera":{"fx":"500"}})",
                                       "me/fit.json", 2, 1),
                       doctest::Contains("\"camera.fx\" must be a number"), ff::Error);
  CHECK_THROWS_WITH_AS(parse_code_file(R"({"code":[1,2],"viewmat":[1,0,0,0,0,1,0,0,0,0,1,2,0,0,0,1],"camera":{"width":12.5}})",
                                       "me/fit.json", 2, 1),
                       doctest::Contains("\"camera.width\" must be a whole number"), ff::Error);
  CHECK_THROWS_WITH_AS(parse_code_file(R"({"code":[1,2],"positions":[0,0,"x",1,1,1]})", "me/fit.json", 2, 2),
                       doctest::Contains("\"positions[]\" must be a number"), ff::Error);
  CHECK_THROWS_WITH_AS(parse_code_file("[1,2]", "me/fit.json", 2, 2), doctest::Contains("is not a JSON object"), ff::Error);
  CHECK_THROWS_WITH_AS(parse_code_file(R"({"code":[1,2,3]})", "me/fit.json", 2, 2),
                       doctest::Contains("has a code of 3 values; the model's codes have 2"), ff::Error);
}

TEST_CASE("code file: fit_image's photo_pose (the photo's expression and jaw) is read; a malformed one is refused") {
  const std::string j = R"({"code":[1,2],"photo_pose":{"expression":[0.5,-0.25],"pose":[0,0,0,0,0,0,0.2,0,0,0,0,0,0,0,0]}})";
  ff::apps::CodeFile cf = parse_code_file(j, "fit.json", 2, 2);
  REQUIRE(cf.has_pose);
  CHECK(cf.pose.expression == std::vector<double>{0.5, -0.25});
  CHECK(cf.pose.pose[6] == 0.2);
  CHECK_FALSE(cf.pose.is_neutral());
  CHECK_FALSE(parse_code_file(R"({"code":[1,2]})", "fit.json", 2, 2).has_pose);
  CHECK_THROWS_WITH_AS(parse_code_file(R"({"code":[1,2],"photo_pose":{"expression":[],"pose":[0,0,0]}})", "me/fit.json", 2, 2),
                       doctest::Contains("\"photo_pose.pose\" has 3 values, expected 15"), ff::Error);
  CHECK_THROWS_WITH_AS(parse_code_file(R"({"code":[1,2],"photo_pose":[1]})", "me/fit.json", 2, 2),
                       doctest::Contains("\"photo_pose\" must be an object"), ff::Error);
  CHECK_THROWS_WITH_AS(parse_code_file(R"({"code":[1,2],"photo_pose":{"expression":["x"],"pose":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}})",
                                       "me/fit.json", 2, 2),
                       doctest::Contains("\"photo_pose.expression[]\" must be a number"), ff::Error);
}
