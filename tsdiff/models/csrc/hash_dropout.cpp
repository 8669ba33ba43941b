// Dropout whose keep mask is a hash of (seed, element index), on the CPU: y = x / (1 - p) where kept, else 0
// (also where x is NaN or inf: F.dropout's x * 0 would keep those as NaN).
//
// torch's CPU dropout draws a uniform number per element from its Mersenne Twister (about 4 ns each on a
// 2-core machine) and keeps a bool mask for the backward: in a CSDI training step that was 40% of the time. A
// counter-based draw, as GPU frameworks make it (Philox), costs a few integer instructions per element in the
// lanes of a vector register, so the op runs at the speed of a copy; the backward is the same op on the
// gradient with the same seed, so no mask is stored. The mask does not depend on the number of threads.
//
// The draw: u = h(h(i ^ k0) + k1), i the element's index in the contiguous tensor (its upper 32 bits folded
// into k0), k0 and k1 from the 64-bit seed, h Chris Wellons' "lowbias32" integer hash (hash-prospector); the
// element is kept where u >= round(p 2^32), that is with probability 1 - p to within 2^-32.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "vec.h"

namespace {

using namespace tsdiff_vec;

// fp32, W elements per step (blocks of W never straddle a 2^32 boundary: W divides 2^32)
void drop_float(const float* x, float* y, int64_t n, Key key, uint32_t threshold, float scale) {
  at::parallel_for(0, (n + W - 1) / W, 1024, [&](int64_t begin, int64_t end) {
    vu lane;
    for (int r = 0; r < W; ++r) lane[r] = (uint32_t)r;
    for (int64_t block = begin; block < end; ++block) {
      const int64_t i = block * W;
      const vu u = lowbias32<vu>(lowbias32<vu>((lane + (uint32_t)i) ^ key.at(i)) + key.k1);
      const vi keep = (vi)(u >= threshold);  // all ones where kept
      if (i + W <= n) {
        vf v;
        std::memcpy(&v, x + i, sizeof v);
        v = (vf)((vi)(v * scale) & keep);
        std::memcpy(y + i, &v, sizeof v);
      } else {
        for (int64_t r = 0; r < n - i; ++r) y[i + r] = keep[r] ? x[i + r] * scale : 0.f;
      }
    }
  });
}

// bf16 (autocast), W elements per step: widened to fp32, scaled, rounded back to the nearest even bf16 as
// c10::BFloat16 rounds (a NaN stays a NaN: quiet bit set, sign and payload kept); the same mask as fp32
void drop_bf16(const uint16_t* x, uint16_t* y, int64_t n, Key key, uint32_t threshold, float scale) {
  typedef uint16_t vh __attribute__((vector_size(2 * W)));
  at::parallel_for(0, (n + W - 1) / W, 1024, [&](int64_t begin, int64_t end) {
    vu lane;
    for (int r = 0; r < W; ++r) lane[r] = (uint32_t)r;
    for (int64_t block = begin; block < end; ++block) {
      const int64_t i = block * W, m = std::min<int64_t>(W, n - i);
      const vu u = lowbias32<vu>(lowbias32<vu>((lane + (uint32_t)i) ^ key.at(i)) + key.k1);
      const vi keep = (vi)(u >= threshold);
      vh h = vh{};
      std::memcpy(&h, x + i, m * sizeof(uint16_t));
      const vu wide = __builtin_convertvector(h, vu) << 16;
      vf v;
      std::memcpy(&v, &wide, sizeof v);
      v *= scale;
      vu bits;
      std::memcpy(&bits, &v, sizeof bits);
      const vi nan = (vi)(v != v);
      const vu rounded = (bits + 0x7fffU + ((bits >> 16) & 1U)) >> 16;
      const vu out = (((vu)nan & ((bits >> 16) | 0x40U)) | (~(vu)nan & rounded)) & (vu)keep;
      h = __builtin_convertvector(out, vh);
      std::memcpy(y + i, &h, m * sizeof(uint16_t));
    }
  });
}

// fp16 and fp64, one element at a time; the same mask as fp32
template <typename T>
void drop_any(const T* x, T* y, int64_t n, Key key, uint32_t threshold, double scale) {
  at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint32_t u = lowbias32(lowbias32((uint32_t)i ^ key.at(i)) + key.k1);
      y[i] = u >= threshold ? (T)((double)x[i] * scale) : (T)0;
    }
  });
}

at::Tensor hash_dropout(const at::Tensor& x, double p, int64_t seed) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous() &&
                  (dtype == at::kFloat || dtype == at::kBFloat16 || dtype == at::kHalf || dtype == at::kDouble),
              "hash_dropout: x must be a contiguous float32, bfloat16, float16 or float64 CPU tensor, got ", dtype);
  TORCH_CHECK(p >= 0 && p < 1, "hash_dropout: p must be in [0, 1), got ", p);
  at::Tensor y = at::empty_like(x);
  const uint32_t threshold = drop_threshold(p);
  const Key key = Key::of(seed);
  if (x.scalar_type() == at::kFloat) {
    drop_float(x.data_ptr<float>(), y.data_ptr<float>(), x.numel(), key, threshold, (float)(1.0 / (1.0 - p)));
    return y;
  }
  if (x.scalar_type() == at::kBFloat16) {
    drop_bf16(reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>()),
              reinterpret_cast<uint16_t*>(y.data_ptr<at::BFloat16>()), x.numel(), key, threshold,
              (float)(1.0 / (1.0 - p)));
    return y;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "hash_dropout", [&] {
    drop_any<scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), x.numel(), key, threshold, 1.0 / (1.0 - p));
  });
  return y;
}

}  // namespace

#ifndef TSDIFF_OP_NAMESPACE
#define TSDIFF_OP_NAMESPACE tsdiff
#endif
#define TSDIFF_LIBRARY_FRAGMENT(ns, m) TORCH_LIBRARY_FRAGMENT(ns, m)
#define TSDIFF_LIBRARY_IMPL(ns, k, m) TORCH_LIBRARY_IMPL(ns, k, m)
TSDIFF_LIBRARY_FRAGMENT(TSDIFF_OP_NAMESPACE, m) { m.def("hash_dropout(Tensor x, float p, int seed) -> Tensor"); }
TSDIFF_LIBRARY_IMPL(TSDIFF_OP_NAMESPACE, CPU, m) { m.impl("hash_dropout", &hash_dropout); }
