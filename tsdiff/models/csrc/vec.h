// Vector types and elementwise functions shared by tsdiff's CPU kernels, written with GCC / Clang vector
// extensions so that the compiler maps them to AVX-512, AVX2 or NEON: W fp32 lanes (16 with AVX-512, else 8).
// Loads and stores take fp32 or bf16 memory (c10::BFloat16, converted to and from fp32 in registers).
#pragma once

#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

namespace tsdiff_vec {

#if defined(__AVX512F__)
constexpr int W = 16;
#else
constexpr int W = 8;
#endif
typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));
typedef uint32_t vu __attribute__((vector_size(4 * W)));
typedef uint16_t vh __attribute__((vector_size(2 * W)));  // W bf16 bit patterns

inline vf splat(float x) { return vf{} + x; }

inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }

// bf16 is the upper half of an fp32: widening is a shift; narrowing rounds to nearest even, as c10::BFloat16
// does, and keeps a NaN a (quiet) NaN, which the rounding carry could otherwise turn into an infinity. CPUs with
// AVX512-BF16 (Intel Cooper Lake, Sapphire Rapids and later; AMD Zen 4) do the same in one instruction, which made
// bias_gelu with a bf16 output 14% faster than the integer steps.
inline vf load(const c10::BFloat16* p) {
  vh h;
  std::memcpy(&h, p, sizeof h);
  return (vf)(__builtin_convertvector(h, vu) << 16);
}

inline void store(c10::BFloat16* p, vf v) {
#if defined(__AVX512BF16__) && defined(__AVX512F__)  // W = 16
  const __m256bh h = _mm512_cvtneps_pbh((__m512)v);
#else
  const vu u = (vu)v;
  const vu rounded = (u + (0x7fffu + ((u >> 16) & 1u))) >> 16;
  const vh h = __builtin_convertvector(v != v ? (u >> 16) | 0x40u : rounded, vh);
#endif
  std::memcpy(p, &h, sizeof h);
}

// the sum of the lanes, halving the vector in registers (a chain of W scalar adds made the layer norm 30% slower)
inline float hsum(vf v) {
  typedef float v8f __attribute__((vector_size(32)));
  typedef float v4f __attribute__((vector_size(16)));
#if defined(__AVX512F__)  // W = 16
  const v8f h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#else
  const v8f h = v;
#endif
  v4f q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  q += __builtin_shufflevector(q, q, 2, 3, 0, 1);
  q += __builtin_shufflevector(q, q, 1, 0, 3, 2);
  return q[0];
}

inline vf select(vi where, vf a, vf b) { return where ? a : b; }  // lane-wise; where: all ones or all zeros

inline vf vmax(vf a, vf b) { return b > a ? b : a; }  // a NaN in a is kept (b wins only where b > a): NaN propagates

inline vf vabs(vf x) { return (vf)((vi)x & 0x7fffffff); }

// 2^n for integers -126 <= n <= 127, from the exponent bits
inline vf pow2(vi n) { return (vf)((n + 127) << 23); }

// e^x for x <= 0 with a relative error of about 2e-7 (flushed to e^-87 below that): x = n ln2 + f with
// |f| <= ln2 / 2 (Cody-Waite, two-part ln2), a degree-6 Taylor polynomial for e^f, and 2^n from exponent bits.
inline vf exp_nonpositive(vf x) {
  x = vmax(x, splat(-87.f));
  const vf shifter = splat(12582912.f);  // 1.5 x 2^23: adding and subtracting it rounds to the nearest integer
  const vf n = (x * 1.44269504088896341f + shifter) - shifter;
  vf f = x - n * 0.693359375f;
  f = f + n * 2.12194440e-4f;
  vf p = splat(1.f / 720);
  p = p * f + 1.f / 120;
  p = p * f + 1.f / 24;
  p = p * f + 1.f / 6;
  p = p * f + 0.5f;
  p = p * f + 1.f;
  p = p * f + 1.f;
  return p * pow2(__builtin_convertvector(n, vi));
}

// 2^x for x <= 0 with a relative error of about 2.5e-7, and exactly 0 below x = -64: x = n + f with |f| <= 1/2,
// a degree-5 polynomial for 2^f (fitted to the relative error, minimax-like: 7.5e-8 in exact arithmetic), and 2^n
// from exponent bits. Cheaper than exp_nonpositive where the caller can fold log2(e) into an earlier product (the
// attention's scores): the split x = n + f is exact, and n comes from the bits of the rounding sum. The flush to 0
// keeps the softmax weights' products with the values out of the subnormal range, whose arithmetic x86 cores run
// in slow microcode (sharp attention took twice as long before it); beside a largest weight of 1, weights under
// 2^-64 are below fp32's resolution anyway. A NaN stays NaN.
inline vf exp2_nonpositive(vf x) {
  x = vmax(x, splat(-126.f));
  const vf shifter = splat(12582912.f);  // 1.5 x 2^23: adding it rounds to an integer n, held in the low bits
  const vf rounded = x + shifter;
  const vf f = x - (rounded - shifter);
  vf p = splat(1.3276471e-3f);
  p = p * f + 9.6755410e-3f;
  p = p * f + 5.5507131e-2f;
  p = p * f + 0.24022120f;
  p = p * f + 0.69314694f;
  p = p * f + 1.0000001f;
  return select(x < -64.f, splat(0.f), p * pow2((vi)rounded - 0x4B400000));  // 0x4B400000: the shifter's bits
}

// 1 / (1 + e^-x), from e^-|x| (no overflow): s = 1 / (1 + e^-|x|) for x >= 0, 1 - s = e^-|x| s below 0.
inline vf vsigmoid(vf x) {
  const vf e = exp_nonpositive(-vabs(x));
  const vf s = 1.f / (1.f + e);
  return select(x >= 0, s, e * s);
}

// tanh x = sign(x) (1 - e) / (1 + e), e = e^-2|x|; below |x| = 1/16, where 1 - e loses digits, the series
// x - x^3 / 3 + 2 x^5 / 15 (relative error below 1e-9 there).
inline vf vtanh(vf x) {
  const vf a = vabs(x), e = exp_nonpositive(-2.f * a), x2 = x * x;
  const vf t = (vf)((vi)((1.f - e) / (1.f + e)) | ((vi)x & (int32_t)0x80000000));
  return select(a < 0.0625f, x * (1.f + x2 * (-1.f / 3 + x2 * (2.f / 15))), t);
}

// erf x: Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7), 1 - poly(t) e^-x^2 with t = 1 / (1 + p|x|).
inline vf verf(vf x) {
  const vf a = vabs(x);
  const vf t = 1.f / (1.f + 0.3275911f * a);
  vf poly = splat(1.061405429f);
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const vf y = 1.f - poly * t * exp_nonpositive(-a * a);
  return (vf)((vi)y | ((vi)x & (int32_t)0x80000000));
}

// The counter-based dropout draw (csrc/hash_dropout.cpp, and the attention kernel's dropout on its weights):
// u = h(h(i ^ k0) + k1), h Chris Wellons' "lowbias32" integer hash (hash-prospector), k0 and k1 from a 64-bit
// seed; an element is kept where u >= drop_threshold(p), with probability 1 - p to within 2^-32.
template <typename U>
inline U lowbias32(U x) {  // the same on a scalar and, lane by lane, on a vector
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

struct Key {
  uint32_t k0, k1;
  static Key of(int64_t seed) {
    const uint64_t s = (uint64_t)seed;
    return Key{lowbias32((uint32_t)s), lowbias32((uint32_t)(s >> 32) ^ 0x9e3779b9U)};
  }
  uint32_t at(int64_t i) const {  // k0 for the 2^32-element block holding element i
    const uint32_t hi = (uint32_t)((uint64_t)i >> 32);
    return hi == 0 ? k0 : lowbias32(k0 ^ lowbias32(hi));
  }
};

inline uint32_t drop_threshold(double p) {
  return (uint32_t)std::min<long long>(std::llround(p * 4294967296.0), 4294967295LL);
}

}  // namespace tsdiff_vec
