// Softmax attention for many short sequences with small heads (dimension 4, 8 or 16), fp32, on AVX-512 CPUs.
//
// The CSDI denoiser attends over 35-48 positions with heads of dimension 8: PyTorch's CPU flash-attention kernel
// spends most of its time in per-head matrix-product calls too small to pay for themselves. Here 16 queries of
// one head ride in the 16 lanes of a vector register: the scores against each key, their softmax and the
// weighted sum of the values all run along the keys, with every key and value element broadcast from memory, so
// nothing needs a horizontal reduction, a transposed copy or a call into BLAS. Inference only (no backward).
//
// Layout: qkv (A, S, B, 3C) as a linear layer writes it ([q | k | v], heads of C / H channels), attention over
// the S axis for each of the A x B sequences; out (A, S, B, C). Time attention is (A = batch x features, S = L,
// B = 1); feature attention on a (batch, K, L, C) tensor is (A = batch, S = K, B = L): no layout copies.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <cmath>
#include <immintrin.h>
#include <vector>

#ifndef __AVX512F__
#error "tsdiff small-head attention needs AVX-512 (the Python side falls back to scaled_dot_product_attention)"
#endif

namespace {

// e^x for x <= 0 with a relative error of about 2e-7 (flushed to e^-87 below that): x = n ln2 + f with
// |f| <= ln2 / 2 (Cody-Waite, two-part ln2), a degree-6 Taylor polynomial for e^f, and 2^n by scalef.
inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  f = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), f);
  __m512 p = _mm512_set1_ps(1.f / 720);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// One head of one sequence. q, k, v point at the sequence's first position (row = stride between positions);
// o likewise in the output (orow); scores is a 16 x S scratch buffer.
template <int D>
void attend(const float* q, const float* k, const float* v, float* o, int64_t S, int64_t row, int64_t orow,
            float scale, float* scores) {
  const __m512i lanes = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)row));
  for (int64_t i0 = 0; i0 < S; i0 += 16) {
    const int nq = (int)std::min<int64_t>(16, S - i0);
    const __mmask16 live = (__mmask16)((1u << nq) - 1);
    __m512 qd[D];  // qd[d] lane r = q[i0 + r, d] / sqrt(D)
    for (int d = 0; d < D; ++d)
      qd[d] = _mm512_mul_ps(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, lanes, q + i0 * row + d, 4),
                            _mm512_set1_ps(scale));
    // scores against every key, four keys at a time for independent FMA chains; running maximum per query
    __m512 top = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 4 <= S; j += 4) {
      const float* kj = k + j * row;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int d = 0; d < D; ++d) {
        a0 = _mm512_fmadd_ps(qd[d], _mm512_set1_ps(kj[d]), a0);
        a1 = _mm512_fmadd_ps(qd[d], _mm512_set1_ps(kj[row + d]), a1);
        a2 = _mm512_fmadd_ps(qd[d], _mm512_set1_ps(kj[2 * row + d]), a2);
        a3 = _mm512_fmadd_ps(qd[d], _mm512_set1_ps(kj[3 * row + d]), a3);
      }
      _mm512_storeu_ps(scores + j * 16, a0);
      _mm512_storeu_ps(scores + (j + 1) * 16, a1);
      _mm512_storeu_ps(scores + (j + 2) * 16, a2);
      _mm512_storeu_ps(scores + (j + 3) * 16, a3);
      top = _mm512_max_ps(_mm512_max_ps(top, _mm512_max_ps(a0, a1)), _mm512_max_ps(a2, a3));
    }
    for (; j < S; ++j) {
      const float* kj = k + j * row;
      __m512 a0 = _mm512_setzero_ps();
      for (int d = 0; d < D; ++d) a0 = _mm512_fmadd_ps(qd[d], _mm512_set1_ps(kj[d]), a0);
      _mm512_storeu_ps(scores + j * 16, a0);
      top = _mm512_max_ps(top, a0);
    }
    // softmax weights and the weighted sum of the values in one pass over the keys
    __m512 total = _mm512_setzero_ps();
    __m512 acc[D];
    for (int d = 0; d < D; ++d) acc[d] = _mm512_setzero_ps();
    for (j = 0; j < S; ++j) {
      const __m512 p = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(scores + j * 16), top));
      total = _mm512_add_ps(total, p);
      const float* vj = v + j * row;
      for (int d = 0; d < D; ++d) acc[d] = _mm512_fmadd_ps(p, _mm512_set1_ps(vj[d]), acc[d]);
    }
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.f), total);
    alignas(64) float lanes_out[D][16];
    for (int d = 0; d < D; ++d) _mm512_store_ps(lanes_out[d], _mm512_mul_ps(acc[d], inv));
    for (int r = 0; r < nq; ++r)
      for (int d = 0; d < D; ++d) o[(i0 + r) * orow + d] = lanes_out[d][r];
  }
}

template <int D>
void attend_all(const float* qkv, float* out, int64_t A, int64_t S, int64_t B, int64_t C, int64_t heads) {
  const float scale = 1.f / std::sqrt((float)D);
  const int64_t row = B * 3 * C, orow = B * C;
  at::parallel_for(0, A * B * heads, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(16 * S);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t h = task % heads, b = (task / heads) % B, a = task / (heads * B);
      const float* q = qkv + a * S * row + b * 3 * C + h * D;
      attend<D>(q, q + C, q + 2 * C, out + a * S * orow + b * C + h * D, S, row, orow, scale, scores.data());
    }
  });
}

at::Tensor small_head_attention(const at::Tensor& qkv, int64_t heads) {
  TORCH_CHECK(qkv.dim() == 4 && qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat && qkv.is_contiguous(),
              "small_head_attention: qkv must be a contiguous float32 CPU tensor (A, S, B, 3C), got ",
              qkv.sizes(), " ", qkv.scalar_type());
  const int64_t A = qkv.size(0), S = qkv.size(1), B = qkv.size(2), C = qkv.size(3) / 3;
  TORCH_CHECK(qkv.size(3) == 3 * C && heads > 0 && C % heads == 0,
              "small_head_attention: last dimension ", qkv.size(3), " is not 3 x a multiple of heads ", heads);
  at::Tensor out = at::empty({A, S, B, C}, qkv.options());
  const float* src = qkv.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  switch (C / heads) {
    case 4: attend_all<4>(src, dst, A, S, B, C, heads); break;
    case 8: attend_all<8>(src, dst, A, S, B, C, heads); break;
    case 16: attend_all<16>(src, dst, A, S, B, C, heads); break;
    default: TORCH_CHECK(false, "small_head_attention: head dimension must be 4, 8 or 16, got ", C / heads);
  }
  return out;
}

}  // namespace

TORCH_LIBRARY(tsdiff, m) { m.def("small_head_attention(Tensor qkv, int heads) -> Tensor"); }
TORCH_LIBRARY_IMPL(tsdiff, CPU, m) { m.impl("small_head_attention", &small_head_attention); }
