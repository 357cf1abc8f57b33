// train/motion.cpp — motion sources (train/motion.h).
#include "train/motion.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "core/check.h"
#include "core/file.h"
#include "flame/headmodel.h"
#include "runtime/binding.h"
#include "train/data/nersemble.h"

namespace ff::train {
namespace {

constexpr double kPi = 3.14159265358979323846;
const char* const kJointNames[5] = {"global", "neck", "jaw", "left_eye", "right_eye"};

// axis-angle (radians) → row-major rotation
std::array<double, 9> rotation_from_axis_angle(const double r[3]) {
  std::array<double, 9> R{};
  const double th = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  if (th == 0) return {1, 0, 0, 0, 1, 0, 0, 0, 1};
  const double k[3] = {r[0] / th, r[1] / th, r[2] / th}, c = std::cos(th), s = std::sin(th);
  const double K[9] = {0, -k[2], k[1], k[2], 0, -k[0], -k[1], k[0], 0};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double kk = 0;
      for (int m = 0; m < 3; ++m) kk += K[3 * i + m] * K[3 * m + j];
      R[size_t(3 * i + j)] = (i == j ? 1.0 : 0.0) + s * K[3 * i + j] + (1 - c) * kk;
    }
  return R;
}

// rotation → axis-angle (through runtime/binding.h's quaternion; angle in [0, π])
std::array<double, 3> axis_angle_from_rotation(const std::array<double, 9>& R) {
  double q[4];
  ffrt::binding::rotation_to_quat(R.data(), q);
  if (q[0] < 0)
    for (double& v : q) v = -v;
  const double n = std::sqrt(q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  if (n == 0) return {0, 0, 0};
  const double th = 2 * std::atan2(n, q[0]);
  return {q[1] / n * th, q[2] / n * th, q[3] / n * th};
}

// the built-in head model (named expressions), recognised by content
bool is_builtin(const flame::FlameModel& model) {
  static const std::string id = flame::head_model_content_id(flame::builtin_head_model_ref());
  return model.V == flame::kBuiltinVertices && model.E == flame::kBuiltinExprModes &&
         flame::head_model_content_id(model) == id;
}

bool is_identity(const std::array<double, 9>& R) {
  for (int i = 0; i < 9; ++i)
    if (R[size_t(i)] != (i % 4 == 0 ? 1.0 : 0.0)) return false;
  return true;
}

// smooth 0→1→0 bump over [a, b] (raised cosine), 0 outside
double bump(double u, double a, double b) {
  if (u <= a || u >= b) return 0;
  return 0.5 - 0.5 * std::cos(2 * kPi * (u - a) / (b - a));
}
double ramp_hold(double u) {  // 0 → 1 over [0, 0.25], hold to 0.75, back to 0 at 1
  auto ease = [](double t) { return t * t * (3 - 2 * t); };
  if (u < 0.25) return ease(u / 0.25);
  if (u < 0.75) return 1;
  return ease(std::max(0.0, (1 - u) / 0.25));
}

}  // namespace

const std::vector<std::string>& procedural_motion_names() {
  static const std::vector<std::string> n = {"talk", "smile", "look_around"};
  return n;
}

Motion procedural_motion(const std::string& name, const flame::FlameModel& model, int frames) {
  FF_CHECK(frames >= 1, "motion '", name, "': frames must be ≥ 1, got ", frames);
  const bool builtin = is_builtin(model);
  auto expr_index = [&](const char* n) { return builtin ? flame::builtin_expression_index(n) : -1; };
  Motion m;
  m.source = name;
  const int E = builtin ? model.E : 0;
  for (int f = 0; f < frames; ++f) {
    const double u = frames > 1 ? double(f) / double(frames) : 0.0;  // one cycle, [0, 1)
    RigPose p;
    p.expression.assign(size_t(E), 0.0);
    auto set_expr = [&](const char* n, double v) {
      const int k = expr_index(n);
      if (k >= 0) p.expression[size_t(k)] = v;
    };
    if (name == "talk") {
      // syllables: jaw opening at an irregular rhythm (sum of two rates), mouth shapes in between
      // (starting and ending at rest, so the cycle loops)
      const double env = ramp_hold(u);
      const double open = env * std::max(0.0, 0.55 * std::sin(2 * kPi * 5 * u) + 0.3 * std::sin(2 * kPi * 3 * u + 1.0)) *
                          (1 - bump(u, 0.45, 0.55));  // a short pause mid-sentence
      p.pose[3 * flame::kJaw] = 0.22 * open;
      set_expr("jaw_open", 0.3 * open);
      set_expr("pucker", env * 0.4 * std::max(0.0, std::sin(2 * kPi * 2 * u + 2.0)));
      set_expr("mouth_stretch", env * 0.3 * std::max(0.0, std::sin(2 * kPi * 3 * u + 0.3)));
      set_expr("brow_raise", 0.3 * bump(u, 0.1, 0.4));
      p.pose[3 * flame::kNeck] = 0.04 * std::sin(2 * kPi * u);
      p.pose[3 * flame::kNeck + 1] = 0.05 * std::sin(2 * kPi * u + 0.7);
    } else if (name == "smile") {
      const double s = ramp_hold(u);
      set_expr("smile", s);
      set_expr("eye_close_left", 0.25 * s);
      set_expr("eye_close_right", 0.25 * s);
      set_expr("brow_raise", 0.2 * s);
      p.pose[3 * flame::kJaw] = 0.04 * s;
      if (!builtin && f == 0) m.warnings.push_back("smile: head model '" + model.source +
                                                   "' has no named expressions; only the jaw moves");
    } else if (name == "look_around") {
      const double yaw = 0.45 * std::sin(2 * kPi * u), pitch = 0.18 * std::sin(4 * kPi * u);
      p.pose[3 * flame::kNeck] = pitch;
      p.pose[3 * flame::kNeck + 1] = yaw;
      for (int e : {flame::kLeftEye, flame::kRightEye}) {  // the eyes lead the head
        p.pose[3 * size_t(e)] = 0.5 * pitch;
        p.pose[3 * size_t(e) + 1] = 0.5 * yaw;
      }
      set_expr("brow_raise", 0.4 * std::max(0.0, std::sin(4 * kPi * u)));
    } else {
      std::string names;
      for (auto& n : procedural_motion_names()) names += (names.empty() ? "" : ", ") + n;
      FF_THROW("unknown motion '", name, "' (built-in motions: ", names, "; or a .npz / .csv file)");
    }
    m.frames.push_back(std::move(p));
  }
  return m;
}

Motion read_motion_npz(const std::string& path, const flame::FlameModel& model) {
  const data::FlameTracking tr = data::read_tracking(path);
  Motion m;
  m.source = path;
  const int E = std::min(tr.E, model.E);
  bool dropped = false;
  const data::Mat4 first = data::rigid_from_scaled(data::tracking_cano2world_scaled(tr, 0));
  for (int t = 0; t < tr.T; ++t) {
    RigPose p;
    p.expression.assign(tr.expression.begin() + ptrdiff_t(size_t(t) * size_t(tr.E)),
                        tr.expression.begin() + ptrdiff_t(size_t(t) * size_t(tr.E) + size_t(E)));
    for (int k = E; k < tr.E; ++k) dropped |= tr.expression[size_t(t) * size_t(tr.E) + size_t(k)] != 0;
    for (int i = 0; i < 3; ++i) {
      p.pose[size_t(3 * flame::kNeck + i)] = tr.neck[size_t(3 * t + i)];
      p.pose[size_t(3 * flame::kJaw + i)] = tr.jaw[size_t(3 * t + i)];
      p.pose[size_t(3 * flame::kLeftEye + i)] = tr.eyes[size_t(6 * t + i)];
      p.pose[size_t(3 * flame::kRightEye + i)] = tr.eyes[size_t(6 * t + 3 + i)];
    }
    // relative rigid motion: R₀ᵀ R_t, R₀ᵀ (t_t − t₀)
    const data::Mat4 c = data::rigid_from_scaled(data::tracking_cano2world_scaled(tr, t));
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) {
        double s = 0;
        for (int k = 0; k < 3; ++k) s += first[size_t(4 * k + i)] * c[size_t(4 * k + j)];
        p.rotation[size_t(3 * i + j)] = t == 0 ? (i == j ? 1.0 : 0.0) : s;
      }
      double s = 0;
      for (int k = 0; k < 3; ++k) s += first[size_t(4 * k + i)] * (c[size_t(4 * k + 3)] - first[size_t(4 * k + 3)]);
      p.translation[size_t(i)] = s;
    }
    m.frames.push_back(std::move(p));
  }
  if (dropped)
    m.warnings.push_back(path + ": " + std::to_string(tr.E) + " expression components, head model '" + model.source +
                         "' has " + std::to_string(model.E) + ": the first " + std::to_string(E) + " are used");
  return m;
}

RigPose tracked_pose_relative(const data::FlameTracking& tr, int t, const data::FlameTracking& ref, int t_ref, int model_E) {
  FF_CHECK(t >= 0 && t < tr.T && t_ref >= 0 && t_ref < ref.T, "tracked_pose_relative: timestep ", t, " / ", t_ref,
           " out of range [0, ", tr.T, ") / [0, ", ref.T, ")");
  RigPose p;
  const int E = std::min(tr.E, model_E);
  p.expression.resize(size_t(std::max(0, E)));
  for (int k = 0; k < E; ++k) p.expression[size_t(k)] = tr.scale * tr.expression[size_t(t) * size_t(tr.E) + size_t(k)];
  auto joint = [&](int j, const std::vector<double>& cur, const std::vector<double>& rf, int stride, int off) {
    const double* a = &cur[size_t(stride * t + off)];
    const double* b = &rf[size_t(stride * t_ref + off)];
    double* out = &p.pose[size_t(3 * j)];
    if (b[0] == 0 && b[1] == 0 && b[2] == 0) {  // reference joint at rest: the tracked axis-angle as is
      for (int i = 0; i < 3; ++i) out[i] = a[i];
      return;
    }
    const std::array<double, 9> Ra = rotation_from_axis_angle(a), Rb = rotation_from_axis_angle(b);
    std::array<double, 9> R{};
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 3; ++k)
        for (int m = 0; m < 3; ++m) R[size_t(3 * i + k)] += Ra[size_t(3 * i + m)] * Rb[size_t(3 * k + m)];
    const std::array<double, 3> r = axis_angle_from_rotation(R);
    for (int i = 0; i < 3; ++i) out[i] = r[size_t(i)];
  };
  joint(flame::kNeck, tr.neck, ref.neck, 3, 0);
  joint(flame::kJaw, tr.jaw, ref.jaw, 3, 0);
  joint(flame::kLeftEye, tr.eyes, ref.eyes, 6, 0);
  joint(flame::kRightEye, tr.eyes, ref.eyes, 6, 3);
  return p;
}

Motion parse_motion_csv(const std::string& text, const std::string& name, const flame::FlameModel& model) {
  // column kinds: 0 ignore, 1 expression k, 2 pose index, 3 rot axis, 4 trans axis
  struct Col {
    int kind = 0, index = 0;
  };
  std::vector<Col> cols;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  bool have_header = false;
  const bool builtin = is_builtin(model);
  Motion m;
  m.source = name;
  auto split = [](const std::string& l) {
    std::vector<std::string> f;
    std::string cur;
    for (char ch : l) {
      if (ch == ',') {
        f.push_back(cur);
        cur.clear();
      } else if (ch != '\r') {
        cur += ch;
      }
    }
    f.push_back(cur);
    for (auto& s : f) {
      const size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
      s = a == std::string::npos ? "" : s.substr(a, b - a + 1);
    }
    return f;
  };
  while (std::getline(in, line)) {
    ++line_no;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::vector<std::string> f = split(line);
    if (!have_header) {
      have_header = true;
      std::map<std::string, int> seen;
      for (const std::string& h : f) {
        FF_CHECK(!h.empty(), name, ": line ", line_no, ": empty column name in the header");
        FF_CHECK(!seen.count(h), name, ": line ", line_no, ": column '", h, "' appears twice");
        seen[h] = 1;
        Col c;
        const std::string axes = "xyz";
        auto axis_of = [&](const std::string& s, const std::string& prefix) {
          if (s.size() == prefix.size() + 2 && s.compare(0, prefix.size(), prefix) == 0 && s[prefix.size()] == '_' &&
              axes.find(s.back()) != std::string::npos)
            return int(axes.find(s.back()));
          return -1;
        };
        if (h == "frame") {
          c.kind = 0;
        } else if (h.rfind("expr_", 0) == 0 && h.size() > 5 && h.find_first_not_of("0123456789", 5) == std::string::npos) {
          c.kind = 1;
          c.index = std::atoi(h.c_str() + 5);
          FF_CHECK(h.size() < 10 && c.index < model.E, name, ": column '", h, "': head model '", model.source, "' has ",
                   model.E, " expression components");
        } else if (builtin && flame::builtin_expression_index(h) >= 0) {
          c.kind = 1;
          c.index = flame::builtin_expression_index(h);
        } else if (axis_of(h, "rot") >= 0) {
          c.kind = 3;
          c.index = axis_of(h, "rot");
        } else if (axis_of(h, "trans") >= 0) {
          c.kind = 4;
          c.index = axis_of(h, "trans");
        } else {
          int j = 0;
          for (; j < 5; ++j)
            if (axis_of(h, kJointNames[j]) >= 0) break;
          FF_CHECK(j < 5, name, ": line ", line_no, ": unknown column '", h,
                   "' (expected frame, expr_<k>, a named expression of the built-in head model, "
                   "<global|neck|jaw|left_eye|right_eye>_<x|y|z>, rot_<x|y|z>, trans_<x|y|z>)");
          c.kind = 2;
          c.index = 3 * j + axis_of(h, kJointNames[j]);
        }
        cols.push_back(c);
      }
      continue;
    }
    FF_CHECK(f.size() == cols.size(), name, ": line ", line_no, ": ", f.size(), " fields, the header has ", cols.size());
    RigPose p;
    double rot[3] = {0, 0, 0};
    for (size_t k = 0; k < f.size(); ++k) {
      const char* s = f[k].c_str();
      char* end = nullptr;
      const double v = std::strtod(s, &end);
      FF_CHECK(!f[k].empty() && end && *end == '\0' && std::isfinite(v), name, ": line ", line_no, ", column ", k + 1,
               ": '", f[k], "' is not a finite number");
      const Col& c = cols[k];
      if (c.kind == 1) {
        if (p.expression.size() <= size_t(c.index)) p.expression.resize(size_t(c.index) + 1, 0.0);
        p.expression[size_t(c.index)] = v;
      } else if (c.kind == 2) {
        p.pose[size_t(c.index)] = v;
      } else if (c.kind == 3) {
        rot[c.index] = v;
      } else if (c.kind == 4) {
        p.translation[size_t(c.index)] = v;
      }
    }
    p.rotation = rotation_from_axis_angle(rot);
    m.frames.push_back(std::move(p));
    FF_CHECK(m.frames.size() <= 1000000, name, ": more than 1,000,000 frames");
  }
  FF_CHECK(have_header, name, ": empty (expected a header line naming the parameters, then one row per frame)");
  FF_CHECK(!m.frames.empty(), name, ": a header but no rows of parameters");
  return m;
}

Motion read_motion_csv(const std::string& path, const flame::FlameModel& model) {
  return parse_motion_csv(read_file(path), path, model);
}

Motion load_motion(const std::string& spec, const flame::FlameModel& model, int procedural_frames) {
  for (const std::string& n : procedural_motion_names())
    if (spec == n) return procedural_motion(spec, model, procedural_frames);
  auto ends_with = [&](const char* e) {
    const std::string s(e);
    return spec.size() >= s.size() && spec.compare(spec.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with(".npz")) return read_motion_npz(spec, model);
  if (ends_with(".csv")) return read_motion_csv(spec, model);
  std::string names;
  for (auto& n : procedural_motion_names()) names += (names.empty() ? "" : ", ") + n;
  FF_THROW("motion '", spec, "': neither a built-in motion (", names,
           ") nor a .npz (NeRSemble tracked_flame_params.npz) or .csv file");
}

std::string motion_csv(const Motion& m) {
  size_t E = 0;
  for (const RigPose& p : m.frames) E = std::max(E, p.expression.size());
  std::ostringstream o;
  o << "frame";
  for (size_t k = 0; k < E; ++k) o << ",expr_" << k;
  for (const char* j : kJointNames)
    for (const char* a : {"x", "y", "z"}) o << ',' << j << '_' << a;
  o << ",rot_x,rot_y,rot_z,trans_x,trans_y,trans_z\n";
  char buf[40];
  auto num = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    o << ',' << buf;
  };
  for (size_t f = 0; f < m.frames.size(); ++f) {
    const RigPose& p = m.frames[f];
    o << f;
    for (size_t k = 0; k < E; ++k) num(k < p.expression.size() ? p.expression[k] : 0.0);
    for (double v : p.pose) num(v);
    const auto r = is_identity(p.rotation) ? std::array<double, 3>{0, 0, 0} : axis_angle_from_rotation(p.rotation);
    for (double v : r) num(v);
    for (double v : p.translation) num(v);
    o << '\n';
  }
  return o.str();
}

void write_motion_csv(const std::string& path, const Motion& m) { write_file_atomic(path, motion_csv(m)); }

}  // namespace ff::train
