// core/rng.h — counter-based random numbers, identical on CPU and CUDA.
//
// Number i of a stream with key `seed` is a pure function hash(seed, i), so kernels on any device and any
// thread count produce the same sequence: uniform_at(seed, i) in [0, 1), normal_at(seed, i) ~ N(0, 1)
// (Box–Muller on two uniforms drawn from 2i and 2i+1). The Context hands out disjoint counter ranges
// (Context::rng_advance), which is all the state a run has to save for bit-identical resumption.
#pragma once
#include <cmath>
#include <cstdint>

#include "runtime/hd.h"

namespace ff::rng {

FF_HD uint64_t mix64(uint64_t x) {  // splitmix64 finaliser: a bijection with full avalanche
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

FF_HD uint64_t bits_at(uint64_t seed, uint64_t i) { return mix64(mix64(seed) ^ mix64(i ^ 0x5851f42d4c957f2dULL)); }

// 53 random bits → double in [0, 1)
FF_HD double uniform_at(uint64_t seed, uint64_t i) { return double(bits_at(seed, i) >> 11) * 0x1.0p-53; }

FF_HD double normal_at(uint64_t seed, uint64_t i) {
  double u1 = uniform_at(seed, 2 * i), u2 = uniform_at(seed, 2 * i + 1);
  u1 = 1.0 - u1;  // (0, 1]: log is finite
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586 * u2);  // global maths (ff:: has tensor ops)
}

}  // namespace ff::rng
