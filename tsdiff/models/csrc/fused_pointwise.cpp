// Fused elementwise steps of the CSDI denoiser on the CPU, for sampling (no backward).
//
// With a few dozen channels per position, every elementwise PyTorch op is one pass over memory: a linear
// layer's bias (copied into its output before the product), the residual add, layer norm, GELU, the gated
// activation and its side information each read and write the whole activation. Each op here does in one pass
// what took two to five, with the bias of the linear layer before it taken in, so that layer runs without one.
//
// - residual_layer_norm(y, bias, x, weight, beta, eps, bf16_copy): LayerNorm(x + y + bias) over the last dim
//   (post-norm), and with bf16_copy a bf16 copy of it too, for the next matrix product;
// - bias_gelu(y, bias): GELU(y + bias), the erf form (nn.GELU's default);
// - csdi_gate(mid, time_part, feature_part, cond_mask, mask_weight): sigmoid(gate) * tanh(filter), where
//   [gate | filter] = mid + time_part + feature_part + cond_mask * mask_weight, broadcast over (B, K, L, 2C);
// - residual_skip(out, bias, x, skip): [residual | s] = out + bias -> ((x + residual) / sqrt 2, skip + s), the
//   residual layer's two outputs (skip None: s).
//
// Everything is computed in fp32. The matrix products' outputs (y, mid, out) may be fp32 or bf16 (under bf16
// autocast, where the products run on bf16 matrix units); bias_gelu and csdi_gate, whose outputs only feed a
// matrix product, return the dtype they were given. The residual stream (x, skip, the layer norms' outputs) is
// fp32 throughout.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include "vec.h"

namespace {

using namespace tsdiff_vec;

inline float gelu(float v) { return 0.5f * v * (1.f + std::erf(v * 0.70710678118654752f)); }

using bf16 = c10::BFloat16;

void check_rows(const at::Tensor& t, const char* op, const char* name, bool or_bf16 = false) {
  const bool dtype_ok = t.scalar_type() == at::kFloat || (or_bf16 && t.scalar_type() == at::kBFloat16);
  TORCH_CHECK(t.device().is_cpu() && dtype_ok && t.is_contiguous(), op, ": ", name, " must be a contiguous ",
              or_bf16 ? "float32 or bfloat16" : "float32", " CPU tensor, got ", t.scalar_type(), " ", t.sizes());
}

// f<T>(args...) for the dtype of t: float or c10::BFloat16
#define TSDIFF_DISPATCH_FLOAT_BF16(t, f, ...) \
  ((t).scalar_type() == at::kBFloat16 ? f<bf16>(__VA_ARGS__) : f<float>(__VA_ARGS__))

void check_vector(const at::Tensor& t, int64_t n, const char* op, const char* name) {
  check_rows(t, op, name);
  TORCH_CHECK(t.dim() == 1 && t.size(0) == n, op, ": ", name, " must have shape (", n, "), got ", t.sizes());
}

constexpr int64_t GRAIN = 256;  // rows per parallel task

// o = LayerNorm(y + b + x) of one row of C channels, in fp32, and its bf16 copy where `copy` is not null
template <typename T>
void layer_norm_row(const T* yr, const float* bp, const float* xr, const float* wp, const float* betap, float eps,
                    int64_t C, float* o, bf16* copy) {
  const int64_t full = C / W * W;
  vf acc = vf{};
  float sum = 0.f;
  int64_t c = 0;
  for (; c < full; c += W) {
    const vf v = load(yr + c) + load(bp + c) + load(xr + c);
    store(o + c, v);
    acc += v;
  }
  for (; c < C; ++c) sum += (o[c] = float(yr[c]) + bp[c] + xr[c]);
  const float mean = (hsum(acc) + sum) / C;
  acc = vf{}, sum = 0.f;
  for (c = 0; c < full; c += W) {
    const vf d = load(o + c) - mean;
    acc += d * d;
  }
  for (; c < C; ++c) sum += (o[c] - mean) * (o[c] - mean);
  const float rstd = 1.f / std::sqrt((hsum(acc) + sum) / C + eps);  // biased variance, as LayerNorm
  for (c = 0; c < full; c += W) {
    const vf v = (load(o + c) - mean) * rstd * load(wp + c) + load(betap + c);
    store(o + c, v);
    if (copy) store(copy + c, v);
  }
  for (; c < C; ++c) {
    o[c] = (o[c] - mean) * rstd * wp[c] + betap[c];
    if (copy) copy[c] = bf16(o[c]);
  }
}

template <typename T>
void residual_layer_norm_rows(const at::Tensor& y, const at::Tensor& b, const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& beta, float eps, at::Tensor& out, at::Tensor* copy) {
  const int64_t C = y.size(-1), rows = y.numel() / std::max<int64_t>(C, 1);
  const T* yp = y.data_ptr<T>();
  const float *xp = x.data_ptr<float>(), *bp = b.data_ptr<float>();
  const float *wp = weight.data_ptr<float>(), *betap = beta.data_ptr<float>();
  float* op = out.data_ptr<float>();
  bf16* cp = copy ? copy->data_ptr<bf16>() : nullptr;
  at::parallel_for(0, rows, GRAIN, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      layer_norm_row(yp + i * C, bp, xp + i * C, wp, betap, eps, C, op + i * C, cp ? cp + i * C : nullptr);
  });
}

std::vector<at::Tensor> residual_layer_norm(const at::Tensor& y, const c10::optional<at::Tensor>& bias,
                                            const at::Tensor& x, const at::Tensor& weight, const at::Tensor& beta,
                                            double eps, bool bf16_copy) {
  const char* op = "residual_layer_norm";
  check_rows(y, op, "y", true);
  check_rows(x, op, "x");
  TORCH_CHECK(x.sizes() == y.sizes(), op, ": x ", x.sizes(), " and y ", y.sizes(), " differ in shape");
  const int64_t C = y.size(-1);
  check_vector(weight, C, op, "weight");
  check_vector(beta, C, op, "beta");
  at::Tensor b = bias.has_value() ? *bias : at::zeros({C}, x.options());
  check_vector(b, C, op, "bias");
  std::vector<at::Tensor> outs{at::empty_like(x)};
  if (bf16_copy) outs.push_back(at::empty_like(x, x.options().dtype(at::kBFloat16)));
  at::Tensor* copy = bf16_copy ? &outs[1] : nullptr;
  TSDIFF_DISPATCH_FLOAT_BF16(y, residual_layer_norm_rows, y, b, x, weight, beta, (float)eps, outs[0], copy);
  return outs;
}

template <typename T>
void bias_gelu_rows(const at::Tensor& y, const at::Tensor& bias, at::Tensor& out) {
  const int64_t C = y.size(-1), rows = y.numel() / std::max<int64_t>(C, 1);
  const T* yp = y.data_ptr<T>();
  const float* bp = bias.data_ptr<float>();
  T* o = out.data_ptr<T>();
  const int64_t full = C / W * W;
  at::parallel_for(0, rows, GRAIN, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t c = 0;
      for (; c < full; c += W) {
        const vf v = load(yp + i * C + c) + load(bp + c);
        store(o + i * C + c, 0.5f * v * (1.f + verf(v * 0.70710678118654752f)));
      }
      for (; c < C; ++c) o[i * C + c] = T(gelu(float(yp[i * C + c]) + bp[c]));
    }
  });
}

at::Tensor bias_gelu(const at::Tensor& y, const at::Tensor& bias) {
  const char* op = "bias_gelu";
  check_rows(y, op, "y", true);
  check_vector(bias, y.size(-1), op, "bias");
  at::Tensor out = at::empty_like(y);
  TSDIFF_DISPATCH_FLOAT_BF16(y, bias_gelu_rows, y, bias, out);
  return out;
}

template <typename T>
void csdi_gate_rows(const at::Tensor& mid, const at::Tensor& time_part, const at::Tensor& feature_part,
                    const at::Tensor& cond_mask, const at::Tensor& mask_weight, at::Tensor& out) {
  const int64_t K = mid.size(1), L = mid.size(2), C2 = mid.size(3), C = C2 / 2;
  const T* mp = mid.data_ptr<T>();
  const float *tp = time_part.data_ptr<float>(), *fp = feature_part.data_ptr<float>();
  const float* wp = mask_weight.data_ptr<float>();
  const bool* cp = cond_mask.data_ptr<bool>();
  T* o = out.data_ptr<T>();
  const int64_t full = C / W * W;
  at::parallel_for(0, mid.size(0) * K * L, GRAIN, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t l = i % L, k = (i / L) % K, b = i / (L * K);
      const T* m = mp + i * C2;
      const float *t = tp + (b * L + l) * C2, *f = fp + k * C2;
      const float on = cp[i] ? 1.f : 0.f;
      T* out_row = o + i * C;
      int64_t c = 0;
      for (; c < full; c += W) {
        const vf g = load(m + c) + load(t + c) + load(f + c) + on * load(wp + c);
        const vf h = load(m + C + c) + load(t + C + c) + load(f + C + c) + on * load(wp + C + c);
        store(out_row + c, vsigmoid(g) * vtanh(h));
      }
      for (; c < C; ++c) {
        const float g = float(m[c]) + t[c] + f[c] + on * wp[c], h = float(m[C + c]) + t[C + c] + f[C + c] + on * wp[C + c];
        out_row[c] = T(std::tanh(h) / (1.f + std::exp(-g)));
      }
    }
  });
}

at::Tensor csdi_gate(const at::Tensor& mid, const at::Tensor& time_part, const at::Tensor& feature_part,
                     const at::Tensor& cond_mask, const at::Tensor& mask_weight) {
  const char* op = "csdi_gate";
  check_rows(mid, op, "mid", true);
  check_rows(time_part, op, "time_part");
  check_rows(feature_part, op, "feature_part");
  TORCH_CHECK(mid.dim() == 4 && mid.size(3) % 2 == 0, op, ": mid must be (B, K, L, 2C), got ", mid.sizes());
  const int64_t B = mid.size(0), K = mid.size(1), L = mid.size(2), C2 = mid.size(3), C = C2 / 2;
  TORCH_CHECK(time_part.dim() == 3 && time_part.size(0) == B && time_part.size(1) == L && time_part.size(2) == C2,
              op, ": time_part must be (B, L, 2C) = (", B, ", ", L, ", ", C2, "), got ", time_part.sizes());
  TORCH_CHECK(feature_part.dim() == 2 && feature_part.size(0) == K && feature_part.size(1) == C2, op,
              ": feature_part must be (K, 2C) = (", K, ", ", C2, "), got ", feature_part.sizes());
  TORCH_CHECK(cond_mask.device().is_cpu() && cond_mask.scalar_type() == at::kBool && cond_mask.is_contiguous() &&
                  cond_mask.dim() == 3 && cond_mask.size(0) == B && cond_mask.size(1) == K && cond_mask.size(2) == L,
              op, ": cond_mask must be a contiguous bool tensor (B, K, L) = (", B, ", ", K, ", ", L, "), got ",
              cond_mask.scalar_type(), " ", cond_mask.sizes());
  check_vector(mask_weight, C2, op, "mask_weight");
  at::Tensor out = at::empty({B, K, L, C}, mid.options());
  TSDIFF_DISPATCH_FLOAT_BF16(mid, csdi_gate_rows, mid, time_part, feature_part, cond_mask, mask_weight, out);
  return out;
}

template <typename T>
void residual_skip_rows(const at::Tensor& out, const at::Tensor& bias, const at::Tensor& x, const float* sp,
                        at::Tensor& new_x, at::Tensor& new_skip) {
  const int64_t C = x.size(-1), rows = x.numel() / std::max<int64_t>(C, 1);
  const T* op = out.data_ptr<T>();
  const float *bp = bias.data_ptr<float>(), *xp = x.data_ptr<float>();
  float *nx = new_x.data_ptr<float>(), *ns = new_skip.data_ptr<float>();
  const float half = 0.70710678118654752f;
  const int64_t full = C / W * W;
  at::parallel_for(0, rows, GRAIN, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* o = op + i * 2 * C;
      const float* xr = xp + i * C;
      int64_t c = 0;
      for (; c < full; c += W) {
        store(nx + i * C + c, (load(xr + c) + (load(o + c) + load(bp + c))) * half);
        const vf s = load(o + C + c) + load(bp + C + c);
        store(ns + i * C + c, sp ? load(sp + i * C + c) + s : s);
      }
      for (; c < C; ++c) {
        nx[i * C + c] = (xr[c] + (float(o[c]) + bp[c])) * half;
        const float s = float(o[C + c]) + bp[C + c];
        ns[i * C + c] = sp ? sp[i * C + c] + s : s;
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> residual_skip(const at::Tensor& out, const at::Tensor& bias, const at::Tensor& x,
                                                 const c10::optional<at::Tensor>& skip) {
  const char* op = "residual_skip";
  check_rows(out, op, "out", true);
  check_rows(x, op, "x");
  const int64_t C = x.size(-1);
  TORCH_CHECK(out.dim() == x.dim() && out.size(-1) == 2 * C && out.numel() == 2 * x.numel(), op, ": out ",
              out.sizes(), " must be x's shape ", x.sizes(), " with twice the channels");
  check_vector(bias, 2 * C, op, "bias");
  if (skip.has_value()) {
    check_rows(*skip, op, "skip");
    TORCH_CHECK(skip->sizes() == x.sizes(), op, ": skip ", skip->sizes(), " and x ", x.sizes(), " differ in shape");
  }
  at::Tensor new_x = at::empty_like(x), new_skip = at::empty_like(x);
  const float* sp = skip.has_value() ? skip->data_ptr<float>() : nullptr;
  TSDIFF_DISPATCH_FLOAT_BF16(out, residual_skip_rows, out, bias, x, sp, new_x, new_skip);
  return {new_x, new_skip};
}

}  // namespace

#ifndef TSDIFF_OP_NAMESPACE
#define TSDIFF_OP_NAMESPACE tsdiff
#endif
#define TSDIFF_LIBRARY_FRAGMENT(ns, m) TORCH_LIBRARY_FRAGMENT(ns, m)
#define TSDIFF_LIBRARY_IMPL(ns, k, m) TORCH_LIBRARY_IMPL(ns, k, m)
TSDIFF_LIBRARY_FRAGMENT(TSDIFF_OP_NAMESPACE, m) {
  m.def(
      "residual_layer_norm(Tensor y, Tensor? bias, Tensor x, Tensor weight, Tensor beta, float eps, bool bf16_copy=False)"
      " -> Tensor[]");
  m.def("bias_gelu(Tensor y, Tensor bias) -> Tensor");
  m.def("csdi_gate(Tensor mid, Tensor time_part, Tensor feature_part, Tensor cond_mask, Tensor mask_weight) -> Tensor");
  m.def("residual_skip(Tensor out, Tensor bias, Tensor x, Tensor? skip) -> (Tensor, Tensor)");
}
TSDIFF_LIBRARY_IMPL(TSDIFF_OP_NAMESPACE, CPU, m) {
  m.impl("residual_layer_norm", &residual_layer_norm);
  m.impl("bias_gelu", &bias_gelu);
  m.impl("csdi_gate", &csdi_gate);
  m.impl("residual_skip", &residual_skip);
}
