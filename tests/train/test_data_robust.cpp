// The dataset reader never crashes and never silently trains on the wrong data (docs/reliability.md, "Datasets and
// images"): a directory where a file should be (camera_params.json, tracking npz, image — at scan, in a prefetch
// thread, in preload_all), an invalid split.json, skipped subjects named, bit-flipped and truncated PNGs, a
// truncated JPEG and one with a bad Huffman table, synth's held-out default.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/train/test_data_util.h"
#include "train/data/synth.h"


using namespace ff;
using namespace ff::data;
using namespace ff::data_test;
namespace fs = std::filesystem;

namespace {

// replace a file by an (empty) directory of the same name
void make_directory_at(const std::string& f) {
  fs::remove(f);
  fs::create_directories(f);
}

Image8 gradient(int w, int h) {
  Image8 im(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = im.at(x, y);
      p[0] = uint8_t(x * 7), p[1] = uint8_t(y * 11), p[2] = uint8_t(x * y);
    }
  return im;
}

std::vector<uint8_t> png_bytes(const Image8& im, const std::string& dir) {
  write_png(dir + "/g.png", im);
  return npy::read_file_bytes(dir + "/g.png");
}

// byte offset of the first chunk of `type` (its length field)
size_t chunk_offset(const std::vector<uint8_t>& b, const char* type) {
  for (size_t i = 8; i + 8 <= b.size();) {
    uint32_t len = uint32_t(b[i]) << 24 | uint32_t(b[i + 1]) << 16 | uint32_t(b[i + 2]) << 8 | b[i + 3];
    if (std::memcmp(&b[i + 4], type, 4) == 0) return i;
    i += 12 + len;
  }
  return 0;
}

}  // namespace

TEST_CASE("a directory where a file should be: every reader names the path, never bad_alloc") {
  TempDir td("dirfile");
  const std::string d = td.path + "/dir.json";
  fs::create_directories(d);
  CHECK(throws_with([&] { npy::read_file_bytes(d); }, "'" + d + "' is not a regular file (a directory)"));
  CHECK(throws_with([&] { read_camera_params(d); }, "is not a regular file"));
  CHECK(throws_with([&] { read_tracking(d); }, d));
  CHECK(throws_with([&] { read_image(d); }, "is not a regular file"));
  CHECK(throws_with([&] { probe_image(d); }, d));
  CHECK(throws_with([&] { npy::read_file_bytes(td.path + "/missing"); }, "missing"));
}

TEST_CASE("worker threads: any exception becomes a message naming the file") {
  auto message_of = [](auto thrower) {
    try {
      thrower();
    } catch (...) {
      return current_exception_message("a/file.png");
    }
    return std::string("no throw");
  };
  CHECK(message_of([] { throw std::bad_alloc(); }) == "a/file.png: out of memory while reading it");
  CHECK(message_of([] { throw std::runtime_error("json type_error"); }) == "a/file.png: json type_error");
  CHECK(message_of([] { throw 42; }) == "a/file.png: unknown exception");
  CHECK(message_of([] { FF_THROW("b.json: bad"); }).find("b.json: bad") != std::string::npos);
}

TEST_CASE("dataset: directories in place of camera_params.json, tracking npz, image: subjects skipped and named") {
  TempDir td("dirsubj");
  write_fixture_subject(td.path, {"001"});
  write_fixture_subject(td.path, {"002"});
  write_fixture_subject(td.path, {"003"});
  write_fixture_subject(td.path, {"004"});
  make_directory_at(subject_paths(td.path, "002").camera_json);
  make_directory_at(subject_paths(td.path, "003").tracking);
  make_directory_at(subject_paths(td.path, "004").image("220700191", ".png"));

  ValidationReport r = validate_dataset(td.path);
  CHECK(r.usable() == 1);
  CHECK(has_problem(r, "002", "not a regular file"));
  CHECK(has_problem(r, "003", "not a regular file"));
  CHECK(has_problem(r, "004", "not a regular file"));
  const std::string skipped = r.skipped_text();
  for (const char* s : {"skipped subject 002", "skipped subject 003", "skipped subject 004"})
    CHECK(skipped.find(s) != std::string::npos);
  CHECK(skipped.find("skipped subject 001") == std::string::npos);
  CHECK(skipped.find("camera_params.json") != std::string::npos);  // the why names the file
  CHECK(r.text().find("skipped subject 003 (not used): FLAME tracking unusable") != std::string::npos);

  NersembleReader ds = NersembleReader::open(td.path);
  CHECK(ds.num_subjects() == 1);
  CHECK(ds.report().skipped_text() == skipped);
  DatasetOptions so;
  so.strict = true;
  CHECK(throws_with([&] { NersembleReader::open(td.path, so); }, "not a regular file"));
}

TEST_CASE("dataset: a view that turns into a directory after open fails in load(), prefetch thread and preload_all") {
  TempDir td("dirview");
  write_fixture_subject(td.path, {"001"});
  for (int threads : {0, 1}) {
    DatasetOptions o;
    o.prefetch_threads = threads;
    NersembleReader ds = NersembleReader::open(td.path, o);
    REQUIRE(ds.num_subjects() == 1);
    const std::string img = ds.subject(0).images[0];
    make_directory_at(img);
    ds.prefetch({{0, 0}, {0, 1}});  // the worker meets the directory; it must hand the failure over, not terminate
    ds.wait_prefetch();
    CHECK(throws_with([&] { ds.load(0, 0, nullptr, nullptr); }, img));
    CHECK(throws_with([&] { ds.load(0, 0, nullptr, nullptr); }, "not a regular file"));  // the failure is kept
    ds.load(0, 1, nullptr, nullptr);                                                      // the others still load
    CHECK(throws_with([&] { ds.preload_all(2); }, "1 views failed to decode"));
    fs::remove(img);
    write_png(img, Image8(110, 160, 3, 40));
  }
}

TEST_CASE("split.json: an invalid one is refused for training, named, never 'all subjects'") {
  TempDir td("split");
  write_fixture_subject(td.path, {"001"});
  write_fixture_subject(td.path, {"002"});
  const std::string sj = td.path + "/split.json";
  struct Case {
    std::string text, what;
  };
  for (const Case& c : {Case{"{\"train\": [\"001\"], \"heldout\": [\"002\"", "not valid JSON"},
                        Case{"[\"001\"]", "must be an object"},
                        Case{"{\"heldout\": \"002\"}", "must be a list"},
                        Case{"{\"heldout\": [2]}", "entries must be strings"},
                        Case{"{\"train\": [\"001\", \"002\"], \"heldout\": [\"002\"]}", "listed under both"}}) {
    npy::write_file_atomic(sj, c.text.data(), c.text.size());
    ValidationReport r = validate_dataset(td.path);
    CHECK(r.split_error.find(sj) != std::string::npos);
    CHECK(r.split_error.find(c.what) != std::string::npos);
    CHECK(r.errors() == 1);
    CHECK(r.text().find(c.what) != std::string::npos);
    CHECK(throws_with([&] { NersembleReader::open(td.path); }, "refused"));
    CHECK(throws_with([&] { NersembleReader::open(td.path); }, c.what));
  }
  fs::remove(sj);
  fs::create_directories(sj);  // a directory: refused too (it used to read as "no split")
  CHECK(throws_with([&] { NersembleReader::open(td.path); }, "is not a regular file"));
  fs::remove(sj);
  CHECK(NersembleReader::open(td.path).num_subjects() == 2);  // no split.json: every subject trains
  write_split(td.path, {{"001"}, {"002"}});
  CHECK(NersembleReader::open(td.path).num_subjects() == 1);
}

TEST_CASE("PNG integrity: a flipped bit anywhere, a truncated file and a bad length are refused naming the file") {
  TempDir td("png");
  const Image8 im = gradient(23, 17);
  const std::vector<uint8_t> good = png_bytes(im, td.path);
  Image8 back = decode_image(good.data(), good.size(), "good.png", 3);
  CHECK(back.pixels == im.pixels);
  const size_t idat = chunk_offset(good, "IDAT"), ihdr = chunk_offset(good, "IHDR");
  REQUIRE(idat > 0);
  REQUIRE(ihdr > 0);
  for (size_t at : {idat + 8 + 5, ihdr + 8 + 1, idat + 4 /* the chunk type */, good.size() - 6 /* IEND's CRC */}) {
    std::vector<uint8_t> b = good;
    b[at] ^= 0x10;
    CHECK(throws_with([&] { decode_image(b.data(), b.size(), "flip.png", 3); }, "flip.png: corrupt PNG"));
  }
  std::vector<uint8_t> b = good;
  b[idat + 8 + 5] ^= 0x10;
  npy::write_file_atomic(td.path + "/flip.png", b.data(), b.size());
  CHECK(throws_with([&] { read_image(td.path + "/flip.png"); }, "CRC mismatch in chunk 'IDAT'"));
  std::vector<uint8_t> cut(good.begin(), good.end() - 12);  // IEND missing
  CHECK(throws_with([&] { decode_image(cut.data(), cut.size(), "cut.png"); }, "no IEND chunk"));
  std::vector<uint8_t> cut2(good.begin(), good.begin() + long(idat) + 20);  // inside IDAT
  CHECK(throws_with([&] { decode_image(cut2.data(), cut2.size(), "cut2.png"); }, "cut2.png: corrupt PNG"));
  std::vector<uint8_t> len = good;
  len[idat] = 0x7F;  // a chunk length past the end
  CHECK(throws_with([&] { decode_image(len.data(), len.size(), "len.png"); }, "claims"));
}

TEST_CASE("JPEG: a truncated file is refused (JPEG has no checksum; stb_image would decode it)") {
  // tests/fixtures/gradient_13x9.jpg: stb_image_write's JPEG of a 13x9 RGB gradient (fuzz/make_seeds.cpp, c3.jpg)
  const std::vector<uint8_t> jpg = npy::read_file_bytes(testing::fixture_path("gradient_13x9.jpg"));
  REQUIRE(jpg.size() > 200);
  Image8 back = decode_image(jpg.data(), jpg.size(), "good.jpg", 3);
  CHECK(back.width == 13);
  CHECK(back.height == 9);
  for (size_t keep : {jpg.size() - 2, jpg.size() - 40, jpg.size() / 2}) {
    std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + long(keep));
    CHECK(throws_with([&] { decode_image(cut.data(), cut.size(), "cut.jpg"); }, "cut.jpg: truncated JPEG"));
  }
  // a Huffman table with more than 256 codes overran stb_image 2.27's table (fuzz/corpus/fuzz_image/
  // crash_dht_over_256_codes.jpg): refused before stb sees it
  size_t dht = 0;
  for (size_t i = 2; i + 1 < jpg.size() && !dht; ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC4) dht = i;
  REQUIRE(dht > 0);
  std::vector<uint8_t> bad = jpg;
  bad[dht + 5 + 8] = 0xFF;  // the count of 9-bit codes
  CHECK(throws_with([&] { decode_image(bad.data(), bad.size(), "dht.jpg"); }, "dht.jpg: corrupt JPEG (Huffman table"));
  // stb also takes fill bytes before SOI for a JPEG (fuzz/corpus/fuzz_image/crash_dht_fill_before_soi.jpg): checked too
  bad.insert(bad.begin(), 3, uint8_t(0xFF));
  CHECK(throws_with([&] { decode_image(bad.data(), bad.size(), "fill.jpg"); }, "fill.jpg: corrupt JPEG (Huffman table"));
}

TEST_CASE("synth: the held-out default scales with n; held-out >= n is refused naming both") {
  SynthOptions o;
  CHECK(o.heldout == -1);
  for (auto nh : {std::pair<int, int>{1, 0}, {4, 1}, {7, 1}, {8, 2}, {32, 8}, {64, 8}}) {
    o.n = nh.first;
    CHECK(synth_heldout(o) == nh.second);
  }
  o.out = "/nonexistent/ff_synth_never_written";
  o.n = 4;
  o.heldout = 4;
  flame::FlameModel m = fixture_model();
  CHECK(throws_with([&] { write_synth_dataset(m, o); }, "4 held-out identities need at least 5 identities, got n = 4"));
  CHECK(!fs::exists(o.out));
}

TEST_CASE("images: a header claiming far more pixels than the bytes can hold is refused at once (found by fuzzing)") {
  const std::vector<uint8_t> b = npy::read_file_bytes(std::string(FF_SOURCE_DIR) + "/fuzz/corpus/fuzz_image/timeout_huge_header.jpg");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(throws_with([&] { decode_image(b.data(), b.size(), "huge.jpg", 3); }, "implausible"));
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.0);
}
