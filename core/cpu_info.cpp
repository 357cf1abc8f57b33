#include "core/cpu_info.h"

#include <cstring>
#include <ctime>
#include <fstream>

#include "core/check.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define FF_X86 1
#endif

namespace ff {
namespace {

double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// runs body(iterations) with growing counts until one run takes `seconds` of thread CPU time; returns
// iterations per second of the last run
template <class Body>
double rate(double seconds, Body&& body) {
  for (long n = 1 << 16;; n *= 2) {
    const double t0 = thread_cpu_seconds();
    body(n);
    const double t = thread_cpu_seconds() - t0;
    if (t >= seconds || n >= (1L << 40)) return double(n) / t;
  }
}

typedef float v4 __attribute__((vector_size(16)));

double fma_rate_generic(long n) {  // 12 chains of 4 floats: a = a·b + c
  v4 acc[12], b = {0.999f, 0.999f, 0.999f, 0.999f}, c = {1e-3f, 1e-3f, 1e-3f, 1e-3f};
  for (int i = 0; i < 12; ++i) acc[i] = v4{} + float(i);
  for (long it = 0; it < n; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * b + c;
    __asm__ volatile("" : "+m"(acc));  // keeps the chains
  }
  return double(acc[0][0]);
}

#ifdef FF_X86
#define FF_FMA_CHAINS(V, FMA)                                                                             \
  V x0 = b, x1 = b, x2 = b, x3 = b, x4 = b, x5 = b, x6 = b, x7 = b, x8 = b, x9 = b, x10 = b, x11 = b;    \
  for (long it = 0; it < n; ++it) {                                                                       \
    x0 = FMA(x0, b, c), x1 = FMA(x1, b, c), x2 = FMA(x2, b, c), x3 = FMA(x3, b, c);                       \
    x4 = FMA(x4, b, c), x5 = FMA(x5, b, c), x6 = FMA(x6, b, c), x7 = FMA(x7, b, c);                       \
    x8 = FMA(x8, b, c), x9 = FMA(x9, b, c), x10 = FMA(x10, b, c), x11 = FMA(x11, b, c);                   \
    __asm__ volatile("" : "+x"(x0), "+x"(x1), "+x"(x2), "+x"(x3), "+x"(x4), "+x"(x5), "+x"(x6), "+x"(x7), \
                     "+x"(x8), "+x"(x9), "+x"(x10), "+x"(x11));                                           \
  }

__attribute__((target("avx2,fma"))) double fma_rate_avx2(long n) {
  const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
  FF_FMA_CHAINS(__m256, _mm256_fmadd_ps)
  return double(_mm256_cvtss_f32(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11));
}

__attribute__((target("avx512f"))) double fma_rate_avx512(long n) {
  const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
  FF_FMA_CHAINS(__m512, _mm512_fmadd_ps)
  return double(_mm512_cvtss_f32(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11));
}
#undef FF_FMA_CHAINS
#endif

}  // namespace

const char* simd_isa_name(SimdIsa isa) {
  switch (isa) {
    case SimdIsa::Avx2: return "avx2";
    case SimdIsa::Avx512: return "avx512";
    default: return "generic";
  }
}

SimdIsa parse_simd_isa(const std::string& name, const char* who) {
  for (SimdIsa isa : {SimdIsa::Generic, SimdIsa::Avx2, SimdIsa::Avx512})
    if (name == simd_isa_name(isa)) return isa;
  FF_THROW(who, ": unknown SIMD instruction set '", name, "' (expected generic, avx2 or avx512)");
}

int simd_width_floats(SimdIsa isa) { return isa == SimdIsa::Avx512 ? 16 : isa == SimdIsa::Avx2 ? 8 : 4; }

bool cpu_supports(SimdIsa isa) {
#ifdef FF_X86
  // libgcc's checks include the OS half: AVX/AVX-512 count only when XGETBV shows their register state enabled
  switch (isa) {
    case SimdIsa::Generic: return true;
    case SimdIsa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdIsa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == SimdIsa::Generic;
#endif
}

SimdIsa best_simd_isa() {
  if (cpu_supports(SimdIsa::Avx512)) return SimdIsa::Avx512;
  if (cpu_supports(SimdIsa::Avx2)) return SimdIsa::Avx2;
  return SimdIsa::Generic;
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
    }
#ifdef FF_X86
  unsigned regs[12];
  if (__get_cpuid_max(0x80000000, nullptr) >= 0x80000004) {
    for (unsigned i = 0; i < 3; ++i) __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char brand[49];
    std::memcpy(brand, regs, 48);
    brand[48] = 0;
    std::string s(brand);
    s.erase(0, s.find_first_not_of(' '));
    if (!s.empty()) return s;
  }
#endif
  return "unknown";
}

double measure_clock_ghz(double seconds) {
#ifdef FF_X86
  unsigned long x = 1;
  const double adds_per_s = rate(seconds, [&](long n) {
    for (long i = 0; i < n; ++i)
      __asm__ volatile(  // 16 dependent adds: 16 cycles
          "add %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\t"
          "add %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0"
          : "+r"(x));
  });
  return adds_per_s * 16 * 1e-9;
#else
  return 0;
#endif
}

double measure_fma_gflops(SimdIsa isa, double seconds) {
  FF_CHECK(cpu_supports(isa), "measure_fma_gflops: this CPU does not support ", simd_isa_name(isa));
  volatile double sink = 0;
  double its_per_s = 0;
  switch (isa) {
#ifdef FF_X86
    case SimdIsa::Avx2: its_per_s = rate(seconds, [&](long n) { sink = sink + fma_rate_avx2(n); }); break;
    case SimdIsa::Avx512: its_per_s = rate(seconds, [&](long n) { sink = sink + fma_rate_avx512(n); }); break;
#endif
    default: its_per_s = rate(seconds, [&](long n) { sink = sink + fma_rate_generic(n); }); break;
  }
  return its_per_s * 12 * simd_width_floats(isa) * 2 * 1e-9;
}

}  // namespace ff
