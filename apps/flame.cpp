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
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "flame/flame.h"
#include "flame/headmodel.h"
#include "flame/landmarks.h"
#include "flame/mesh.h"
#include "flame/mesh_raster.h"

namespace {

const char* kHelp = R"(flame — FLAME head model tool (facefield)

usage:
  flame info [--model FILE] [side files]        list what was read from the files
  flame mesh [--model FILE] [params] --out OUT  write the posed mesh (.ply or .obj)
  flame sheet [--model FILE] --out OUT.png      render a contact sheet of random faces (front and 3/4 views)
  flame --help

model and side files (the content decides the format: Python pickle, .npz, object .npy, .obj):
  --model FILE              flame2023.pkl, flame2023_no_jaw.pkl, generic_model.pkl or an .npz conversion, or
                            'builtin' (the default): facefield's built-in head model on the MediaPipe canonical
                            face mesh (468 vertices, 100 shape / 14 expression modes, 68-point landmarks)
  --masks FILE              FLAME_masks.pkl
  --static-landmarks FILE   flame_static_embedding.pkl
  --dynamic-landmarks FILE  flame_dynamic_embedding.npy
  --landmarks-with-eyes FILE  landmark_embedding_with_eyes.npy
  --uv-obj FILE             head_template_mesh.obj (UVs; its triangles must equal the model's)
  --expr-offset N           shapedirs column where expressions start (default 300)
  --n-shape N, --n-expr N   keep only the first N components

parameters for `mesh` (comma-separated numbers; missing entries are 0):
  --shape a,b,...           shape coefficients
  --expr a,b,...            expression coefficients
  --expr-name n=v,...       built-in model: expression coefficients by name (jaw_open, smile, pucker,
                            brow_raise, brow_lower, eye_close_left, eye_close_right, mouth_frown,
                            mouth_stretch, cheek_puff, mouth_left, nose_wrinkle, upper_lip_raise,
                            lower_lip_depress)
  --pose 15 values          axis-angle for global, neck, jaw, left eye, right eye (overrides the 5 below)
  --global x,y,z  --neck x,y,z  --jaw x,y,z  --eyes lx,ly,lz,rx,ry,rz
  --trans x,y,z             translation (added after scaling)
  --scale s                 uniform scale (default 1)

output options for `mesh`:
  --out FILE                .ply or .obj (required)
  --ascii                   ASCII PLY instead of binary
  --face-mask               keep the seed's face-mask region (needs --masks)
  --close-mouth             add the seed's 30 mouth-closing triangles (5023-vertex FLAME only)
  --subdivide N             N rounds of midpoint subdivision (old vertices first)
  --landmarks FILE          also write the landmarks (x y z per line): 70-point when --landmarks-with-eyes is
                            given, else 68 (static + dynamic), else 51 (static)

options for `sheet` (PNG; each cell shows a front and a 3/4 view):
  --out FILE.png            output image (required)
  --what shapes             random shapes, coefficients ~ N(0, sigma^2) over all shape modes (default)
         expressions        each expression at coefficient 1, the jaw and neck poses, on the mean shape
         modes              the first --n shape modes at -3 and +3 (one cell each)
  --n N                     number of cells (default 16)
  --seed S                  random seed (default 0)
  --sigma X                 scale of the random shape coefficients (default 1)
  --size PX                 size of one view in pixels (default 256)
  --landmarks               draw the 68 (or 51) landmarks in red
)";

std::vector<double> parse_list(const std::string& s, const std::string& opt) {
  std::vector<double> v;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.empty()) continue;
    char* end = nullptr;
    double x = std::strtod(tok.c_str(), &end);
    FF_CHECK(end && *end == 0, "option ", opt, ": '", tok, "' is not a number");
    v.push_back(x);
  }
  return v;
}

struct Args {
  std::string cmd;
  std::map<std::string, std::string> kv;
  std::map<std::string, bool> flags;
};

Args parse(int argc, char** argv) {
  static const char* kValued[] = {"--model", "--masks", "--static-landmarks", "--dynamic-landmarks",
                                  "--landmarks-with-eyes", "--uv-obj", "--expr-offset", "--n-shape", "--n-expr",
                                  "--shape", "--expr", "--pose", "--global", "--neck", "--jaw", "--eyes", "--trans",
                                  "--scale", "--out", "--subdivide", "--landmarks", "--expr-name", "--what", "--n",
                                  "--seed", "--sigma", "--size"};
  static const char* kFlags[] = {"--ascii", "--face-mask", "--close-mouth", "--help"};
  static const char* kSheetFlags[] = {"--landmarks"};  // a flag for `sheet`, a file for `mesh`
  Args a;
  bool sheet = false;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "sheet") sheet = true;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    bool done = false;
    if (sheet)
      for (const char* k : kSheetFlags)
        if (s == k) {
          a.flags[s] = true;
          done = true;
        }
    if (done) continue;
    for (const char* k : kValued)
      if (s == k) {
        FF_CHECK(i + 1 < argc, "option ", s, " needs a value");
        a.kv[s] = argv[++i];
        done = true;
      }
    for (const char* k : kFlags)
      if (s == k) {
        a.flags[s] = true;
        done = true;
      }
    if (done) continue;
    if (s == "-h") {
      a.flags["--help"] = true;
      continue;
    }
    FF_CHECK(a.cmd.empty() && s.rfind("--", 0) != 0, "unknown option '", s, "' (see flame --help)");
    a.cmd = s;
  }
  return a;
}

ff::flame::FlameModel load(const Args& a) {
  ff::flame::FlameLoadOptions o;
  if (a.kv.count("--expr-offset")) o.expr_offset = std::atoi(a.kv.at("--expr-offset").c_str());
  if (a.kv.count("--n-shape")) o.n_shape = std::atoi(a.kv.at("--n-shape").c_str());
  if (a.kv.count("--n-expr")) o.n_expr = std::atoi(a.kv.at("--n-expr").c_str());
  std::string path = a.kv.count("--model") ? a.kv.at("--model") : std::string("builtin");
  ff::flame::FlameModel m = ff::flame::load_head_model(path, o);
  if (a.kv.count("--masks")) ff::flame::load_flame_masks(m, a.kv.at("--masks"));
  if (a.kv.count("--static-landmarks"))
    m.static_landmarks = ff::flame::load_static_embedding(a.kv.at("--static-landmarks"));
  if (a.kv.count("--dynamic-landmarks"))
    m.dynamic_landmarks = ff::flame::load_dynamic_embedding(a.kv.at("--dynamic-landmarks"));
  if (a.kv.count("--landmarks-with-eyes")) ff::flame::load_landmarks_with_eyes(m, a.kv.at("--landmarks-with-eyes"));
  if (a.kv.count("--uv-obj")) ff::flame::load_uv_obj(m, a.kv.at("--uv-obj"));
  m.validate();
  return m;
}

int cmd_mesh(const Args& a) {
  ff::flame::FlameModel m = load(a);
  FF_CHECK(a.kv.count("--out"), "--out FILE is required");
  auto get = [&](const char* k) { return a.kv.count(k) ? parse_list(a.kv.at(k), k) : std::vector<double>{}; };
  std::vector<double> shape = get("--shape"), expr = get("--expr");
  if (a.kv.count("--expr-name")) {
    std::stringstream ss(a.kv.at("--expr-name"));
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      if (tok.empty()) continue;
      size_t eq = tok.find('=');
      std::string name = tok.substr(0, eq);
      int e = ff::flame::builtin_expression_index(name);
      FF_CHECK(e >= 0 && e < m.E && ff::flame::is_builtin_model_name(a.kv.count("--model") ? a.kv.at("--model") : "builtin"),
               "--expr-name: '", name, "' is not an expression of the built-in model (see flame --help)");
      double val = eq == std::string::npos ? 1.0 : parse_list(tok.substr(eq + 1), "--expr-name").at(0);
      if (int(expr.size()) <= e) expr.resize(size_t(e) + 1, 0.0);
      expr[size_t(e)] = val;
    }
  }
  FF_CHECK(int(shape.size()) <= m.S, "--shape has ", shape.size(), " values, the model has ", m.S, " components");
  FF_CHECK(int(expr.size()) <= m.E, "--expr has ", expr.size(), " values, the model has ", m.E, " components");
  std::vector<double> pose(size_t(m.J) * 3, 0.0);
  auto put = [&](const char* k, int joint, size_t n) {
    std::vector<double> v = get(k);
    if (v.empty()) return;
    FF_CHECK(v.size() == n, k, " needs ", n, " values, got ", v.size());
    for (size_t i = 0; i < n; ++i) pose[size_t(joint) * 3 + i] = v[i];
  };
  if (m.J == ff::flame::kFlameJoints) {
    put("--global", ff::flame::kGlobal, 3);
    put("--neck", ff::flame::kNeck, 3);
    put("--jaw", ff::flame::kJaw, 3);
    put("--eyes", ff::flame::kLeftEye, 6);
  }
  if (a.kv.count("--pose")) {
    std::vector<double> p = get("--pose");
    FF_CHECK(p.size() == pose.size(), "--pose needs ", pose.size(), " values, got ", p.size());
    pose = p;
  }
  std::vector<double> trans = get("--trans");
  if (!trans.empty()) FF_CHECK(trans.size() == 3, "--trans needs 3 values");
  double scale = a.kv.count("--scale") ? parse_list(a.kv.at("--scale"), "--scale").at(0) : 1.0;
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
  if (a.flags.count("--close-mouth")) extra = ff::flame::seed_mouth_faces();
  ff::flame::Mesh mesh;
  if (a.flags.count("--face-mask")) {
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
  int sub = a.kv.count("--subdivide") ? std::atoi(a.kv.at("--subdivide").c_str()) : 0;
  FF_CHECK(sub >= 0 && sub <= 6, "--subdivide must be in [0, 6]");
  for (int i = 0; i < sub; ++i) mesh = ff::flame::subdivide_midpoint(mesh);
  ff::flame::write_mesh(a.kv.at("--out"), mesh, !a.flags.count("--ascii"));
  std::printf("wrote %s: %d vertices, %d faces\n", a.kv.at("--out").c_str(), mesh.num_vertices(), mesh.num_faces());

  if (a.kv.count("--landmarks")) {
    using S = ff::flame::LandmarkScheme;
    S scheme = !m.full_landmarks.empty() ? S::WithEyes70 : (!m.dynamic_landmarks.empty() ? S::Contour68 : S::Static51);
    auto set = ff::flame::make_landmark_set<double>(m, scheme, pose.data(), 1);
    std::vector<double> l(size_t(set.count) * 3);
    ff::flame::landmarks_fwd(m, set, out.vertices.data(), l.data());
    std::ostringstream s;
    s.precision(9);
    for (int i = 0; i < set.count; ++i) s << l[size_t(i) * 3] << " " << l[size_t(i) * 3 + 1] << " " << l[size_t(i) * 3 + 2] << "\n";
    std::string txt = s.str();
    FILE* f = std::fopen(a.kv.at("--landmarks").c_str(), "w");
    FF_CHECK(f, "cannot write '", a.kv.at("--landmarks"), "'");
    std::fwrite(txt.data(), 1, txt.size(), f);
    std::fclose(f);
    std::printf("wrote %s: %d landmarks\n", a.kv.at("--landmarks").c_str(), set.count);
  }
  return 0;
}


// ---- flame sheet --------------------------------------------------------------------------------------------

struct SheetItem {
  std::string label;
  std::vector<double> shape, expr, pose;
};

int cmd_sheet(const Args& a) {
  ff::flame::FlameModel m = load(a);
  FF_CHECK(a.kv.count("--out"), "--out FILE.png is required");
  auto num = [&](const char* k, double def) { return a.kv.count(k) ? parse_list(a.kv.at(k), k).at(0) : def; };
  const int n = int(num("--n", 16)), size = int(num("--size", 256));
  const uint64_t seed = uint64_t(num("--seed", 0));
  const double sigma = num("--sigma", 1.0);
  const std::string what = a.kv.count("--what") ? a.kv.at("--what") : "shapes";
  FF_CHECK(n >= 1 && n <= 1024, "--n must be in [1, 1024]");
  FF_CHECK(size >= 32 && size <= 2048, "--size must be in [32, 2048]");
  const bool builtin = !a.kv.count("--model") || ff::flame::is_builtin_model_name(a.kv.at("--model"));
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
  } else {
    FF_THROW("--what must be shapes, expressions or modes, got '", what, "'");
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
  const bool draw_lmk = a.flags.count("--landmarks") > 0;
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
  ff::flame::write_png(a.kv.at("--out"), canvas.width, canvas.height, 3, canvas.rgb.data());
  std::printf("wrote %s: %zu cells (%s), %dx%d\n", a.kv.at("--out").c_str(), items.size(), what.c_str(), canvas.width,
              canvas.height);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args a = parse(argc, argv);
    if (a.flags.count("--help") || a.cmd.empty()) {
      std::fputs(kHelp, stdout);
      return a.cmd.empty() && !a.flags.count("--help") ? 1 : 0;
    }
    if (a.cmd == "info") {
      std::fputs(load(a).summary().c_str(), stdout);
      return 0;
    }
    if (a.cmd == "mesh") return cmd_mesh(a);
    if (a.cmd == "sheet") return cmd_sheet(a);
    FF_THROW("unknown command '", a.cmd, "' (info, mesh, sheet; see flame --help)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flame: %s\n", e.what());
    return 1;
  }
}
