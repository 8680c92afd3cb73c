// Gated recurrent cells over a whole sequence, forward and backward, one fused pass per step.
//
// The input projections of every step (x W_ih^T + b_ih, for all t at once) are computed by
// the caller as one matmul; autograd differentiates that part. Here: per step one matmul
// h W_hh^T (two for the reset-before GRU) and ONE loop over (B, H) that does all the gate
// arithmetic. Backward is written out (no autograd over small ops): per step the same fused
// loop, then dh_{t-1} = dgates W_hh; the weight gradient is a few large matmuls at the end,
// not T small ones.
//
// Layouts are batch-first throughout, as the caller has them: xp (B, T, G*H), the states
// hs (B, T, H), the gate gradients dxp (B, T, G*H). A step's slice is a (B, X) matrix with
// row stride T*X, which BLAS takes as it is; so nothing is transposed or copied between
// layers or on the way back to autograd.
// Past a sequence's end (lengths) the state is held: h_t = h_{t-1}, c_t = c_{t-1}.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <optional>
#include <tuple>
#include <type_traits>

#include "cell_math.h"
#include "pool.h"

namespace rnnkit_gated {

using namespace rnnkit_math;
using rnnkit_pool::pooled;

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


// One step's (B, X) slice of a buffer: row b starts at p + b * stride.
template <typename T> struct Rows {
  T* p;
  int64_t stride;
  T* operator[](int64_t b) const { return p + b * stride; }
};

// step t of a (B, T, X) tensor, or a (B, X) tensor itself
template <typename T> Rows<T> step_rows(const at::Tensor& t3, int64_t t) {
  return {t3.data_ptr<std::remove_const_t<T>>() + t * t3.stride(1), t3.stride(0)};
}
template <typename T> Rows<T> rows(const at::Tensor& t2) {
  return {t2.data_ptr<std::remove_const_t<T>>(), t2.stride(0)};
}

// rows per thread: enough elements that a thread's share outweighs waking it (~4k)
inline int64_t grain(int64_t per_row) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(1, per_row)); }

inline bool valid(const int64_t* len, int64_t b, int64_t t) { return len == nullptr || t < len[b]; }

template <typename T>
const T* ptr_or_null(const std::optional<at::Tensor>& t) {
  return (t.has_value() && t->defined()) ? t->data_ptr<T>() : nullptr;
}

// ------------------------------------------------------------------------------- forward
// Elman, LSTM, reset-after GRU: acc = h_{t-1} W_hh^T (B, G*H) is done; the gates and h_t.
template <typename T>
void forward_step(int64_t kind, int64_t B, int64_t H, int64_t t, Rows<const T> x, Rows<const T> a,
                  const T* b_hh, Rows<const T> hp, Rows<const T> cp, Rows<T> h, Rows<T> c,
                  Rows<T> work, const int64_t* len) {
  at::parallel_for(0, B, grain(4 * H), [&](int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const T* xb = x[b];
    const T* ab = a[b];
    const T* hpb = hp[b];
    T* hb = h[b];
    if (!valid(len, b, t)) {  // held; the saved gates are zeros (never uninitialised memory)
      for (int64_t j = 0; j < H; ++j) hb[j] = hpb[j];
      if (kind == kLstm) for (int64_t j = 0; j < H; ++j) c[b][j] = cp[b][j];
      if (kind >= kLstm) for (int64_t j = 0; j < 4 * H; ++j) work[b][j] = T(0);
      continue;
    }
    if (kind <= kSigmoid) {
      activate_row(kind, xb, ab, b_hh, hb, H);
    } else if (kind == kLstm) {
      const T* cpb = cp[b];
      T* cb = c[b];
      T* w = work[b];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T bi = b_hh ? b_hh[j] : T(0), bf = b_hh ? b_hh[H + j] : T(0);
        T bg = b_hh ? b_hh[2 * H + j] : T(0), bo = b_hh ? b_hh[3 * H + j] : T(0);
        T i = sigmoid(xb[j] + ab[j] + bi);
        T f = sigmoid(xb[H + j] + ab[H + j] + bf);
        T g = tanh_(xb[2 * H + j] + ab[2 * H + j] + bg);
        T o = sigmoid(xb[3 * H + j] + ab[3 * H + j] + bo);
        T cn = f * cpb[j] + i * g;
        cb[j] = cn;
        hb[j] = o * tanh_(cn);
        w[j] = i; w[H + j] = f; w[2 * H + j] = g; w[3 * H + j] = o;
      }
    } else {  // reset-after GRU
      T* w = work[b];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T br = b_hh ? b_hh[j] : T(0), bz = b_hh ? b_hh[H + j] : T(0);
        T bn = b_hh ? b_hh[2 * H + j] : T(0);
        T r = sigmoid(xb[j] + ab[j] + br);
        T z = sigmoid(xb[H + j] + ab[H + j] + bz);
        T hn = ab[2 * H + j] + bn;
        T n = tanh_(xb[2 * H + j] + r * hn);
        hb[j] = (T(1) - z) * n + z * hpb[j];
        w[j] = r; w[H + j] = z; w[2 * H + j] = n; w[3 * H + j] = hn;
      }
    }
  }
  });
}

// reset-before GRU, first half: r, z from a = h W_hrz^T (B, 2H); writes r*h for the 2nd matmul
template <typename T>
void gru_before_gates(int64_t B, int64_t H, int64_t t, Rows<const T> x, Rows<const T> a,
                      const T* b_hh, Rows<const T> hp, Rows<T> work, T* rh, const int64_t* len) {
  at::parallel_for(0, B, grain(4 * H), [&](int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const T* xb = x[b];
    const T* ab = a[b];
    const T* hpb = hp[b];
    T* w = work[b];
    T* rhb = rh + b * H;
    if (!valid(len, b, t)) {  // held: r*h = 0 here, so W_hn's gradient reads zeros
      for (int64_t j = 0; j < H; ++j) rhb[j] = T(0);
      for (int64_t j = 0; j < 4 * H; ++j) w[j] = T(0);
      continue;
    }
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      T br = b_hh ? b_hh[j] : T(0), bz = b_hh ? b_hh[H + j] : T(0);
      T r = sigmoid(xb[j] + ab[j] + br);
      T z = sigmoid(xb[H + j] + ab[H + j] + bz);
      w[j] = r; w[H + j] = z;
      rhb[j] = r * hpb[j];
      w[3 * H + j] = rhb[j];
    }
  }
  });
}

// reset-before GRU, second half: n from a2 = (r*h) W_hn^T (B, H), then h'
template <typename T>
void gru_before_state(int64_t B, int64_t H, int64_t t, Rows<const T> x, const T* a2,
                      const T* b_hh, Rows<const T> hp, Rows<T> h, Rows<T> work,
                      const int64_t* len) {
  at::parallel_for(0, B, grain(4 * H), [&](int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const T* xb = x[b];
    const T* ab = a2 + b * H;
    const T* hpb = hp[b];
    T* hb = h[b];
    T* w = work[b];
    if (!valid(len, b, t)) {
      for (int64_t j = 0; j < H; ++j) hb[j] = hpb[j];
      continue;
    }
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      T bn = b_hh ? b_hh[2 * H + j] : T(0);
      T n = tanh_(xb[2 * H + j] + ab[j] + bn);
      T z = w[H + j];
      hb[j] = (T(1) - z) * n + z * hpb[j];
      w[2 * H + j] = n;
    }
  }
  });
}

std::optional<at::Tensor> defined_or_none(const std::optional<at::Tensor>& t, bool as_long) {
  if (!t.has_value() || !t->defined()) return std::nullopt;
  return as_long ? t->to(at::kLong).contiguous() : t->contiguous();
}

// the state before step t: h0 at t = 0, else step t-1 of the (B, T, H) buffer
inline at::Tensor before(const at::Tensor& first, const at::Tensor& all, int64_t t) {
  return t == 0 ? first : all.select(1, t - 1);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gated_forward(
    int64_t kind, const at::Tensor& xp_in, const at::Tensor& h0_in,
    const std::optional<at::Tensor>& c0_in, const at::Tensor& w_hh_in,
    const std::optional<at::Tensor>& b_hh_in, const std::optional<at::Tensor>& lengths_in) {
  const int64_t G = gates_of(kind);
  TORCH_CHECK(xp_in.dim() == 3, "rnnkit gated_forward: xp must be (B, T, G*H)");
  at::Tensor xp = xp_in.contiguous(), w_hh = w_hh_in.contiguous(), h0 = h0_in.contiguous();
  const int64_t B = xp.size(0), steps = xp.size(1), H = w_hh.size(1);
  TORCH_CHECK(xp.size(2) == G * H && w_hh.size(0) == G * H, "rnnkit gated_forward: sizes");
  auto opts = xp.options();
  at::Tensor hs = pooled({B, steps, H}, opts);
  at::Tensor cs = kind == kLstm ? pooled({B, steps, H}, opts) : at::empty({0}, opts);
  at::Tensor work = pooled({B, steps, work_of(kind) * H}, opts);
  at::Tensor c0 = kind == kLstm ? c0_in->contiguous() : at::Tensor();
  auto b_hh = defined_or_none(b_hh_in, false);
  auto lengths = defined_or_none(lengths_in, true);
  at::Tensor acc = at::empty({B, kind == kGruBefore ? 2 * H : G * H}, opts);
  at::Tensor acc2 = kind == kGruBefore ? at::empty({B, H}, opts) : at::Tensor();
  at::Tensor rh = kind == kGruBefore ? at::empty({B, H}, opts) : at::Tensor();
  at::Tensor w_first = kind == kGruBefore ? w_hh.narrow(0, 0, 2 * H).t() : w_hh.t();
  at::Tensor w_n = kind == kGruBefore ? w_hh.narrow(0, 2 * H, H).t() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_gated_forward", [&] {
    using S = scalar_t;
    const S* bptr = ptr_or_null<S>(b_hh);
    const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    for (int64_t t = 0; t < steps; ++t) {
      at::Tensor h_prev = before(h0, hs, t);
      Rows<const S> x = step_rows<const S>(xp, t), hp = rows<const S>(h_prev);
      Rows<S> h = step_rows<S>(hs, t);
      Rows<S> wk = work.numel() ? step_rows<S>(work, t) : Rows<S>{nullptr, 0};
      at::mm_out(acc, h_prev, w_first);
      if (kind == kGruBefore) {
        gru_before_gates<S>(B, H, t, x, rows<const S>(acc), bptr, hp, wk, rh.data_ptr<S>(), lptr);
        at::mm_out(acc2, rh, w_n);
        gru_before_state<S>(B, H, t, x, acc2.data_ptr<S>(), bptr, hp, h, wk, lptr);
        continue;
      }
      Rows<const S> cp{nullptr, 0};
      Rows<S> c{nullptr, 0};
      if (kind == kLstm) {
        cp = rows<const S>(before(c0, cs, t));
        c = step_rows<S>(cs, t);
      }
      forward_step<S>(kind, B, H, t, x, rows<const S>(acc), bptr, hp, cp, h, c, wk, lptr);
    }
  });
  return {hs, cs, work};
}

// ------------------------------------------------------------------------------ backward
// One step's gate gradients. dh: total gradient reaching h_t (B, H); dc (LSTM): reaching c_t,
// updated in place to the gradient reaching c_{t-1}. Writes g (the gradient of the input-side
// pre-activations: step t of dxp), rec (of the recurrent side h W_hh^T + b_hh, the matrix the
// next matmul multiplies; for all but the reset-after GRU it is g itself), for the
// reset-after GRU dnr (its n block, kept for W_hn's gradient), and direct (the part of
// dh_{t-1} that does not go through W_hh).
template <typename T>
void backward_step(int64_t kind, int64_t B, int64_t H, int64_t t, const T* dh, T* dc,
                   Rows<const T> h_t, Rows<const T> hp, Rows<const T> cp, Rows<const T> c_t,
                   Rows<const T> work, Rows<T> g, T* rec, Rows<T> dnr, T* direct,
                   const int64_t* len) {
  const int64_t G = gates_of(kind);
  at::parallel_for(0, B, grain(4 * H), [&](int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const T* d = dh + b * H;
    T* gb = g[b];
    T* dir = direct + b * H;
    if (!valid(len, b, t)) {  // state held: the gradient passes straight through
      for (int64_t j = 0; j < G * H; ++j) gb[j] = T(0);
      if (kind == kGruAfter) {
        for (int64_t j = 0; j < 3 * H; ++j) rec[b * 3 * H + j] = T(0);
        for (int64_t j = 0; j < H; ++j) dnr[b][j] = T(0);
      }
      for (int64_t j = 0; j < H; ++j) dir[j] = d[j];
      continue;
    }
    if (kind <= kSigmoid) {
      const T* y = h_t[b];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        gb[j] = d[j] * activate_grad(kind, y[j]);
        dir[j] = T(0);
      }
    } else if (kind == kLstm) {
      const T* w = work[b];
      const T* cpb = cp[b];
      const T* cb = c_t[b];
      T* dcb = dc + b * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T i = w[j], f = w[H + j], gg = w[2 * H + j], o = w[3 * H + j];
        T tc = tanh_(cb[j]);
        T dcv = dcb[j] + d[j] * o * (T(1) - tc * tc);
        gb[j] = dcv * gg * i * (T(1) - i);
        gb[H + j] = dcv * cpb[j] * f * (T(1) - f);
        gb[2 * H + j] = dcv * i * (T(1) - gg * gg);
        gb[3 * H + j] = d[j] * tc * o * (T(1) - o);
        dcb[j] = dcv * f;
        dir[j] = T(0);
      }
    } else if (kind == kGruAfter) {
      const T* w = work[b];
      const T* hpb = hp[b];
      T* rb = rec + b * 3 * H;
      T* nb = dnr[b];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T r = w[j], z = w[H + j], n = w[2 * H + j], hn = w[3 * H + j];
        T dn = d[j] * (T(1) - z) * (T(1) - n * n);
        T dz = d[j] * (hpb[j] - n) * z * (T(1) - z);
        T dr = dn * hn * r * (T(1) - r);
        gb[j] = dr; gb[H + j] = dz; gb[2 * H + j] = dn;
        rb[j] = dr; rb[H + j] = dz; rb[2 * H + j] = dn * r;
        nb[j] = dn * r;
        dir[j] = d[j] * z;
      }
    } else {  // reset-before, first half: z and n; r needs d(r*h) = dn W_hn first
      const T* w = work[b];
      const T* hpb = hp[b];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T z = w[H + j], n = w[2 * H + j];
        gb[H + j] = d[j] * (hpb[j] - n) * z * (T(1) - z);
        gb[2 * H + j] = d[j] * (T(1) - z) * (T(1) - n * n);
        dir[j] = d[j] * z;
      }
    }
  }
  });
}

// reset-before GRU, second half: dr from drh = dn W_hn; direct += drh * r
template <typename T>
void gru_before_reset_grad(int64_t B, int64_t H, int64_t t, const T* drh, Rows<const T> hp,
                           Rows<const T> work, Rows<T> g, T* direct, const int64_t* len) {
  at::parallel_for(0, B, grain(4 * H), [&](int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    if (!valid(len, b, t)) continue;
    const T* w = work[b];
    const T* hpb = hp[b];
    const T* d = drh + b * H;
    T* gb = g[b];
    T* dir = direct + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      T r = w[j];
      gb[j] = d[j] * hpb[j] * r * (T(1) - r);
      dir[j] += d[j] * r;
    }
  }
  });
}

// dw += sum over b, t of a[b, t]^T h_{t-1}[b]: the weight gradient of a matrix that multiplied
// the state before each step. a (B, T, X) view, h0 (B, H), hs (B, T, H); a few big matmuls.
void add_state_weight_grad(at::Tensor dw, const at::Tensor& a, const at::Tensor& h0,
                           const at::Tensor& hs) {
  const int64_t B = a.size(0), steps = a.size(1);
  dw.addmm_(a.select(1, 0).t(), h0);  // step 0 read h0
  if (steps > 1)
    for (int64_t b = 0; b < B; ++b)
      dw.addmm_(a[b].narrow(0, 1, steps - 1).t(), hs[b].narrow(0, 0, steps - 1));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gated_backward(
    int64_t kind, const at::Tensor& grad_hs, const std::optional<at::Tensor>& grad_cs_in,
    const at::Tensor& h0_in, const std::optional<at::Tensor>& c0_in, const at::Tensor& hs,
    const at::Tensor& cs, const at::Tensor& work, const at::Tensor& w_hh_in,
    const std::optional<at::Tensor>& lengths_in, bool has_bias) {
  const int64_t G = gates_of(kind);
  at::Tensor w_hh = w_hh_in.contiguous(), h0 = h0_in.contiguous();
  const int64_t B = hs.size(0), steps = hs.size(1), H = hs.size(2);
  auto opts = hs.options();
  auto lengths = defined_or_none(lengths_in, true);
  at::Tensor grad_cs;  // any strides: read a step at a time
  if (kind == kLstm && grad_cs_in.has_value() && grad_cs_in->defined()) grad_cs = *grad_cs_in;
  at::Tensor c0 = kind == kLstm ? c0_in->contiguous() : at::Tensor();
  at::Tensor dg = pooled({B, steps, G * H}, opts);  // = dxp
  at::Tensor rec = kind == kGruAfter ? at::empty({B, 3 * H}, opts) : at::Tensor();
  at::Tensor dnr = kind == kGruAfter ? pooled({B, steps, H}, opts) : at::Tensor();
  at::Tensor dh = at::empty({B, H}, opts);
  at::Tensor carry = at::zeros({B, H}, opts);  // gradient reaching h_t through step t+1
  at::Tensor dc = kind == kLstm ? at::zeros({B, H}, opts) : at::Tensor();
  at::Tensor direct = at::empty({B, H}, opts);
  at::Tensor drh = kind == kGruBefore ? at::empty({B, H}, opts) : at::Tensor();
  at::Tensor w_rz = kind == kGruBefore ? w_hh.narrow(0, 0, 2 * H) : w_hh;
  at::Tensor w_n = kind == kGruBefore ? w_hh.narrow(0, 2 * H, H) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnnkit_gated_backward", [&] {
    using S = scalar_t;
    const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    const Rows<const S> none{nullptr, 0};
    for (int64_t t = steps - 1; t >= 0; --t) {
      at::add_out(dh, grad_hs.select(1, t), carry);
      if (grad_cs.defined()) dc.add_(grad_cs.select(1, t));
      at::Tensor h_prev = before(h0, hs, t);
      Rows<const S> hp = rows<const S>(h_prev);
      Rows<const S> cp = kind == kLstm ? rows<const S>(before(c0, cs, t)) : none;
      Rows<const S> ct = kind == kLstm ? step_rows<const S>(cs, t) : none;
      Rows<const S> wk = work.numel() ? step_rows<const S>(work, t) : none;
      Rows<S> g = step_rows<S>(dg, t);
      at::Tensor dg_t = dg.select(1, t);
      backward_step<S>(kind, B, H, t, dh.data_ptr<S>(), kind == kLstm ? dc.data_ptr<S>() : nullptr,
                       step_rows<const S>(hs, t), hp, cp, ct, wk, g,
                       kind == kGruAfter ? rec.data_ptr<S>() : nullptr,
                       kind == kGruAfter ? step_rows<S>(dnr, t) : Rows<S>{nullptr, 0},
                       direct.data_ptr<S>(), lptr);
      if (kind == kGruBefore) {
        at::mm_out(drh, dg_t.narrow(1, 2 * H, H), w_n);
        gru_before_reset_grad<S>(B, H, t, drh.data_ptr<S>(), hp, wk, g, direct.data_ptr<S>(),
                                 lptr);
        at::addmm_out(carry, direct, dg_t.narrow(1, 0, 2 * H), w_rz);
      } else {
        at::addmm_out(carry, direct, kind == kGruAfter ? rec : dg_t, w_hh);
      }
    }
  });
  // weight and bias gradients: a few large matmuls and sums over all (B, T)
  at::Tensor d_w_hh = at::zeros({G * H, H}, opts);
  at::Tensor none = at::empty({0}, opts);
  at::Tensor d_b_hh = none;
  if (kind == kGruAfter) {
    add_state_weight_grad(d_w_hh.narrow(0, 0, 2 * H), dg.narrow(2, 0, 2 * H), h0, hs);
    add_state_weight_grad(d_w_hh.narrow(0, 2 * H, H), dnr, h0, hs);
    if (has_bias) d_b_hh = at::cat({dg.narrow(2, 0, 2 * H).sum({0, 1}), dnr.sum({0, 1})});
  } else if (kind == kGruBefore) {
    add_state_weight_grad(d_w_hh.narrow(0, 0, 2 * H), dg.narrow(2, 0, 2 * H), h0, hs);
    at::Tensor dn = dg.view({B * steps, G * H}).narrow(1, 2 * H, H);
    at::Tensor rh = work.view({B * steps, 4 * H}).narrow(1, 3 * H, H);  // r * h_{t-1}
    d_w_hh.narrow(0, 2 * H, H).addmm_(dn.t(), rh);
    if (has_bias) d_b_hh = dg.sum({0, 1});
  } else {
    add_state_weight_grad(d_w_hh, dg, h0, hs);
    if (has_bias) d_b_hh = dg.sum({0, 1});
  }
  return {dg, carry, kind == kLstm ? dc : none, d_w_hh, d_b_hh};
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
