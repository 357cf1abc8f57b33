// .npy / .npz reader and writer: every dtype/order/header version in the fixtures, zip64, round trips, bad input.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "flame/npy.h"
#include "tests/flame/flame_test_util.h"

using namespace ff;
using ff::flame_test::throws_with;

TEST_CASE("npz: numpy dtypes, byte orders and Fortran order (np.savez, stored)") {
  auto z = npy::read_npz_file(testing::fixture_path("flame_dtypes.npz"));
  REQUIRE(z.size() == 9);
  auto f4 = z.at("f4");
  CHECK(f4.dtype_str() == "<f4");
  CHECK(f4.shape == std::vector<int64_t>{2, 3});
  CHECK(f4.at<double>(4) == doctest::Approx(4.0 / 3).epsilon(1e-6));
  auto be = z.at("f8_be").to<double>();  // big-endian converted to native
  for (int i = 0; i < 6; ++i) CHECK(be[size_t(i)] == i / 7.0);
  CHECK(z.at("i4").to<int64_t>() == std::vector<int64_t>{-3, 4, 5});
  auto fo = z.at("i8_fortran");  // Fortran order → C order
  CHECK(fo.shape == std::vector<int64_t>{2, 3, 4});
  auto fv = fo.to<int64_t>();
  for (int i = 0; i < 24; ++i) CHECK(fv[size_t(i)] == i);
  CHECK(z.at("u4").to<uint64_t>() == std::vector<uint64_t>{1, 4294967295ull});
  CHECK(z.at("u1").to<int>() == std::vector<int>{0, 7, 255});
  CHECK(z.at("b1").to<int>() == std::vector<int>{1, 0, 1});
  CHECK(z.at("scalar").shape.empty());
  CHECK(z.at("scalar").at<double>(0) == 2.5);
  CHECK(z.at("empty").numel() == 0);
}

TEST_CASE("npz: zip64 central directory, deflate and stored members") {
  auto z = npy::read_npz_file(testing::fixture_path("flame_dtypes_zip64.npz"));
  REQUIRE(z.size() == 3);
  CHECK(z.at("a").shape == std::vector<int64_t>{2, 3});
  auto b = z.at("b").to<int64_t>();
  for (int i = 0; i < 24; ++i) CHECK(b[size_t(i)] == i);
  CHECK(z.at("c").to<int>() == std::vector<int>{0, 7, 255});
}

TEST_CASE("npy: format versions 2 and 3") {
  auto a = npy::read_npy_file(testing::fixture_path("flame_v2.npy"));
  CHECK(a.shape == std::vector<int64_t>{2, 3, 4});
  CHECK(a.to<int64_t>()[23] == 23);
  auto b = npy::read_npy_file(testing::fixture_path("flame_v3.npy"));
  CHECK(b.dtype_str() == "<f4");
  CHECK(b.numel() == 6);
}

TEST_CASE("npy/npz writer round trip (stored and deflated), atomic replace") {
  std::vector<double> d = {1.5, -2.25, 3e-300, 4};
  std::vector<int32_t> i = {7, -8, 9};
  std::vector<uint8_t> u = {1, 2, 250};
  std::map<std::string, npy::NdArray> m = {{"d", npy::NdArray::from<double>({2, 2}, d.data())},
                                            {"i", npy::NdArray::from<int32_t>({3}, i.data())},
                                            {"u", npy::NdArray::from<uint8_t>({3, 1}, u.data())}};
  for (bool deflate : {false, true}) {
    std::string p = flame_test::tmp_path(deflate ? "d.npz" : "s.npz");
    npy::write_npz_file(p, m, deflate);
    npy::write_npz_file(p, m, deflate);  // replaces atomically
    auto r = npy::read_npz_file(p);
    CHECK(r.at("d").to<double>() == d);
    CHECK(r.at("d").shape == std::vector<int64_t>{2, 2});
    CHECK(r.at("i").to<int32_t>() == i);
    CHECK(r.at("u").dtype_str() == "|u1");
    CHECK(r.at("u").shape == std::vector<int64_t>{3, 1});
    std::remove(p.c_str());
  }
  std::string p = flame_test::tmp_path("x.npy");
  npy::write_npy_file(p, m.at("d"));
  CHECK(npy::read_npy_file(p).to<double>() == d);
  std::remove(p.c_str());
}

TEST_CASE("npy/npz bad input: truncation, bad magic, corrupt data, unsupported dtypes") {
  auto good = npy::read_file_bytes(testing::fixture_path("flame_dtypes.npz"));
  // every truncation is an ff::Error naming the file
  for (size_t n = 0; n < good.size(); n += 7)
    CHECK(throws_with([&] { npy::parse_npz(good.data(), n, "cut.npz"); }, {"cut.npz"}));
  auto bad = good;
  size_t data0 = 30 + size_t(good[26] | (good[27] << 8)) + size_t(good[28] | (good[29] << 8));
  bad[data0 + 140] ^= 0x55;  // inside the first member's array data: CRC mismatch
  CHECK(throws_with([&] { npy::parse_npz(bad.data(), bad.size(), "flip.npz"); }, {"flip.npz", "CRC mismatch"}));
  auto v2 = npy::read_file_bytes(testing::fixture_path("flame_v2.npy"));
  for (size_t n = 0; n < v2.size(); ++n)
    CHECK(throws_with([&] { npy::parse_npy(v2.data(), n, "cut.npy"); }, {"cut.npy"}));
  std::string hdr = std::string("\x93NUMPY\x01\x00", 8);
  auto mk = [&](const std::string& dict) {
    std::string h = dict;
    std::string s = hdr + char(h.size() & 0xff) + char(h.size() >> 8) + h + std::string(64, '\0');
    return std::vector<uint8_t>(s.begin(), s.end());
  };
  auto c8 = mk("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n");
  CHECK(throws_with([&] { npy::parse_npy(c8.data(), c8.size(), "c.npy"); }, {"c.npy", "unsupported dtype '<c8'"}));
  auto st = mk("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n");
  CHECK(throws_with([&] { npy::parse_npy(st.data(), st.size(), "s.npy"); }, {"structured"}));
  auto big = mk("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }\n");
  CHECK(throws_with([&] { npy::parse_npy(big.data(), big.size(), "b.npy"); }, {"b.npy"}));
  CHECK(throws_with([&] { npy::read_npy_file("/nonexistent/x.npy"); }, {"/nonexistent/x.npy"}));
}

TEST_CASE("npz read on demand: members decoded only when asked for; one key from two members is refused") {
  const float v[3] = {1, 2, 3};
  std::vector<std::pair<std::string, std::vector<uint8_t>>> members = {
      {"a.npy", npy::serialize_npy(npy::NdArray::from<float>({3}, v))},
      {"junk.npy", {'n', 'o', 't', ' ', 'n', 'p', 'y'}}};
  const std::vector<uint8_t> z = npy::serialize_zip(members, true);
  npy::NpzReader r(z, "t.npz");
  CHECK(r.keys() == std::vector<std::string>{"a", "junk"});
  CHECK(r.get("a").to<float>() == std::vector<float>{1, 2, 3});  // the broken member is never decoded
  CHECK_THROWS_WITH_AS(r.get("junk"), doctest::Contains("t.npz:junk.npy"), ff::Error);
  CHECK_THROWS_WITH_AS(r.get("b"), doctest::Contains("no member 'b'"), ff::Error);
  CHECK_THROWS_AS(npy::parse_npz(z.data(), z.size(), "t.npz"), ff::Error);  // the eager reader decodes all
  members.push_back({"a", npy::serialize_npy(npy::NdArray::from<float>({3}, v))});
  const std::vector<uint8_t> twice = npy::serialize_zip(members, false);
  CHECK_THROWS_WITH_AS(npy::NpzReader(twice, "t.npz"), doctest::Contains("have the same key"), ff::Error);
}

TEST_CASE("read_file_bytes: a file over kMaxFileBytes is refused by its size, before any allocation") {
  // a sparse file: 64 GiB + 1 byte that occupy no disk
  const std::string p = flame_test::tmp_path("huge.bin");
  { std::ofstream(p, std::ios::binary).put('x'); }
  std::filesystem::resize_file(p, npy::kMaxFileBytes + 1);
  CHECK(npy::regular_file_size(p) == npy::kMaxFileBytes + 1);
  CHECK(throws_with([&] { npy::read_file_bytes(p); }, {p, "larger than the 68719476736-byte limit"}));
  CHECK(throws_with([&] { npy::read_npy_file(p); }, {p, "larger than"}));  // the readers go through it
  std::remove(p.c_str());
}
