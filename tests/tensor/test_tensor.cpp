#include <cstdio>
#include <cstring>
#include <fstream>
#include <tuple>

#include "tensor/io.h"
#include "tensor/kernels.h"
#include "tensor/winograd_cpu.h"
#include "tests/testing.h"

using namespace ff;

TEST_CASE("tensor: creation, metadata, element access") {
  Context ctx(0);
  Tensor a = from_vector<float>(ctx, {1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(a.shape() == Shape{2, 3});
  CHECK(a.strides() == Shape{3, 1});
  CHECK(a.numel() == 6);
  CHECK(a.is_contiguous());
  CHECK(a.at<float>({1, 2}) == 6.0f);
  CHECK(a.str() == "f32[2,3] cpu");
  Tensor z = zeros(ctx, {0, 4});
  CHECK(z.numel() == 0);
  CHECK(full(ctx, {2}, 7.0, DType::F64).to_vector<double>() == std::vector<double>{7, 7});
  CHECK(arange(ctx, 4, DType::I64).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3});
}

TEST_CASE("tensor: views share storage; contiguous copies") {
  Context ctx(0);
  Tensor a = from_vector<float>(ctx, {1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor t = a.as_strided({3, 2}, {1, 3});
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.at<float>({2, 1}) == 6.0f);
  Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  a.data<float>()[0] = 10;
  CHECK(t.at<float>({0, 0}) == 10.0f);  // a view
  CHECK(c.at<float>({0, 0}) == 1.0f);   // a copy
  Tensor e = kernels::expand_to(from_vector<float>(ctx, {1, 2}, {2, 1}), {2, 4}, "test");
  CHECK(e.strides()[1] == 0);
  CHECK(e.contiguous().to_vector<float>() == std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2});
  CHECK_THROWS_WITH_AS(a.as_strided({4, 4}, {4, 1}), doctest::Contains("exceeds storage"), ff::Error);
}

TEST_CASE("tensor: dtype casts and fill on strided views") {
  Context ctx(0);
  Tensor a = from_vector<double>(ctx, {1.5, -2.5, 3.0}, {3});
  CHECK(a.to(DType::F32).to_vector<float>() == std::vector<float>{1.5f, -2.5f, 3.0f});
  CHECK(a.to(DType::I64).to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  Tensor m = zeros(ctx, {3, 4});
  m.as_strided({3}, {5}).fill_(1.0);  // the diagonal
  CHECK(m.at<float>({2, 2}) == 1.0f);
  CHECK(m.at<float>({2, 1}) == 0.0f);
}

TEST_CASE("tensor: seeded RNG is reproducible and advances") {
  Context c1(42), c2(42), c3(43);
  Tensor a = randn(c1, {1000}), b = randn(c2, {1000}), d = randn(c3, {1000});
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  CHECK(a.to_vector<float>() != d.to_vector<float>());
  CHECK(randn(c1, {10}).to_vector<float>() != randn(c2, {20}).to_vector<float>());
  Tensor u = rand(c1, {10000}, DType::F64, Device::cpu(), -2, 3);
  auto v = u.to_vector<double>();
  for (double x : v) REQUIRE((x >= -2 && x < 3));
}

TEST_CASE("kernels: broadcasting and error messages") {
  Context ctx(0);
  Tensor a = ones(ctx, {2, 3});
  Tensor b = from_vector<float>(ctx, {1, 2, 3}, {3});
  CHECK(kernels::binary(kernels::Binary::Add, a, b).to_vector<float>() == std::vector<float>{2, 3, 4, 2, 3, 4});
  CHECK_THROWS_WITH_AS(kernels::binary(kernels::Binary::Add, a, ones(ctx, {4})),
                       doctest::Contains("add: shapes [2,3] and [4] do not broadcast"), ff::Error);
  CHECK_THROWS_WITH_AS(kernels::binary(kernels::Binary::Mul, a, ones(ctx, {2, 3}, DType::F64)),
                       doctest::Contains("mul: dtype mismatch f32[2,3] cpu vs f64[2,3] cpu"), ff::Error);
  CHECK_THROWS_WITH_AS(kernels::matmul(ones(ctx, {2, 3}), ones(ctx, {4, 2})),
                       doctest::Contains("matmul: inner dimensions differ"), ff::Error);
  CHECK_THROWS_WITH_AS(kernels::conv2d(ones(ctx, {1, 3, 4, 4}), ones(ctx, {2, 2, 3, 3}), Tensor(), {}),
                       doctest::Contains("conv2d: channels"), ff::Error);
  CHECK_THROWS_WITH_AS(kernels::index_select(ones(ctx, {3}), 0, from_vector<int64_t>(ctx, {3}, {1})),
                       doctest::Contains("index_select: index 3 at position 0 out of range [0, 3)"), ff::Error);
  CHECK_THROWS_WITH_AS(kernels::grid_sample(ones(ctx, {1, 2, 3, 3}), ones(ctx, {1, 2, 2, 3})),
                       doctest::Contains("grid_sample: expected input [N,C,H,W] and grid [N,Ho,Wo,2]"), ff::Error);
  CHECK_THROWS_WITH_AS(ones(ctx, {2}).data<double>(), doctest::Contains("tensor is f32, asked for f64"), ff::Error);
  if (!Context::cuda_available())
    CHECK_THROWS_AS(ones(ctx, {2}, DType::F32, Device::cuda()), ff::Error);
  CHECK_THROWS_WITH_AS(ones(ctx, {2}, DType::F64, Device::cuda()), doctest::Contains("f64 tensors are CPU-only"), ff::Error);
}

TEST_CASE("kernels: reductions, matmul and conv against direct loops") {
  Context ctx(3);
  Tensor x = randn(ctx, {4, 5, 6}, DType::F64);
  Tensor s = kernels::reduce(kernels::Reduce::Sum, x, {0, 2}, false);
  Tensor am;
  Tensor m = kernels::reduce(kernels::Reduce::Max, x, {1}, true, &am);
  for (int j = 0; j < 5; ++j) {
    double ref = 0;
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 6; ++k) ref += x.at<double>({i, j, k});
    CHECK(s.at<double>({j}) == doctest::Approx(ref).epsilon(1e-12));
  }
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < 6; ++k) {
      double best = -1e300;
      for (int j = 0; j < 5; ++j) best = std::max(best, x.at<double>({i, j, k}));
      CHECK(m.at<double>({i, 0, k}) == best);
      CHECK(x.at<double>({i, am.at<int64_t>({i, 0, k}), k}) == best);
    }
  // long-row parallel sum path
  Tensor big = ones(ctx, {1, 100003}, DType::F64);
  CHECK(kernels::reduce(kernels::Reduce::Sum, big, {}, false).item() == 100003.0);
  Tensor a = randn(ctx, {7, 9}, DType::F64), b = randn(ctx, {9, 5}, DType::F64);
  Tensor c = kernels::matmul(a, b);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 5; ++j) {
      double ref = 0;
      for (int k = 0; k < 9; ++k) ref += a.at<double>({i, k}) * b.at<double>({k, j});
      CHECK(c.at<double>({i, j}) == doctest::Approx(ref).epsilon(1e-12));
    }
  Tensor xi = randn(ctx, {2, 4, 6, 5}, DType::F64), w = randn(ctx, {6, 2, 3, 3}, DType::F64);
  kernels::Conv2dParams p{2, 1, 1, 0, 2};
  Tensor y = kernels::conv2d(xi, w, Tensor(), p);
  REQUIRE(y.shape() == Shape{2, 6, 3, 3});
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 6; ++o)
      for (int oy = 0; oy < 3; ++oy)
        for (int ox = 0; ox < 3; ++ox) {
          double ref = 0;
          int g = o / 3;
          for (int c2 = 0; c2 < 2; ++c2)
            for (int ki = 0; ki < 3; ++ki)
              for (int kj = 0; kj < 3; ++kj) {
                int iy = oy * 2 - 1 + ki, ix = ox + kj;
                if (iy < 0 || iy >= 6 || ix >= 5) continue;
                ref += xi.at<double>({n, g * 2 + c2, iy, ix}) * w.at<double>({o, c2, ki, kj});
              }
          CHECK(y.at<double>({n, o, oy, ox}) == doctest::Approx(ref).epsilon(1e-12));
        }
}

TEST_CASE("kernels: grid_sample matches PyTorch's align_corners=False convention") {
  Context ctx(0);
  // 2x2 image; grid point (-0.5, -0.5) is the centre of pixel (0,0); (0,0) is the image centre
  Tensor img = from_vector<float>(ctx, {1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor grid = from_vector<float>(ctx, {-0.5f, -0.5f, 0.f, 0.f, 0.5f, -0.5f, -1.f, -1.f}, {1, 1, 4, 2});
  auto v = kernels::grid_sample(img, grid).to_vector<float>();
  CHECK(v[0] == doctest::Approx(1.0));
  CHECK(v[1] == doctest::Approx(2.5));
  CHECK(v[2] == doctest::Approx(2.0));
  CHECK(v[3] == doctest::Approx(0.25));  // corner: zero padding mixes in 3 zeros
}

TEST_CASE("tensor io: save/load round trip and refusal of bad files") {
  Context ctx(0);
  std::string path = "test_tensor_io.fft";
  NamedTensors in = {{"a", randn(ctx, {3, 4})}, {"idx", arange(ctx, 5, DType::I64)}, {"empty", zeros(ctx, {0, 2})},
                     {"view", randn(ctx, {4, 3}).as_strided({3, 2}, {1, 3})}};
  save_tensors(path, in);
  NamedTensors out = load_tensors(ctx, path);
  REQUIRE(out.size() == 4);
  CHECK(find_tensor(out, "a").to_vector<float>() == in[0].second.to_vector<float>());
  CHECK(find_tensor(out, "idx").to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(find_tensor(out, "empty").shape() == Shape{0, 2});
  CHECK(find_tensor(out, "view").to_vector<float>() == in[3].second.to_vector<float>());
  CHECK_THROWS_WITH_AS(find_tensor(out, "b"), doctest::Contains("no tensor named 'b' (entries: a, idx, empty, view)"),
                       ff::Error);
  std::string bytes = read_file(path);
  // truncated
  write_file_atomic(path + ".trunc", bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_WITH_AS(load_tensors(ctx, path + ".trunc"), doctest::Contains("truncated"), ff::Error);
  // foreign
  write_file_atomic(path + ".foreign", "PK\x03\x04 this is a zip file, not ours");
  CHECK_THROWS_WITH_AS(load_tensors(ctx, path + ".foreign"), doctest::Contains("bad magic"), ff::Error);
  // corrupted payload
  std::string bad = bytes;
  bad[bad.size() / 2] ^= 0x5a;
  write_file_atomic(path + ".corrupt", bad);
  CHECK_THROWS_WITH_AS(load_tensors(ctx, path + ".corrupt"), doctest::Contains("checksum"), ff::Error);
  // future version
  std::string ver = bytes;
  ver[8] = 9;
  write_file_atomic(path + ".ver", ver);
  CHECK_THROWS_WITH_AS(load_tensors(ctx, path + ".ver"), doctest::Contains("version 9"), ff::Error);
  CHECK_THROWS_WITH_AS(load_tensors(ctx, "does/not/exist.fft"), doctest::Contains("cannot open"), ff::Error);
  for (auto s : {"", ".trunc", ".foreign", ".corrupt", ".ver"}) std::remove((path + s).c_str());
}

TEST_CASE("tensor io: version-1 files still load, version 2 is written; another kind is refused by name") {
  Context ctx(0);
  const std::string v1 = testing::fixture_path("nn_blocks.fft");  // written by facefield before the v2 container
  const std::string v1_bytes = read_file(v1);
  uint32_t version;
  std::memcpy(&version, v1_bytes.data() + 8, 4);
  REQUIRE(version == 1);
  NamedTensors a = load_tensors(ctx, v1);
  REQUIRE(a.size() > 10);
  const std::string path = "test_tensor_io_v2.fft";
  save_tensors(path, a);
  const std::string v2_bytes = read_file(path);
  std::memcpy(&version, v2_bytes.data() + 8, 4);
  CHECK(version == 2);
  NamedTensors b = load_tensors(ctx, path);
  REQUIRE(b.size() == a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(b[i].first == a[i].first);
    CHECK(b[i].second.dtype() == a[i].second.dtype());
    CHECK(b[i].second.shape() == a[i].second.shape());
    CHECK(std::memcmp(b[i].second.raw_data(), a[i].second.raw_data(), a[i].second.numel() * dtype_size(a[i].second.dtype())) == 0);
  }
  CHECK_THROWS_WITH_AS(load_tensors(ctx, testing::fixture_path("container_v1.ffck")),
                       doctest::Contains("is not a facefield tensor file (bad magic: its first bytes are not "
                                         "\"FFTENSOR\"); it is a facefield checkpoint (.ffck)"),
                       ff::Error);
  CHECK_THROWS_WITH_AS(load_tensors(ctx, testing::fixture_path("container_v1.ffpk")),
                       doctest::Contains("it is a facefield identity pack (.ffpk)"), ff::Error);
  std::remove(path.c_str());
}

TEST_CASE("kernels: f32 GEMM and conv (own packed kernel) agree with the f64 path") {
  Context ctx(11, 2);
  auto close = [](const Tensor& f32, const Tensor& f64, double tol) {
    auto a = f32.to_vector<float>();
    auto b = f64.to_vector<double>();
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / (1 + std::abs(b[i])));
    CHECK(worst < tol);
  };
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = randn(ctx, ta ? Shape{3, 300, 37} : Shape{3, 37, 300}, DType::F64);
      Tensor b = randn(ctx, tb ? Shape{53, 300} : Shape{300, 53}, DType::F64);
      close(kernels::matmul(a.to(DType::F32), b.to(DType::F32), ta, tb), kernels::matmul(a, b, ta, tb), 1e-4);
    }
  Tensor big_a = randn(ctx, {130, 260}, DType::F64), big_b = randn(ctx, {260, 700}, DType::F64);  // several panels
  close(kernels::matmul(big_a.to(DType::F32), big_b.to(DType::F32)), kernels::matmul(big_a, big_b), 1e-4);
  // stride 1 (implicit GEMM + flipped-kernel backward), strided (col2im backward), groups, uneven kernels
  for (auto [groups, p, kh, kw] : {std::tuple{1, Conv2dParams{1, 2, 1, 1, 1}, 3, 3}, std::tuple{3, Conv2dParams{1, 2, 1, 1, 3}, 3, 3},
                                   std::tuple{1, Conv2dParams{1, 1, 1, 1, 1}, 3, 3}, std::tuple{3, Conv2dParams{1, 1, 2, 0, 3}, 5, 3},
                                   std::tuple{1, Conv2dParams{1, 1, 0, 0, 1}, 1, 1}}) {
    Tensor x = randn(ctx, {2, 6, 11, 9}, DType::F64), w = randn(ctx, {9, 6 / groups, kh, kw}, DType::F64);
    Tensor bias = randn(ctx, {9}, DType::F64);
    Tensor y = kernels::conv2d(x, w, bias, p);
    close(kernels::conv2d(x.to(DType::F32), w.to(DType::F32), bias.to(DType::F32), p), y, 1e-4);
    Tensor d = randn(ctx, y.shape(), DType::F64);
    close(kernels::conv2d_backward_input(d.to(DType::F32), w.to(DType::F32), x.shape(), p),
          kernels::conv2d_backward_input(d, w, x.shape(), p), 1e-4);
    close(kernels::conv2d_backward_weight(d.to(DType::F32), x.to(DType::F32), w.shape(), p),
          kernels::conv2d_backward_weight(d, x, w.shape(), p), 1e-4);
  }
}

TEST_CASE("kernels: Winograd F(2x2,3x3) conv and weight gradient agree with the f64 direct conv") {
  // called directly (the backend picks it only for large shapes): odd sizes (edge tiles cropped), padding 0–2,
  // groups, several images, bias; the result must not depend on the thread count
  Context ctx(12, 2);
  auto worst = [](const std::vector<float>& a, const Tensor& f64) {
    auto b = f64.to_vector<double>();
    REQUIRE(a.size() == b.size());
    double e = 0;
    for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]) / (1 + std::abs(b[i])));
    return e;
  };
  struct Case {
    int64_t N, C, H, W, O, G, ph, pw;
  };
  for (Case c : {Case{1, 16, 16, 16, 16, 1, 1, 1}, Case{2, 6, 11, 9, 9, 3, 1, 1}, Case{1, 5, 7, 13, 4, 1, 0, 0},
                 Case{3, 8, 5, 6, 6, 2, 2, 1}, Case{1, 3, 3, 3, 2, 1, 0, 2}, Case{2, 4, 1, 4, 3, 1, 1, 1},
                 Case{0, 4, 6, 6, 4, 1, 1, 1}}) {  // (no images: the weight gradient is zero)
    CAPTURE(c.N); CAPTURE(c.C); CAPTURE(c.H); CAPTURE(c.W); CAPTURE(c.O); CAPTURE(c.G); CAPTURE(c.ph); CAPTURE(c.pw);
    Tensor x = randn(ctx, {c.N, c.C, c.H, c.W}, DType::F64), w = randn(ctx, {c.O, c.C / c.G, 3, 3}, DType::F64);
    Tensor bias = randn(ctx, {c.O}, DType::F64);
    Conv2dParams p{1, 1, int(c.ph), int(c.pw), int(c.G)};
    Tensor y = kernels::conv2d(x, w, bias, p);
    Tensor d = randn(ctx, y.shape(), DType::F64);
    Tensor dw = kernels::conv2d_backward_weight(d, x, w.shape(), p);
    cpu::Conv3x3Shape s{c.N, c.C, c.H, c.W, c.O, c.G, c.ph, c.pw};
    REQUIRE(s.Ho() == y.shape()[2]);
    REQUIRE(s.Wo() == y.shape()[3]);
    auto xf = x.to(DType::F32).to_vector<float>(), wf = w.to(DType::F32).to_vector<float>();
    auto bf = bias.to(DType::F32).to_vector<float>(), df = d.to(DType::F32).to_vector<float>();
    std::vector<float> yf[2], dwf[2];
    for (int t = 0; t < 2; ++t) {
      yf[t].assign(size_t(y.numel()), -1.f);
      dwf[t].assign(size_t(w.numel()), -1.f);
      cpu::winograd_conv3x3(xf.data(), wf.data(), bf.data(), yf[t].data(), s, t + 1);
      cpu::winograd_conv3x3_backward_weight(df.data(), xf.data(), dwf[t].data(), s, t + 1);
    }
    CHECK(worst(yf[0], y) < 1e-4);
    CHECK(worst(dwf[0], dw) < 1e-4);
    CHECK(yf[0] == yf[1]);
    CHECK(dwf[0] == dwf[1]);
  }
}

TEST_CASE("kernels: f32 3x3 convs large enough for Winograd agree with the f64 path") {
  // the backend's own choice: 16 channels at 16×16 and up go through Winograd (tensor/winograd_cpu.h)
  Context ctx(13, 2);
  for (int groups : {1, 2}) {
    Tensor x = randn(ctx, {2, 32, 17, 16}, DType::F64), w = randn(ctx, {32, 32 / groups, 3, 3}, DType::F64);
    Tensor bias = randn(ctx, {32}, DType::F64);
    Conv2dParams p{1, 1, 1, 1, groups};
    REQUIRE(cpu::winograd_profitable({2, 32, 17, 16, 32, groups, 1, 1}));
    Tensor y = kernels::conv2d(x, w, bias, p);
    Tensor d = randn(ctx, y.shape(), DType::F64);
    auto close = [](const Tensor& f32, const Tensor& f64) {
      auto a = f32.to_vector<float>();
      auto b = f64.to_vector<double>();
      double e = 0;
      for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]) / (1 + std::abs(b[i])));
      return e;
    };
    CHECK(close(kernels::conv2d(x.to(DType::F32), w.to(DType::F32), bias.to(DType::F32), p), y) < 1e-4);
    CHECK(close(kernels::conv2d_backward_input(d.to(DType::F32), w.to(DType::F32), x.shape(), p),
                kernels::conv2d_backward_input(d, w, x.shape(), p)) < 1e-4);
    CHECK(close(kernels::conv2d_backward_weight(d.to(DType::F32), x.to(DType::F32), w.shape(), p),
                kernels::conv2d_backward_weight(d, x, w.shape(), p)) < 2e-4);
  }
}
