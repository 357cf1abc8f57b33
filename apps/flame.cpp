// apps/flame.cpp — the `flame` CLI: inspect FLAME files and write posed meshes.
//
//   flame info --model flame2023.pkl [--masks FLAME_masks.pkl] [--static-landmarks f.pkl] ...
//   flame mesh --model flame2023.pkl --shape 1,0.5 --expr 0,1 --jaw 0.2,0,0 --out head.ply
//   flame mesh --model flame2023.pkl --masks FLAME_masks.pkl --face-mask --close-mouth --subdivide 3 --out face.ply
//   flame mesh --expr-name smile=1,jaw_open=0.5 --out face.obj        (built-in model: the default --model)
//   flame sheet --out sheet.png [--n 16 --seed 0 --what shapes|expressions|modes --landmarks]
// Errors print one line and exit 1.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "core/check.h"
#include "core/rng.h"
#include "flame/flame.h"
#include "flame/headmodel.h"
#include "flame/landmarks.h"
#include "flame/mesh.h"
#include "flame/mesh_raster.h"

namespace {

using ff::apps::Options;
using Opt = ff::apps::Options::Opt;

const char* kUsage = R"(flame — FLAME head model tool (facefield)

usage: flame <command> [options]

Model and side files: the content decides the format (Python pickle, .npz, object .npy, .obj). The default model
'builtin' is facefield's built-in head model on the MediaPipe canonical face mesh (468 vertices, 100 shape /
14 expression modes, 68-point landmarks).)";

// model and side files: every command
std::vector<Opt> model_options() {
  return {{"model", "builtin",
           "FILE: flame2023.pkl, flame2023_no_jaw.pkl, generic_model.pkl or an .npz conversion, or 'builtin' "
           "(facefield's built-in head model)"},
          {"masks", "", "FILE: FLAME_masks.pkl"},
          {"static-landmarks", "", "FILE: flame_static_embedding.pkl"},
          {"dynamic-landmarks", "", "FILE: flame_dynamic_embedding.npy"},
          {"landmarks-with-eyes", "", "FILE: landmark_embedding_with_eyes.npy"},
          {"uv-obj", "", "FILE: head_template_mesh.obj (UVs; its triangles must equal the model's)"},
          {"expr-offset", std::to_string(ff::flame::kFlameShapeColumns),
           "N: shapedirs column where expressions start, in [0, 1048576]"},
          {"n-shape", "-1", "N: keep only the first N shape components (-1: all), in [-1, 1048576]"},
          {"n-expr", "-1", "N: keep only the first N expression components (-1: all), in [-1, 1048576]"}};
}

std::vector<Opt> concat(std::vector<Opt> a, const std::vector<Opt>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

constexpr double kMaxCoef = 1000;   // |shape/expression coefficient|
constexpr double kMaxAngle = 100;   // |axis-angle component| in radians
constexpr double kMaxLength = 1e6;  // |translation| in model units

Options info_options() {
  return Options("usage: flame info [--model FILE] [side files]\n\nLists what was read from the files.", model_options());
}

Options mesh_options() {
  return Options(
      "usage: flame mesh [--model FILE] [params] --out OUT\n\nWrites the posed mesh (.ply or .obj). Parameters are "
      "comma-separated numbers; missing entries are 0.",
      concat(model_options(),
             {{"shape", "", "a,b,...: shape coefficients, each in [-1000, 1000]"},
              {"expr", "", "a,b,...: expression coefficients, each in [-1000, 1000]"},
              {"expr-name", "",
               "n=v,...: built-in model: expression coefficients by name (jaw_open, smile, pucker, brow_raise, "
               "brow_lower, eye_close_left, eye_close_right, mouth_frown, mouth_stretch, cheek_puff, mouth_left, "
               "nose_wrinkle, upper_lip_raise, lower_lip_depress); v defaults to 1"},
              {"pose", "", "15 values: axis-angle for global, neck, jaw, left eye, right eye (overrides the 4 below)"},
              {"global", "", "x,y,z: global axis-angle rotation (radians, each in [-100, 100])"},
              {"neck", "", "x,y,z: neck axis-angle rotation"},
              {"jaw", "", "x,y,z: jaw axis-angle rotation"},
              {"eyes", "", "lx,ly,lz,rx,ry,rz: eye axis-angle rotations"},
              {"trans", "", "x,y,z: translation (added after scaling)"},
              {"scale", "1", "s: uniform scale, in [1e-06, 1e+06]"},
              {"out", "", "FILE: .ply or .obj (required)"},
              {"ascii", "", "ASCII PLY instead of binary", true},
              {"face-mask", "", "keep the seed's face-mask region (needs --masks)", true},
              {"close-mouth", "", "add the seed's 30 mouth-closing triangles (5023-vertex FLAME only)", true},
              {"subdivide", "0", "N: rounds of midpoint subdivision (old vertices first), in [0, 6]"},
              {"landmarks", "",
               "FILE: also write the landmarks (x y z per line): 70-point when --landmarks-with-eyes is given, else 68 "
               "(static + dynamic), else 51 (static)"}}));
}

Options sheet_options() {
  return Options(
      "usage: flame sheet [--model FILE] --out OUT.png [options]\n\nRenders a contact sheet of faces (PNG; each cell "
      "shows a front and a 3/4 view).",
      concat(model_options(),
             {{"out", "", "FILE.png: output image (required)"},
              {"what", "shapes",
               "shapes: random shapes, coefficients ~ N(0, sigma^2) over all shape modes; expressions: each "
               "expression at coefficient 1, the jaw and neck poses, on the mean shape; modes: the first --n shape "
               "modes at -3 and +3 (one cell each)"},
              {"n", "16", "N: number of cells, in [1, 1024]"},
              {"seed", "0", "S: random seed"},
              {"sigma", "1", "X: scale of the random shape coefficients, in [0, 100]"},
              {"size", "256", "PX: size of one view in pixels, in [32, 2048]"},
              {"landmarks", "", "draw the 68 (or 51) landmarks in red", true}}));
}

ff::flame::FlameModel load(const Options& a) {
  ff::flame::FlameLoadOptions o;
  o.expr_offset = int(a.integer("expr-offset", 0, 1 << 20));
  o.n_shape = int(a.integer("n-shape", -1, 1 << 20));
  o.n_expr = int(a.integer("n-expr", -1, 1 << 20));
  ff::flame::FlameModel m = ff::flame::load_head_model(a.str("model"), o);
  if (a.has("masks")) ff::flame::load_flame_masks(m, a.str("masks"));
  if (a.has("static-landmarks")) m.static_landmarks = ff::flame::load_static_embedding(a.str("static-landmarks"));
  if (a.has("dynamic-landmarks")) m.dynamic_landmarks = ff::flame::load_dynamic_embedding(a.str("dynamic-landmarks"));
  if (a.has("landmarks-with-eyes")) ff::flame::load_landmarks_with_eyes(m, a.str("landmarks-with-eyes"));
  if (a.has("uv-obj")) ff::flame::load_uv_obj(m, a.str("uv-obj"));
  m.validate();
  return m;
}

int cmd_mesh(const Options& a) {
  // every option is checked before the model is loaded
  FF_USAGE_CHECK(a.has("out"), "--out FILE is required");
  std::vector<double> shape = a.numbers("shape", -kMaxCoef, kMaxCoef), expr = a.numbers("expr", -kMaxCoef, kMaxCoef);
  std::vector<std::pair<std::string, double>> named;  // --expr-name n=v
  for (const std::string& tok : a.list("expr-name")) {
    const size_t eq = tok.find('=');
    double val = 1.0;
    if (eq != std::string::npos) {
      char* end = nullptr;
      const std::string v = tok.substr(eq + 1);
      val = std::strtod(v.c_str(), &end);
      FF_CHECK(!v.empty() && *end == 0 && std::isfinite(val) && std::fabs(val) <= kMaxCoef, "--expr-name: '", tok,
               "' needs name=value with a value in [-", kMaxCoef, ", ", kMaxCoef, "]");
    }
    named.push_back({tok.substr(0, eq), val});
  }
  const std::vector<double> pose_all = a.numbers("pose", -kMaxAngle, kMaxAngle);
  const std::vector<double> global = a.numbers("global", -kMaxAngle, kMaxAngle), neck = a.numbers("neck", -kMaxAngle, kMaxAngle),
                            jaw = a.numbers("jaw", -kMaxAngle, kMaxAngle), eyes = a.numbers("eyes", -kMaxAngle, kMaxAngle);
  std::vector<double> trans = a.numbers("trans", -kMaxLength, kMaxLength);
  if (!trans.empty()) FF_CHECK(trans.size() == 3, "--trans needs 3 values");
  double scale = a.number("scale", 1e-6, 1e6);
  const int sub = int(a.integer("subdivide", 0, 6));

  ff::flame::FlameModel m = load(a);
  for (auto& [name, val] : named) {
    int e = ff::flame::builtin_expression_index(name);
    FF_CHECK(e >= 0 && e < m.E && ff::flame::is_builtin_model_name(a.str("model")), "--expr-name: '", name,
             "' is not an expression of the built-in model (see flame mesh --help)");
    if (int(expr.size()) <= e) expr.resize(size_t(e) + 1, 0.0);
    expr[size_t(e)] = val;
  }
  FF_CHECK(int(shape.size()) <= m.S, "--shape has ", shape.size(), " values, the model has ", m.S, " components");
  FF_CHECK(int(expr.size()) <= m.E, "--expr has ", expr.size(), " values, the model has ", m.E, " components");
  std::vector<double> pose(size_t(m.J) * 3, 0.0);
  auto put = [&](const char* k, const std::vector<double>& v, int joint, size_t n) {
    if (v.empty()) return;
    FF_CHECK(v.size() == n, k, " needs ", n, " values, got ", v.size());
    for (size_t i = 0; i < n; ++i) pose[size_t(joint) * 3 + i] = v[i];
  };
  if (m.J == ff::flame::kFlameJoints) {
    put("--global", global, ff::flame::kGlobal, 3);
    put("--neck", neck, ff::flame::kNeck, 3);
    put("--jaw", jaw, ff::flame::kJaw, 3);
    put("--eyes", eyes, ff::flame::kLeftEye, 6);
  }
  if (a.has("pose")) {
    FF_CHECK(pose_all.size() == pose.size(), "--pose needs ", pose.size(), " values, got ", pose_all.size());
    pose = pose_all;
  }
  ff::flame::FlameInput<double> in;
  in.n_shape = int(shape.size());
  in.n_expr = int(expr.size());
  in.shape = shape.data();
  in.expr = expr.data();
  in.pose = pose.data();
  in.translation = trans.empty() ? nullptr : trans.data();
  in.scale = &scale;
  ff::flame::FlameOutput<double> out;
  ff::flame::flame_fwd(m, in, out);

  std::vector<int32_t> extra;
  if (a.flag("close-mouth")) extra = ff::flame::seed_mouth_faces();
  ff::flame::Mesh mesh;
  if (a.flag("face-mask")) {
    auto fm = ff::flame::make_face_mask(m, ff::flame::seed_face_mask_regions(), extra);
    mesh = ff::flame::face_mask_mesh(m, out.vertices, fm);
  } else {
    mesh.vertices = out.vertices;
    mesh.faces = m.faces;
    if (extra.empty() && !m.uv_faces.empty()) {
      mesh.uvs = m.uvs;
      mesh.uv_faces = m.uv_faces;
    }
    for (size_t i = 0; i < extra.size(); ++i) {
      FF_CHECK(extra[i] < m.V, "--close-mouth: the mouth faces need FLAME's 5023-vertex mesh");
      mesh.faces.push_back(extra[i]);
    }
  }
  for (int i = 0; i < sub; ++i) mesh = ff::flame::subdivide_midpoint(mesh);
  ff::flame::write_mesh(a.str("out"), mesh, !a.flag("ascii"));
  std::printf("wrote %s: %d vertices, %d faces\n", a.str("out").c_str(), mesh.num_vertices(), mesh.num_faces());

  if (a.has("landmarks")) {
    using S = ff::flame::LandmarkScheme;
    S scheme = !m.full_landmarks.empty() ? S::WithEyes70 : (!m.dynamic_landmarks.empty() ? S::Contour68 : S::Static51);
    auto set = ff::flame::make_landmark_set<double>(m, scheme, pose.data(), 1);
    std::vector<double> l(size_t(set.count) * 3);
    ff::flame::landmarks_fwd(m, set, out.vertices.data(), l.data());
    std::ostringstream s;
    s.precision(9);
    for (int i = 0; i < set.count; ++i) s << l[size_t(i) * 3] << " " << l[size_t(i) * 3 + 1] << " " << l[size_t(i) * 3 + 2] << "\n";
    std::string txt = s.str();
    FILE* f = std::fopen(a.str("landmarks").c_str(), "w");
    FF_CHECK(f, "cannot write '", a.str("landmarks"), "'");
    std::fwrite(txt.data(), 1, txt.size(), f);
    std::fclose(f);
    std::printf("wrote %s: %d landmarks\n", a.str("landmarks").c_str(), set.count);
  }
  return 0;
}


// ---- flame sheet --------------------------------------------------------------------------------------------

struct SheetItem {
  std::string label;
  std::vector<double> shape, expr, pose;
};

int cmd_sheet(const Options& a) {
  // every option is checked before the model is loaded
  FF_USAGE_CHECK(a.has("out"), "--out FILE.png is required");
  const int n = int(a.integer("n", 1, 1024)), size = int(a.integer("size", 32, 2048));
  const uint64_t seed = uint64_t(a.uinteger("seed", ~0ull));
  const double sigma = a.number("sigma", 0, 100);
  const std::string what = a.choice("what", {"shapes", "expressions", "modes"});
  ff::flame::FlameModel m = load(a);
  const bool builtin = ff::flame::is_builtin_model_name(a.str("model"));
  const size_t P = size_t(m.J) * 3;

  std::vector<SheetItem> items;
  if (what == "shapes") {
    for (int i = 0; i < n; ++i) {
      SheetItem it{"seed " + std::to_string(seed) + " #" + std::to_string(i), std::vector<double>(size_t(m.S)), {},
                   std::vector<double>(P, 0.0)};
      for (int s = 0; s < m.S; ++s)
        it.shape[size_t(s)] = sigma * ff::rng::normal_at(seed, uint64_t(i) * uint64_t(m.S) + uint64_t(s));
      items.push_back(it);
    }
  } else if (what == "expressions") {
    items.push_back({"neutral", {}, {}, std::vector<double>(P, 0.0)});
    for (int e = 0; e < m.E && int(items.size()) < n; ++e) {
      SheetItem it{builtin ? ff::flame::builtin_head_info().expr_names[size_t(e)] : "expr " + std::to_string(e), {},
                   std::vector<double>(size_t(e) + 1, 0.0), std::vector<double>(P, 0.0)};
      it.expr[size_t(e)] = builtin ? 1.0 : 2.0;
      items.push_back(it);
    }
    if (m.J == ff::flame::kFlameJoints) {
      SheetItem jaw{"jaw pose 0.3", {}, {}, std::vector<double>(P, 0.0)};
      jaw.pose[ff::flame::kJaw * 3] = 0.3;
      SheetItem neck{"neck pitch 0.3, yaw 0.3", {}, {}, std::vector<double>(P, 0.0)};
      neck.pose[ff::flame::kNeck * 3] = 0.3;
      neck.pose[ff::flame::kNeck * 3 + 1] = 0.3;
      items.push_back(jaw);
      items.push_back(neck);
    }
  } else if (what == "modes") {
    for (int s = 0; s < std::min(n, m.S); ++s)
      for (double sign : {-3.0, 3.0}) {
        std::string name = builtin ? ff::flame::builtin_head_info().shape_names[size_t(s)] : "mode " + std::to_string(s);
        SheetItem it{name + (sign < 0 ? " -3" : " +3"), std::vector<double>(size_t(s) + 1, 0.0), {},
                     std::vector<double>(P, 0.0)};
        it.shape[size_t(s)] = sign;
        items.push_back(it);
      }
  }

  // framing from the template's bounding box
  double lo[3] = {1e30, 1e30, 1e30}, hi[3] = {-1e30, -1e30, -1e30};
  for (int v = 0; v < m.V; ++v)
    for (int k = 0; k < 3; ++k) {
      lo[k] = std::min(lo[k], m.v_template[size_t(v) * 3 + size_t(k)]);
      hi[k] = std::max(hi[k], m.v_template[size_t(v) * 3 + size_t(k)]);
    }
  const std::array<double, 3> center = {0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), 0.5 * (lo[2] + hi[2])};
  const double extent = std::max({hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]});
  const int ss = 2;  // supersampling
  const double half_fov = 10.0 * M_PI / 180.0;
  const double dist = 0.5 * extent / std::tan(half_fov) / 0.8 + 0.5 * (hi[2] - lo[2]);
  const double f = 0.5 * size * ss / std::tan(half_fov);
  const double yaws[2] = {0.0, 35.0 * M_PI / 180.0};

  std::vector<float> face_albedo;
  if (builtin) {
    const auto& info = ff::flame::builtin_head_info();
    face_albedo.assign(size_t(m.F) * 3, -1.f);
    for (int32_t fi : info.eye_opening_faces) {
      face_albedo[size_t(fi) * 3] = 0.12f, face_albedo[size_t(fi) * 3 + 1] = 0.10f, face_albedo[size_t(fi) * 3 + 2] = 0.09f;
    }
    for (int32_t fi : info.mouth_opening_faces) {
      face_albedo[size_t(fi) * 3] = 0.30f, face_albedo[size_t(fi) * 3 + 1] = 0.06f, face_albedo[size_t(fi) * 3 + 2] = 0.06f;
    }
  }
  using S = ff::flame::LandmarkScheme;
  const bool draw_lmk = a.flag("landmarks");
  S scheme = !m.dynamic_landmarks.empty() && !m.static_landmarks.empty() ? S::Contour68 : S::Static51;
  if (draw_lmk)
    FF_CHECK(!m.static_landmarks.empty(), "--landmarks: the model has no landmark embedding (give --static-landmarks)");

  const int cols = std::max(1, std::min(4, int(items.size())));
  const int rows = (int(items.size()) + cols - 1) / cols;
  const int pad = 8, label_h = 18;
  const int cell_w = 2 * size + pad, cell_h = size + label_h + pad;
  ff::flame::Canvas canvas(cols * cell_w + pad, rows * cell_h + pad, {236, 236, 236});
  for (size_t i = 0; i < items.size(); ++i) {
    const SheetItem& it = items[i];
    ff::flame::FlameInput<double> in;
    in.n_shape = int(std::min(it.shape.size(), size_t(m.S)));
    in.n_expr = int(std::min(it.expr.size(), size_t(m.E)));
    in.shape = it.shape.empty() ? nullptr : it.shape.data();
    in.expr = it.expr.empty() ? nullptr : it.expr.data();
    in.pose = it.pose.data();
    ff::flame::FlameOutput<double> out;
    ff::flame::flame_fwd(m, in, out);
    std::vector<double> lmk;
    if (draw_lmk) {
      auto set = ff::flame::make_landmark_set<double>(m, scheme, it.pose.data(), 1);
      lmk.resize(size_t(set.count) * 3);
      ff::flame::landmarks_fwd(m, set, out.vertices.data(), lmk.data());
    }
    int x0 = pad + int(i % size_t(cols)) * cell_w, y0 = pad + int(i / size_t(cols)) * cell_h;
    for (int view = 0; view < 2; ++view) {
      std::array<double, 3> eye = {center[0] + dist * std::sin(yaws[view]), center[1],
                                   center[2] + dist * std::cos(yaws[view])};
      auto cam = ff::flame::look_at_camera(eye, center, {0, 1, 0}, f, f, 0.5 * size * ss, 0.5 * size * ss);
      ff::flame::RasterOptions o;
      o.width = o.height = size * ss;
      o.background = {0.93f, 0.93f, 0.93f};
      if (!face_albedo.empty()) o.face_albedo = &face_albedo;
      auto img = ff::flame::rasterize_mesh(out.vertices.data(), m.V, m.faces.data(), m.F, cam, o);
      auto small = ff::flame::downsample(img.rgb, img.width, img.height, 3, ss);
      canvas.paste(small.data(), size, size, x0 + view * size, y0);
      if (draw_lmk) {
        std::vector<double> uv(lmk.size() / 3 * 2);
        ff::flame::project_points(cam, lmk.data(), int(lmk.size() / 3), uv.data());
        for (size_t l = 0; l < uv.size() / 2; ++l)
          canvas.dot(x0 + view * size + uv[l * 2] / ss, y0 + uv[l * 2 + 1] / ss, size / 160.0 + 0.8, {220, 20, 20});
      }
    }
    canvas.text(x0 + 2, y0 + size + 4, it.label, {40, 40, 40}, 1);
  }
  ff::flame::write_png(a.str("out"), canvas.width, canvas.height, 3, canvas.rgb.data());
  std::printf("wrote %s: %zu cells (%s), %dx%d\n", a.str("out").c_str(), items.size(), what.c_str(), canvas.width,
              canvas.height);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ff::apps::start_program(argv);
  try {
    ff::apps::Commands commands(kUsage, {{"info", "[--model FILE] [side files]   list what was read from the files",
                                          info_options()},
                                         {"mesh", "[--model FILE] [params] --out OUT   write the posed mesh (.ply or .obj)",
                                          mesh_options()},
                                         {"sheet", "[--model FILE] --out OUT.png   render a contact sheet of random faces "
                                          "(front and 3/4 views)", sheet_options()}});
    if (argc < 2) {
      commands.print_help();
      return 1;
    }
    ff::apps::Command* cmd = commands.parse(argc, argv);
    if (!cmd) return 0;
    if (cmd->name == "info") {
      std::fputs(load(cmd->options).summary().c_str(), stdout);
      return 0;
    }
    if (cmd->name == "mesh") return cmd_mesh(cmd->options);
    return cmd_sheet(cmd->options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flame: %s\n", ff::apps::failure_message(e).c_str());
    return ff::apps::exit_status(e);
  }
}
