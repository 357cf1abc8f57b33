// tests/core/test_container.cpp — runtime/container.h, the one container of .fft / .ffck / .ffpk: version-2 round
// trips of every kind and dtype, the byte layout, version-1 fixtures of every kind, refusal of a file read as
// another kind, hostile sizes refused (with a valid checksum, so the size checks themselves are tested), the
// writer's refusals, and the atomic whole-file writer.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "core/file.h"
#include "runtime/container.h"
#include "tests/testing.h"

using ffrt::FileKind;

namespace {

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
// a v2 file of `kind` with one hand-made record after the header records the kind needs
std::string hand_made(FileKind kind, const std::string& record, uint32_t count = 0) {
  ffrt::Header h;
  h.pack_kind = 2;
  std::string b = ffrt::ContainerWriter(kind, h).finish();
  b.resize(b.size() - 8);  // drop the checksum, append the record, fix count and checksum
  b += record;
  const size_t count_pos = 8 + 4 + 8;  // empty meta
  uint32_t n;
  std::memcpy(&n, &b[count_pos], 4);
  n = count ? count : n + 1;
  std::memcpy(&b[count_pos], &n, 4);
  put<uint64_t>(b, ffrt::fnv1a64(b.data(), b.size()));
  return b;
}
std::string record(const std::string& name, uint8_t dtype, const std::vector<int64_t>& shape, uint64_t nbytes,
                   const std::string& data) {
  std::string r;
  put<uint32_t>(r, uint32_t(name.size()));
  r += name;
  put<uint8_t>(r, dtype);
  put<uint32_t>(r, uint32_t(shape.size()));
  for (int64_t d : shape) put<int64_t>(r, d);
  put<uint64_t>(r, nbytes);
  return r + data;
}
void refused(const std::string& bytes, FileKind kind, const char* why) {
  CHECK_THROWS_WITH_AS(ffrt::parse_container(bytes, kind, "'hand.bin'"), doctest::Contains(why), ffrt::Error);
}

}  // namespace

TEST_CASE("container: version-2 round trip of every kind, all five dtypes, any names, header fields") {
  const float f[6] = {1.5f, -2, 0, 3, 4, 5};
  const double d[2] = {0.25, -1e30};
  const int32_t i[3] = {-1, 0, 1 << 30};
  const int64_t l[1] = {int64_t(1) << 50};
  const std::string names = "anna\nbert";
  for (FileKind kind : {FileKind::kTensors, FileKind::kCheckpoint, FileKind::kPack}) {
    CAPTURE(ffrt::file_kind_name(kind));
    ffrt::Header h;
    h.meta = kind == FileKind::kTensors ? "" : "{\"any\": \"text ü\"}";
    h.step = 1234;
    h.rng_counter = (uint64_t(1) << 63) + 5;  // the top bit survives the i64 record
    h.pack_kind = 2;
    ffrt::ContainerWriter w(kind, h);
    w.add("param/x", ffrt::kF32, {2, 3}, f, sizeof f);
    w.add("layout/tri", ffrt::kF64, {2}, d, sizeof d);
    w.add("cameras/0/K", ffrt::kI32, {3}, i, sizeof i);
    w.add("scalar", ffrt::kI64, {}, l, sizeof l);
    w.add("names", ffrt::kU8, {int64_t(names.size())}, names.data(), names.size());
    w.add("empty", ffrt::kF32, {0, 7}, nullptr, 0);
    const std::string b = w.finish();
    // the byte layout of container.h
    CHECK(ffrt::has_magic(b, kind));
    uint32_t version;
    std::memcpy(&version, b.data() + 8, 4);
    CHECK(version == 2);
    uint64_t meta_len;
    std::memcpy(&meta_len, b.data() + 12, 8);
    CHECK(meta_len == h.meta.size());
    CHECK(b.compare(20, meta_len, h.meta) == 0);
    uint64_t sum;
    std::memcpy(&sum, b.data() + b.size() - 8, 8);
    CHECK(sum == ffrt::fnv1a64(b.data(), b.size() - 8));

    const ffrt::ContainerView v = ffrt::parse_container(b, kind, "'rt'");
    CHECK(v.version == 2);
    CHECK(v.header.meta == h.meta);
    if (kind == FileKind::kCheckpoint) {
      CHECK(v.header.step == 1234);
      CHECK(v.header.rng_counter == h.rng_counter);
    }
    if (kind == FileKind::kPack) CHECK(v.header.pack_kind == 2);
    REQUIRE(v.records.size() == 6);  // header records are not among them
    const ffrt::Array x = v.records[0].copy();
    CHECK(x.name == "param/x");
    CHECK(x.shape == std::vector<int64_t>{2, 3});
    CHECK(x.floats() == std::vector<float>(f, f + 6));
    CHECK(v.records[1].copy().floats() == std::vector<float>{0.25f, float(-1e30)});
    CHECK(v.records[2].dtype == ffrt::kI32);
    CHECK(std::memcmp(v.records[2].data, i, sizeof i) == 0);
    CHECK(v.records[3].shape.empty());
    CHECK(std::memcmp(v.records[3].data, l, 8) == 0);
    CHECK(v.records[4].copy().data == names);
    CHECK(v.records[5].shape == std::vector<int64_t>{0, 7});
    CHECK(v.records[5].nbytes == 0);
  }
}

TEST_CASE("container: version-1 files of every kind (written by earlier facefield) are still read") {
  const std::string fft = ff::read_file(ff::testing::fixture_path("nn_blocks.fft"));
  const ffrt::ContainerView t = ffrt::parse_container(fft, FileKind::kTensors, "nn_blocks.fft");
  CHECK(t.version == 1);
  CHECK(t.header.meta.empty());
  CHECK(t.records.size() > 10);

  // tests/reference/container_v1_fixtures.py
  const std::string ck = ff::read_file(ff::testing::fixture_path("container_v1.ffck"));
  const ffrt::ContainerView c = ffrt::parse_container(ck, FileKind::kCheckpoint, "container_v1.ffck");
  CHECK(c.version == 1);
  CHECK(c.header.step == 1234);
  CHECK(c.header.rng_counter == (uint64_t(1) << 63) + 5);
  CHECK(c.header.meta == "{\"steps\": 1234, \"model\": {\"K\": 2}}");
  REQUIRE(c.records.size() == 7);
  CHECK(c.records[0].name == "param/x");
  CHECK(c.records[0].copy().floats() == std::vector<float>{0.5f, -1, 2, 3.25f, -0.125f, 8});
  CHECK(c.records[1].dtype == ffrt::kF64);
  CHECK(c.records[3].copy().floats() == std::vector<float>{1, -2, 3});
  CHECK(c.records[4].copy().data == "a\nb");
  CHECK(c.records[6].shape == std::vector<int64_t>{0, 4});

  const std::string pk = ff::read_file(ff::testing::fixture_path("container_v1.ffpk"));
  const ffrt::ContainerView p = ffrt::parse_container(pk, FileKind::kPack, "container_v1.ffpk");
  CHECK(p.version == 1);
  CHECK(p.header.pack_kind == 1);
  CHECK(p.header.meta.find("\"gaussians\":2") != std::string::npos);
  REQUIRE(p.records.size() == 9);
  CHECK(p.records[7].name == "extra/i64");
  CHECK(p.records[7].copy().floats() == std::vector<float>{float(int64_t(1) << 40)});
  CHECK(p.records[8].copy().data == "ann\nb");

  // re-written: version 2, same content
  ffrt::ContainerWriter w(FileKind::kCheckpoint, c.header);
  for (auto& r : c.records) w.add(r.copy());
  const std::string v2 = w.finish();
  const ffrt::ContainerView c2 = ffrt::parse_container(v2, FileKind::kCheckpoint, "v2");
  CHECK(c2.version == 2);
  CHECK(c2.header.step == 1234);
  CHECK(c2.header.rng_counter == c.header.rng_counter);
  REQUIRE(c2.records.size() == 7);
  for (size_t k = 0; k < 7; ++k) CHECK(c2.records[k].copy().data == c.records[k].copy().data);
}

TEST_CASE("container: a file of one kind read as another is refused, naming what it is") {
  const std::string pk = ff::read_file(ff::testing::fixture_path("container_v1.ffpk"));
  CHECK_THROWS_WITH_AS(ffrt::parse_container(pk, FileKind::kCheckpoint, "'m.ffck'"),
                       doctest::Contains("'m.ffck' is not a facefield checkpoint (bad magic: its first bytes are not "
                                         "\"FFCKPT\\r\\n\"); it is a facefield identity pack (.ffpk)"),
                       ffrt::Error);
  const std::string ck = ff::read_file(ff::testing::fixture_path("container_v1.ffck"));
  CHECK_THROWS_WITH_AS(ffrt::parse_container(ck, FileKind::kTensors, "'x'"),
                       doctest::Contains("it is a facefield checkpoint (.ffck)"), ffrt::Error);
  const std::string fft = ffrt::ContainerWriter(FileKind::kTensors, {}).finish();
  CHECK_THROWS_WITH_AS(ffrt::parse_container(fft, FileKind::kPack, "'x'"),
                       doctest::Contains("it is a facefield tensor file (.fft)"), ffrt::Error);
  CHECK_THROWS_WITH_AS(ffrt::parse_container("GIF89a and more", FileKind::kPack, "'x'"),
                       doctest::Contains("'x' is not a facefield identity pack (bad magic"), ffrt::Error);
  try {
    ffrt::parse_container("", FileKind::kPack, "'x'");
    FAIL("no throw");
  } catch (const ffrt::Error& e) {
    CHECK(e.status == ffrt::kFormat);
  }
}

TEST_CASE("container: hostile sizes, names, dtypes and header records are refused before allocating") {
  const FileKind T = FileKind::kTensors;
  CHECK_NOTHROW(ffrt::parse_container(hand_made(T, record("ok", ffrt::kF32, {1}, 4, "abcd")), T, "x"));
  refused(hand_made(T, record("big", ffrt::kF32, {int64_t(1) << 39, int64_t(1) << 39, int64_t(1) << 39}, 0, "")),
          T, "'big' is implausibly large");
  refused(hand_made(T, record("wrap", ffrt::kF64, {int64_t(1) << 31, int64_t(1) << 31, 4}, 0, "")), T,
          "implausibly large");  // 2^64 bytes: wraps to 0 without the overflow check
  refused(hand_made(T, record("lie", ffrt::kF32, {2}, 4, "abcd")), T, "declares 4 bytes but its f32 shape needs 8");
  refused(hand_made(T, record("huge", ffrt::kU8, {int64_t(1) << 39}, uint64_t(1) << 39, "")), T, "truncated");
  refused(hand_made(T, record("neg", ffrt::kF32, {-1}, 0, "")), T, "bad dimension -1");
  refused(hand_made(T, record("dim", ffrt::kF32, {int64_t(1) << 40}, 0, "")), T, "bad dimension");
  refused(hand_made(T, record("rank", ffrt::kF32, std::vector<int64_t>(17, 1), 4, "abcd")), T, "rank 17");
  refused(hand_made(T, record("dt", 9, {1}, 4, "abcd")), T, "unknown dtype code 9");
  refused(hand_made(T, record(std::string(70000, 'n'), ffrt::kF32, {}, 4, "abcd")), T, "implausible name length");
  refused(hand_made(T, "", 4000000000u), T, "declares 4000000000 records");
  // header records: missing, repeated, malformed, or a reserved name in a v1 file
  refused(hand_made(FileKind::kCheckpoint, record("ckpt/step", ffrt::kI64, {1}, 8, std::string(8, '\0'))),
          FileKind::kCheckpoint, "has header record 'ckpt/step' twice");
  refused(hand_made(FileKind::kPack, record("pack/kind", ffrt::kI32, {1}, 4, std::string(4, '\0'))), FileKind::kPack,
          "twice");
  {
    std::string b = ffrt::ContainerWriter(T, {}).finish();
    std::memcpy(&b[0], "FFCKPT\r\n", 8);  // a checkpoint without its header records
    b.resize(b.size() - 8);
    put<uint64_t>(b, ffrt::fnv1a64(b.data(), b.size()));
    refused(b, FileKind::kCheckpoint, "has no header record 'ckpt/step'");
    std::memcpy(&b[0], "FFPACK\r\n", 8);
    b.resize(b.size() - 8);
    b.resize(b.size() - 4);  // count 0 → 1 record: a malformed pack/kind
    put<uint32_t>(b, 1);
    b += record("pack/kind", ffrt::kF32, {1}, 4, "abcd");
    put<uint64_t>(b, ffrt::fnv1a64(b.data(), b.size()));
    refused(b, FileKind::kPack, "header record 'pack/kind' must be one i32 or i64");
  }
  {
    std::string v1 = ff::read_file(ff::testing::fixture_path("container_v1.ffpk"));
    v1.resize(v1.size() - 8);
    uint64_t meta_len;
    std::memcpy(&meta_len, &v1[16], 8);
    const size_t count_pos = 8 + 4 + 4 + 8 + size_t(meta_len);  // magic, version, kind, meta length, meta
    uint32_t n;
    std::memcpy(&n, &v1[count_pos], 4);
    REQUIRE(n == 9);
    n = 10;
    std::memcpy(&v1[count_pos], &n, 4);
    v1 += record("pack/kind", ffrt::kI32, {1}, 4, std::string(4, '\0'));
    put<uint64_t>(v1, ffrt::fnv1a64(v1.data(), v1.size()));
    refused(v1, FileKind::kPack, "record 'pack/kind' has a reserved name");
  }
  // version, trailing bytes, checksum
  std::string ok = hand_made(T, record("ok", ffrt::kF32, {1}, 4, "abcd"));
  std::string ver = ok;
  ver[8] = 3;
  refused(ver, T, "tensor file format version 3; this build reads versions 1 to 2");
  ver[8] = 0;
  refused(ver, T, "format version 0");
  refused(ok + "x", T, "1 unexpected trailing bytes");
  std::string flip = ok;
  flip[ok.size() - 9] ^= 1;
  refused(flip, T, "checksum mismatch");
  for (size_t cut = 8; cut < ok.size(); ++cut) refused(ok.substr(0, cut), T, "'hand.bin' is truncated");
}

TEST_CASE("container: the writer refuses what the reader would refuse") {
  const float f[2] = {1, 2};
  ffrt::ContainerWriter w(FileKind::kCheckpoint, {});
  CHECK_THROWS_WITH_AS(w.add("ckpt/step", ffrt::kI64, {1}, f, 8), doctest::Contains("'ckpt/step' is reserved"),
                       ffrt::Error);
  CHECK_THROWS_WITH_AS(w.add("x", ffrt::kF32, {3}, f, 8), doctest::Contains("holds 8 bytes, its f32 shape needs 12"),
                       ffrt::Error);
  CHECK_THROWS_WITH_AS(w.add("x", 7, {2}, f, 8), doctest::Contains("unknown dtype code 7"), ffrt::Error);
  CHECK_THROWS_WITH_AS(w.add("x", ffrt::kF32, std::vector<int64_t>(17, 1), f, 4), doctest::Contains("rank 17"),
                       ffrt::Error);
  CHECK_THROWS_WITH_AS(w.add("x", ffrt::kF32, {-2}, f, 0), doctest::Contains("bad dimension -2"), ffrt::Error);
  CHECK_THROWS_WITH_AS(w.add(std::string(1 << 16, 'n'), ffrt::kF32, {2}, f, 8), doctest::Contains("too long"),
                       ffrt::Error);
  ffrt::ContainerWriter pack(FileKind::kPack, {});
  CHECK_NOTHROW(pack.add("ckpt/step", ffrt::kI64, {}, f, 8));  // reserved only in checkpoints
  CHECK_THROWS_AS(pack.add("pack/kind", ffrt::kI32, {1}, f, 4), ffrt::Error);
}

TEST_CASE("container: write_file is atomic and names the file when it cannot write") {
  const std::string dir = "/tmp/ff_container_test_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  ffrt::write_file(dir + "/a.bin", std::string("first"));
  ffrt::write_file(dir + "/a.bin", std::string("second"));
  CHECK(ffrt::read_file(dir + "/a.bin") == "second");
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 1);  // no temp file left behind
  try {
    ffrt::write_file(dir + "/no/such/dir/b.bin", std::string("x"));
    FAIL("no throw");
  } catch (const ffrt::Error& e) {
    CHECK(e.status == ffrt::kIO);
    CHECK(std::string(e.what()).find(dir + "/no/such/dir/b.bin.tmp.") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(ff::write_file_atomic(dir + "/no/b.bin", "x"), doctest::Contains("cannot open"), ff::Error);
  CHECK_THROWS_WITH_AS(ff::read_file(dir + "/missing"), doctest::Contains(("cannot open '" + dir + "/missing'").c_str()),
                       ff::Error);
  std::filesystem::remove_all(dir);
}
