// Softmax attention for many short sequences with small heads (dimension 4, 8 or 16), fp32, on the CPU.
//
// The CSDI denoiser attends over 35-48 positions with heads of dimension 8: PyTorch's CPU flash-attention kernel
// spends most of its time in per-head matrix-product calls too small to pay for themselves. Here W queries of one
// head ride in the W lanes of a vector (16 with AVX-512, else 8): the scores against each key, their softmax and
// the weighted sum of the values all run along the keys, with every key and value element broadcast to all lanes,
// so nothing needs a horizontal reduction, a transposed copy or a call into BLAS. Inference only (no backward).
// Written with GCC / Clang vector extensions, so the compiler maps it to AVX-512, AVX2 or NEON.
//
// Layout: qkv (A, S, B, 3C) as a linear layer writes it ([q | k | v], heads of C / H channels), attention over
// the S axis for each of the A x B sequences; out (A, S, B, C). Time attention is (A = batch x features, S = L,
// B = 1); feature attention on a (batch, K, L, C) tensor is (A = batch, S = K, B = L): no layout copies.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "vec.h"

namespace {

using namespace tsdiff_vec;

// One head of one sequence. q, k, v point at the sequence's first position (row = stride between positions);
// o likewise in the output (orow); bq, bv the head's query and value biases; scores holds S vectors of scratch.
template <int D>
void attend(const float* q, const float* k, const float* v, float* o, int64_t S, int64_t row, int64_t orow,
            float scale, const float* bq, const float* bv, vf* scores) {
  for (int64_t i0 = 0; i0 < S; i0 += W) {
    const int nq = (int)std::min<int64_t>(W, S - i0);
    vf qd[D];  // qd[d] lane r = q[i0 + r, d] / sqrt(D); lanes past the last query stay 0 and are not written
    for (int d = 0; d < D; ++d) {
      qd[d] = vf{};
      for (int r = 0; r < nq; ++r) qd[d][r] = (q[(i0 + r) * row + d] + bq[d]) * scale;
    }
    // scores against every key, four keys at a time for independent multiply-add chains; running maximum
    vf top = splat(-INFINITY);
    int64_t j = 0;
    for (; j + 4 <= S; j += 4) {
      const float* kj = k + j * row;
      vf a0 = vf{}, a1 = a0, a2 = a0, a3 = a0;
      for (int d = 0; d < D; ++d) {
        a0 += qd[d] * kj[d];
        a1 += qd[d] * kj[row + d];
        a2 += qd[d] * kj[2 * row + d];
        a3 += qd[d] * kj[3 * row + d];
      }
      scores[j] = a0, scores[j + 1] = a1, scores[j + 2] = a2, scores[j + 3] = a3;
      top = vmax(vmax(vmax(a0, a1), vmax(a2, a3)), top);
    }
    for (; j < S; ++j) {
      const float* kj = k + j * row;
      vf a0 = vf{};
      for (int d = 0; d < D; ++d) a0 += qd[d] * kj[d];
      scores[j] = a0;
      top = vmax(a0, top);
    }
    // softmax weights and the weighted sum of the values in one pass over the keys
    vf total = vf{};
    vf acc[D];
    for (int d = 0; d < D; ++d) acc[d] = vf{};
    for (j = 0; j < S; ++j) {
      const vf p = exp_nonpositive(scores[j] - top);
      total += p;
      const float* vj = v + j * row;
      for (int d = 0; d < D; ++d) acc[d] += p * vj[d];
    }
    const vf inv = 1.f / total;
    for (int d = 0; d < D; ++d) acc[d] *= inv;
    for (int r = 0; r < nq; ++r)
      for (int d = 0; d < D; ++d) o[(i0 + r) * orow + d] = acc[d][r] + bv[d];
  }
}

template <int D>
void attend_all(const float* qkv, const float* bias, float* out, int64_t A, int64_t S, int64_t B, int64_t C,
                int64_t heads) {
  const float scale = 1.f / std::sqrt((float)D);
  const int64_t row = B * 3 * C, orow = B * C;
  at::parallel_for(0, A * B * heads, 16, [&](int64_t begin, int64_t end) {
    std::vector<vf> scores(S);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t h = task % heads, b = (task / heads) % B, a = task / (heads * B);
      const float* q = qkv + a * S * row + b * 3 * C + h * D;
      attend<D>(q, q + C, q + 2 * C, out + a * S * orow + b * C + h * D, S, row, orow, scale, bias + h * D,
                bias + 2 * C + h * D, scores.data());
    }
  });
}

// bias: the projection's bias (3C,), added here rather than by the linear layer (which would copy it into its
// output first). The query and value parts are added; the key part adds q . b_k to every score of a query, a
// constant that the softmax cancels, so it is left out.
at::Tensor small_head_attention(const at::Tensor& qkv, int64_t heads, const c10::optional<at::Tensor>& bias) {
  TORCH_CHECK(qkv.dim() == 4 && qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat && qkv.is_contiguous(),
              "small_head_attention: qkv must be a contiguous float32 CPU tensor (A, S, B, 3C), got ",
              qkv.sizes(), " ", qkv.scalar_type());
  const int64_t A = qkv.size(0), S = qkv.size(1), B = qkv.size(2), C = qkv.size(3) / 3;
  TORCH_CHECK(qkv.size(3) == 3 * C && heads > 0 && C % heads == 0,
              "small_head_attention: last dimension ", qkv.size(3), " is not 3 x a multiple of heads ", heads);
  at::Tensor b = bias.has_value() ? bias->contiguous() : at::zeros({3 * C}, qkv.options());
  TORCH_CHECK(b.dim() == 1 && b.size(0) == 3 * C && b.scalar_type() == at::kFloat,
              "small_head_attention: bias must be float32 of shape (", 3 * C, "), got ", b.sizes(), " ", b.scalar_type());
  at::Tensor out = at::empty({A, S, B, C}, qkv.options());
  const float* src = qkv.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  switch (C / heads) {
    case 4: attend_all<4>(src, bp, dst, A, S, B, C, heads); break;
    case 8: attend_all<8>(src, bp, dst, A, S, B, C, heads); break;
    case 16: attend_all<16>(src, bp, dst, A, S, B, C, heads); break;
    default: TORCH_CHECK(false, "small_head_attention: head dimension must be 4, 8 or 16, got ", C / heads);
  }
  return out;
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
TSDIFF_LIBRARY_FRAGMENT(TSDIFF_OP_NAMESPACE, m) { m.def("small_head_attention(Tensor qkv, int heads, Tensor? bias=None) -> Tensor"); }
TSDIFF_LIBRARY_IMPL(TSDIFF_OP_NAMESPACE, CPU, m) { m.impl("small_head_attention", &small_head_attention); }
