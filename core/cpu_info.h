// core/cpu_info.h — what the CPU running this process is and what its SIMD units can do.
//
// Used to pick code paths at run time (tensor/sgemm_cpu.h chooses its micro-kernel with cpu_supports) and to
// state the physical limit in bench tables (bench/bench.h). One binary serves every x86-64 CPU: the AVX2 and
// AVX-512 code is compiled with function target attributes, not with -march, and only runs where
// cpu_supports says the CPU and the OS (XSAVE state enabled) allow it.
//   SimdIsa::Generic  portable C++ (whatever the build's baseline flags give; SSE2 on plain x86-64)
//   SimdIsa::Avx2     AVX2 + FMA3: 8 floats per vector
//   SimdIsa::Avx512   AVX-512F (with AVX2 + FMA3): 16 floats per vector
// Peak single-precision rate of one core = FMA units × SIMD width × 2 flops × clock. measure_clock_ghz and
// measure_fma_gflops measure it on the calling thread's CPU-time clock (so a busy machine does not lower it):
// the clock from a chain of dependent integer adds (one cycle each on every x86-64 core), the FMA rate from
// 12 independent FMA chains (enough to cover 2 units × 4–6 cycles of latency); FMA units = rate ÷ (width·2·clock).
#pragma once
#include <string>

namespace ff {

enum class SimdIsa { Generic, Avx2, Avx512 };

const char* simd_isa_name(SimdIsa isa);  // "generic", "avx2", "avx512"
// Parses simd_isa_name's names; throws ff::Error naming `who` and the text otherwise.
SimdIsa parse_simd_isa(const std::string& name, const char* who);
int simd_width_floats(SimdIsa isa);       // 4 (generic: counted as one SSE/NEON register), 8, 16
bool cpu_supports(SimdIsa isa);           // Generic: always
SimdIsa best_simd_isa();                  // the widest supported
std::string cpu_model_name();             // /proc/cpuinfo "model name", else the CPUID brand string, else "unknown"

double measure_clock_ghz(double seconds = 0.1);                // 0 where unmeasurable (not x86-64)
double measure_fma_gflops(SimdIsa isa, double seconds = 0.1);  // one core; FF_CHECKs cpu_supports(isa)

}  // namespace ff
