// train/data/nersemble_reader.cpp — scan/validate, the uint8 view cache with prefetch threads, disk cache.
#include "train/data/nersemble_reader.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/check.h"
#include "core/parallel.h"
#include "flame/npy.h"
#include "train/data/image.h"

namespace fs = std::filesystem;

namespace ff::data {

// ---- report -------------------------------------------------------------------------------------
int ValidationReport::errors() const {
  return int(std::count_if(problems.begin(), problems.end(), [](const Problem& p) { return p.severity == Severity::Error; })) +
         (split_error.empty() ? 0 : 1);
}
int ValidationReport::warnings() const {
  return int(std::count_if(problems.begin(), problems.end(), [](const Problem& p) { return p.severity == Severity::Warning; }));
}
int ValidationReport::usable() const {
  return int(std::count_if(subjects.begin(), subjects.end(), [](const SubjectSummary& s) { return s.ok; }));
}

std::string ValidationReport::text() const {
  std::ostringstream o;
  int held = int(std::count_if(subjects.begin(), subjects.end(), [](const SubjectSummary& s) { return s.ok && s.heldout; }));
  o << "dataset " << root << ": " << subjects.size() << " subjects (" << usable() << " usable, " << held
    << " of them held out), " << cameras.size() << " cameras, images " << width << "x" << height << ", " << errors()
    << " errors, " << warnings() << " warnings\n";
  if (!cameras.empty()) {
    o << "cameras:";
    for (auto& c : cameras) o << " " << c;
    o << "\n";
  }
  for (auto& s : subjects) {
    o << "  " << (s.ok ? "ok     " : "SKIPPED") << " " << s.name << (s.heldout ? " [heldout]" : "") << ": " << s.cameras
      << " cameras, " << s.width << "x" << s.height << ", gt " << (s.gt.empty() ? "-" : s.gt)
      << (s.frames > 1 ? ", " + std::to_string(s.frames) + " frames (" + std::to_string(s.heldout_frames) + " held out)" : "")
      << (s.preprocessed ? ", preprocessed" : ", not preprocessed") << "\n";
  }
  if (!split_error.empty()) o << "error: " << split_error << "\n";
  for (auto& p : problems) {
    o << (p.severity == Severity::Error ? "error: " : "warning: ");
    if (!p.subject.empty()) o << p.subject << ": ";
    if (!p.camera.empty()) o << "camera " << p.camera << ": ";
    o << p.what;
    if (!p.file.empty()) o << " [" << p.file << "]";
    o << "\n";
  }
  o << skipped_text();
  return o.str();
}

std::string ValidationReport::skipped_text() const {
  std::ostringstream o;
  for (auto& s : subjects) {
    if (s.ok) continue;
    o << "skipped subject " << s.name << " (not used):";
    const char* sep = " ";
    for (auto& p : problems)
      if (p.severity == Severity::Error && p.subject == s.name) {
        o << sep << (p.camera.empty() ? "" : "camera " + p.camera + ": ") << p.what
          << (p.file.empty() ? "" : " [" + p.file + "]");
        sep = "; ";
      }
    o << "\n";
  }
  return o.str();
}

flame::Mesh read_subject_mesh(const Subject& s, int level) {
  FF_CHECK(level >= -1 && level <= 8, "read_subject_mesh: level must be -1 (head) or 0..8 (face mask)");
  std::string f = level < 0 ? s.paths.mesh : s.paths.facemask(level);
  FF_CHECK(fs::exists(f), "subject ", s.name, ": missing ", f, " (run `ffdata preprocess`)");
  return flame::read_ply(f);
}

// ---- camera helpers -----------------------------------------------------------------------------
int Subject::camera_index(const std::string& serial) const {
  for (size_t i = 0; i < cameras.size(); ++i)
    if (cameras[i].name == serial) return int(i);
  return -1;
}

// ---- scan ---------------------------------------------------------------------------------------
namespace {

struct Probe {
  std::string file;
  int w = 0, h = 0;
  bool ok = false;
  std::string error;  // why not ok
};

// one frame of a candidate: its files as probed
struct FrameScan {
  std::string sequence;
  int64_t frame = 0;
  int timestep = 0;
  std::shared_ptr<const FlameTracking> tracking;
  SubjectPaths paths;
  bool reference = false, heldout = false;
  std::map<std::string, Probe> images, masks, maskeds;  // by serial
  bool preprocessed = false, any_preprocessed = false;
};

struct Candidate {
  std::string name;
  SubjectPaths paths;  // of the reference frame
  bool json_ok = false, tracking_ok = false;
  CameraParams cams;
  FlameTracking tracking;  // of the reference sequence
  int timestep = 0;
  std::vector<FrameScan> frames;  // the reference first (when its tracking is usable)
  bool preprocessed = false;      // every frame
  std::vector<Problem> problems;
  void add(Severity s, const std::string& cam, const std::string& file, const std::string& what) {
    problems.push_back({s, name, cam, file, what});
  }
  bool has_error() const {
    return std::any_of(problems.begin(), problems.end(), [](const Problem& p) { return p.severity == Severity::Error; });
  }
};

Probe probe(const std::string& file) {
  Probe p;
  p.file = file;
  try {
    ImageInfo in = probe_image(file);
    p.w = in.width;
    p.h = in.height;
    p.ok = true;
  } catch (...) {
    p.error = current_exception_message(file);
  }
  return p;
}

std::string find_image(const SubjectPaths& sp, const std::string& serial) {
  for (const char* ext : {".png", ".jpg", ".jpeg", ".PNG", ".JPG"}) {
    std::string f = sp.image(serial, ext);
    if (fs::exists(f)) return f;
  }
  return "";
}

bool is_subject_dir(const fs::path& d) { return fs::is_directory(d / "calibration") || fs::is_directory(d / "sequences"); }

const std::string kPreprocessedMarkers[] = {"mesh", "facemask", "cano2world"};

struct ScanResult {
  ValidationReport report;  // report.split_error: split.json unusable (NersembleReader::open refuses)
  std::vector<Subject> subjects;
};

std::string short_err(const std::string& e) {
  // ff::Error messages start with "file:line: " of the throw site; keep them, they are useful in reports.
  return e.size() > 600 ? e.substr(0, 600) + "..." : e;
}

std::string find_tracking(const SubjectPaths& sp) {
  for (auto& t : sp.tracking_candidates())
    if (fs::exists(t)) return t;
  return "";
}

// The timestep folders of a sequence (frame numbers, ascending); names other than frame_<digits> are ignored.
std::vector<int64_t> list_timesteps(const std::string& seq_dir) {
  std::vector<int64_t> out;
  const fs::path td = fs::path(seq_dir) / "timesteps";
  if (!fs::is_directory(td)) return out;
  for (auto& e : fs::directory_iterator(td)) {
    if (!e.is_directory()) continue;
    const std::string fn = e.path().filename().string();
    if (fn.rfind("frame_", 0) != 0 || fn.size() <= 6 || fn.size() > 15) continue;
    const std::string digits = fn.substr(6);
    if (!std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) continue;
    out.push_back(std::stoll(digits));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Probes one frame's images and preprocessed outputs; records problems in c.
void scan_frame(Candidate& c, FrameScan& f) {
  if (c.json_ok) {
    for (auto& serial : c.cams.serials()) {
      std::string file = find_image(f.paths, serial);
      if (file.empty()) {
        c.add(Severity::Error, serial, f.paths.image(serial, ".png|.jpg"), "camera without an image");
        continue;
      }
      Probe p = probe(file);
      if (!p.ok) c.add(Severity::Error, serial, file, "unreadable image: " + short_err(p.error));
      f.images[serial] = p;
    }
    // images without calibration
    if (fs::is_directory(f.paths.image_dir))
      for (auto& e : fs::directory_iterator(f.paths.image_dir)) {
        std::string fn = e.path().filename().string();
        if (fn.rfind("cam_", 0) != 0) continue;
        std::string serial = e.path().stem().string().substr(4);
        if (!c.cams.world_2_cam.count(serial))
          c.add(Severity::Warning, serial, e.path().string(), "image without calibration (ignored)");
      }
  }
  // preprocessed outputs
  const SubjectPaths& sp = f.paths;
  bool base = fs::exists(sp.mesh) && fs::exists(sp.facemask(0)) && fs::exists(sp.cano2world);
  f.any_preprocessed = fs::exists(sp.mesh) || fs::exists(sp.facemask(0)) || fs::exists(sp.cano2world) ||
                       fs::is_directory(sp.mask_dir) || fs::is_directory(sp.masked_dir);
  bool all = base && c.json_ok;
  if (c.json_ok)
    for (auto& serial : c.cams.serials()) {
      std::string mf = sp.mask(serial), gf = sp.masked(serial);
      if (!fs::exists(mf) || !fs::exists(gf)) {
        all = false;
        continue;
      }
      f.masks[serial] = probe(mf);
      f.maskeds[serial] = probe(gf);
      if (!f.masks[serial].ok) c.add(Severity::Error, serial, mf, "unreadable face mask: " + short_err(f.masks[serial].error));
      if (!f.maskeds[serial].ok)
        c.add(Severity::Error, serial, gf, "unreadable masked image: " + short_err(f.maskeds[serial].error));
    }
  f.preprocessed = all;
}

// Parses and probes one subject; records its problems in c. Throws only what the readers throw unexpectedly
// (the caller turns that into an error of the subject).
void scan_candidate(Candidate& c, const DatasetOptions& o, const SplitFile& split, const std::string& root) {
  try {
    FF_CHECK(fs::exists(c.paths.camera_json), "missing calibration/camera_params.json");
    c.cams = read_camera_params(c.paths.camera_json);
    c.json_ok = true;
  } catch (...) {
    c.add(Severity::Error, "", c.paths.camera_json,
          "camera parameters unusable: " + short_err(current_exception_message(c.paths.camera_json)));
  }
  std::string tfile = find_tracking(c.paths);
  std::shared_ptr<const FlameTracking> ref_tracking;
  if (tfile.empty()) {
    c.add(Severity::Error, "", c.paths.tracking, "missing FLAME tracking npz");
  } else {
    try {
      c.tracking = read_tracking(tfile);
      c.timestep = c.tracking.index_of_frame(o.frame);
      c.tracking_ok = true;
      ref_tracking = std::make_shared<const FlameTracking>(c.tracking);
    } catch (...) {
      c.add(Severity::Error, "", tfile, "FLAME tracking unusable: " + short_err(current_exception_message(tfile)));
    }
  }
  {
    FrameScan ref;
    ref.sequence = o.sequence;
    ref.frame = o.frame;
    ref.timestep = c.timestep;
    ref.tracking = ref_tracking;
    ref.paths = c.paths;
    ref.reference = true;
    c.frames.push_back(std::move(ref));
  }
  // the other frames
  if (!o.sequences.empty()) {
    const bool every = o.sequences.size() == 1 && o.sequences[0] == "*";
    std::vector<std::string> seqs;
    if (every) {
      const fs::path sd = fs::path(c.paths.dir) / "sequences";
      if (fs::is_directory(sd))
        for (auto& e : fs::directory_iterator(sd))
          if (e.is_directory()) seqs.push_back(e.path().filename().string());
      std::sort(seqs.begin(), seqs.end());
    } else {
      seqs = o.sequences;
    }
    seqs.erase(std::remove(seqs.begin(), seqs.end(), o.sequence), seqs.end());
    seqs.insert(seqs.begin(), o.sequence);  // the reference sequence's other timesteps first
    for (const std::string& seq : seqs) {
      SubjectPaths sp0 = subject_paths(root, c.name, seq, 0, o.image_folder);
      if (!fs::is_directory(sp0.seq_dir)) {
        if (!every) c.add(Severity::Error, "", sp0.seq_dir, "requested sequence " + seq + " is missing");
        continue;
      }
      std::shared_ptr<const FlameTracking> tr;
      std::string tf;
      if (seq == o.sequence) {
        tr = ref_tracking;
        tf = tfile;
      } else {
        tf = find_tracking(sp0);
        if (tf.empty()) {
          c.add(Severity::Error, "", sp0.tracking, "sequence " + seq + ": missing FLAME tracking npz");
          continue;
        }
        try {
          tr = std::make_shared<const FlameTracking>(read_tracking(tf));
        } catch (...) {
          c.add(Severity::Error, "", tf, "FLAME tracking unusable: " + short_err(current_exception_message(tf)));
          continue;
        }
      }
      if (!tr) continue;  // the reference tracking's error is reported already
      std::vector<int64_t> steps = list_timesteps(sp0.seq_dir);
      if (o.max_timesteps > 0 && int(steps.size()) > o.max_timesteps) steps.resize(size_t(o.max_timesteps));
      for (int64_t fr : steps) {
        if (seq == o.sequence && fr == o.frame) continue;
        FrameScan f;
        f.sequence = seq;
        f.frame = fr;
        f.tracking = tr;
        f.paths = subject_paths(root, c.name, seq, int(fr), o.image_folder);
        try {
          f.timestep = tr->index_of_frame(fr);
        } catch (...) {
          c.add(Severity::Error, "", tf,
                "timestep " + f.paths.frame_dir + " has no row in the tracking npz (" + short_err(current_exception_message(tf)) + ")");
          continue;
        }
        c.frames.push_back(std::move(f));
      }
    }
  }
  // held-out expressions of this subject (split.json heldout_frames)
  auto hf = split.heldout_frames.find(c.name);
  if (hf != split.heldout_frames.end()) {
    const std::string sfile = root + "/split.json";
    for (const std::string& e : hf->second) {
      auto sf = parse_heldout_frame(e, sfile);
      SubjectPaths sp = subject_paths(root, c.name, sf.first, int(std::max<int64_t>(0, sf.second)), o.image_folder);
      if (!fs::is_directory(sp.seq_dir)) {
        c.add(Severity::Error, "", sfile, "heldout_frames entry '" + e + "': the subject has no sequence " + sp.seq_dir);
      } else if (sf.second >= 0 && !fs::is_directory(sp.frame_dir)) {
        c.add(Severity::Error, "", sfile, "heldout_frames entry '" + e + "': the subject has no timestep " + sp.frame_dir);
      } else if (sf.first == o.sequence && (sf.second < 0 || sf.second == o.frame)) {
        c.add(Severity::Error, "", sfile,
              "heldout_frames entry '" + e + "' holds out the reference frame " + frame_name(o.sequence, o.frame) +
                  " (the subject's neutral mesh; hold out other timesteps or sequences)");
      }
    }
    for (auto& f : c.frames) f.heldout = split.frame_heldout(c.name, f.sequence, f.frame);
  }
  bool any = false;
  c.preprocessed = true;
  std::string unprocessed;
  for (auto& f : c.frames) {
    scan_frame(c, f);
    any = any || f.any_preprocessed;
    if (!f.preprocessed && unprocessed.empty()) unprocessed = f.paths.frame_dir;
    c.preprocessed = c.preprocessed && f.preprocessed;
  }
  if (!c.preprocessed) {
    if (o.require_preprocessed || o.gt == GtSource::Masked)
      c.add(Severity::Error, "", unprocessed, "not preprocessed (run `ffdata preprocess`)");
    else if (any)
      c.add(Severity::Warning, "", unprocessed, "partially preprocessed; using raw images (run `ffdata preprocess`)");
  }
}

ScanResult scan(const std::string& root_in, const DatasetOptions& o) {
  ScanResult res;
  ValidationReport& rep = res.report;
  std::string root = root_in;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  rep.root = root;
  FF_CHECK(fs::is_directory(root), "dataset: '", root, "' is not a directory");

  SplitFile split;
  try {
    split = read_split(root);
  } catch (...) {
    // not a dataset-level "problem" that training can go past: without the split, held-out subjects would be
    // trained on. Reported (validate_dataset), and NersembleReader::open refuses.
    rep.split_error = short_err(current_exception_message(root + "/split.json"));
  }
  std::set<std::string> heldout(split.heldout.begin(), split.heldout.end());

  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(root))
    if (e.is_directory() && is_subject_dir(e.path())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  if (!o.subjects.empty()) {
    std::set<std::string> want(o.subjects.begin(), o.subjects.end());
    for (auto& w : o.subjects)
      if (!std::binary_search(names.begin(), names.end(), w))
        rep.problems.push_back({Severity::Error, w, "", root + "/" + w, "requested subject not found"});
    names.erase(std::remove_if(names.begin(), names.end(), [&](const std::string& n) { return !want.count(n); }), names.end());
  }
  for (auto& h : split.heldout)
    if (!fs::is_directory(root + "/" + h))
      rep.problems.push_back({Severity::Warning, h, "", root + "/split.json", "held-out subject listed in split.json does not exist"});
  for (auto& kv : split.heldout_frames)
    if (!fs::is_directory(root + "/" + kv.first))
      rep.problems.push_back({Severity::Warning, kv.first, "", root + "/split.json",
                              "subject with held-out frames (heldout_frames) listed in split.json does not exist"});

  // Per-subject parsing and probing, in parallel (header reads only).
  std::vector<Candidate> cands(names.size());
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t i; (i = next.fetch_add(1)) < cands.size();) {
      Candidate& c = cands[i];
      c.name = names[i];
      c.paths = subject_paths(root, c.name, o.sequence, o.frame, o.image_folder);
      try {
        scan_candidate(c, o, split, root);
      } catch (...) {  // anything a reader or std::filesystem threw: the subject is unusable, never std::terminate
        c.add(Severity::Error, "", c.paths.frame_dir, "cannot scan: " + short_err(current_exception_message(c.paths.frame_dir)));
      }
    }
  };

  {
    int nt = std::max(1, std::min<int>(4, int(cands.size())));
    std::vector<std::thread> th;
    for (int t = 1; t < nt; ++t) th.emplace_back(work);
    work();
    for (auto& t : th) t.join();
  }

  // expected cameras
  // expected cameras: the requested ones, else those calibrated in at least half of the subjects (so one
  // subject with an extra camera cannot make every other subject "incomplete")
  std::set<std::string> expected(o.cameras.begin(), o.cameras.end());
  if (expected.empty()) {
    std::map<std::string, int> count;
    int parsed = 0;
    for (auto& c : cands)
      if (c.json_ok) {
        ++parsed;
        for (auto& s : c.cams.serials()) count[s]++;
      }
    for (auto& kv : count)
      if (2 * kv.second >= parsed) expected.insert(kv.first);
  }
  rep.cameras.assign(expected.begin(), expected.end());
  // dataset size
  if (o.width > 0 && o.height > 0) {
    rep.width = o.width;
    rep.height = o.height;
  } else {
    std::map<std::pair<int, int>, int> count;
    for (auto& c : cands)
      for (auto& f : c.frames)
        for (auto& kv : f.images)
          if (kv.second.ok) count[{kv.second.w, kv.second.h}]++;
    int best = 0;
    for (auto& kv : count)
      if (kv.second > best) {
        best = kv.second;
        rep.width = kv.first.first;
        rep.height = kv.first.second;
      }
  }
  if (rep.width > 0) {
    double sx = double(rep.width) / o.calib_width, sy = double(rep.height) / o.calib_height;
    if (std::fabs(sx / sy - 1) > 0.01)
      rep.problems.push_back({Severity::Warning, "", "", "",
                              "image size " + std::to_string(rep.width) + "x" + std::to_string(rep.height) +
                                  " does not have the calibration's aspect ratio (" + std::to_string(o.calib_width) + "x" +
                                  std::to_string(o.calib_height) + "); intrinsics are scaled per axis"});
  }

  for (auto& c : cands) {
    if (c.json_ok) {
      for (auto& s : expected)
        if (!c.cams.world_2_cam.count(s)) c.add(Severity::Error, s, c.paths.camera_json, "missing camera (not in camera_params.json)");
      for (auto& s : c.cams.serials())
        if (!expected.count(s))
          c.add(Severity::Warning, s, c.paths.camera_json,
                o.cameras.empty() ? "camera calibrated in fewer than half of the subjects (ignored)"
                                  : "camera not in the requested set (ignored)");
    }
    auto size_check = [&](const std::map<std::string, Probe>& m, const char* what) {
      for (auto& kv : m) {
        if (!expected.count(kv.first) || !kv.second.ok) continue;
        if (kv.second.w != rep.width || kv.second.h != rep.height)
          c.add(Severity::Error, kv.first, kv.second.file,
                std::string("wrong-size ") + what + ": " + std::to_string(kv.second.w) + "x" + std::to_string(kv.second.h) +
                    ", expected " + std::to_string(rep.width) + "x" + std::to_string(rep.height));
      }
    };
    for (auto& f : c.frames) {
      size_check(f.images, "image");
      size_check(f.masks, "face mask");
      size_check(f.maskeds, "masked image");
    }

    SubjectSummary sum;
    sum.name = c.name;
    sum.heldout = heldout.count(c.name) > 0;
    sum.preprocessed = c.preprocessed;
    sum.ok = !c.has_error();
    sum.width = rep.width;
    sum.height = rep.height;
    bool use_masked = c.preprocessed && o.gt != GtSource::Raw;
    sum.gt = use_masked ? "masked" : "raw";
    for (auto& kv : c.frames.front().images)
      if (expected.count(kv.first) && kv.second.ok) sum.cameras++;
    sum.frames = int(c.frames.size());
    sum.heldout_frames = int(std::count_if(c.frames.begin(), c.frames.end(), [](const FrameScan& f) { return f.heldout; }));
    for (auto& p : c.problems) rep.problems.push_back(p);
    rep.subjects.push_back(sum);
    if (!sum.ok) {
      rep.problems.push_back({Severity::Warning, c.name, "", "", "subject skipped because of the errors above"});
      continue;
    }
    bool wanted = o.split == Split::All || (o.split == Split::Heldout) == sum.heldout;
    if (!wanted) continue;
    Subject s;
    s.name = c.name;
    s.paths = c.paths;
    s.heldout = sum.heldout;
    s.preprocessed = use_masked;
    s.tracking = std::move(c.tracking);
    s.timestep = c.timestep;
    s.cano2world_scaled = tracking_cano2world_scaled(s.tracking, s.timestep);
    s.cano2world = rigid_from_scaled(s.cano2world_scaled);
    s.frames_found = int(c.frames.size());
    for (FrameScan& f : c.frames) {
      if (o.frames != FrameSplit::All && (o.frames == FrameSplit::Heldout) != f.heldout) continue;
      Frame fr;
      fr.sequence = f.sequence;
      fr.frame = f.frame;
      fr.timestep = f.timestep;
      fr.tracking = f.tracking;
      fr.paths = f.paths;
      fr.reference = f.reference;
      fr.heldout = f.heldout;
      fr.cano2world_scaled = tracking_cano2world_scaled(*f.tracking, f.timestep);
      fr.cano2world = rigid_from_scaled(fr.cano2world_scaled);
      const int fi = int(s.frames.size());
      for (auto& serial : c.cams.serials()) {
        if (!expected.count(serial)) continue;
        ff::Camera cam;
        cam.name = serial;
        cam.width = rep.width;
        cam.height = rep.height;
        const Intrinsics k = to_splat_intrinsics(c.cams.intrinsics.at(serial), rep.width, rep.height, o.principal_point,
                                                 o.calib_width, o.calib_height);
        cam.intrinsics = {k.fx, k.fy, k.cx, k.cy};
        const Mat4& w2c = c.cams.world_2_cam.at(serial);
        cam.viewmat = mat4_mul(w2c, fr.cano2world);
        s.cameras.push_back(cam);
        s.world_2_cam.push_back(w2c);
        s.images.push_back(f.images.at(serial).file);
        s.view_frame.push_back(fi);
      }
      s.frames.push_back(std::move(fr));
    }
    if (s.frames.empty()) continue;  // FrameSplit::Heldout: no held-out expression of this subject
    FF_CHECK(s.cameras.size() < (size_t(1) << 31), "dataset: subject ", s.name, " has too many views");
    res.subjects.push_back(std::move(s));
  }
  return res;
}

// ---- disk cache ---------------------------------------------------------------------------------
constexpr char kDiskMagic[8] = {'F', 'F', 'V', 'I', 'E', 'W', '0', '1'};

uint64_t file_signature(const std::vector<std::string>& files) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&](const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
  };
  for (auto& f : files) {
    mix(f.data(), f.size());
    std::error_code ec;
    uint64_t sz = fs::file_size(f, ec);
    int64_t mt = ec ? 0 : int64_t(fs::last_write_time(f, ec).time_since_epoch().count());
    mix(&sz, 8);
    mix(&mt, 8);
  }
  return h;
}

bool disk_read(const std::string& path, uint64_t sig, ViewU8& v) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  std::vector<uint8_t> b;
  try {
    b = npy::read_file_bytes(path);
  } catch (const ff::Error&) {
    return false;
  }
  const size_t head = 8 + 4 + 4 + 8;
  if (b.size() < head + 8 || std::memcmp(b.data(), kDiskMagic, 8) != 0) return false;
  uint32_t w, h;
  uint64_t s;
  std::memcpy(&w, b.data() + 8, 4);
  std::memcpy(&h, b.data() + 12, 4);
  std::memcpy(&s, b.data() + 16, 8);
  size_t n = size_t(w) * h;
  if (s != sig || w == 0 || h == 0 || w > 65536 || h > 65536 || b.size() != head + n * 4 + 8) return false;
  uint64_t ck;
  std::memcpy(&ck, b.data() + head + n * 4, 8);
  uint64_t hh = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < head + n * 4; ++i) hh = (hh ^ b[i]) * 0x100000001b3ULL;
  if (hh != ck) return false;
  v.width = int(w);
  v.height = int(h);
  v.rgb.assign(b.begin() + head, b.begin() + head + n * 3);
  v.mask.assign(b.begin() + head + n * 3, b.begin() + head + n * 4);
  return true;
}

void disk_write(const std::string& path, uint64_t sig, const ViewU8& v) {
  size_t n = size_t(v.width) * v.height;
  std::vector<uint8_t> b(8 + 4 + 4 + 8 + n * 4 + 8);
  std::memcpy(b.data(), kDiskMagic, 8);
  uint32_t w = uint32_t(v.width), h = uint32_t(v.height);
  std::memcpy(b.data() + 8, &w, 4);
  std::memcpy(b.data() + 12, &h, 4);
  std::memcpy(b.data() + 16, &sig, 8);
  std::memcpy(b.data() + 24, v.rgb.data(), n * 3);
  std::memcpy(b.data() + 24 + n * 3, v.mask.data(), n);
  uint64_t hh = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < 24 + n * 4; ++i) hh = (hh ^ b[i]) * 0x100000001b3ULL;
  std::memcpy(b.data() + 24 + n * 4, &hh, 8);
  fs::create_directories(fs::path(path).parent_path());
  npy::write_file_atomic(path, b.data(), b.size());
}

}  // namespace

ValidationReport validate_dataset(const std::string& root, const DatasetOptions& opts) { return scan(root, opts).report; }

// ---- NersembleReader ------------------------------------------------------------------------------------
struct NersembleReader::Impl {
  DatasetOptions opts;
  ValidationReport report;
  std::vector<Subject> subjects;
  int cams_per_subject_max = 1;

  // cache
  struct Entry {
    enum State { Loading, Ready, Failed } state = Loading;
    std::shared_ptr<const ViewU8> data;
    std::string error;
    std::list<int64_t>::iterator lru;
    bool in_lru = false;
  };
  mutable std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<int64_t, Entry> entries;
  std::list<int64_t> lru;  // front = most recent
  std::deque<int64_t> queue;
  int in_flight = 0;
  bool stop = false;
  std::vector<std::thread> workers;
  CacheStats stats;

  static constexpr int64_t kViewsPerKey = int64_t(1) << 32;
  int64_t key(int s, int c) const { return int64_t(s) * kViewsPerKey + c; }

  void check_view(int s, int c) const {
    FF_CHECK(s >= 0 && s < int(subjects.size()), "dataset: subject index ", s, " out of range [0, ", subjects.size(), ")");
    FF_CHECK(c >= 0 && c < int(subjects[size_t(s)].cameras.size()), "dataset: camera index ", c, " out of range for subject ",
             subjects[size_t(s)].name);
  }

  std::vector<std::string> sources(int s, int c) const {
    const Subject& sub = subjects[size_t(s)];
    const std::string& serial = sub.cameras[size_t(c)].name;
    const SubjectPaths& fp = sub.frames[size_t(sub.view_frame[size_t(c)])].paths;
    if (sub.preprocessed) return {fp.masked(serial), fp.mask(serial)};
    std::string a = fp.alpha(serial);
    if (fs::exists(a)) return {sub.images[size_t(c)], a};
    return {sub.images[size_t(c)]};
  }

  // "subject S camera C (files)": what a failure that does not name its file is about
  std::string view_name(int s, int c) const {
    const Subject& sub = subjects[size_t(s)];
    const Frame& fr = sub.frames[size_t(sub.view_frame[size_t(c)])];
    std::string n = "subject " + sub.name + (fr.reference ? "" : " frame " + fr.name()) + " camera " + sub.cameras[size_t(c)].name + " (";
    const char* sep = "";
    for (auto& f : sources(s, c)) n += sep + f, sep = ", ";
    return n + ")";
  }

  // decode one view (no lock held)
  std::shared_ptr<const ViewU8> decode(int s, int c) {
    const Subject& sub = subjects[size_t(s)];
    const std::string& serial = sub.cameras[size_t(c)].name;
    std::vector<std::string> src = sources(s, c);
    auto v = std::make_shared<ViewU8>();
    std::string dpath;
    uint64_t sig = 0;
    if (!opts.disk_cache.empty()) {
      const Frame& fr = sub.frames[size_t(sub.view_frame[size_t(c)])];
      // the reference frame keeps the single-frame layout of the cache; other frames get a folder each
      dpath = opts.disk_cache + "/" + sub.name + "/" + (fr.reference ? "" : fr.name() + "/") + serial +
              (sub.preprocessed ? ".masked" : ".raw") + ".ffview";
      sig = file_signature(src);
      if (disk_read(dpath, sig, *v) && v->width == report.width && v->height == report.height) {
        std::lock_guard<std::mutex> l(mu);
        stats.disk_hits++;
        return v;
      }
    }
    Image8 rgb = read_image(src[0], 3);
    FF_CHECK(rgb.width == report.width && rgb.height == report.height, src[0], ": decoded size ", rgb.width, "x", rgb.height,
             " differs from the dataset's ", report.width, "x", report.height);
    v->width = rgb.width;
    v->height = rgb.height;
    v->rgb = std::move(rgb.pixels);
    if (src.size() > 1) {
      Image8 m = read_image(src[1], 1);
      FF_CHECK(m.width == v->width && m.height == v->height, src[1], ": mask size ", m.width, "x", m.height,
               " differs from the image's");
      v->mask = std::move(m.pixels);
    } else {
      v->mask.assign(size_t(v->width) * v->height, 255);
    }
    if (!dpath.empty()) {
      try {
        disk_write(dpath, sig, *v);
      } catch (const std::exception&) {  // a full or read-only disk must not stop training
      }
    }
    std::lock_guard<std::mutex> l(mu);
    stats.decoded++;
    return v;
  }

  // store a finished decode (lock held)
  void finish(int64_t k, std::shared_ptr<const ViewU8> v, const std::string& err) {
    Entry& e = entries[k];
    if (v) {
      e.state = Entry::Ready;
      e.data = std::move(v);
      stats.bytes += e.data->bytes();
      lru.push_front(k);
      e.lru = lru.begin();
      e.in_lru = true;
      evict(k);
    } else {
      e.state = Entry::Failed;
      e.error = err;
    }
    cv.notify_all();
  }

  void evict(int64_t keep) {
    while (stats.bytes > opts.cache_bytes && !lru.empty()) {
      int64_t k = lru.back();
      if (k == keep) break;
      lru.pop_back();
      auto it = entries.find(k);
      stats.bytes -= it->second.data->bytes();
      entries.erase(it);
      stats.evictions++;
    }
  }

  std::shared_ptr<const ViewU8> get(int s, int c) {
    check_view(s, c);
    int64_t k = key(s, c);
    std::unique_lock<std::mutex> l(mu);
    auto it = entries.find(k);
    if (it != entries.end()) {
      if (it->second.state == Entry::Loading) {
        stats.waits++;
        cv.wait(l, [&] {
          auto i2 = entries.find(k);
          return i2 == entries.end() || i2->second.state != Entry::Loading;
        });
        it = entries.find(k);
      } else {
        stats.hits++;
      }
      if (it != entries.end()) {
        if (it->second.state == Entry::Failed) FF_THROW(it->second.error);
        lru.erase(it->second.lru);
        lru.push_front(k);
        it->second.lru = lru.begin();
        return it->second.data;
      }
    }
    stats.misses++;
    entries[k].state = Entry::Loading;
    l.unlock();
    std::shared_ptr<const ViewU8> v;
    std::string err;
    try {
      v = decode(s, c);
    } catch (...) {
      err = current_exception_message(view_name(s, c));
    }
    l.lock();
    finish(k, v, err);
    if (!v) FF_THROW(err);
    return v;
  }

  void worker() {
    std::unique_lock<std::mutex> l(mu);
    for (;;) {
      cv.wait(l, [&] { return stop || !queue.empty(); });
      if (stop) return;
      int64_t k = queue.front();
      queue.pop_front();
      if (entries.count(k)) continue;  // cached, failed or being decoded already
      entries[k].state = Entry::Loading;
      in_flight++;
      l.unlock();
      std::shared_ptr<const ViewU8> v;
      std::string err;
      try {  // a prefetch thread hands any failure to load(), which rethrows it as ff::Error
        v = decode(int(k / kViewsPerKey), int(k % kViewsPerKey));
      } catch (...) {
        err = current_exception_message(view_name(int(k / kViewsPerKey), int(k % kViewsPerKey)));
      }
      l.lock();
      finish(k, v, err);
      in_flight--;
      cv.notify_all();
    }
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
  }
};

NersembleReader::NersembleReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NersembleReader::NersembleReader(NersembleReader&&) noexcept = default;
NersembleReader& NersembleReader::operator=(NersembleReader&&) noexcept = default;
NersembleReader::~NersembleReader() = default;

NersembleReader NersembleReader::open(const std::string& root, const DatasetOptions& opts) {
  FF_CHECK(opts.prefetch_threads >= 0 && opts.prefetch_threads <= 64, "dataset: prefetch_threads must be 0..64");
  ScanResult r = scan(root, opts);
  FF_CHECK(r.report.split_error.empty(), "dataset '", root, "' refused: ", r.report.split_error,
           "\n(without a valid split.json the held-out subjects would be trained on; fix the file, or remove it to "
           "use every subject)");
  if (opts.strict && r.report.errors() > 0)
    FF_THROW("dataset '", root, "' refused (strict): ", r.report.errors(), " errors, ", r.report.warnings(), " warnings\n",
             r.report.text());
  FF_CHECK(!r.subjects.empty(), "dataset '", root, "': no usable subject", opts.split == Split::Train ? " in the train split" : "",
           "\n", r.report.text());
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  impl->report = std::move(r.report);
  impl->subjects = std::move(r.subjects);
  for (int t = 0; t < opts.prefetch_threads; ++t) impl->workers.emplace_back([p = impl.get()] { p->worker(); });
  return NersembleReader(std::move(impl));
}

const ValidationReport& NersembleReader::report() const { return impl_->report; }
const DatasetOptions& NersembleReader::options() const { return impl_->opts; }
int NersembleReader::num_subjects() const { return int(impl_->subjects.size()); }
const Subject& NersembleReader::subject(int i) const {
  FF_CHECK(i >= 0 && i < num_subjects(), "dataset: subject index ", i, " out of range [0, ", num_subjects(), ")");
  return impl_->subjects[size_t(i)];
}
int NersembleReader::find_subject(const std::string& name) const {
  for (int i = 0; i < num_subjects(); ++i)
    if (impl_->subjects[size_t(i)].name == name) return i;
  return -1;
}
int NersembleReader::width() const { return impl_->report.width; }
int NersembleReader::height() const { return impl_->report.height; }

std::shared_ptr<const ViewU8> NersembleReader::view_u8(int s, int c) { return impl_->get(s, c); }

void NersembleReader::load(int s, int c, float* image, float* mask) {
  std::shared_ptr<const ViewU8> v = impl_->get(s, c);
  const size_t n = size_t(v->width) * v->height;
  constexpr float k = 1.0f / 255.0f;
  if (image)
    for (size_t i = 0; i < n; ++i) {
      image[i] = v->rgb[i * 3] * k;
      image[n + i] = v->rgb[i * 3 + 1] * k;
      image[2 * n + i] = v->rgb[i * 3 + 2] * k;
    }
  if (mask)
    for (size_t i = 0; i < n; ++i) mask[i] = v->mask[i] * k;
}

void NersembleReader::prefetch(const std::vector<std::pair<int, int>>& views) {
  for (auto& sc : views) impl_->check_view(sc.first, sc.second);
  if (impl_->workers.empty()) return;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    for (auto& sc : views) {
      int64_t k = impl_->key(sc.first, sc.second);
      if (!impl_->entries.count(k)) impl_->queue.push_back(k);
    }
  }
  impl_->cv.notify_all();
}

void NersembleReader::prefetch_subject(int s) {
  std::vector<std::pair<int, int>> v;
  for (int c = 0; c < int(subject(s).cameras.size()); ++c) v.push_back({s, c});
  prefetch(v);
}

void NersembleReader::preload_all(int threads) {
  std::vector<std::pair<int, int>> all;
  for (int s = 0; s < num_subjects(); ++s)
    for (int c = 0; c < int(subject(s).cameras.size()); ++c) all.push_back({s, c});
  int nt = threads > 0 ? threads : hardware_threads();
  std::atomic<size_t> next{0};
  std::vector<std::string> errors;
  std::mutex emu;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < all.size();) {
      try {
        impl_->get(all[i].first, all[i].second);
      } catch (...) {  // get() throws ff::Error naming the view; anything else is named here
        std::string m = current_exception_message(impl_->view_name(all[i].first, all[i].second));
        std::lock_guard<std::mutex> l(emu);
        errors.push_back(m);
      }
    }
  };
  std::vector<std::thread> th;
  for (int t = 1; t < nt; ++t) th.emplace_back(work);
  work();
  for (auto& t : th) t.join();
  FF_CHECK(errors.empty(), "dataset: ", errors.size(), " views failed to decode; first: ", errors.empty() ? "" : errors[0]);
}

void NersembleReader::wait_prefetch() {
  std::unique_lock<std::mutex> l(impl_->mu);
  impl_->cv.wait(l, [&] { return impl_->queue.empty() && impl_->in_flight == 0; });
}

CacheStats NersembleReader::cache_stats() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  CacheStats s = impl_->stats;
  s.entries = impl_->lru.size();
  return s;
}

}  // namespace ff::data
