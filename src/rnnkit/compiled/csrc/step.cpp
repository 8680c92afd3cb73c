// One streaming step of a whole stack of layers, for inference: x_t (B, I) and the state in
// torch.nn's layout (L, B, H) [and c for the LSTM] -> (y_t, h', c'). One call from Python for
// all layers: per layer two small matmuls (input and recurrent) and one fused gate loop.
// No autograd here; the Python side uses it under no_grad only.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include <optional>
#include <tuple>

#include "cell_math.h"

namespace rnnkit_step {

using namespace rnnkit_math;

// same numbering as gated.cpp's Kind, then the linear-recurrence cells
enum StepKind : int64_t {
  kTanh = 0, kRelu = 1, kSigmoid = 2, kLstm = 3, kGruAfter = 4, kGruBefore = 5,
  kMinGru = 6, kMinLstm = 7
};

// A few rows (streaming: B is 1 to a handful) through at::addmm pay its dispatch, an output
// allocation and BLAS's matrix-vector set-up on every call, twice per layer: at B 1, H 128
// most of a step's ~35 µs. Up to kFewRows rows of contiguous weights, the products are dot
// products over the weight's rows instead, in a loop of our own (parallel over rows only
// where a thread's share is large enough to pay for waking it).
constexpr int64_t kFewRows = 4;

template <typename T>
void rows_times(const T* w, int64_t n, int64_t k, const T* x, int64_t B, const T* bias,
                T* out) {
  at::parallel_for(0, n, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, k * B)),
                   [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const T* wj = w + j * k;
      for (int64_t b = 0; b < B; ++b) {
        const T* xb = x + b * k;
        T sum = bias ? bias[j] : T(0);
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < k; ++i) sum += wj[i] * xb[i];
        out[b * n + j] = sum;
      }
    }
  });
}

at::Tensor affine(const at::Tensor& x, const at::Tensor& w, const at::Tensor* b) {
  const bool few = x.size(0) <= kFewRows && x.is_contiguous() && w.is_contiguous() &&
                   (b == nullptr || b->is_contiguous()) && x.scalar_type() == w.scalar_type();
  if (!few) return b ? at::addmm(*b, x, w.t()) : at::mm(x, w.t());
  TORCH_CHECK(x.size(1) == w.size(1), "rnnkit stack_step: input width ", x.size(1),
              ", weight width ", w.size(1));
  at::Tensor out = at::empty({x.size(0), w.size(0)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_step_affine", [&] {
    rows_times<scalar_t>(w.data_ptr<scalar_t>(), w.size(0), w.size(1), x.data_ptr<scalar_t>(),
                         x.size(0), b ? b->data_ptr<scalar_t>() : nullptr,
                         out.data_ptr<scalar_t>());
  });
  return out;
}

template <typename T>
void gates(int64_t kind, int64_t B, int64_t H, const T* xp, const T* acc, const T* acc2,
           const T* h, const T* c, T* h_out, T* c_out) {
  const int64_t G = kind == kLstm ? 4 : (kind == kGruAfter || kind == kGruBefore) ? 3
                    : kind == kMinGru ? 2 : kind == kMinLstm ? 3 : 1;
  for (int64_t b = 0; b < B; ++b) {
    const T* x = xp + b * G * H;
    const T* a = acc ? acc + b * (kind == kGruBefore ? 2 : G) * H : nullptr;
    const T* hp = h + b * H;
    T* ho = h_out + b * H;
    if (kind <= kSigmoid) {
      activate_row<T>(kind, x, a, nullptr, ho, H);
    } else if (kind == kLstm) {
      const T* cp = c + b * H;
      T* co = c_out + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T i = sigmoid(x[j] + a[j]), f = sigmoid(x[H + j] + a[H + j]);
        T g = tanh_(x[2 * H + j] + a[2 * H + j]), o = sigmoid(x[3 * H + j] + a[3 * H + j]);
        co[j] = f * cp[j] + i * g;
        ho[j] = o * tanh_(co[j]);
      }
    } else if (kind == kGruAfter) {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T r = sigmoid(x[j] + a[j]), z = sigmoid(x[H + j] + a[H + j]);
        T n = tanh_(x[2 * H + j] + r * a[2 * H + j]);
        ho[j] = (T(1) - z) * n + z * hp[j];
      }
    } else if (kind == kGruBefore) {  // acc2 = (r*h) W_hn^T + b_hn, computed between passes
      const T* a2 = acc2 + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T z = sigmoid(x[H + j] + a[H + j]);
        T n = tanh_(x[2 * H + j] + a2[j]);
        ho[j] = (T(1) - z) * n + z * hp[j];
      }
    } else if (kind == kMinGru) {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T z = sigmoid(x[j]);
        ho[j] = (T(1) - z) * hp[j] + z * g_act(x[H + j]);
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T delta = min_lstm_delta(x[j], x[H + j]);
        ho[j] = sigmoid(-delta) * hp[j] + sigmoid(delta) * g_act(x[2 * H + j]);
      }
    }
  }
}

template <typename T>
void reset_times_h(int64_t B, int64_t H, const T* acc, const T* xp, const T* h, T* rh) {
  for (int64_t b = 0; b < B; ++b) {
#pragma omp simd
    for (int64_t j = 0; j < H; ++j)
      rh[b * H + j] = sigmoid(xp[b * 3 * H + j] + acc[b * 2 * H + j]) * h[b * H + j];
  }
}

// weights per layer, in order: w_ih, [w_hh], [b_ih, [b_hh]] (no w_hh/b_hh for min cells)
std::tuple<at::Tensor, at::Tensor, at::Tensor> stack_step(
    int64_t kind, const at::Tensor& x, const at::Tensor& h, const std::optional<at::Tensor>& c,
    at::TensorList weights, bool has_bias) {
  const bool recurrent = kind <= kGruBefore;
  const int64_t per_layer = (recurrent ? 2 : 1) * (has_bias ? 2 : 1);
  const int64_t L = h.size(0), B = h.size(1), H = h.size(2);
  TORCH_CHECK(static_cast<int64_t>(weights.size()) == L * per_layer,
              "rnnkit stack_step: expected ", L * per_layer, " weights, got ", weights.size());
  // contiguous, whatever the state's layout: gates() writes rows of H (empty_like would keep
  // the strides of a transposed (B, L, H) -> (L, B, H) state, and the rows would interleave)
  at::Tensor h_new = at::empty({L, B, H}, h.options());
  at::Tensor c_new = kind == kLstm ? at::empty({L, B, H}, c->options())
                                   : at::empty({0}, h.options());
  at::Tensor y = x;
  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor* w = &weights[l * per_layer];
    const at::Tensor& w_ih = w[0];
    const at::Tensor* w_hh = recurrent ? &w[1] : nullptr;
    const at::Tensor* b_ih = has_bias ? &w[recurrent ? 2 : 1] : nullptr;
    const at::Tensor* b_hh = has_bias && recurrent ? &w[3] : nullptr;
    at::Tensor h_l = h[l].contiguous();
    at::Tensor xp = affine(y, w_ih, b_ih).contiguous();
    at::Tensor acc, acc2;
    if (kind == kGruBefore) {
      at::Tensor b_rz = b_hh ? b_hh->narrow(0, 0, 2 * H) : at::Tensor();
      at::Tensor b_n = b_hh ? b_hh->narrow(0, 2 * H, H) : at::Tensor();
      acc = affine(h_l, w_hh->narrow(0, 0, 2 * H), b_hh ? &b_rz : nullptr);
      at::Tensor rh = at::empty_like(h_l);
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_step_reset", [&] {
        reset_times_h<scalar_t>(B, H, acc.data_ptr<scalar_t>(), xp.data_ptr<scalar_t>(),
                                h_l.data_ptr<scalar_t>(), rh.data_ptr<scalar_t>());
      });
      acc2 = affine(rh, w_hh->narrow(0, 2 * H, H), b_hh ? &b_n : nullptr);
    } else if (recurrent) {
      acc = affine(h_l, *w_hh, b_hh);
    }
    at::Tensor c_l = kind == kLstm ? (*c)[l].contiguous() : at::Tensor();
    at::Tensor h_out = h_new[l], c_out = kind == kLstm ? c_new[l] : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_stack_step", [&] {
      gates<scalar_t>(kind, B, H, xp.data_ptr<scalar_t>(),
                      acc.defined() ? acc.data_ptr<scalar_t>() : nullptr,
                      acc2.defined() ? acc2.data_ptr<scalar_t>() : nullptr,
                      h_l.data_ptr<scalar_t>(), c_l.defined() ? c_l.data_ptr<scalar_t>() : nullptr,
                      h_out.data_ptr<scalar_t>(),
                      c_out.defined() ? c_out.data_ptr<scalar_t>() : nullptr);
    });
    y = h_out;
  }
  return {y, h_new, c_new};
}

}  // namespace rnnkit_step

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("stack_step(int kind, Tensor x, Tensor h, Tensor? c, Tensor[] weights, bool has_bias) "
        "-> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) { m.impl("stack_step", &rnnkit_step::stack_step); }
