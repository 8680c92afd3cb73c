// minGRU / minLSTM over a whole sequence: gates and the linear recurrence
//     h_t = a_t ⊙ h_{t-1} + b_t
// in one sequential pass, forward and backward. The gates read only the input, so the caller
// computes every step's projections xp = x W^T + b as ONE matmul over (B*T) rows; this pass
// is then elementwise and memory-bound (no recurrent matmul). Each (b, j) lane is independent,
// so the loop runs batch-outer and time-inner: xp[b] is read front to back, contiguously.
//
// minGRU  (xp = [k, p]):      z = σ(k),  a = 1 − z,  b = z g(p)
// minLSTM (xp = [kf, ki, p]): f = σ(kf), i = σ(ki),  a = f/(f+i),  b = i/(f+i) g(p)
// g(x) = x + 1/2 for x ≥ 0, σ(x) below (Feng et al. 2024). Past a sequence's end: a = 1, b = 0.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>

#include "cell_math.h"
#include "pool.h"
#include <optional>
#include <tuple>

namespace rnnkit_linear {

using namespace rnnkit_math;

enum MinKind : int64_t { kMinGru = 0, kMinLstm = 1 };


// the coefficients of one step of one lane. The kind is a template parameter: with a run-time
// kind inside the `omp simd` loop GCC computed both cells' arithmetic for every lane
// (if-conversion), and the forward pass took 2.5x the time of the backward.
template <int64_t kind, typename T>
inline void coefficients(const T* x, int64_t H, int64_t j, T& a, T& b) {
  if constexpr (kind == kMinGru) {
    T z = sigmoid(x[j]);
    a = T(1) - z;
    b = z * g_act(x[H + j]);
  } else {
    T delta = min_lstm_delta(x[j], x[H + j]);
    a = sigmoid(-delta);
    b = sigmoid(delta) * g_act(x[2 * H + j]);
  }
}

int64_t gates_of(int64_t kind) { return kind == kMinGru ? 2 : 3; }

template <int64_t kind, typename scalar_t>
void forward_impl(int64_t B, int64_t T, int64_t G, int64_t H,
                  const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& lengths,
                  at::Tensor& hs) {
  const scalar_t* X = xp.data_ptr<scalar_t>();
  const scalar_t* H0 = h0.data_ptr<scalar_t>();
  scalar_t* Y = hs.data_ptr<scalar_t>();
  const int64_t* L = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<scalar_t> h(H);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t len = L ? L[b] : T;
      for (int64_t j = 0; j < H; ++j) h[j] = H0[b * H + j];
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* x = X + (b * T + t) * G * H;
        scalar_t* y = Y + (b * T + t) * H;
        if (t < len) {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            scalar_t a, c;
            coefficients<kind>(x, H, j, a, c);
            h[j] = a * h[j] + c;
          }
        }
        for (int64_t j = 0; j < H; ++j) y[j] = h[j];
      }
    }
  });
}

template <typename scalar_t>
void backward_impl(int64_t kind, int64_t B, int64_t T, int64_t G, int64_t H,
                   const at::Tensor& grad, const at::Tensor& xp, const at::Tensor& h0,
                   const at::Tensor& hs, const at::Tensor& lengths, at::Tensor& d_xp,
                   at::Tensor& d_h0) {
  const scalar_t* X = xp.data_ptr<scalar_t>();
  const scalar_t* H0 = h0.data_ptr<scalar_t>();
  const scalar_t* Y = hs.data_ptr<scalar_t>();
  const scalar_t* D = grad.data_ptr<scalar_t>();
  scalar_t* DX = d_xp.data_ptr<scalar_t>();
  scalar_t* DH0 = d_h0.data_ptr<scalar_t>();
  const int64_t* L = lengths.defined() ? lengths.data_ptr<int64_t>() : nullptr;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<scalar_t> carry(H);  // dL/dh_t through steps after t
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t len = L ? L[b] : T;
      for (int64_t j = 0; j < H; ++j) carry[j] = scalar_t(0);
      for (int64_t t = T - 1; t >= 0; --t) {
        const scalar_t* x = X + (b * T + t) * G * H;
        const scalar_t* d = D + (b * T + t) * H;
        const scalar_t* hp = t == 0 ? H0 + b * H : Y + (b * T + t - 1) * H;
        scalar_t* dx = DX + (b * T + t) * G * H;
        if (t >= len) {
          for (int64_t j = 0; j < H; ++j) carry[j] += d[j];
          for (int64_t j = 0; j < G * H; ++j) dx[j] = scalar_t(0);
          continue;
        }
        if (kind == kMinGru) {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            scalar_t dh = d[j] + carry[j];
            scalar_t z = sigmoid(x[j]), p = x[H + j];
            // h = (1 − z) h_prev + z g(p)
            dx[j] = dh * (g_act(p) - hp[j]) * z * (scalar_t(1) - z);
            dx[H + j] = dh * z * g_grad(p);
            carry[j] = dh * (scalar_t(1) - z);
          }
        } else {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            scalar_t dh = d[j] + carry[j];
            scalar_t f = sigmoid(x[j]), i = sigmoid(x[H + j]), p = x[2 * H + j];
            scalar_t delta = min_lstm_delta(x[j], x[H + j]);
            scalar_t fa = sigmoid(-delta), ia = sigmoid(delta), gp = g_act(p);
            // h = fa h_prev + ia g(p), fa = σ(−δ), ia = σ(δ), δ = log i − log f
            scalar_t d_delta = fa * ia * (dh * gp - dh * hp[j]);
            dx[j] = -d_delta * (scalar_t(1) - f);
            dx[H + j] = d_delta * (scalar_t(1) - i);
            dx[2 * H + j] = dh * ia * g_grad(p);
            carry[j] = dh * fa;
          }
        }
      }
      for (int64_t j = 0; j < H; ++j) DH0[b * H + j] = carry[j];
    }
  });
}

at::Tensor linear_forward(int64_t kind, const at::Tensor& xp_in, const at::Tensor& h0_in,
                          const std::optional<at::Tensor>& lengths_in) {
  at::Tensor xp = xp_in.contiguous(), h0 = h0_in.contiguous();
  const int64_t B = xp.size(0), T = xp.size(1), G = gates_of(kind), H = xp.size(2) / G;
  TORCH_CHECK(xp.size(2) == G * H && h0.size(0) == B && h0.size(1) == H,
              "rnnkit linear_forward: sizes");
  at::Tensor lengths;
  if (lengths_in.has_value() && lengths_in->defined()) lengths = lengths_in->to(at::kLong).contiguous();
  at::Tensor hs = rnnkit_pool::pooled({B, T, H}, xp.options());
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_linear_forward", [&] {
    if (kind == kMinGru) forward_impl<kMinGru, scalar_t>(B, T, G, H, xp, h0, lengths, hs);
    else forward_impl<kMinLstm, scalar_t>(B, T, G, H, xp, h0, lengths, hs);
  });
  return hs;
}

// grad_hs: dL/dh_t from outside (B, T, H). Returns (d_xp (B, T, G*H), d_h0 (B, H)).
std::tuple<at::Tensor, at::Tensor> linear_backward(int64_t kind, const at::Tensor& grad_in,
                                                   const at::Tensor& xp_in, const at::Tensor& h0_in,
                                                   const at::Tensor& hs_in,
                                                   const std::optional<at::Tensor>& lengths_in) {
  at::Tensor xp = xp_in.contiguous(), h0 = h0_in.contiguous();
  at::Tensor grad = grad_in;
  if (!grad.is_contiguous()) {  // e.g. the expanded ones of out.sum(): a pooled copy
    grad = rnnkit_pool::pooled(grad_in.sizes(), grad_in.options());
    grad.copy_(grad_in);
  }
  at::Tensor hs = hs_in.contiguous();
  const int64_t B = xp.size(0), T = xp.size(1), G = gates_of(kind), H = xp.size(2) / G;
  at::Tensor lengths;
  if (lengths_in.has_value() && lengths_in->defined()) lengths = lengths_in->to(at::kLong).contiguous();
  at::Tensor d_xp = rnnkit_pool::pooled(xp.sizes(), xp.options());
  at::Tensor d_h0 = at::empty_like(h0);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_linear_backward", [&] {
    backward_impl<scalar_t>(kind, B, T, G, H, grad, xp, h0, hs, lengths, d_xp, d_h0);
  });
  return {d_xp, d_h0};
}

}  // namespace rnnkit_linear

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("linear_forward(int kind, Tensor xp, Tensor h0, Tensor? lengths) -> Tensor");
  m.def("linear_backward(int kind, Tensor grad_hs, Tensor xp, Tensor h0, Tensor hs, "
        "Tensor? lengths) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("linear_forward", &rnnkit_linear::linear_forward);
  m.impl("linear_backward", &rnnkit_linear::linear_backward);
}
