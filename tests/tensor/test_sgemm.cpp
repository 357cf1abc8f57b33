// tests/tensor/test_sgemm.cpp — tensor/sgemm_cpu.h: every micro-kernel this CPU can run (chosen at run time,
// core/cpu_info.h), and on a CPU without AVX-512 the avx512 kernel's source compiled for AVX2, against direct loops,
// on odd sizes, edges of the register tile and cache blocks, strided and transposed operands, accumulate, several
// thread counts, and the convolution packers (BSource).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/check.h"
#include "core/cpu_info.h"
#include "tensor/sgemm_cpu.h"
#include "tests/testing.h"

using namespace ff;
using ff::cpu::sgemm;

namespace {

const SimdIsa kAllIsas[] = {SimdIsa::Generic, SimdIsa::Avx2, SimdIsa::Avx512};

// The kernels the tests run: every ISA this CPU supports and, where it lacks AVX-512 but has AVX2, the avx512
// kernel's source compiled for AVX2 (the avx512 path, its 8×48 tiles, blocking and 48-wide packers, on this CPU).
struct KernelUnderTest {
  std::string name;
  SimdIsa isa;
  bool on_avx2;
  void use() const {
    if (on_avx2)
      cpu::set_sgemm_avx512_on_avx2();
    else
      cpu::set_sgemm_isa(isa);
  }
};

// restores the kernel chosen at start-up when a test case ends
struct IsaGuard {
  cpu::SgemmKernelInfo saved = cpu::sgemm_kernel_info();
  ~IsaGuard() { KernelUnderTest{"", saved.isa, saved.on_avx2}.use(); }
};

std::vector<KernelUnderTest> kernels_under_test() {
  std::vector<KernelUnderTest> ks;
  for (SimdIsa isa : kAllIsas) {
    if (cpu_supports(isa))
      ks.push_back({simd_isa_name(isa), isa, false});
    else if (isa == SimdIsa::Avx512 && cpu_supports(SimdIsa::Avx2))
      ks.push_back({"avx512-on-avx2", isa, true});
    else {
      const std::string note =
          std::string("sgemm ") + simd_isa_name(isa) + ": not supported by this CPU (" + cpu_model_name() + "), not run";
      MESSAGE(note);
    }
  }
  return ks;
}

std::vector<float> randn(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

struct Case {
  int64_t m, n, k;
  bool a_trans, b_trans, accumulate;
  int64_t ldc_pad;
};

// A: m×k, stored row-major (lda = k + 3) or transposed (column-major, ld = m + 2); B likewise; C with ldc = n + pad
struct Operands {
  Case c;
  std::vector<float> a, b, c0;
  int64_t rs_a, cs_a, rs_b, cs_b, ldc;
  explicit Operands(const Case& cs, unsigned seed) : c(cs) {
    const int64_t lda = c.a_trans ? c.m + 2 : c.k + 3, ldb = c.b_trans ? c.k + 1 : c.n + 5;
    a = randn(size_t((c.a_trans ? c.k : c.m) * lda), seed);
    b = randn(size_t((c.b_trans ? c.n : c.k) * ldb), seed + 1);
    rs_a = c.a_trans ? 1 : lda, cs_a = c.a_trans ? lda : 1;
    rs_b = c.b_trans ? 1 : ldb, cs_b = c.b_trans ? ldb : 1;
    ldc = c.n + c.ldc_pad;
    c0 = randn(size_t(c.m * ldc), seed + 2);
  }
  float A(int64_t i, int64_t p) const { return a[size_t(i * rs_a + p * cs_a)]; }
  float B(int64_t p, int64_t j) const { return b[size_t(p * rs_b + j * cs_b)]; }
  std::vector<float> run(int threads) const {
    std::vector<float> out = c0;
    sgemm(c.m, c.n, c.k, a.data(), rs_a, cs_a, b.data(), rs_b, cs_b, out.data(), ldc, c.accumulate, threads);
    return out;
  }
};

const std::vector<Case>& cases() {
  static const std::vector<Case> cs = {
      {1, 1, 1, false, false, false, 0},       {1, 1, 1, true, true, true, 1},
      {5, 7, 3, false, false, false, 0},       {6, 16, 8, false, false, true, 0},     // one avx2 tile
      {8, 48, 9, false, false, false, 3},      {7, 17, 31, true, false, false, 2},    // edges past one tile
      {13, 47, 65, false, true, true, 0},      {17, 49, 129, true, true, false, 1},
      {97, 131, 600, false, false, false, 0},  {131, 97, 600, false, false, true, 4},  // k > KC: two slices
      {50, 770, 20, false, false, false, 0},   {770, 50, 20, true, false, true, 0},    // n > NC (avx2), m ≫ n
      {64, 2200, 33, false, true, false, 0},   {4, 3000, 5, false, false, true, 0},    // n > NC (avx512)
      {200, 9, 1030, true, false, false, 0},   {1, 333, 700, false, false, false, 0},
      {30, 40, 1024, false, false, true, 0},   {12, 20, 1537, true, true, false, 0},   // equal k slices, rounding
  };
  return cs;
}

// |C − Σ A·B| ≤ k·2⁻²³·Σ|A·B| + 1e-6 (a worst-case bound for any summation order of fp32 products)
void check_against_loops(const Operands& op, const std::vector<float>& got, const std::string& what) {
  const Case& c = op.c;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < op.ldc; ++j) {
      const size_t at = size_t(i * op.ldc + j);
      if (j >= c.n) {  // past the n columns: untouched
        REQUIRE_MESSAGE(std::memcmp(&got[at], &op.c0[at], sizeof(float)) == 0, what, " wrote C[", i, ",", j, "]");
        continue;
      }
      double ref = c.accumulate ? op.c0[at] : 0.0, mag = std::abs(ref);
      for (int64_t p = 0; p < c.k; ++p) {
        ref += double(op.A(i, p)) * op.B(p, j);
        mag += std::abs(double(op.A(i, p)) * op.B(p, j));
      }
      const double bound = double(c.k + 1) * 1.2e-7 * mag + 1e-6;
      REQUIRE_MESSAGE(std::abs(got[at] - ref) <= bound, what, " C[", i, ",", j, "] = ", got[at], ", loops give ", ref);
    }
}

// The summation order of the FMA kernels: per element, each k slice (sgemm_k_slice long) is one chain of fmaf
// from 0 in k order, and the slices are added to C in order (the first one stored unless accumulating).
std::vector<float> fma_order_reference(const Operands& op, int64_t kc_max) {
  const Case& c = op.c;
  const int64_t kc = cpu::sgemm_k_slice(c.k, kc_max);
  std::vector<float> out = op.c0;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      float& o = out[size_t(i * op.ldc + j)];
      for (int64_t p0 = 0; p0 < c.k; p0 += kc) {
        float part = 0.f;
        for (int64_t p = p0; p < std::min(c.k, p0 + kc); ++p) part = std::fmaf(op.A(i, p), op.B(p, j), part);
        o = (p0 == 0 && !c.accumulate) ? part : o + part;
      }
    }
  return out;
}

bool equal_values(const std::vector<float>& x, const std::vector<float>& y) {  // == per element (+0 == −0)
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i])) return false;
  return true;
}

}  // namespace

TEST_CASE("sgemm: the CPU's instruction sets; run-time choice of the micro-kernel") {
  IsaGuard guard;
  if (const char* env = std::getenv("FF_SGEMM_ISA"); env && std::string(env) == "avx512-on-avx2") {
    CHECK(guard.saved.on_avx2);  // ctest's :avx512-on-avx2 entries: the kernel chosen at start-up
    CHECK(guard.saved.nr == 48);
  }
  CHECK(!cpu_model_name().empty());
  CHECK(cpu_supports(SimdIsa::Generic));
  CHECK(cpu_supports(best_simd_isa()));
  if (cpu_supports(SimdIsa::Avx512)) CHECK(cpu_supports(SimdIsa::Avx2));
  for (SimdIsa isa : kAllIsas) CHECK(parse_simd_isa(simd_isa_name(isa), "test") == isa);
  CHECK_THROWS_WITH_AS(parse_simd_isa("sse9", "FF_SGEMM_ISA"), doctest::Contains("unknown SIMD instruction set 'sse9'"),
                       ff::Error);
  for (SimdIsa isa : kAllIsas) {
    INFO(simd_isa_name(isa));
    if (!cpu_supports(isa)) {
      CHECK_THROWS_WITH_AS(cpu::set_sgemm_isa(isa), doctest::Contains("this CPU does not support"), ff::Error);
      continue;
    }
    cpu::set_sgemm_isa(isa);
    const cpu::SgemmKernelInfo k = cpu::sgemm_kernel_info();
    CHECK(k.isa == isa);
    CHECK(cpu::sgemm_nr() == k.nr);
    CHECK(k.nr % simd_width_floats(isa) == 0);
    CHECK(k.mc % k.mr == 0);
    CHECK(k.nc % k.nr == 0);
    CHECK(k.nc_shared % k.nr == 0);
  }
  if (cpu_supports(SimdIsa::Avx2)) {  // the avx512 kernel's source on AVX2: the avx512 blocking, reported as such
    cpu::set_sgemm_avx512_on_avx2();
    const cpu::SgemmKernelInfo k = cpu::sgemm_kernel_info();
    CHECK(k.isa == SimdIsa::Avx512);
    CHECK(k.on_avx2);
    CHECK(k.mr == 8);
    CHECK(k.nr == 48);
    CHECK(cpu::sgemm_nr() == 48);
    CHECK(cpu::sgemm_kernel_name() == "avx512-on-avx2");
    cpu::set_sgemm_isa(SimdIsa::Avx2);
    CHECK(!cpu::sgemm_kernel_info().on_avx2);
    CHECK(cpu::sgemm_kernel_name() == "avx2");
  } else {
    CHECK_THROWS_WITH_AS(cpu::set_sgemm_avx512_on_avx2(), doctest::Contains("does not support avx2"), ff::Error);
  }
#if defined(__x86_64__)
  const double ghz = measure_clock_ghz(0.02);
  CHECK(ghz > 0.2);
  CHECK(ghz < 10);
  // at least one FMA unit's worth per cycle (a loaded machine lowers neither: both are timed on CPU time)
  const SimdIsa best = best_simd_isa();
  CHECK(measure_fma_gflops(best, 0.02) > 0.5 * simd_width_floats(best) * 2 * ghz);
#endif
}

TEST_CASE("sgemm: every supported micro-kernel against direct loops") {
  IsaGuard guard;
  for (const KernelUnderTest& kt : kernels_under_test()) {
    kt.use();
    const SimdIsa isa = kt.isa;
    const int64_t kc = cpu::sgemm_kernel_info().kc;
    unsigned seed = 1;
    for (const Case& c : cases()) {
      const std::string what = kt.name + " m=" + std::to_string(c.m) + " n=" +
                               std::to_string(c.n) + " k=" + std::to_string(c.k) + (c.a_trans ? " Aᵀ" : "") +
                               (c.b_trans ? " Bᵀ" : "") + (c.accumulate ? " +=" : "");
      INFO(what);
      Operands op(c, seed += 3);
      const std::vector<float> one = op.run(1);
      check_against_loops(op, one, what);
      // thread count changes nothing, bit for bit
      CHECK(equal_values(op.run(2), one));
      CHECK(equal_values(op.run(3), one));
      // the FMA kernels follow exactly the documented summation order (so, for k ≤ 512 or a multiple of 512,
      // equal bit for bit the avx2 kernel before run-time dispatch: same order, slices of 512)
      if (isa != SimdIsa::Generic) CHECK(equal_values(one, fma_order_reference(op, kc)));
    }
  }
}

// bench_sgemm_ab --kc/--mc: other cache blocks, the documented summation order for that k slice, any thread count
TEST_CASE("sgemm: set_sgemm_blocking (tuning) keeps the summation order of its k slice") {
  IsaGuard guard;
  for (const KernelUnderTest& kt : kernels_under_test()) {
    if (kt.isa == SimdIsa::Generic) continue;
    kt.use();
    const cpu::SgemmKernelInfo own = cpu::sgemm_kernel_info();
    CHECK_THROWS_AS(cpu::set_sgemm_blocking(8, own.mc), ff::Error);
    CHECK_THROWS_AS(cpu::set_sgemm_blocking(64, own.mr + 1), ff::Error);
    cpu::set_sgemm_blocking(64, own.mr * 3);
    CHECK(cpu::sgemm_kernel_info().kc == 64);
    CHECK(cpu::sgemm_kernel_info().mc == own.mr * 3);
    CHECK(cpu::sgemm_kernel_info().nr == own.nr);
    unsigned seed = 500;
    for (const Case& c : {Case{97, 131, 600, false, false, false, 0}, Case{40, 300, 200, true, false, true, 1}}) {
      INFO(kt.name, " m=", c.m, " k=", c.k);
      Operands op(c, seed += 3);
      const std::vector<float> one = op.run(1);
      CHECK(equal_values(one, fma_order_reference(op, 64)));
      CHECK(equal_values(op.run(2), one));
    }
    kt.use();  // the kernel's own blocks again
    CHECK(cpu::sgemm_kernel_info().kc == own.kc);
  }
}

// restores sgemm's own choice of thread grid when a test case ends
struct SplitGuard {
  ~SplitGuard() { cpu::set_sgemm_split({0, 0}); }
};

// Threads that share packed B panels (SharedPanels in tensor/sgemm_cpu.cpp; grids pm > 1) or packed A (SharedA: column
// chunks, grids 1 × pn) on forced grids, including more threads
// than register tiles, several column blocks and k slices (the panels' two buffers reused), work units cutting
// register-tile rows: every k slice of every element is still summed by one thread and the slices are added in
// order, so the result equals the one-thread result bit for bit.
TEST_CASE("sgemm: every thread grid, shared B panels included, equals one thread bit for bit") {
  IsaGuard guard;
  SplitGuard split_guard;
  CHECK(cpu::sgemm_split(8, 8, 8, 2).pm == 1);  // too small to wake a thread
  CHECK(cpu::sgemm_split(8, 8, 8, 2).pn == 1);
  CHECK_THROWS_AS(cpu::set_sgemm_split({2, 0}), ff::Error);
  std::vector<Case> cs = cases();
  cs.push_back({40, 1100, 1100, false, false, false, 0});  // 2 column blocks × 3 k slices of shared panels
  cs.push_back({301, 50, 1030, true, false, true, 1});
  for (const KernelUnderTest& kt : kernels_under_test()) {
    kt.use();
    const SimdIsa isa = kt.isa;
    cpu::set_sgemm_split({0, 0});
    // the bench's generator shape with few columns: its two threads share B
    const cpu::SgemmSplit auto_split = cpu::sgemm_split(512, 80, 4608, 2);
    CHECK(auto_split.pm * auto_split.pn == 2);
    if (isa != SimdIsa::Generic) CHECK(auto_split.pm == 2);
    unsigned seed = 100;
    for (const Case& c : cs) {
      const std::string what =
          kt.name + " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k);
      INFO(what);
      Operands op(c, seed += 3);
      cpu::set_sgemm_split({0, 0});
      const std::vector<float> one = op.run(1);
      for (const cpu::SgemmSplit g : {cpu::SgemmSplit{2, 1}, {3, 1}, {1, 2}, {2, 2}, {4, 1}, {3, 2}}) {
        INFO("grid ", g.pm, " x ", g.pn);
        cpu::set_sgemm_split(g);
        CHECK(cpu::sgemm_split(c.m, c.n, c.k, 1).pm == g.pm);
        CHECK(equal_values(op.run(int(g.pm * g.pn)), one));
      }
    }
  }
}

// A B packer that fails on its second chunk of columns
struct FailingB : cpu::BSource {
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* out) const override {
    FF_CHECK(j0 == 0, "FailingB: columns from ", j0);
    std::fill(out, out + kc * ((nc + cpu::sgemm_nr() - 1) / cpu::sgemm_nr()) * cpu::sgemm_nr(), 1.f);
  }
};

TEST_CASE("sgemm: a packer's error on one thread of a shared panel reaches the caller; the threads stay usable") {
  SplitGuard split_guard;
  const int64_t m = 30, n = 500, k = 40;
  std::vector<float> a(size_t(m * k), 1.f), c(size_t(m * n));
  for (const cpu::SgemmSplit g : {cpu::SgemmSplit{2, 1}, {3, 1}, {1, 2}, {1, 3}}) {
    cpu::set_sgemm_split(g);
    CHECK_THROWS_WITH_AS(sgemm(m, n, k, a.data(), k, 1, FailingB(), c.data(), n, false, int(g.pm * g.pn)),
                         doctest::Contains("FailingB: columns from"), ff::Error);
  }
  std::vector<float> b(size_t(k * n), 2.f);
  sgemm(m, n, k, a.data(), k, 1, b.data(), n, 1, c.data(), n, false, 2);
  CHECK(c[size_t(m * n - 1)] == 80.f);
}

TEST_CASE("sgemm: k slices") {
  CHECK(cpu::sgemm_k_slice(1, 512) == 1);
  CHECK(cpu::sgemm_k_slice(512, 512) == 512);
  CHECK(cpu::sgemm_k_slice(576, 512) == 288);    // 2 × 288, not 512 + 64
  CHECK(cpu::sgemm_k_slice(1024, 512) == 512);
  CHECK(cpu::sgemm_k_slice(1537, 512) == 385);   // 385 + 385 + 385 + 382
  CHECK(cpu::sgemm_k_slice(4608, 512) == 512);
}

TEST_CASE("sgemm: k = 0 and empty shapes") {
  std::vector<float> c = {1, 2, 3, 4}, a(4), b(4);
  sgemm(2, 2, 0, a.data(), 1, 1, b.data(), 1, 1, c.data(), 2, true, 2);
  CHECK(c == std::vector<float>{1, 2, 3, 4});
  sgemm(2, 2, 0, a.data(), 1, 1, b.data(), 1, 1, c.data(), 2, false, 2);
  CHECK(c == std::vector<float>{0, 0, 0, 0});
  c = {5, 6, 7, 8};
  sgemm(0, 2, 3, a.data(), 1, 1, b.data(), 1, 1, c.data(), 2, false, 2);
  sgemm(2, 0, 3, a.data(), 1, 1, b.data(), 1, 1, c.data(), 2, false, 2);
  CHECK(c == std::vector<float>{5, 6, 7, 8});
}

// The convolution packers build the kernel's sliver layout themselves (sliver width sgemm_nr()): through
// sgemm they must give, bit for bit, what the same GEMM gives on the explicit matrix.
TEST_CASE("sgemm: BSource packers (im2col, shifted) equal the explicit matrix, for every micro-kernel") {
  IsaGuard guard;
  const int64_t C = 3, H = 7, W = 9, kh = 3, kw = 3;
  const std::vector<float> x = randn(size_t(C * H * W), 11);
  for (const KernelUnderTest& kt : kernels_under_test()) {
    kt.use();
    INFO(kt.name);
    for (int64_t stride : {1, 2}) {  // Im2colB / Im2colTB: padding 1
      const int64_t Ho = (H + 2 - kh) / stride + 1, Wo = (W + 2 - kw) / stride + 1, K = C * kh * kw, HW = Ho * Wo;
      const cpu::ConvShape g{C, H, W, kh, kw, Ho, Wo, stride, stride, 1, 1};
      std::vector<float> col(size_t(K * HW), 0.f);  // row (c, ki, kj), column (oy, ox)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t oy = 0; oy < Ho; ++oy)
          for (int64_t ox = 0; ox < Wo; ++ox) {
            const int64_t c = k / (kh * kw), iy = oy * stride - 1 + (k / kw) % kh, ix = ox * stride - 1 + k % kw;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) col[size_t(k * HW + oy * Wo + ox)] = x[size_t((c * H + iy) * W + ix)];
          }
      const int64_t O = 5;
      const std::vector<float> w = randn(size_t(O * K), 12), dy = randn(size_t(O * HW), 13);
      std::vector<float> y1(size_t(O * HW)), y2(y1.size()), dw1(size_t(O * K)), dw2(dw1.size());
      for (int threads : {1, 2}) {
        sgemm(O, HW, K, w.data(), K, 1, cpu::Im2colB(x.data(), g), y1.data(), HW, false, threads);
        sgemm(O, HW, K, w.data(), K, 1, col.data(), HW, 1, y2.data(), HW, false, threads);
        CHECK(equal_values(y1, y2));
        sgemm(O, K, HW, dy.data(), HW, 1, cpu::Im2colTB(x.data(), g), dw1.data(), K, false, threads);
        sgemm(O, K, HW, dy.data(), HW, 1, col.data(), 1, HW, dw2.data(), K, false, threads);
        CHECK(equal_values(dw1, dw2));
      }
    }
    {  // ShiftB / ShiftTB on the zero-padded image (padding 1), columns on the padded width
      const int64_t Hp = H + 2, Wp = W + 2, plane = Hp * Wp, Ho = H, K = C * kh * kw, Np = Ho * Wp;
      std::vector<float> xp(size_t(C * plane + kw + 1), 0.f);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t xx = 0; xx < W; ++xx) xp[size_t(c * plane + (y + 1) * Wp + xx + 1)] = x[size_t((c * H + y) * W + xx)];
      std::vector<float> sh(size_t(K * Np));
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < Np; ++j)
          sh[size_t(k * Np + j)] = xp[size_t((k / (kh * kw)) * plane + ((k / kw) % kh) * Wp + k % kw + j)];
      const int64_t O = 7;
      const std::vector<float> w = randn(size_t(O * K), 14), dy = randn(size_t(O * Np), 15);
      std::vector<float> y1(size_t(O * Np)), y2(y1.size()), dw1(size_t(O * K)), dw2(dw1.size());
      for (int threads : {1, 2}) {
        sgemm(O, Np, K, w.data(), K, 1, cpu::ShiftB(xp.data(), plane, Wp, kh, kw), y1.data(), Np, false, threads);
        sgemm(O, Np, K, w.data(), K, 1, sh.data(), Np, 1, y2.data(), Np, false, threads);
        CHECK(equal_values(y1, y2));
        sgemm(O, K, Np, dy.data(), Np, 1, cpu::ShiftTB(xp.data(), plane, Wp, kh, kw), dw1.data(), K, true, threads);
        sgemm(O, K, Np, dy.data(), Np, 1, sh.data(), 1, Np, dw2.data(), K, true, threads);
        CHECK(equal_values(dw1, dw2));
      }
    }
  }
}
