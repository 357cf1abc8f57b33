// Expression data (issue #17): `ffdata synth` with several sequences × timesteps, the tracking npz in NeRSemble's
// layout (read back by train/motion.h), the multi-frame reader, the trainer adapter's view_pose / head_vertices /
// view_frame (HeadRig on the neutral head reproduces every rendered frame's mesh), held-out expressions in
// split.json, and the refusals (malformed heldout_frames, missing sequence / timestep, untracked timestep).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/check.h"
#include "flame/headmodel.h"
#include "flame/mesh.h"
#include "tests/train/test_data_util.h"
#include "train/animation.h"
#include "train/data/nersemble_reader.h"
#include "train/data/preprocess.h"
#include "train/data/synth.h"
#include "train/identity_dataset.h"
#include "train/motion.h"

using namespace ff;
using namespace ff::data;
namespace fs = std::filesystem;
using data_test::throws_with;

namespace {

// 2 identities × 2 sequences × 2 timesteps at a small size (no identity held out; EXP-2-eyes held out per identity)
SynthOptions expr_options(const std::string& out) {
  SynthOptions o;
  o.out = out;
  o.n = 2;
  o.heldout = 0;
  o.seed = 11;
  o.width = 44;  // 2200x3208 / 50
  o.height = 64;
  o.texture_size = 32;
  o.supersample = 1;
  o.threads = 2;
  o.sequences = 2;
  o.timesteps = 2;
  o.contact_sheets = false;
  o.png_compression = 1;
  return o;
}

// The dataset, written once per test binary run (the tests copy it before breaking it).
struct ExprFixture {
  data_test::TempDir td{"expr"};
  SynthOptions o = expr_options(td.path + "/ds");
  SynthReport rep;
  ExprFixture() { rep = write_synth_dataset(flame::builtin_head_model_ref(), o); }
};
ExprFixture& fixture() {
  static ExprFixture f;
  return f;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

std::string copy_dataset(const std::string& from, const std::string& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

}  // namespace

TEST_CASE("expression synth: NeRSemble tracking npz per sequence, neutral reference, read back by motion.h") {
  ExprFixture& fx = fixture();
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  CHECK(fx.rep.identities == 2);
  CHECK(fx.rep.frames == 4);
  CHECK(fx.rep.views == 2 * 4 * 16);
  const std::vector<std::string> seqs = synth_sequence_names(fx.o);
  REQUIRE(seqs == std::vector<std::string>{"EXP-1-head", "EXP-2-eyes"});
  bool some_expression = false, some_jaw = false, some_motion = false;
  for (int i = 0; i < 2; ++i) {
    SynthIdentity id = synth_identity(m, fx.o, i, false);
    REQUIRE(id.sequence_tracking.size() == 2);
    for (int q = 0; q < 2; ++q) {
      const SubjectPaths sp = subject_paths(fx.o.out, id.name, seqs[size_t(q)]);
      const FlameTracking tr = read_tracking(sp.tracking);
      const FlameTracking& w = id.sequence_tracking[size_t(q)];
      // every key of NeRSemble's tracked_flame_params.npz, exactly as synthesised (float32-exact)
      CHECK(tr.T == 2);
      CHECK(tr.E == 100);
      CHECK(tr.frames == std::vector<int64_t>{0, 1});
      CHECK(tr.expression == w.expression);
      CHECK(tr.jaw == w.jaw);
      CHECK(tr.neck == w.neck);
      CHECK(tr.eyes == w.eyes);
      CHECK(tr.rotation == w.rotation);
      CHECK(tr.rotation_matrices == w.rotation_matrices);
      CHECK(tr.translation == w.translation);
      CHECK(tr.scale == w.scale);
      CHECK(tr.shape == id.tracking.shape);
      for (int t = 0; t < 2; ++t) {
        const bool reference = q == 0 && t == 0;
        bool nonzero_expr = false;
        for (int k = 0; k < tr.E; ++k) nonzero_expr |= tr.expression[size_t(t * tr.E + k)] != 0;
        bool nonzero_joint = false;
        for (int k = 0; k < 3; ++k) nonzero_joint |= tr.jaw[size_t(3 * t + k)] != 0 || tr.neck[size_t(3 * t + k)] != 0;
        for (int k = 0; k < 6; ++k) nonzero_joint |= tr.eyes[size_t(6 * t + k)] != 0;
        if (reference) {  // the reference frame is neutral, at the identity's rigid pose
          CHECK_FALSE(nonzero_expr);
          CHECK_FALSE(nonzero_joint);
          CHECK(std::equal(tr.rotation_matrices.begin(), tr.rotation_matrices.begin() + 9, id.tracking.rotation_matrices.begin()));
        } else {
          some_expression |= nonzero_expr;
          some_jaw |= tr.jaw[size_t(3 * t)] > 0;
          some_motion |= tr.rotation[size_t(3 * t)] != id.tracking.rotation[0];
        }
        // only the built-in model's 14 modes are used
        for (int k = m.E; k < tr.E; ++k) CHECK(tr.expression[size_t(t * tr.E + k)] == 0);
      }
      // train/motion.h reads the same file: expression and joints as tracked
      train::Motion mo = train::read_motion_npz(sp.tracking, m);
      REQUIRE(mo.frames.size() == 2);
      CHECK(mo.warnings.empty());
      for (int t = 0; t < 2; ++t) {
        const train::RigPose& p = mo.frames[size_t(t)];
        REQUIRE(p.expression.size() == size_t(m.E));
        for (int k = 0; k < m.E; ++k) CHECK(p.expression[size_t(k)] == tr.expression[size_t(t * tr.E + k)]);
        for (int k = 0; k < 3; ++k) {
          CHECK(p.pose[size_t(3 * flame::kJaw + k)] == tr.jaw[size_t(3 * t + k)]);
          CHECK(p.pose[size_t(3 * flame::kNeck + k)] == tr.neck[size_t(3 * t + k)]);
        }
      }
    }
  }
  CHECK(some_expression);
  CHECK(some_jaw);
  CHECK(some_motion);
  // determinism per (seed, identity, sequence, timestep): the same draws whatever n is
  SynthOptions o3 = fx.o;
  o3.n = 3;
  CHECK(synth_identity(m, o3, 1, false).sequence_tracking[1].expression ==
        synth_identity(m, fx.o, 1, false).sequence_tracking[1].expression);
  // split.json: the last sequence of every training identity is held out
  const SplitFile sf = read_split(fx.o.out);
  CHECK(sf.heldout.empty());
  REQUIRE(sf.heldout_frames.size() == 2);
  for (auto& kv : sf.heldout_frames) CHECK(kv.second == std::vector<std::string>{"EXP-2-eyes"});
  CHECK(sf.frame_heldout("000", "EXP-2-eyes", 1));
  CHECK_FALSE(sf.frame_heldout("000", "EXP-1-head", 1));
}

TEST_CASE("expression synth: the reader lists every frame; the adapter's view_pose drives HeadRig onto the rendered mesh") {
  ExprFixture& fx = fixture();
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  const std::vector<std::string> order = {"EXP-1-head/00000", "EXP-1-head/00001", "EXP-2-eyes/00000", "EXP-2-eyes/00001"};

  DatasetOptions all;
  all.sequences = {"*"};
  all.frames = FrameSplit::All;
  NersembleReader rd = NersembleReader::open(fx.o.out, all);
  CHECK(rd.report().errors() == 0);
  CHECK(rd.report().warnings() == 0);
  if (rd.report().errors() || rd.report().warnings()) std::printf("%s", rd.report().text().c_str());
  REQUIRE(rd.num_subjects() == 2);
  NersembleReader single = NersembleReader::open(fx.o.out);  // the seed's single frame
  for (int s = 0; s < 2; ++s) {
    const Subject& sub = rd.subject(s);
    CHECK(sub.preprocessed);
    CHECK(sub.frames_found == 4);
    REQUIRE(sub.frames.size() == 4);
    REQUIRE(sub.cameras.size() == 64);
    for (int f = 0; f < 4; ++f) {
      CHECK(sub.frames[size_t(f)].name() == order[size_t(f)]);
      CHECK(sub.frames[size_t(f)].reference == (f == 0));
      CHECK(sub.frames[size_t(f)].heldout == (f >= 2));
    }
    // frame-major, serials sorted within a frame; the reference frame's views are the single-frame reader's
    const Subject& one = single.subject(s);
    REQUIRE(one.cameras.size() == 16);
    for (int v = 0; v < 64; ++v) {
      CHECK(sub.view_frame[size_t(v)] == v / 16);
      CHECK(sub.cameras[size_t(v)].name == one.cameras[size_t(v % 16)].name);
    }
    for (int v = 0; v < 16; ++v) {
      CHECK(sub.cameras[size_t(v)].viewmat == one.cameras[size_t(v)].viewmat);
      CHECK(sub.images[size_t(v)] == one.images[size_t(v)]);
    }
    // every frame's cameras carry that frame's rigid head pose (as synth rendered it)
    SynthIdentity id = synth_identity(m, fx.o, s, false);
    for (int f = 1; f < 4; ++f) {
      SynthFrame sfr = synth_frame(m, fx.o, id, f / 2, f % 2, false);
      for (int c = 0; c < 16; ++c)
        CHECK(max_diff(std::vector<double>(sub.cameras[size_t(16 * f + c)].viewmat.begin(), sub.cameras[size_t(16 * f + c)].viewmat.end()),
                       std::vector<double>(sfr.cameras[size_t(c)].viewmat.begin(), sfr.cameras[size_t(c)].viewmat.end())) < 1e-6);
      // preprocessing wrote the frame's own head (with its expression)
      flame::Mesh head = flame::read_ply(sub.frames[size_t(f)].paths.mesh);
      CHECK(max_diff(head.vertices, sfr.vertices) < 1e-6);
    }
  }

  // the trainer's view: train = EXP-1-head (2 frames), heldout_expr = EXP-2-eyes (2 frames)
  std::unique_ptr<train::IdentityDataset> tr = train::open_dataset(fx.o.out, "train");
  std::unique_ptr<train::IdentityDataset> he = train::open_dataset(fx.o.out, "heldout_expr");
  std::unique_ptr<train::IdentityDataset> ev = train::open_dataset(fx.o.out, "");
  REQUIRE(tr->num_subjects() == 2);
  REQUIRE(he->num_subjects() == 2);
  double worst = 0, worst_face = 0;
  int posed = 0;
  for (int s = 0; s < 2; ++s) {
    CHECK(tr->num_views(s) == 32);
    CHECK(he->num_views(s) == 32);
    CHECK(ev->num_views(s) == 64);
    std::set<std::string> train_frames, held_frames;
    for (int v = 0; v < tr->num_views(s); ++v) train_frames.insert(tr->view_frame(s, v));
    for (int v = 0; v < he->num_views(s); ++v) held_frames.insert(he->view_frame(s, v));
    CHECK(train_frames == std::set<std::string>{order[0], order[1]});
    CHECK(held_frames == std::set<std::string>{order[2], order[3]});
    // the reference frame's neutral head
    SynthIdentity id = synth_identity(m, fx.o, s, false);
    const std::vector<double> head = ev->head_vertices(s);
    CHECK(max_diff(head, id.canonical_vertices) == 0);
    CHECK(max_diff(ev->face_mesh(s).vertices, tr->face_mesh(s).vertices) == 0);
    train::HeadRig rig(m, head);
    for (int v = 0; v < 64; v += 16) {
      const int f = v / 16, q = f / 2, t = f % 2;
      CHECK(ev->view_frame(s, v) == order[size_t(f)]);
      const train::RigPose p = ev->view_pose(s, v);
      const FlameTracking& w = id.sequence_tracking[size_t(q)];
      if (f == 0) {
        CHECK(p.is_neutral());
        CHECK(rig.posed_head(p) == head);  // bit for bit
        continue;
      }
      // the written parameters (expression in the rig's units: × the tracked scale), global pose 0, no rigid motion
      REQUIRE(p.expression.size() == size_t(m.E));
      for (int k = 0; k < m.E; ++k) CHECK(p.expression[size_t(k)] == w.scale * w.expression[size_t(t * w.E + k)]);
      for (int k = 0; k < 3; ++k) {
        CHECK(p.pose[size_t(k)] == 0);
        CHECK(p.pose[size_t(3 * flame::kNeck + k)] == w.neck[size_t(3 * t + k)]);
        CHECK(p.pose[size_t(3 * flame::kJaw + k)] == w.jaw[size_t(3 * t + k)]);
        CHECK(p.pose[size_t(3 * flame::kLeftEye + k)] == w.eyes[size_t(6 * t + k)]);
        CHECK(p.pose[size_t(3 * flame::kRightEye + k)] == w.eyes[size_t(6 * t + 3 + k)]);
        CHECK(p.translation[size_t(k)] == 0);
      }
      CHECK(p.rotation == train::RigPose{}.rotation);
      // HeadRig(neutral head, view_pose) = the mesh synth rendered for that frame
      SynthFrame sfr = synth_frame(m, fx.o, id, q, t, false);
      worst = std::max(worst, max_diff(rig.posed_head(p), sfr.vertices));
      // and the posed face-mask mesh is the frame's preprocessed 00000_facemask.ply
      const std::string fm = subject_paths(fx.o.out, id.name, id.sequences[size_t(q)], t).facemask(0);
      worst_face = std::max(worst_face, max_diff(rig.posed_face(p), flame::read_ply(fm).vertices));
      ++posed;
    }
    // the same frame seen through "heldout_expr" has the same pose
    for (int v = 0; v < he->num_views(s); ++v) {
      const int ev_v = 32 + v;
      CHECK(he->view_frame(s, v) == ev->view_frame(s, ev_v));
      CHECK(he->view_pose(s, v).expression == ev->view_pose(s, ev_v).expression);
      CHECK(he->camera(s, v).viewmat == ev->camera(s, ev_v).viewmat);
    }
    // a held-out frame's image is that frame's masked ground truth
    std::vector<uint8_t> rgb, mask;
    he->load_view(s, 17, rgb, mask);
    const Image8 gt = read_image(subject_paths(fx.o.out, id.name, "EXP-2-eyes", 1).masked(he->camera(s, 17).name), 3);
    CHECK(rgb == gt.pixels);
  }
  CHECK(posed == 6);
  MESSAGE("HeadRig vs synth frame mesh: max |Δ| " << worst << " m, face mask " << worst_face << " m");
  CHECK(worst < 1e-6);      // float tolerance (the meshes are metres, ~0.1)
  CHECK(worst_face < 1e-6);
}

TEST_CASE("single-frame datasets: the adapter's views are the reader's, neutral, without a frame name") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  data_test::TempDir td("expr_single");
  SynthOptions o = expr_options(td.path + "/ds");
  o.sequences = 1;
  o.timesteps = 1;
  o.heldout = 1;
  write_synth_dataset(m, o);
  CHECK_FALSE(read_split(o.out).heldout_frames.size() > 0);
  NersembleReader rd = NersembleReader::open(o.out);
  std::unique_ptr<train::IdentityDataset> ds = train::open_dataset(o.out, "train");
  REQUIRE(ds->num_subjects() == rd.num_subjects());
  REQUIRE(rd.num_subjects() == 1);
  REQUIRE(ds->num_views(0) == 16);
  for (int v = 0; v < 16; ++v) {
    CHECK(ds->camera(0, v).name == rd.subject(0).cameras[size_t(v)].name);
    CHECK(ds->camera(0, v).viewmat == rd.subject(0).cameras[size_t(v)].viewmat);
    CHECK(ds->view_pose(0, v).is_neutral());
    CHECK(ds->view_frame(0, v).empty());
  }
  CHECK(ds->head_vertices(0).size() == size_t(m.V) * 3);
  // the single frame keeps today's small jaw/neck pose (the default dataset is unchanged)
  SynthIdentity id = synth_identity(m, o, 0, false);
  CHECK(id.tracking.T == 1);
  CHECK(id.tracking.jaw[0] != 0);
  // no held-out-expression frames: that split is empty
  CHECK(throws_with([&] { train::open_dataset(o.out, "heldout_expr"); }, "no usable subject"));
}

TEST_CASE("split.json heldout_frames: malformed entries, missing sequences/timesteps and the reference are refused") {
  const std::string name = "/d/split.json";
  auto bad = [&](const std::string& hf, const std::string& needle) {
    const std::string text = R"({"train": ["000"], "heldout": [], "heldout_frames": )" + hf + "}";
    CHECK(throws_with([&] { parse_split(text, name); }, needle));
    CHECK(throws_with([&] { parse_split(text, name); }, name));
  };
  bad(R"(["EXP-2-eyes"])", "must be an object");
  bad(R"({"000": "EXP-2-eyes"})", "must be a list");
  bad(R"({"000": [3]})", "entries must be strings");
  bad(R"({"000": [""]})", "must be \"<sequence>\"");
  bad(R"({"000": ["/00001"]})", "must be \"<sequence>\"");
  bad(R"({"000": ["../x"]})", "must be \"<sequence>\"");
  bad(R"({"000": ["EXP-2-eyes/"]})", "frame number");
  bad(R"({"000": ["EXP-2-eyes/1a"]})", "frame number");
  bad(R"({"000": ["EXP-2-eyes/0000000001"]})", "frame number");
  bad(R"({"000": ["EXP-2-eyes/00001", "EXP-2-eyes/1"]})", "twice");
  bad(R"({"": ["EXP-2-eyes"]})", "empty subject");
  SplitFile ok = parse_split(R"({"train": ["000"], "heldout_frames": {"000": ["EXP-2-eyes/00001", "FREE"]}})", name);
  CHECK(ok.frame_heldout("000", "EXP-2-eyes", 1));
  CHECK_FALSE(ok.frame_heldout("000", "EXP-2-eyes", 0));
  CHECK(ok.frame_heldout("000", "FREE", 17));
  CHECK_FALSE(ok.frame_heldout("001", "FREE", 17));

  ExprFixture& fx = fixture();
  data_test::TempDir td("expr_bad");
  DatasetOptions strict;
  strict.sequences = {"*"};
  strict.strict = true;
  auto refused = [&](const std::string& root, const std::string& needle, const std::string& file) {
    CHECK(throws_with([&] { NersembleReader::open(root, strict); }, needle));
    CHECK(throws_with([&] { NersembleReader::open(root, strict); }, file));
  };
  {  // an entry naming a sequence the subject does not have
    const std::string root = copy_dataset(fx.o.out, td.path + "/a");
    write_text(root + "/split.json", R"({"train": ["000", "001"], "heldout_frames": {"000": ["EXP-5-mouth"]}})");
    refused(root, "no sequence", root + "/split.json");
    // non-strict: that subject is skipped, named
    DatasetOptions lax = strict;
    lax.strict = false;
    NersembleReader rd = NersembleReader::open(root, lax);
    CHECK(rd.num_subjects() == 1);
    CHECK(rd.report().skipped_text().find("000") != std::string::npos);
  }
  {  // a missing timestep, and the reference frame
    const std::string root = copy_dataset(fx.o.out, td.path + "/b");
    write_text(root + "/split.json", R"({"train": ["000", "001"], "heldout_frames": {"000": ["EXP-2-eyes/00007"]}})");
    refused(root, "no timestep", root + "/split.json");
    write_text(root + "/split.json", R"({"train": ["000", "001"], "heldout_frames": {"000": ["EXP-1-head"]}})");
    refused(root, "reference frame", root + "/split.json");
    write_text(root + "/split.json", R"({"train": ["000", "001"], "heldout_frames": {"000": ["EXP-1-head/00000"]}})");
    refused(root, "reference frame", root + "/split.json");
    write_text(root + "/split.json", R"({"train": ["000", "001"], "heldout_frames": {"000": ["EXP-1-head/00001"]}})");
    NersembleReader rd = NersembleReader::open(root, strict);  // another timestep of the reference sequence: fine
    CHECK(rd.subject(0).frames.size() == 3);
    write_text(root + "/split.json", R"({"train": ["000", "001"], "heldout_frames": {"000": [7]}})");
    CHECK(throws_with([&] { NersembleReader::open(root, strict); }, root + "/split.json"));
  }
  {  // a timestep whose images are gone; a timestep folder the tracking does not know
    const std::string root = copy_dataset(fx.o.out, td.path + "/c");
    const SubjectPaths sp = subject_paths(root, "001", "EXP-2-eyes", 1);
    fs::remove_all(sp.image_dir);
    refused(root, "camera without an image", sp.image_dir);
    NersembleReader single = NersembleReader::open(root);  // the reference frame alone still reads
    CHECK(single.num_subjects() == 2);
    const std::string root2 = copy_dataset(fx.o.out, td.path + "/d");
    const SubjectPaths extra = subject_paths(root2, "000", "EXP-2-eyes", 7);
    fs::create_directories(extra.image_dir);
    refused(root2, "no row in the tracking npz", subject_paths(root2, "000", "EXP-2-eyes").tracking);
    // an explicitly requested sequence that is missing
    DatasetOptions want = strict;
    want.sequences = {"EXP-9-jaw-2"};
    CHECK(throws_with([&] { NersembleReader::open(fx.o.out, want); }, "requested sequence EXP-9-jaw-2 is missing"));
  }
}
