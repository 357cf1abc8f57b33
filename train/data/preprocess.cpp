// train/data/preprocess.cpp — meshes, cano2world, projected face masks and masked GT per subject.
#include "train/data/preprocess.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/check.h"
#include "core/parallel.h"
#include "train/data/nersemble_reader.h"

namespace fs = std::filesystem;

namespace ff::data {

std::string PreprocessReport::text() const {
  std::ostringstream o;
  o << "preprocess: " << subjects << " subjects processed, " << skipped << " skipped, " << written << " files written, "
    << kept << " already present\n";
  for (auto& w : warnings) o << "warning: " << w << "\n";
  return o.str();
}

namespace {

std::vector<double> tracked_vertices(const flame::FlameModel& m, const FlameTracking& tr, int t, bool with_expression,
                                     std::vector<std::string>* warnings) {
  FF_CHECK(t >= 0 && t < tr.T, "tracked_neutral_vertices: timestep ", t, " out of range");
  FF_CHECK(m.J == flame::kFlameJoints, "tracked_neutral_vertices: the model needs FLAME's 5 joints, has ", m.J);
  int ns = std::min<int>(m.S, int(tr.shape.size()));
  if (warnings)
    for (size_t i = size_t(ns); i < tr.shape.size(); ++i)
      if (tr.shape[i] != 0) {
        warnings->push_back("tracking has " + std::to_string(tr.shape.size()) + " shape coefficients, the model " +
                            std::to_string(m.S) + "; the non-zero extra ones are dropped");
        break;
      }
  const int ne = with_expression ? std::min(m.E, tr.E) : 0;
  if (warnings && with_expression)
    for (int k = ne; k < tr.E; ++k)
      if (tr.expression[size_t(t) * size_t(tr.E) + size_t(k)] != 0) {
        warnings->push_back("tracking has " + std::to_string(tr.E) + " expression coefficients, the model " +
                            std::to_string(m.E) + "; the non-zero extra ones are dropped");
        break;
      }
  double pose[15] = {0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    pose[3 + k] = tr.neck[size_t(t) * 3 + k];
    pose[6 + k] = tr.jaw[size_t(t) * 3 + k];
  }
  for (int k = 0; k < 6; ++k) pose[9 + k] = tr.eyes[size_t(t) * 6 + k];
  flame::FlameInput<double> in;
  in.batch = 1;
  in.n_shape = ns;
  in.n_expr = ne;
  in.shape = tr.shape.data();
  in.expr = ne > 0 ? &tr.expression[size_t(t) * size_t(tr.E)] : nullptr;
  in.pose = pose;
  in.scale = &tr.scale;
  flame::FlameOutput<double> out;
  flame::flame_fwd(m, in, out, nullptr, 1);
  return out.vertices;
}

}  // namespace

std::vector<double> tracked_neutral_vertices(const flame::FlameModel& m, const FlameTracking& tr, int t,
                                             std::vector<std::string>* warnings) {
  return tracked_vertices(m, tr, t, false, warnings);
}

std::vector<double> tracked_frame_vertices(const flame::FlameModel& m, const FlameTracking& tr, int t,
                                           std::vector<std::string>* warnings) {
  return tracked_vertices(m, tr, t, true, warnings);
}

HeadMeshes build_head_meshes(const flame::FlameModel& m, const std::vector<double>& verts, const PreprocessOptions& o,
                             std::vector<std::string>* warnings) {
  FF_CHECK(verts.size() == size_t(m.V) * 3, "build_head_meshes: expected ", m.V, "x3 vertices");
  HeadMeshes h;
  std::vector<int32_t> extra;
  if (o.close_mouth && m.V == 5023) extra = flame::seed_mouth_faces();
  h.head.vertices = verts;
  h.head.faces = m.faces;
  h.head.faces.insert(h.head.faces.end(), extra.begin(), extra.end());
  if (extra.empty() && !m.uv_faces.empty()) {
    h.head.uvs = m.uvs;
    h.head.uv_faces = m.uv_faces;
  }
  std::vector<std::string> regions = o.regions.empty() ? flame::seed_face_mask_regions() : o.regions;
  std::vector<std::string> present;
  for (auto& r : regions) {
    if (m.masks.count(r) || (r == "new_mouth" && !extra.empty())) present.push_back(r);
    else if (warnings) warnings->push_back("face-mask region '" + r + "' is not in the model's masks; skipped");
  }
  FF_CHECK(!present.empty(), "preprocess: none of the face-mask regions is in the model '", m.source,
           "' (load FLAME_masks.pkl, or pass --regions)");
  h.mask = flame::make_face_mask(m, present, extra);
  FF_CHECK(!h.mask.faces.empty(), "preprocess: the face mask of model '", m.source, "' has no triangles");
  h.face_flag.assign(h.head.faces.size() / 3, 0);
  for (int32_t f : h.mask.face_ids) h.face_flag[size_t(f)] = 1;
  h.facemask.push_back(flame::face_mask_mesh(m, verts, h.mask));
  for (int l = 1; l <= o.subdivisions; ++l) h.facemask.push_back(flame::subdivide_midpoint(h.facemask.back()));
  return h;
}

Image8 render_face_mask(const flame::Mesh& head, const std::vector<uint8_t>& flag, const flame::RasterView& view, int ss,
                        double sigma1100, Image8* clipped) {
  flame::GBuffer g;
  flame::rasterize(head.vertices.data(), head.num_vertices(), head.faces.data(), head.num_faces(), view, ss, g);
  const int W = view.width, H = view.height, SW = g.sample_width();
  std::vector<float> plane(size_t(W) * H), head_cover(clipped ? size_t(W) * H : 0);
  const float inv = 1.0f / float(ss * ss);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      int c = 0, h = 0;
      for (int dy = 0; dy < ss; ++dy)
        for (int dx = 0; dx < ss; ++dx) {
          int32_t t = g.tri[size_t(y * ss + dy) * SW + size_t(x * ss + dx)];
          c += t >= 0 && flag[size_t(t)];
          h += t >= 0;
        }
      plane[size_t(y) * W + x] = c * inv;
      if (clipped) head_cover[size_t(y) * W + x] = h * inv;
    }
  const double sigma = sigma1100 * W / double(kImages2xWidth);
  gaussian_blur(plane.data(), W, H, sigma);
  auto to_u8 = [&](const std::vector<float>& p) {
    Image8 out(W, H, 1);
    for (size_t i = 0; i < p.size(); ++i) out.pixels[i] = uint8_t(std::lround(std::clamp(p[i], 0.f, 1.f) * 255.f));
    return out;
  };
  if (clipped) {  // × the head's coverage, blurred alike and mapped so that it is 0 on the outline itself
    gaussian_blur(head_cover.data(), W, H, sigma);
    for (size_t i = 0; i < head_cover.size(); ++i) head_cover[i] = plane[i] * std::clamp(2 * head_cover[i] - 1, 0.f, 1.f);
    *clipped = to_u8(head_cover);
  }
  return to_u8(plane);
}

Image8 apply_mask(const Image8& rgb, const Image8& mask) {
  FF_CHECK(rgb.channels == 3 && mask.channels == 1 && rgb.width == mask.width && rgb.height == mask.height,
           "apply_mask: need RGB and a 1-channel mask of the same size");
  Image8 out(rgb.width, rgb.height, 3);
  for (size_t i = 0; i < mask.pixels.size(); ++i)
    for (int c = 0; c < 3; ++c)
      out.pixels[i * 3 + size_t(c)] = uint8_t((rgb.pixels[i * 3 + size_t(c)] * mask.pixels[i] + 127) / 255);
  return out;
}

PreprocessReport preprocess_dataset(const std::string& root, const flame::FlameModel& model, const PreprocessOptions& o) {
  FF_CHECK(o.subdivisions >= 0 && o.subdivisions <= 4, "preprocess: subdivisions must be 0..4");
  FF_CHECK(o.supersample >= 1 && o.supersample <= 8, "preprocess: supersample must be 1..8");
  DatasetOptions dopt;
  dopt.sequence = o.sequence;
  dopt.frame = o.frame;
  dopt.sequences = o.sequences;
  dopt.max_timesteps = o.max_timesteps;
  dopt.frames = FrameSplit::All;
  dopt.image_folder = o.image_folder;
  dopt.split = Split::All;
  dopt.subjects = o.subjects;
  dopt.gt = GtSource::Raw;
  dopt.prefetch_threads = 0;
  dopt.principal_point = o.principal_point;
  dopt.calib_width = o.calib_width;
  dopt.calib_height = o.calib_height;
  NersembleReader ds = NersembleReader::open(root, dopt);
  PreprocessReport rep;
  rep.validation = ds.report().text();
  rep.skipped = int(ds.report().subjects.size()) - ds.report().usable();
  const int threads = o.threads > 0 ? o.threads : hardware_threads();
  std::mutex mu;
  auto need = [&](const std::string& f) { return o.force || !fs::exists(f); };

  for (int s = 0; s < ds.num_subjects(); ++s) {
    const Subject& sub = ds.subject(s);
    std::vector<std::string> warns;
    int written = 0, kept = 0, facemask_vertices = 0;
    for (int fi = 0; fi < int(sub.frames.size()); ++fi) {
      const Frame& fr = sub.frames[size_t(fi)];
      // the reference frame: the neutral head (the seed's); the others: the frame's head with its expression
      std::vector<double> verts = fr.reference ? tracked_neutral_vertices(model, *fr.tracking, fr.timestep, &warns)
                                               : tracked_frame_vertices(model, *fr.tracking, fr.timestep, &warns);
      HeadMeshes hm = build_head_meshes(model, verts, o, &warns);
      facemask_vertices = hm.facemask[0].num_vertices();
      fs::create_directories(fr.paths.frame_dir);
      auto out_file = [&](const std::string& f, auto&& write) {
        if (need(f)) {
          write(f);
          ++written;
        } else {
          ++kept;
        }
      };
      out_file(fr.paths.mesh, [&](const std::string& f) { flame::write_ply(f, hm.head); });
      out_file(fr.paths.cano2world, [&](const std::string& f) { write_cano2world_txt(f, fr.cano2world_scaled); });
      for (int l = 0; l <= o.subdivisions; ++l)
        out_file(fr.paths.facemask(l), [&](const std::string& f) { flame::write_ply(f, hm.facemask[size_t(l)]); });
      fs::create_directories(fr.paths.mask_dir);
      fs::create_directories(fr.paths.masked_dir);
      std::vector<int> views;  // this frame's views
      for (int v = 0; v < int(sub.cameras.size()); ++v)
        if (sub.view_frame[size_t(v)] == fi) views.push_back(v);
      const int nc = int(views.size());
      std::atomic<int> wr{0}, kp{0};
      std::vector<std::string> errors;
      parallel_for(nc, 1, threads, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const size_t c = size_t(views[size_t(i)]);
          try {
            const ff::Camera& cam = sub.cameras[c];
            std::string mf = fr.paths.mask(cam.name), gf = fr.paths.masked(cam.name);
            bool remask = need(mf);
            Image8 mask;
            if (remask) {
              flame::RasterView v{cam.viewmat, cam.fx(), cam.fy(), cam.cx(), cam.cy(), cam.width, cam.height};
              mask = render_face_mask(hm.head, hm.face_flag, v, o.supersample, o.blur_sigma);
              write_png(mf, mask, o.png_compression);
              wr++;
            } else {
              kp++;
            }
            if (remask || need(gf)) {
              if (mask.empty()) mask = read_image(mf, 1);
              Image8 rgb = read_image(sub.images[c], 3);
              FF_CHECK(rgb.width == mask.width && rgb.height == mask.height, sub.images[c], ": size ", rgb.width, "x",
                       rgb.height, " differs from its mask's ", mask.width, "x", mask.height);
              write_png(gf, apply_mask(rgb, mask), o.png_compression);
              wr++;
            } else {
              kp++;
            }
          } catch (...) {  // nothing may escape an OpenMP region (std::terminate)
            std::string m = current_exception_message(sub.images[c]);
            std::lock_guard<std::mutex> l(mu);
            errors.push_back(m);
          }
        }
      });
      FF_CHECK(errors.empty(), "preprocess: subject ", sub.name, ": ", errors[0]);
      written += wr;
      kept += kp;
    }
    rep.written += written;
    rep.kept += kept;
    rep.subjects++;
    for (auto& w : warns)  // model-level warnings repeat for every subject: keep one copy
      if (std::find(rep.warnings.begin(), rep.warnings.end(), w) == rep.warnings.end()) rep.warnings.push_back(w);
    if (o.verbose)
      std::printf("preprocess %s: %d written, %d kept (%d views, %zu frames, face mask %d vertices)\n", sub.name.c_str(),
                  written, kept, int(sub.cameras.size()), sub.frames.size(), facemask_vertices);
  }
  return rep;
}

}  // namespace ff::data
