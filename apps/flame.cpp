// apps/flame.cpp — the `flame` CLI: inspect FLAME files and write posed meshes.
//
//   flame info --model flame2023.pkl [--masks FLAME_masks.pkl] [--static-landmarks f.pkl] ...
//   flame mesh --model flame2023.pkl --shape 1,0.5 --expr 0,1 --jaw 0.2,0,0 --out head.ply
//   flame mesh --model flame2023.pkl --masks FLAME_masks.pkl --face-mask --close-mouth --subdivide 3 --out face.ply
// Errors print one line and exit 1.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "flame/flame.h"
#include "flame/landmarks.h"
#include "flame/mesh.h"

namespace {

const char* kHelp = R"(flame — FLAME head model tool (facefield)

usage:
  flame info --model FILE [side files]        list what was read from the files
  flame mesh --model FILE [params] --out OUT  write the posed mesh (.ply or .obj)
  flame --help

model and side files (the content decides the format: Python pickle, .npz, object .npy, .obj):
  --model FILE              flame2023.pkl, flame2023_no_jaw.pkl, generic_model.pkl or an .npz conversion
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
                                  "--scale", "--out", "--subdivide", "--landmarks"};
  static const char* kFlags[] = {"--ascii", "--face-mask", "--close-mouth", "--help"};
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    bool done = false;
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
  FF_CHECK(a.kv.count("--model"), "--model FILE is required");
  ff::flame::FlameLoadOptions o;
  if (a.kv.count("--expr-offset")) o.expr_offset = std::atoi(a.kv.at("--expr-offset").c_str());
  if (a.kv.count("--n-shape")) o.n_shape = std::atoi(a.kv.at("--n-shape").c_str());
  if (a.kv.count("--n-expr")) o.n_expr = std::atoi(a.kv.at("--n-expr").c_str());
  ff::flame::FlameModel m = ff::flame::load_flame_model(a.kv.at("--model"), o);
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
    FF_THROW("unknown command '", a.cmd, "' (info, mesh; see flame --help)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flame: %s\n", e.what());
    return 1;
  }
}
