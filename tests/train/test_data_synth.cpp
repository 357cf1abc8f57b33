// Synthetic NeRSemble datasets: synth → reader round trip (cameras, tracking, meshes, images, masks, masked GT),
// the held-out split, determinism, idempotent preprocessing, and the face mask's occlusion by the head.
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <filesystem>

#include "core/check.h"
#include "flame/mesh.h"
#include "tests/train/test_data_util.h"
#include "train/data/nersemble_reader.h"
#include "train/data/preprocess.h"
#include "train/data/synth.h"

using namespace ff;
using namespace ff::data;
namespace fs = std::filesystem;

namespace {

SynthOptions small_options(const std::string& out) {
  SynthOptions o;
  o.out = out;
  o.n = 3;
  o.heldout = 1;
  o.seed = 7;
  o.width = 110;  // 2200x3208 / 20
  o.height = 160;
  o.texture_size = 64;
  o.shape_std = 0.3;
  o.threads = 2;
  o.model_name = "tests/fixtures/flame_model.npz";
  return o;
}

}  // namespace

TEST_CASE("synth → reader round trip: cameras, tracking, meshes, images, masks") {
  flame::FlameModel m = data_test::fixture_model();
  data_test::TempDir td("synth_rt");
  SynthOptions o = small_options(td.path + "/ds");
  SynthReport rep = write_synth_dataset(m, o);
  CHECK(rep.identities == 3);
  CHECK(rep.views == 48);
  CHECK(rep.heldout.size() == 1);
  CHECK(fs::exists(o.out + "/contact_sheet_centre.png"));
  CHECK(fs::exists(o.out + "/contact_sheet_views.png"));
  CHECK(fs::exists(o.out + "/synth.json"));

  // validation: clean (the only remark may be none at all), all preprocessed
  ValidationReport vr = validate_dataset(o.out);
  CHECK(vr.errors() == 0);
  CHECK(vr.warnings() == 0);
  CHECK(vr.usable() == 3);
  CHECK(vr.width == 110);
  CHECK(vr.height == 160);
  CHECK(vr.cameras.size() == 16);
  if (vr.errors() || vr.warnings()) std::printf("%s", vr.text().c_str());

  // the train split excludes the held-out identity; Split::All has everyone
  NersembleReader train = NersembleReader::open(o.out);
  CHECK(train.num_subjects() == 2);
  CHECK(train.find_subject(rep.heldout[0]) == -1);
  DatasetOptions all_o;
  all_o.split = Split::All;
  all_o.gt = GtSource::Raw;
  NersembleReader all = NersembleReader::open(o.out, all_o);
  CHECK(all.num_subjects() == 3);
  DatasetOptions held_o;
  held_o.split = Split::Heldout;
  NersembleReader held = NersembleReader::open(o.out, held_o);
  CHECK(held.num_subjects() == 1);
  CHECK(held.subject(0).name == rep.heldout[0]);
  NersembleReader masked = NersembleReader::open(o.out, [] {
    DatasetOptions d;
    d.split = Split::All;
    return d;
  }());

  const int W = 110, H = 160, n = W * H;
  std::vector<float> img(size_t(3) * size_t(n)), mask(static_cast<size_t>(n));
  int covered = 0;
  for (int s = 0; s < 3; ++s) {
    SynthIdentity id = synth_identity(m, o, s, true);
    const Subject& sub = all.subject(all.find_subject(id.name));
    CHECK(sub.preprocessed == false);  // GtSource::Raw was asked for
    // tracking and the canonical frame
    CHECK(sub.tracking.shape == id.tracking.shape);
    CHECK(sub.tracking.rotation_matrices == id.tracking.rotation_matrices);
    CHECK(sub.tracking.scale == id.tracking.scale);
    CHECK(data_test::max_diff(std::vector<double>(sub.cano2world.begin(), sub.cano2world.end()),
                   std::vector<double>(id.cano2world.begin(), id.cano2world.end())) < 1e-15);
    // cameras: same serials, intrinsics, extrinsics, canonical view matrices
    REQUIRE(sub.cameras.size() == id.cameras.size());
    for (size_t c = 0; c < id.cameras.size(); ++c) {
      const Camera &a = sub.cameras[c], &b = id.cameras[c];
      CHECK(a.name == b.name);
      CHECK(a.fx() == doctest::Approx(b.fx()).epsilon(1e-12));
      CHECK(a.cx() == doctest::Approx(b.cx()).epsilon(1e-12));
      CHECK(a.cy() == doctest::Approx(b.cy()).epsilon(1e-12));
      CHECK(data_test::max_diff(std::vector<double>(sub.world_2_cam[c].begin(), sub.world_2_cam[c].end()),
                     std::vector<double>(id.world_2_cam[c].begin(), id.world_2_cam[c].end())) < 1e-15);
      CHECK(data_test::max_diff(std::vector<double>(a.viewmat.begin(), a.viewmat.end()),
                     std::vector<double>(b.viewmat.begin(), b.viewmat.end())) < 1e-12);
    }
    // meshes: 00000.ply = the canonical tracked mesh (float32 PLY), face mask + 3 nested subdivisions
    flame::Mesh head = read_subject_mesh(sub, -1);
    CHECK(data_test::max_diff(head.vertices, id.canonical_vertices) < 1e-6);
    CHECK(head.faces == m.faces);
    HeadMeshes hm = build_head_meshes(m, id.canonical_vertices, PreprocessOptions{});
    for (int l = 0; l <= 3; ++l) {
      flame::Mesh fm = read_subject_mesh(sub, l);
      CHECK(fm.num_vertices() == hm.facemask[size_t(l)].num_vertices());
      CHECK(fm.faces == hm.facemask[size_t(l)].faces);
      CHECK(data_test::max_diff(fm.vertices, hm.facemask[size_t(l)].vertices) < 1e-6);
    }
    CHECK(read_cano2world_txt(sub.paths.cano2world) == sub.cano2world_scaled);
    // images: the reader returns exactly what was rendered; mask = alpha map (raw mode)
    for (size_t c = 0; c < id.cameras.size(); c += 5) {
      int si = all.find_subject(id.name);
      all.load(si, int(c), img.data(), mask.data());
      int bad = 0;
      for (int i = 0; i < n; ++i) {
        for (int k = 0; k < 3; ++k)
          bad += std::fabs(img[size_t(k * n + i)] - id.images[c].pixels[size_t(i * 3 + k)] / 255.0f) > 1e-6f;
        bad += std::fabs(mask[size_t(i)] - id.alpha[c].pixels[size_t(i)] / 255.0f) > 1e-6f;
      }
      CHECK(bad == 0);
      // masked GT: image × the face mask rendered independently from the tracked mesh and the camera
      masked.load(masked.find_subject(id.name), int(c), img.data(), mask.data());
      const Camera& cam = sub.cameras[c];
      Image8 fmask = render_face_mask(hm.head, hm.face_flag, {cam.viewmat, cam.fx(), cam.fy(), cam.cx(), cam.cy(), W, H}, 2, 7.0);
      Image8 gt = apply_mask(id.images[c], fmask);
      int bad_m = 0;
      for (int i = 0; i < n; ++i) {
        bad_m += std::fabs(mask[size_t(i)] - fmask.pixels[size_t(i)] / 255.0f) > 1.5f / 255;
        covered += fmask.pixels[size_t(i)] > 128;
        for (int k = 0; k < 3; ++k) bad_m += std::fabs(img[size_t(k * n + i)] - gt.pixels[size_t(i * 3 + k)] / 255.0f) > 1.5f / 255;
      }
      CHECK(bad_m == 0);
    }
  }
  CHECK(covered > 100);  // the face mask is visible in the views sampled
  // the images look like something: the centre camera sees the head in the middle, background black
  SynthIdentity id0 = synth_identity(m, o, 0, true);
  int ci = 0;
  for (size_t c = 0; c < id0.cameras.size(); ++c)
    if (id0.cameras[c].name == kCentreSerial) ci = int(c);
  const Image8& im = id0.images[size_t(ci)];
  CHECK(im.at(0, 0)[0] == 0);
  CHECK(int(im.at(W / 2, H / 2)[0]) + im.at(W / 2, H / 2)[1] > 60);
  CHECK(id0.alpha[size_t(ci)].at(W / 2, H / 2)[0] == 255);
}

TEST_CASE("synth: deterministic for a seed, different across seeds and identities; split stable") {
  flame::FlameModel m = data_test::fixture_model();
  SynthOptions o = small_options("/nonexistent");
  o.width = 55;
  o.height = 80;
  SynthIdentity a = synth_identity(m, o, 1, true), b = synth_identity(m, o, 1, true);
  CHECK(a.images[3].pixels == b.images[3].pixels);
  CHECK(a.texture.pixels == b.texture.pixels);
  CHECK(a.tracking.shape == b.tracking.shape);
  SynthIdentity c = synth_identity(m, o, 2, true);
  CHECK(c.tracking.shape != a.tracking.shape);
  CHECK(c.texture.pixels != a.texture.pixels);
  o.seed = 8;
  SynthIdentity d = synth_identity(m, o, 1, true);
  CHECK(d.tracking.shape != a.tracking.shape);
  // thread count does not change the output
  o.seed = 7;
  o.threads = 1;
  SynthIdentity e = synth_identity(m, o, 1, true);
  CHECK(e.images[0].pixels == a.images[0].pixels);
  // rig: 16 NeRSemble serials, centre camera first
  CHECK(synth_rig().size() == 16);
  CHECK(synth_rig()[0].serial == kCentreSerial);
  std::vector<std::string> serials;
  for (auto& r : synth_rig()) serials.push_back(r.serial);
  std::sort(serials.begin(), serials.end());
  std::vector<std::string> ref = nersemble_serials();
  std::sort(ref.begin(), ref.end());
  CHECK(serials == ref);
  CHECK(synth_subject_name(7, 64) == "007");
  CHECK(synth_subject_name(7, 5000) == "0007");
}

TEST_CASE("preprocess is idempotent: only missing outputs are rebuilt") {
  flame::FlameModel m = data_test::fixture_model();
  data_test::TempDir td("synth_pp");
  SynthOptions o = small_options(td.path + "/ds");
  o.n = 2;
  o.heldout = 0;
  o.width = 55;
  o.height = 80;
  o.preprocess = false;
  o.contact_sheets = false;
  write_synth_dataset(m, o);
  CHECK(validate_dataset(o.out).warnings() == 0);  // nothing preprocessed yet: raw images, no remark
  PreprocessOptions po;
  po.threads = 2;
  PreprocessReport r1 = preprocess_dataset(o.out, m, po);
  const int per_subject = 1 + 1 + 4 + 16 * 2;  // mesh, cano2world, 4 face-mask levels, 16 masks + 16 masked
  CHECK(r1.subjects == 2);
  CHECK(r1.written == 2 * per_subject);
  CHECK(r1.kept == 0);
  PreprocessReport r2 = preprocess_dataset(o.out, m, po);
  CHECK(r2.written == 0);
  CHECK(r2.kept == 2 * per_subject);
  // a deleted mask is rebuilt together with its masked image; nothing else is touched
  SubjectPaths sp = subject_paths(o.out, "000");
  auto t_mesh = fs::last_write_time(sp.mesh);
  fs::remove(sp.mask("222200037"));
  PreprocessReport r3 = preprocess_dataset(o.out, m, po);
  CHECK(r3.written == 2);
  CHECK(fs::exists(sp.mask("222200037")));
  CHECK(fs::last_write_time(sp.mesh) == t_mesh);
  // --force rebuilds everything
  po.force = true;
  CHECK(preprocess_dataset(o.out, m, po).written == 2 * per_subject);
  // a partially preprocessed subject is reported (warning) and read as raw
  fs::remove(sp.masked("222200040"));
  ValidationReport vr = validate_dataset(o.out);
  CHECK(vr.warnings() == 1);
  CHECK(vr.errors() == 0);
  DatasetOptions req;
  req.require_preprocessed = true;
  CHECK(validate_dataset(o.out, req).errors() == 1);
}

TEST_CASE("face mask: occluded by the rest of the head, soft edge") {
  // a face-mask quad at z = 2 half hidden behind a non-mask quad at z = 1.5 (camera at the origin looking +z)
  flame::Mesh head;
  head.vertices = {-0.5, -0.5, 2, 0.5, -0.5, 2, 0.5, 0.5, 2, -0.5, 0.5, 2,  // mask quad
                   0.0, -1.0, 1.5, 1.0, -1.0, 1.5, 1.0, 1.0, 1.5, 0.0, 1.0, 1.5};  // occluder on the right half
  head.faces = {0, 1, 2, 0, 2, 3, 4, 5, 6, 4, 6, 7};
  std::vector<uint8_t> flag = {1, 1, 0, 0};
  flame::RasterView v{mat4_identity(), 100, 100, 50, 50, 100, 100};
  Image8 sharp = render_face_mask(head, flag, v, 2, 0.0);
  CHECK(sharp.at(40, 50)[0] == 255);  // visible mask (left half)
  CHECK(sharp.at(60, 50)[0] == 0);    // hidden behind the occluder
  CHECK(sharp.at(10, 50)[0] == 0);    // outside
  Image8 soft = render_face_mask(head, flag, v, 2, 7.0 * 1100 / 100);  // σ = 7 px at this width
  CHECK(soft.at(40, 50)[0] > 100);
  CHECK(soft.at(40, 50)[0] < 255);  // blurred towards the hidden half
  CHECK(soft.at(51, 50)[0] > 0);    // soft edge spills over
  CHECK(soft.at(90, 50)[0] == 0);
  // clipped: stops at the head's outline (the mask quad's left edge at x = 25; the occluder is head too)
  Image8 clipped;
  Image8 soft2 = render_face_mask(head, flag, v, 2, 7.0 * 1100 / 100, &clipped);
  CHECK(soft2.pixels == soft.pixels);  // the soft mask is the same with or without the clipped one
  CHECK(soft.at(20, 50)[0] > 20);      // the blur spills over the outline into the background ...
  CHECK(clipped.at(20, 50)[0] == 0);   // ... the clipped mask does not
  CHECK(clipped.at(24, 50)[0] == 0);   // 0 up to the outline (between pixels 24 and 25) ...
  CHECK(clipped.at(25, 50)[0] <= 12);  // ... and near 0 just inside it
  CHECK(clipped.at(33, 50)[0] > 0);    // rising inside
  CHECK(clipped.at(33, 50)[0] < soft.at(33, 50)[0]);
  CHECK(std::abs(int(clipped.at(51, 50)[0]) - int(soft.at(51, 50)[0])) <= 1);  // deep inside the head: unchanged
  for (size_t i = 0; i < clipped.pixels.size(); ++i) REQUIRE(clipped.pixels[i] <= soft.pixels[i]);
}

#if __has_include("flame/headmodel.h")
#include "flame/headmodel.h"

TEST_CASE("synth with the built-in head model: the texture's features land on the model's landmarks") {
  const flame::FlameModel& m = flame::builtin_head_model_ref();
  REQUIRE(m.full_landmarks.count() >= 70);
  SynthOptions o = small_options("/nonexistent");
  o.model_name = "builtin";
  o.width = 275;
  o.height = 401;
  o.texture_size = 256;
  o.shape_std = 1.0;
  for (int i = 0; i < 4; ++i) {
    SynthIdentity id = synth_identity(m, o, i, true);
    int ci = 0;
    for (size_t c = 0; c < id.cameras.size(); ++c)
      if (id.cameras[c].name == kCentreSerial) ci = int(c);
    const Camera& cam = id.cameras[size_t(ci)];
    const Image8& im = id.images[size_t(ci)];
    // landmarks on the canonical mesh, projected with the canonical view matrix (splat.h pixel convention)
    auto pixel = [&](int l) {
      double p[3] = {0, 0, 0};
      for (int k = 0; k < 3; ++k) {
        int v = m.faces[size_t(m.full_landmarks.face_idx[size_t(l)]) * 3 + size_t(k)];
        for (int a = 0; a < 3; ++a) p[a] += m.full_landmarks.bary[size_t(l) * 3 + size_t(k)] * id.canonical_vertices[size_t(v) * 3 + size_t(a)];
      }
      double q[3];
      for (int a = 0; a < 3; ++a)
        q[a] = cam.viewmat[size_t(a * 4)] * p[0] + cam.viewmat[size_t(a * 4 + 1)] * p[1] + cam.viewmat[size_t(a * 4 + 2)] * p[2] +
               cam.viewmat[size_t(a * 4 + 3)];
      int x = int(std::floor(cam.fx() * q[0] / q[2] + cam.cx())), y = int(std::floor(cam.fy() * q[1] / q[2] + cam.cy()));
      REQUIRE(x >= 0);
      REQUIRE(x < im.width);
      REQUIRE(y >= 0);
      REQUIRE(y < im.height);
      return im.at(x, y);
    };
    auto lum = [](const uint8_t* p) { return 0.3 * p[0] + 0.59 * p[1] + 0.11 * p[2]; };
    // the face's median luminance
    std::vector<double> face;
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x)
        if (id.alpha[size_t(ci)].at(x, y)[0] == 255) face.push_back(lum(im.at(x, y)));
    std::nth_element(face.begin(), face.begin() + long(face.size() / 2), face.end());
    double med = face[face.size() / 2];
    INFO("identity " << i << " median face luminance " << med);
    CHECK(lum(pixel(68)) < 0.6 * med);  // pupils (right, left)
    CHECK(lum(pixel(69)) < 0.6 * med);
    // the upper lip (between landmarks 51 and 62) is redder than the cheek beside the nose
    const uint8_t* lip = pixel(51);
    const uint8_t* lip2 = pixel(62);
    double lip_rg = (double(lip[0]) + lip2[0] + 1) / (double(lip[1]) + lip2[1] + 1);
    const uint8_t* cheek = pixel(2);
    const uint8_t* cheek2 = pixel(14);
    double cheek_rg = (double(cheek[0]) + cheek2[0] + 1) / (double(cheek[1]) + cheek2[1] + 1);
    CHECK(lip_rg > cheek_rg);
  }
}
#endif
