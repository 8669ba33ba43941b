// Softmax attention for many short sequences with small heads (dimension 4, 8 or 16), on the CPU: fp32 or bf16
// in and out (bf16 where the projections run in bf16 under autocast), computed in fp32.
//
// The CSDI denoiser attends over 35-48 positions with heads of dimension 8: PyTorch's CPU flash-attention kernel
// spends most of its time in per-head matrix-product calls too small to pay for themselves. Here W queries of one
// head ride in the W lanes of a vector (16 with AVX-512, else 8): the scores against each key, their softmax and
// the weighted sum of the values all run along the keys, with every key and value element broadcast to all lanes,
// so nothing needs a horizontal reduction or a call into BLAS; each sequence is first packed into per-head copies
// that stay in the L1 cache (strided reads once, then unit-stride addressing by constants). A backward for
// fp32 training (below) recomputes the weights.
// Written with GCC / Clang vector extensions, so the compiler maps it to AVX-512, AVX2 or NEON.
//
// Layout: qkv (A, S, B, 3C) as a linear layer writes it ([q | k | v], heads of C / H channels), attention over
// the S axis for each of the A x B sequences; out (A, S, B, C). Time attention is (A = batch x features, S = L,
// B = 1); feature attention on a (batch, K, L, C) tensor is (A = batch, S = K, B = L): no permuted copies of
// the tensors.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "vec.h"

namespace {

using namespace tsdiff_vec;

// Dropout on the weights (training; DROP): the weight of query i on key j is kept where the counter-based draw
// of (seed, sequence and head, i S + j) passes ``threshold`` (vec.h), and the kept ones are scaled by keep_scale
// = 1 / (1 - p); the backward draws the same mask.
struct Drop {
  uint32_t k0, k1, threshold;  // k0: this sequence and head's
  float keep_scale;
  vu lanes;  // lane r: r S
  inline vi keep(int64_t i0, int64_t j, int64_t S) const {
    const vu u = lowbias32<vu>(lowbias32<vu>((lanes + (uint32_t)(i0 * S + j)) ^ k0) + k1);
    return (vi)(u >= threshold);
  }
};

inline Drop drop_for(const Key& key, uint32_t threshold, float keep_scale, int64_t head_index, int64_t S) {
  Drop d{lowbias32(key.k0 ^ lowbias32((uint32_t)head_index)), key.k1, threshold, keep_scale, vu{}};
  for (int r = 0; r < W; ++r) d.lanes[r] = (uint32_t)(r * S);
  return d;
}

// One head of one sequence, from the packed copies attend_all makes: qt (D, Sp) the queries with the positions
// along the lanes (Sp = S rounded up to W, zero past S), scaled by log2(e) / sqrt(D) so that the softmax is a power
// of 2; kp and vp (S, D) the keys and values. o: the head's output at position 0 (orow between positions); bv: its
// value bias; scores: S vectors of scratch; drop: dropout on the weights where DROP.
template <int D, typename T, bool DROP = false>
void attend(const float* qt, const float* kp, const float* vp, T* o, int64_t S, int64_t Sp, int64_t orow,
            const float* bv, vf* scores, const Drop& drop = Drop{}) {
  constexpr int KB = 4, EB = 8;  // keys per step of the scores and of the softmax: independent chains
  for (int64_t i0 = 0; i0 < S; i0 += W) {
    vf qd[D];  // qd[d] lane r = q[i0 + r, d] log2(e) / sqrt(D)
    for (int d = 0; d < D; ++d) qd[d] = load(qt + d * Sp + i0);
    // scores against every key, with their running maximum
    vf top = splat(-INFINITY);
    int64_t j = 0;
    for (; j + KB <= S; j += KB) {
      vf a[KB] = {};
      for (int d = 0; d < D; ++d)
        for (int u = 0; u < KB; ++u) a[u] += qd[d] * kp[(j + u) * D + d];
      for (int u = 0; u < KB; ++u) scores[j + u] = a[u], top = vmax(a[u], top);
    }
    for (; j < S; ++j) {
      vf a = vf{};
      for (int d = 0; d < D; ++d) a += qd[d] * kp[j * D + d];
      scores[j] = a, top = vmax(a, top);
    }
    // the softmax weights (unnormalised) in place of the scores, EB keys at a time, and their sum
    vf total[2] = {};
    for (j = 0; j + EB <= S; j += EB) {
      vf p[EB];
      for (int u = 0; u < EB; ++u) p[u] = exp2_nonpositive(scores[j + u] - top);
      for (int u = 0; u < EB; ++u) scores[j + u] = p[u], total[u % 2] += p[u];
    }
    for (; j < S; ++j) scores[j] = exp2_nonpositive(scores[j] - top), total[0] += scores[j];
    // their weighted sum of the values (the dropped ones left out)
    vf acc[D] = {};
    for (j = 0; j < S; ++j) {
      vf w = scores[j];
      if constexpr (DROP) w = select(drop.keep(i0, j, S), w, splat(0.f));
      for (int d = 0; d < D; ++d) acc[d] += w * vp[j * D + d];
    }
    vf inv = 1.f / (total[0] + total[1]);
    if constexpr (DROP) inv *= drop.keep_scale;
    const int nq = (int)std::min<int64_t>(W, S - i0);
    for (int d = 0; d < D; ++d) acc[d] = acc[d] * inv + bv[d];  // the value bias added in vectors, not lane by lane
    for (int r = 0; r < nq; ++r)
      for (int d = 0; d < D; ++d) o[(i0 + r) * orow + d] = T(acc[d][r]);
  }
}

// Each sequence is packed first (its positions' [q | k | v] rows of 3C contiguous floats, B x 3C apart, into
// contiguous per-head copies that stay in L1), and where B > 1 the next sequence's rows are prefetched while this
// one is computed: feature attention reads rows 36 KB apart, which the hardware prefetchers do not follow. Time
// attention (B = 1) reads one contiguous block per sequence, which they do follow: prefetching it too made that
// kernel 10% slower (AVX-512).
template <typename T>
inline void widen(float* dst, const T* src, int64_t n) {  // fp32 or bf16 -> fp32
  if constexpr (std::is_same_v<T, float>) {
    std::memcpy(dst, src, n * sizeof(float));
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = float(src[i]);
  }
}

template <int D, typename T>
void attend_all(const T* qkv, const float* bias, T* out, int64_t A, int64_t S, int64_t B, int64_t C,
                int64_t heads, double p, int64_t seed) {
  const Key key = Key::of(seed);
  const uint32_t threshold = drop_threshold(p);
  const float keep_scale = (float)(1.0 / (1.0 - p));
  const float scale = 1.4426950408889634f / std::sqrt((float)D);  // log2(e) / sqrt(D)
  const int64_t row = B * 3 * C, orow = B * C, Sp = (S + W - 1) / W * W;
  at::parallel_for(0, A * B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> pack((Sp + 2 * S) * C, 0.f);  // qt (C, Sp): queries by channel; kp, vp (heads, S, D)
    std::vector<vf> scores(S);
    float *qt = pack.data(), *kp = qt + Sp * C, *vp = kp + S * C;
    for (int64_t seq = begin; seq < end; ++seq) {
      const int64_t a = seq / B, b = seq % B;
      const T* x = qkv + a * S * row + b * 3 * C;
      for (int64_t s = 0; s < S; ++s) {  // the keys and values by whole heads (vector copies), the queries transposed
        const T* r = x + s * row;
        for (int64_t h = 0; h < heads; ++h) {
          widen(kp + (h * S + s) * D, r + C + h * D, D);
          widen(vp + (h * S + s) * D, r + 2 * C + h * D, D);
        }
        for (int64_t c = 0; c < C; ++c) qt[c * Sp + s] = (float(r[c]) + bias[c]) * scale;
      }
      if (B > 1 && seq + 1 < end) {
        const int64_t na = (seq + 1) / B, nb = (seq + 1) % B;
        const char* next = (const char*)(qkv + na * S * row + nb * 3 * C);
        for (int64_t s = 0; s < S; ++s)
          for (int64_t byte = 0; byte < 3 * C * (int64_t)sizeof(T); byte += 64)
            __builtin_prefetch(next + s * row * sizeof(T) + byte);
      }
      T* o = out + a * S * orow + b * C;
      for (int64_t h = 0; h < heads; ++h) {
        const float *q = qt + h * D * Sp, *k = kp + h * S * D, *v = vp + h * S * D, *bv = bias + 2 * C + h * D;
        if (p > 0)
          attend<D, T, true>(q, k, v, o + h * D, S, Sp, orow, bv, scores.data(),
                             drop_for(key, threshold, keep_scale, seq * heads + h, S));
        else
          attend<D, T>(q, k, v, o + h * D, S, Sp, orow, bv, scores.data());
      }
    }
  });
}

// bias: the projection's bias (3C,), added here rather than by the linear layer (which would copy it into its
// output first). The query and value parts are added; the key part adds q . b_k to every score of a query, a
// constant that the softmax cancels, so it is left out.
template <typename T>
void dispatch_head_dim(const at::Tensor& qkv, const float* bias, at::Tensor& out, int64_t heads, double p,
                       int64_t seed) {
  const int64_t A = qkv.size(0), S = qkv.size(1), B = qkv.size(2), C = qkv.size(3) / 3;
  const T* src = qkv.data_ptr<T>();
  T* dst = out.data_ptr<T>();
  switch (C / heads) {
    case 4: attend_all<4>(src, bias, dst, A, S, B, C, heads, p, seed); break;
    case 8: attend_all<8>(src, bias, dst, A, S, B, C, heads, p, seed); break;
    case 16: attend_all<16>(src, bias, dst, A, S, B, C, heads, p, seed); break;
    default: TORCH_CHECK(false, "small_head_attention: head dimension must be 4, 8 or 16, got ", C / heads);
  }
}

at::Tensor small_head_attention(const at::Tensor& qkv, int64_t heads, const c10::optional<at::Tensor>& bias,
                                double p, int64_t seed) {
  TORCH_CHECK(p >= 0 && p < 1, "small_head_attention: dropout p must be in [0, 1), got ", p);
  TORCH_CHECK(p == 0 || !bias.has_value(),  // the value bias is added after the weighted sum, whose weights dropout
              "small_head_attention: dropout with a bias is not supported (add the bias to qkv)");  // no longer sums to 1
  const bool dtype_ok = qkv.scalar_type() == at::kFloat || qkv.scalar_type() == at::kBFloat16;
  TORCH_CHECK(qkv.dim() == 4 && qkv.device().is_cpu() && dtype_ok && qkv.is_contiguous(),
              "small_head_attention: qkv must be a contiguous float32 or bfloat16 CPU tensor (A, S, B, 3C), got ",
              qkv.sizes(), " ", qkv.scalar_type());
  const int64_t A = qkv.size(0), S = qkv.size(1), B = qkv.size(2), C = qkv.size(3) / 3;
  TORCH_CHECK(qkv.size(3) == 3 * C && heads > 0 && C % heads == 0,
              "small_head_attention: last dimension ", qkv.size(3), " is not 3 x a multiple of heads ", heads);
  at::Tensor b = bias.has_value() ? bias->contiguous() : at::zeros({3 * C}, qkv.options().dtype(at::kFloat));
  TORCH_CHECK(b.dim() == 1 && b.size(0) == 3 * C && b.scalar_type() == at::kFloat,
              "small_head_attention: bias must be float32 of shape (", 3 * C, "), got ", b.sizes(), " ", b.scalar_type());
  at::Tensor out = at::empty({A, S, B, C}, qkv.options());
  if (qkv.scalar_type() == at::kBFloat16)
    dispatch_head_dim<c10::BFloat16>(qkv, b.data_ptr<float>(), out, heads, p, seed);
  else
    dispatch_head_dim<float>(qkv, b.data_ptr<float>(), out, heads, p, seed);
  return out;
}

// ---- backward (training): the gradient of qkv from the gradient of the output ---------------------------------
// Per head, with P = softmax(Q K^T / sqrt(D)) recomputed from q and k (FlashAttention's backward, Dao et al. 2022):
// dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO o O)) with rowsum(dO o O) = rowsum(P o dP), dQ = dS K / sqrt(D),
// dK = dS^T Q / sqrt(D). As in the forward, W queries ride in the lanes; dQ is summed along the keys in registers,
// dK and dV are sums over the queries, kept as one vector per key and channel (dkv, dvv) across the query blocks
// and reduced across the lanes once per head. Queries past S have dO = 0, so they add nothing. With dropout M / (1 - p)
// on the weights: dV = (P o M)^T dO / (1 - p), and dP above is dO V^T o M / (1 - p), the same mask redrawn.
template <int D, bool DROP = false>
void attend_backward(const float* qt, const float* dot, const float* kp, const float* vp, float* dq, float* dk,
                     float* dv, int64_t S, int64_t Sp, int64_t row, float unscale, vf* scores, vf* dp, vf* kept,
                     vf* dkv, vf* dvv, const Drop& drop = Drop{}) {
  std::memset((void*)dkv, 0, S * D * sizeof(vf));
  std::memset((void*)dvv, 0, S * D * sizeof(vf));
  for (int64_t i0 = 0; i0 < S; i0 += W) {
    vf qd[D], gd[D];  // qd[d] lane r = q[i0 + r, d] log2(e) / sqrt(D); gd[d] lane r = dO[i0 + r, d]
    for (int d = 0; d < D; ++d) qd[d] = load(qt + d * Sp + i0), gd[d] = load(dot + d * Sp + i0);
    vf top = splat(-INFINITY);
    for (int64_t j = 0; j < S; ++j) {
      vf a = vf{};
      for (int d = 0; d < D; ++d) a += qd[d] * kp[j * D + d];
      scores[j] = a, top = vmax(a, top);
    }
    vf total = vf{};
    for (int64_t j = 0; j < S; ++j) scores[j] = exp2_nonpositive(scores[j] - top), total += scores[j];
    const vf inv = 1.f / total;
    vf delta = vf{};  // rowsum(P o dP), dP the gradient of the weights before dropout
    for (int64_t j = 0; j < S; ++j) {
      vf g = vf{};
      for (int d = 0; d < D; ++d) g += gd[d] * vp[j * D + d];
      if constexpr (DROP) kept[j] = select(drop.keep(i0, j, S), splat(drop.keep_scale), splat(0.f)), g *= kept[j];
      scores[j] *= inv, dp[j] = g, delta += scores[j] * g;
    }
    vf gq[D] = {};
    for (int64_t j = 0; j < S; ++j) {
      const vf ds = scores[j] * (dp[j] - delta);
      vf w = scores[j];  // the weight that multiplied v: after dropout
      if constexpr (DROP) w *= kept[j];
      for (int d = 0; d < D; ++d) {
        gq[d] += ds * kp[j * D + d];
        dkv[j * D + d] += ds * qd[d];
        dvv[j * D + d] += w * gd[d];
      }
    }
    const int nq = (int)std::min<int64_t>(W, S - i0);
    const float qscale = 1.f / std::sqrt((float)D);
    for (int r = 0; r < nq; ++r)
      for (int d = 0; d < D; ++d) dq[(i0 + r) * row + d] = gq[d][r] * qscale;
  }
  for (int64_t j = 0; j < S; ++j)
    for (int d = 0; d < D; ++d) {
      dk[j * row + d] = hsum(dkv[j * D + d]) * unscale;  // qd carried log2(e) / sqrt(D): dK needs 1 / sqrt(D)
      dv[j * row + d] = hsum(dvv[j * D + d]);
    }
}

template <int D>
void attend_backward_all(const float* qkv, const float* grad, float* gqkv, int64_t A, int64_t S, int64_t B,
                         int64_t C, int64_t heads, double p, int64_t seed) {
  const Key key = Key::of(seed);
  const uint32_t threshold = drop_threshold(p);
  const float keep_scale = (float)(1.0 / (1.0 - p));
  const float scale = 1.4426950408889634f / std::sqrt((float)D);
  const float unscale = 1.f / 1.4426950408889634f;
  const int64_t row = B * 3 * C, orow = B * C, Sp = (S + W - 1) / W * W;
  at::parallel_for(0, A * B, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> pack((2 * Sp + 2 * S) * C, 0.f);  // qt, dot (C, Sp); kp, vp (heads, S, D)
    std::vector<vf> scratch(3 * S + 2 * S * D);
    float *qt = pack.data(), *dot = qt + Sp * C, *kp = dot + Sp * C, *vp = kp + S * C;
    vf *scores = scratch.data(), *dp = scores + S, *kept = dp + S, *dkv = kept + S, *dvv = dkv + S * D;
    for (int64_t seq = begin; seq < end; ++seq) {
      const int64_t a = seq / B, b = seq % B;
      const float* x = qkv + a * S * row + b * 3 * C;
      const float* g = grad + a * S * orow + b * C;
      for (int64_t s = 0; s < S; ++s) {
        const float* r = x + s * row;
        for (int64_t h = 0; h < heads; ++h) {
          std::memcpy(kp + (h * S + s) * D, r + C + h * D, D * sizeof(float));
          std::memcpy(vp + (h * S + s) * D, r + 2 * C + h * D, D * sizeof(float));
        }
        for (int64_t c = 0; c < C; ++c) qt[c * Sp + s] = r[c] * scale, dot[c * Sp + s] = g[s * orow + c];
      }
      float* o = gqkv + a * S * row + b * 3 * C;
      for (int64_t h = 0; h < heads; ++h) {
        const float *q = qt + h * D * Sp, *g = dot + h * D * Sp, *k = kp + h * S * D, *v = vp + h * S * D;
        float *dq = o + h * D, *dk = o + C + h * D, *dv = o + 2 * C + h * D;
        if (p > 0)
          attend_backward<D, true>(q, g, k, v, dq, dk, dv, S, Sp, row, unscale, scores, dp, kept, dkv, dvv,
                                   drop_for(key, threshold, keep_scale, seq * heads + h, S));
        else
          attend_backward<D>(q, g, k, v, dq, dk, dv, S, Sp, row, unscale, scores, dp, kept, dkv, dvv);
      }
    }
  });
}

at::Tensor small_head_attention_backward(const at::Tensor& qkv, const at::Tensor& grad_out, int64_t heads, double p,
                                         int64_t seed) {
  TORCH_CHECK(p >= 0 && p < 1, "small_head_attention_backward: dropout p must be in [0, 1), got ", p);
  TORCH_CHECK(qkv.dim() == 4 && qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat && qkv.is_contiguous(),
              "small_head_attention_backward: qkv must be a contiguous float32 CPU tensor (A, S, B, 3C), got ",
              qkv.sizes(), " ", qkv.scalar_type());
  const int64_t A = qkv.size(0), S = qkv.size(1), B = qkv.size(2), C = qkv.size(3) / 3;
  TORCH_CHECK(qkv.size(3) == 3 * C && heads > 0 && C % heads == 0,
              "small_head_attention_backward: last dimension ", qkv.size(3), " is not 3 x a multiple of heads ", heads);
  TORCH_CHECK(grad_out.sizes() == at::IntArrayRef({A, S, B, C}) && grad_out.scalar_type() == at::kFloat &&
                  grad_out.is_contiguous(),
              "small_head_attention_backward: grad_out must be contiguous float32 (", A, ", ", S, ", ", B, ", ", C,
              "), got ", grad_out.sizes(), " ", grad_out.scalar_type());
  at::Tensor gqkv = at::empty_like(qkv);
  const float *src = qkv.data_ptr<float>(), *g = grad_out.data_ptr<float>();
  float* dst = gqkv.data_ptr<float>();
  switch (C / heads) {
    case 4: attend_backward_all<4>(src, g, dst, A, S, B, C, heads, p, seed); break;
    case 8: attend_backward_all<8>(src, g, dst, A, S, B, C, heads, p, seed); break;
    case 16: attend_backward_all<16>(src, g, dst, A, S, B, C, heads, p, seed); break;
    default: TORCH_CHECK(false, "small_head_attention_backward: head dimension must be 4, 8 or 16, got ", C / heads);
  }
  return gqkv;
}

}  // namespace

// The op's namespace: tsdiff, unless a build names another (the tests build an 8-lane variant beside the default)
#ifndef TSDIFF_OP_NAMESPACE
#define TSDIFF_OP_NAMESPACE tsdiff
#endif
// one level more, so that the namespace macro is expanded; a fragment, as the namespace's other ops live in
// other sources of the same build (csrc/hash_dropout.cpp)
#define TSDIFF_LIBRARY_FRAGMENT(ns, m) TORCH_LIBRARY_FRAGMENT(ns, m)
#define TSDIFF_LIBRARY_IMPL(ns, k, m) TORCH_LIBRARY_IMPL(ns, k, m)
TSDIFF_LIBRARY_FRAGMENT(TSDIFF_OP_NAMESPACE, m) {
  m.def("small_head_attention(Tensor qkv, int heads, Tensor? bias=None, float p=0., int seed=0) -> Tensor");
  m.def("small_head_attention_backward(Tensor qkv, Tensor grad_out, int heads, float p=0., int seed=0) -> Tensor");
}
TSDIFF_LIBRARY_IMPL(TSDIFF_OP_NAMESPACE, CPU, m) {
  m.impl("small_head_attention", &small_head_attention);
  m.impl("small_head_attention_backward", &small_head_attention_backward);
}
