// apps/common/code_file.cpp — fit.json parsed (see code_file.h).
#include "apps/common/code_file.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/check.h"

namespace ff::apps {
namespace {

using json = nlohmann::json;

double number_at(const json& v, const std::string& path, const std::string& key) {
  FF_CHECK(v.is_number(), "code file '", path, "': \"", key, "\" must be a number, got ", v.type_name());
  const double d = v.get<double>();
  FF_CHECK(std::isfinite(d), "code file '", path, "': \"", key, "\" must be finite");
  return d;
}

// an optional member of the "camera" object: 0 when absent
double camera_number(const json& k, const std::string& path, const char* key) {
  return k.contains(key) ? number_at(k[key], path, std::string("camera.") + key) : 0.0;
}

int camera_size(const json& k, const std::string& path, const char* key) {
  const double d = camera_number(k, path, key);
  FF_CHECK(d == std::floor(d) && d >= 0 && d <= 1 << 20, "code file '", path, "': \"camera.", key,
           "\" must be a whole number of pixels in [0, 1048576], got ", d);
  return int(d);
}

}  // namespace

CodeFile parse_code_file(const std::string& text, const std::string& path, int code_dim, int num_gaussians) {
  CodeFile cf;
  cf.path = path;
  json j = json::parse(text, nullptr, false);
  FF_CHECK(!j.is_discarded() && j.is_object(), "code file '", path, "' is not a JSON object");
  const json* c = j.contains("code") ? &j["code"] : nullptr;
  FF_CHECK(c && c->is_array(), "code file '", path, "' has no \"code\" array (fit_image's fit.json has one)");
  for (auto& v : *c) cf.code.push_back(float(number_at(v, path, "code[]")));
  FF_CHECK(code_dim < 0 || int(cf.code.size()) == code_dim, "code file '", path, "' has a code of ", cf.code.size(),
           " values; the model's codes have ", code_dim);
  if (j.contains("viewmat") && j.contains("camera") && j["viewmat"].is_array() && j["viewmat"].size() == 16 &&
      j["camera"].is_object()) {
    for (size_t i = 0; i < 16; ++i) cf.camera.viewmat[i] = number_at(j["viewmat"][i], path, "viewmat[]");
    const json& k = j["camera"];
    cf.camera.intrinsics = {camera_number(k, path, "fx"), camera_number(k, path, "fy"), camera_number(k, path, "cx"),
                            camera_number(k, path, "cy")};
    cf.camera.width = camera_size(k, path, "width"), cf.camera.height = camera_size(k, path, "height");
    cf.has_camera = cf.camera.fx() > 0 && cf.camera.fy() > 0 && cf.camera.width > 0 && cf.camera.height > 0;
  }
  if (j.contains("photo_pose")) {
    const json& pp = j["photo_pose"];
    FF_CHECK(pp.is_object() && pp.contains("expression") && pp["expression"].is_array() && pp.contains("pose") &&
                 pp["pose"].is_array(),
             "code file '", path, "': \"photo_pose\" must be an object with \"expression\" and \"pose\" arrays");
    FF_CHECK(pp["pose"].size() == cf.pose.pose.size(), "code file '", path, "': \"photo_pose.pose\" has ",
             pp["pose"].size(), " values, expected ", cf.pose.pose.size(), " (axis-angle of 5 joints)");
    for (size_t i = 0; i < cf.pose.pose.size(); ++i) cf.pose.pose[i] = number_at(pp["pose"][i], path, "photo_pose.pose[]");
    for (auto& v : pp["expression"]) cf.pose.expression.push_back(number_at(v, path, "photo_pose.expression[]"));
    cf.has_pose = true;
  }
  if (j.contains("positions") && j["positions"].is_array() &&
      j["positions"].size() == 3 * size_t(std::max(num_gaussians, 0))) {
    for (auto& v : j["positions"]) cf.xyz.push_back(float(number_at(v, path, "positions[]")));
  }
  return cf;
}

}  // namespace ff::apps
