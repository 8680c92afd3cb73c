// Gated recurrent cells over a whole sequence, forward and backward, one fused pass per step.
//
// The input projections of every step (x W_ih^T + b_ih, for all t at once) are computed by
// the caller as one matmul; autograd differentiates that part. Here: per step one matmul
// h W_hh^T (two for the reset-before GRU) and ONE loop over (B, H) that does all the gate
// arithmetic. Backward is written out (no autograd over small ops): per step the same fused
// loop, then dh_{t-1} = dgates W_hh; the weight gradient is ONE matmul over all (T*B) rows
// at the end, not T small ones.
//
// Layouts: xp (B, T, G*H) batch-first as the caller has it; states are time-major here,
// hs (T, B, H), so that each step's state is a contiguous (B, H) matrix for the matmul.
// Past a sequence's end (lengths) the state is held: h_t = h_{t-1}, c_t = c_{t-1}.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>

#include "cell_math.h"
#include <optional>
#include <tuple>

namespace rnnkit_gated {

using namespace rnnkit_math;

enum Kind : int64_t { kTanh = 0, kRelu = 1, kSigmoid = 2, kLstm = 3, kGruAfter = 4, kGruBefore = 5 };

int64_t gates_of(int64_t kind) {
  switch (kind) {
    case kTanh: case kRelu: case kSigmoid: return 1;
    case kLstm: return 4;
    case kGruAfter: case kGruBefore: return 3;
  }
  TORCH_CHECK(false, "rnnkit gated kernel: unknown cell kind ", kind);
}

// extra activations kept per step for backward, in units of H
int64_t work_of(int64_t kind) {
  switch (kind) {
    case kLstm: return 4;       // i, f, g, o (activated)
    case kGruAfter: return 4;   // r, z, n, hn = W_hn h + b_hn
    case kGruBefore: return 4;  // r, z, n, r*h
    default: return 0;          // Elman: the derivative reads h_t itself
  }
}


template <typename T> inline T activate(int64_t kind, T x) {
  if (kind == kTanh) return tanh_(x);
  if (kind == kRelu) return x > T(0) ? x : T(0);
  return sigmoid(x);
}
// derivative of the activation, from its output y
template <typename T> inline T activate_grad(int64_t kind, T y) {
  if (kind == kTanh) return T(1) - y * y;
  if (kind == kRelu) return y > T(0) ? T(1) : T(0);
  return y * (T(1) - y);
}

struct Sizes {
  int64_t B, T, H, G;
};

inline bool valid(const int64_t* len, int64_t b, int64_t t) { return len == nullptr || t < len[b]; }

// ------------------------------------------------------------------------------- forward
template <typename T>
void forward_step(int64_t kind, const Sizes& s, int64_t t, const T* xp, int64_t xp_sb,
                  const T* acc, const T* b_hh, const T* h_prev, const T* c_prev, T* h, T* c,
                  T* work, const int64_t* len, at::Tensor& rh_for_mm) {
  const int64_t H = s.H, G = s.G;
  for (int64_t b = 0; b < s.B; ++b) {
    const T* x = xp + b * xp_sb + t * G * H;
    const T* a = acc + b * G * H;
    const T* hp = h_prev + b * H;
    T* hb = h + b * H;
    if (!valid(len, b, t)) {
      for (int64_t j = 0; j < H; ++j) hb[j] = hp[j];
      if (c) for (int64_t j = 0; j < H; ++j) c[b * H + j] = c_prev[b * H + j];
      continue;
    }
    if (kind <= kSigmoid) {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) hb[j] = activate(kind, x[j] + a[j] + (b_hh ? b_hh[j] : T(0)));
    } else if (kind == kLstm) {
      const T* cp = c_prev + b * H;
      T* cb = c + b * H;
      T* w = work + b * 4 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T bi = b_hh ? b_hh[j] : T(0), bf = b_hh ? b_hh[H + j] : T(0);
        T bg = b_hh ? b_hh[2 * H + j] : T(0), bo = b_hh ? b_hh[3 * H + j] : T(0);
        T i = sigmoid(x[j] + a[j] + bi);
        T f = sigmoid(x[H + j] + a[H + j] + bf);
        T g = tanh_(x[2 * H + j] + a[2 * H + j] + bg);
        T o = sigmoid(x[3 * H + j] + a[3 * H + j] + bo);
        T cn = f * cp[j] + i * g;
        cb[j] = cn;
        hb[j] = o * tanh_(cn);
        w[j] = i; w[H + j] = f; w[2 * H + j] = g; w[3 * H + j] = o;
      }
    } else if (kind == kGruAfter) {
      T* w = work + b * 4 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T br = b_hh ? b_hh[j] : T(0), bz = b_hh ? b_hh[H + j] : T(0);
        T bn = b_hh ? b_hh[2 * H + j] : T(0);
        T r = sigmoid(x[j] + a[j] + br);
        T z = sigmoid(x[H + j] + a[H + j] + bz);
        T hn = a[2 * H + j] + bn;
        T n = tanh_(x[2 * H + j] + r * hn);
        hb[j] = (T(1) - z) * n + z * hp[j];
        w[j] = r; w[H + j] = z; w[2 * H + j] = n; w[3 * H + j] = hn;
      }
    }
  }
  (void)rh_for_mm;
}

// reset-before GRU, first half: r, z from acc = h W_hrz^T (B, 2H); writes r*h for the 2nd matmul
template <typename T>
void gru_before_gates(const Sizes& s, int64_t t, const T* xp, int64_t xp_sb, const T* acc,
                      const T* b_hh, const T* h_prev, T* work, T* rh, const int64_t* len) {
  const int64_t H = s.H;
  for (int64_t b = 0; b < s.B; ++b) {
    const T* x = xp + b * xp_sb + t * 3 * H;
    const T* a = acc + b * 2 * H;
    const T* hp = h_prev + b * H;
    T* w = work + b * 4 * H;
    T* rhb = rh + b * H;
    if (!valid(len, b, t)) {
      for (int64_t j = 0; j < H; ++j) rhb[j] = T(0);
      continue;
    }
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      T br = b_hh ? b_hh[j] : T(0), bz = b_hh ? b_hh[H + j] : T(0);
      T r = sigmoid(x[j] + a[j] + br);
      T z = sigmoid(x[H + j] + a[H + j] + bz);
      w[j] = r; w[H + j] = z;
      rhb[j] = r * hp[j];
      w[3 * H + j] = rhb[j];
    }
  }
}

// reset-before GRU, second half: n from acc2 = (r*h) W_hn^T (B, H), then h'
template <typename T>
void gru_before_state(const Sizes& s, int64_t t, const T* xp, int64_t xp_sb, const T* acc2,
                      const T* b_hh, const T* h_prev, T* h, T* work, const int64_t* len) {
  const int64_t H = s.H;
  for (int64_t b = 0; b < s.B; ++b) {
    const T* x = xp + b * xp_sb + t * 3 * H;
    const T* a = acc2 + b * H;
    const T* hp = h_prev + b * H;
    T* hb = h + b * H;
    T* w = work + b * 4 * H;
    if (!valid(len, b, t)) {
      for (int64_t j = 0; j < H; ++j) hb[j] = hp[j];
      continue;
    }
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      T bn = b_hh ? b_hh[2 * H + j] : T(0);
      T n = tanh_(x[2 * H + j] + a[j] + bn);
      T z = w[H + j];
      hb[j] = (T(1) - z) * n + z * hp[j];
      w[2 * H + j] = n;
    }
  }
}

template <typename T>
const T* ptr_or_null(const std::optional<at::Tensor>& t) {
  return (t.has_value() && t->defined()) ? t->data_ptr<T>() : nullptr;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gated_forward(
    int64_t kind, const at::Tensor& xp_in, const at::Tensor& h0_in,
    const std::optional<at::Tensor>& c0_in, const at::Tensor& w_hh_in,
    const std::optional<at::Tensor>& b_hh_in, const std::optional<at::Tensor>& lengths_in) {
  const int64_t G = gates_of(kind);
  TORCH_CHECK(xp_in.dim() == 3, "rnnkit gated_forward: xp must be (B, T, G*H)");
  at::Tensor xp = xp_in.stride(2) == 1 ? xp_in : xp_in.contiguous();
  at::Tensor w_hh = w_hh_in.contiguous();
  const int64_t B = xp.size(0), T = xp.size(1), H = w_hh.size(1);
  TORCH_CHECK(xp.size(2) == G * H && w_hh.size(0) == G * H, "rnnkit gated_forward: sizes");
  at::Tensor h0 = h0_in.contiguous();
  auto opts = xp.options();
  at::Tensor hs = at::empty({T, B, H}, opts);
  at::Tensor cs = kind == kLstm ? at::empty({T, B, H}, opts) : at::empty({0}, opts);
  at::Tensor work = at::empty({T, B, work_of(kind) * H}, opts);
  at::Tensor c0 = kind == kLstm ? c0_in->contiguous() : at::Tensor();
  std::optional<at::Tensor> b_hh;
  if (b_hh_in.has_value() && b_hh_in->defined()) b_hh = b_hh_in->contiguous();
  std::optional<at::Tensor> lengths;
  if (lengths_in.has_value() && lengths_in->defined())
    lengths = lengths_in->to(at::kLong).contiguous();
  const Sizes s{B, T, H, G};
  const int64_t width = kind == kGruBefore ? 2 * H : G * H;
  at::Tensor acc = at::empty({B, width}, opts);
  at::Tensor acc2 = kind == kGruBefore ? at::empty({B, H}, opts) : at::Tensor();
  at::Tensor rh = kind == kGruBefore ? at::empty({B, H}, opts) : at::Tensor();
  at::Tensor w_first = kind == kGruBefore ? w_hh.narrow(0, 0, 2 * H).t() : w_hh.t();
  at::Tensor w_n = kind == kGruBefore ? w_hh.narrow(0, 2 * H, H).t() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_gated_forward", [&] {
    const scalar_t* xptr = xp.data_ptr<scalar_t>();
    const scalar_t* bptr = ptr_or_null<scalar_t>(b_hh);
    const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    for (int64_t t = 0; t < T; ++t) {
      at::Tensor h_prev = t == 0 ? h0 : hs[t - 1];
      at::Tensor h_t = hs[t];
      scalar_t* wk = work.numel() ? work[t].data_ptr<scalar_t>() : nullptr;
      at::mm_out(acc, h_prev, w_first);
      if (kind == kGruBefore) {
        gru_before_gates<scalar_t>(s, t, xptr, T * G * H, acc.data_ptr<scalar_t>(), bptr,
                                   h_prev.data_ptr<scalar_t>(), wk, rh.data_ptr<scalar_t>(), lptr);
        at::mm_out(acc2, rh, w_n);
        gru_before_state<scalar_t>(s, t, xptr, T * G * H, acc2.data_ptr<scalar_t>(), bptr,
                                   h_prev.data_ptr<scalar_t>(), h_t.data_ptr<scalar_t>(), wk, lptr);
        continue;
      }
      const scalar_t* c_prev = nullptr;
      scalar_t* c_t = nullptr;
      if (kind == kLstm) {
        c_prev = (t == 0 ? c0 : cs[t - 1]).data_ptr<scalar_t>();
        c_t = cs[t].data_ptr<scalar_t>();
      }
      forward_step<scalar_t>(kind, s, t, xptr, T * G * H, acc.data_ptr<scalar_t>(), bptr,
                             h_prev.data_ptr<scalar_t>(), c_prev, h_t.data_ptr<scalar_t>(), c_t,
                             wk, lptr, rh);
    }
  });
  return {hs, cs, work};
}

// ------------------------------------------------------------------------------ backward
// One step's gate gradients. dh: total gradient reaching h_t; dc (LSTM): reaching c_t, updated
// in place to the gradient reaching c_{t-1}. Writes dg (gradient of the input-side
// pre-activations, row of dxp), dgh (of the recurrent-side pre-activations h W_hh^T + b_hh)
// and direct (the part of dh_{t-1} not through W_hh).
template <typename T>
void backward_step(int64_t kind, const Sizes& s, int64_t t, const T* dh, T* dc, const T* h_t,
                   const T* h_prev, const T* c_prev, const T* c_t, const T* work, T* dg, T* dgh,
                   T* direct, const int64_t* len) {
  const int64_t H = s.H, G = s.G;
  for (int64_t b = 0; b < s.B; ++b) {
    const T* d = dh + b * H;
    T* g = dg + b * G * H;
    T* gh = dgh + b * G * H;
    T* dir = direct + b * H;
    if (!valid(len, b, t)) {  // state held: the gradient passes straight through
      for (int64_t j = 0; j < G * H; ++j) g[j] = T(0);
      if (gh != g) for (int64_t j = 0; j < G * H; ++j) gh[j] = T(0);
      for (int64_t j = 0; j < H; ++j) dir[j] = d[j];
      continue;
    }
    if (kind <= kSigmoid) {
      const T* y = h_t + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        g[j] = d[j] * activate_grad(kind, y[j]);
        dir[j] = T(0);
      }
    } else if (kind == kLstm) {
      const T* w = work + b * 4 * H;
      const T* cp = c_prev + b * H;
      const T* cb = c_t + b * H;
      T* dcb = dc + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T i = w[j], f = w[H + j], gg = w[2 * H + j], o = w[3 * H + j];
        T tc = tanh_(cb[j]);
        T dcv = dcb[j] + d[j] * o * (T(1) - tc * tc);
        g[j] = dcv * gg * i * (T(1) - i);
        g[H + j] = dcv * cp[j] * f * (T(1) - f);
        g[2 * H + j] = dcv * i * (T(1) - gg * gg);
        g[3 * H + j] = d[j] * tc * o * (T(1) - o);
        dcb[j] = dcv * f;
        dir[j] = T(0);
      }
    } else if (kind == kGruAfter) {
      const T* w = work + b * 4 * H;
      const T* hp = h_prev + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T r = w[j], z = w[H + j], n = w[2 * H + j], hn = w[3 * H + j];
        T dn = d[j] * (T(1) - z) * (T(1) - n * n);
        T dz = d[j] * (hp[j] - n) * z * (T(1) - z);
        T dr = dn * hn * r * (T(1) - r);
        g[j] = dr; g[H + j] = dz; g[2 * H + j] = dn;
        gh[j] = dr; gh[H + j] = dz; gh[2 * H + j] = dn * r;
        dir[j] = d[j] * z;
      }
    } else {  // reset-before, first half: z and n; r needs d(r*h) = dn W_hn first
      const T* w = work + b * 4 * H;
      const T* hp = h_prev + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T z = w[H + j], n = w[2 * H + j];
        g[H + j] = d[j] * (hp[j] - n) * z * (T(1) - z);
        g[2 * H + j] = d[j] * (T(1) - z) * (T(1) - n * n);
        dir[j] = d[j] * z;
      }
    }
  }
}

// reset-before GRU, second half: dr from drh = dn W_hn; direct += drh * r
template <typename T>
void gru_before_reset_grad(const Sizes& s, int64_t t, const T* drh, const T* h_prev,
                           const T* work, T* dg, T* direct, const int64_t* len) {
  const int64_t H = s.H;
  for (int64_t b = 0; b < s.B; ++b) {
    if (!valid(len, b, t)) continue;
    const T* w = work + b * 4 * H;
    const T* hp = h_prev + b * H;
    const T* d = drh + b * H;
    T* g = dg + b * 3 * H;
    T* dir = direct + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      T r = w[j];
      g[j] = d[j] * hp[j] * r * (T(1) - r);
      dir[j] += d[j] * r;
    }
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gated_backward(
    int64_t kind, const at::Tensor& grad_hs_in, const std::optional<at::Tensor>& grad_cs_in,
    const at::Tensor& h0_in, const std::optional<at::Tensor>& c0_in, const at::Tensor& hs,
    const at::Tensor& cs, const at::Tensor& work, const at::Tensor& w_hh_in,
    const std::optional<at::Tensor>& lengths_in, bool has_bias) {
  const int64_t G = gates_of(kind);
  at::Tensor grad_hs = grad_hs_in.contiguous();
  at::Tensor w_hh = w_hh_in.contiguous();
  const int64_t T = hs.size(0), B = hs.size(1), H = hs.size(2);
  at::Tensor h0 = h0_in.contiguous();
  auto opts = hs.options();
  const Sizes s{B, T, H, G};
  std::optional<at::Tensor> lengths;
  if (lengths_in.has_value() && lengths_in->defined())
    lengths = lengths_in->to(at::kLong).contiguous();
  at::Tensor grad_cs;
  if (kind == kLstm && grad_cs_in.has_value() && grad_cs_in->defined())
    grad_cs = grad_cs_in->contiguous();
  at::Tensor c0 = kind == kLstm ? c0_in->contiguous() : at::Tensor();
  at::Tensor dg = at::empty({T, B, G * H}, opts);
  at::Tensor dgh = kind == kGruAfter ? at::empty({T, B, G * H}, opts) : dg;
  at::Tensor dh = at::empty({B, H}, opts);
  at::Tensor carry = at::zeros({B, H}, opts);  // gradient reaching h_t through step t+1
  at::Tensor dc = kind == kLstm ? at::zeros({B, H}, opts) : at::Tensor();
  at::Tensor direct = at::empty({B, H}, opts);
  at::Tensor drh = kind == kGruBefore ? at::empty({B, H}, opts) : at::Tensor();
  at::Tensor w_rz = kind == kGruBefore ? w_hh.narrow(0, 0, 2 * H) : w_hh;
  at::Tensor w_n = kind == kGruBefore ? w_hh.narrow(0, 2 * H, H) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnnkit_gated_backward", [&] {
    const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    for (int64_t t = T - 1; t >= 0; --t) {
      at::add_out(dh, grad_hs[t], carry);
      if (kind == kLstm && grad_cs.defined()) dc.add_(grad_cs[t]);
      at::Tensor h_prev = t == 0 ? h0 : hs[t - 1];
      const scalar_t* c_prev = nullptr;
      if (kind == kLstm) c_prev = (t == 0 ? c0 : cs[t - 1]).data_ptr<scalar_t>();
      const scalar_t* wk = work.numel() ? work[t].data_ptr<scalar_t>() : nullptr;
      at::Tensor dg_t = dg[t], dgh_t = dgh[t];
      backward_step<scalar_t>(kind, s, t, dh.data_ptr<scalar_t>(),
                              kind == kLstm ? dc.data_ptr<scalar_t>() : nullptr,
                              hs[t].data_ptr<scalar_t>(), h_prev.data_ptr<scalar_t>(), c_prev,
                              kind == kLstm ? cs[t].data_ptr<scalar_t>() : nullptr, wk,
                              dg_t.data_ptr<scalar_t>(), dgh_t.data_ptr<scalar_t>(),
                              direct.data_ptr<scalar_t>(), lptr);
      if (kind == kGruBefore) {
        at::mm_out(drh, dg_t.narrow(1, 2 * H, H).contiguous(), w_n);
        gru_before_reset_grad<scalar_t>(s, t, drh.data_ptr<scalar_t>(),
                                        h_prev.data_ptr<scalar_t>(), wk,
                                        dg_t.data_ptr<scalar_t>(), direct.data_ptr<scalar_t>(),
                                        lptr);
        at::addmm_out(carry, direct, dg_t.narrow(1, 0, 2 * H).contiguous(), w_rz);
      } else {
        at::addmm_out(carry, direct, dgh_t, w_hh);
      }
    }
  });
  // weight gradients: one matmul over all T*B rows
  at::Tensor h_prev_all = at::cat({h0.unsqueeze(0), hs.narrow(0, 0, T - 1)}, 0).view({T * B, H});
  at::Tensor d_w_hh;
  if (kind == kGruBefore) {
    at::Tensor g2 = dg.view({T * B, G * H});
    at::Tensor rh_all = work.narrow(2, 3 * H, H).reshape({T * B, H});
    d_w_hh = at::cat({at::mm(g2.narrow(1, 0, 2 * H).t(), h_prev_all),
                      at::mm(g2.narrow(1, 2 * H, H).t(), rh_all)}, 0);
  } else {
    d_w_hh = at::mm(dgh.view({T * B, G * H}).t(), h_prev_all);
  }
  at::Tensor d_b_hh = has_bias ? dgh.view({T * B, G * H}).sum(0) : at::Tensor();
  at::Tensor d_xp = dg.transpose(0, 1);  // (B, T, G*H)
  at::Tensor none = at::empty({0}, opts);
  return {d_xp, carry, kind == kLstm ? dc : none, d_w_hh, has_bias ? d_b_hh : none};
}

}  // namespace rnnkit_gated

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("gated_forward(int kind, Tensor xp, Tensor h0, Tensor? c0, Tensor w_hh, Tensor? b_hh, "
        "Tensor? lengths) -> (Tensor, Tensor, Tensor)");
  m.def("gated_backward(int kind, Tensor grad_hs, Tensor? grad_cs, Tensor h0, Tensor? c0, "
        "Tensor hs, Tensor cs, Tensor work, Tensor w_hh, Tensor? lengths, bool has_bias) -> "
        "(Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("gated_forward", &rnnkit_gated::gated_forward);
  m.impl("gated_backward", &rnnkit_gated::gated_backward);
}
