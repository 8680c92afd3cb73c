// Gated recurrent cells over a whole sequence, forward and backward, one fused pass per step.
//
// The input projections of every step (x W_ih^T + b_ih, for all t at once) are one matmul by
// the caller (functions.py's _Gated, into a buffer of the pool: pooled_empty below), and so
// are their gradients. Here: per step one matmul h W_hh^T (two for the reset-before GRU) and
// a few short vector loops per batch row for the gate arithmetic (each activation in a loop of
// its own). Backward is written out (no autograd over small ops): per step the gates'
// gradients, then dh_{t-1} = dgates W_hh; the weight gradient is a few large matmuls at the
// end, not T small ones. With several threads, blocks of rows run through all steps in
// parallel (over_row_blocks), each with its own single-threaded matmuls.
//
// Layouts are batch-first throughout, as the caller has them: xp (B, T, G*H), the states
// hs (B, T, H), the gate gradients dxp (B, T, G*H). A step's slice is a (B, X) matrix with
// row stride T*X, which BLAS takes as it is; so nothing is transposed or copied between
// layers or on the way back to autograd.
// Past a sequence's end (lengths) the state is held: h_t = h_{t-1}, c_t = c_{t-1}.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>

#include "cell_math.h"
#include "big_matmul.h"
#include "step_matmul.h"
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

// ------------------------------------------------------------------------------- forward
// pre[j] = x[j] + a[j] (+ bias[j]) over n values: the bias test outside the vector loop
template <typename T>
inline void sum_row(T* pre, const T* x, const T* a, const T* bias, int64_t n) {
  if (bias) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) pre[j] = x[j] + a[j] + bias[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) pre[j] = x[j] + a[j];
  }
}

// Elman, LSTM, reset-after GRU: acc = h_{t-1} W_hh^T (B, G*H) is done; the gates and h_t.
// Per row a few short loops, each activation in a loop of its own (one vector-exp call per
// loop: five calls in one loop spilled every register around each call), the
// pre-activations written into the gates' slots of `work` and activated in place.
template <typename T>
void forward_step(int64_t kind, int64_t B, int64_t H_, int64_t t, Rows<const T> x,
                  Rows<const T> a, const T* b_hh, Rows<const T> hp, Rows<const T> cp, Rows<T> h,
                  Rows<T> c, Rows<T> work, const int64_t* len) {
  at::parallel_for(0, B, grain(4 * H_), [&](int64_t b0, int64_t b1) {
  // local copies: GCC reloads what the lambda captures by reference after every store
  const int64_t H = H_;
  const T* const bias = b_hh;
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
      activate_row(kind, xb, ab, bias, hb, H);
    } else if (kind == kLstm) {
      const T* cpb = cp[b];
      T* cb = c[b];
      T* w = work[b];
      sum_row(w, xb, ab, bias, 4 * H);
      sigmoid_inplace(w, 2 * H);      // i, f
      tanh_inplace(w + 2 * H, H);     // g
      sigmoid_inplace(w + 3 * H, H);  // o
      const T *i = w, *f = w + H, *g = w + 2 * H, *o = w + 3 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T cn = f[j] * cpb[j] + i[j] * g[j];
        cb[j] = cn;
        hb[j] = o[j] * tanh_(cn);
      }
    } else {  // reset-after GRU; work: r z n hn, hn = W_hn h + b_hn
      T* w = work[b];
      sum_row(w, xb, ab, bias, 2 * H);  // r, z pre-activations
      if (bias) {
        const T* bn = bias + 2 * H;
        const T* an = ab + 2 * H;
        T* hn = w + 3 * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) hn[j] = an[j] + bn[j];
      } else {
        const T* an = ab + 2 * H;
        T* hn = w + 3 * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) hn[j] = an[j];
      }
      sigmoid_inplace(w, 2 * H);
      const T* r = w;
      const T* hn = w + 3 * H;
      const T* xn = xb + 2 * H;
      T* n = w + 2 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) n[j] = xn[j] + r[j] * hn[j];
      tanh_inplace(n, H);
      const T* z = w + H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) hb[j] = (T(1) - z[j]) * n[j] + z[j] * hpb[j];
    }
  }
  });
}

// reset-before GRU, first half: r, z from a = h W_hrz^T (B, 2H); writes r*h for the 2nd matmul
template <typename T>
void gru_before_gates(int64_t B, int64_t H_, int64_t t, Rows<const T> x, Rows<const T> a,
                      const T* b_hh, Rows<const T> hp, Rows<T> work, T* rh, const int64_t* len) {
  at::parallel_for(0, B, grain(4 * H_), [&](int64_t b0, int64_t b1) {
  const int64_t H = H_;  // local copies (see forward_step)
  const T* const bias = b_hh;
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
    sum_row(w, xb, ab, bias, 2 * H);
    sigmoid_inplace(w, 2 * H);  // r, z
    T* rhw = w + 3 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T v = w[j] * hpb[j];
      rhb[j] = v;
      rhw[j] = v;
    }
  }
  });
}

// reset-before GRU, second half: n from a2 = (r*h) W_hn^T (B, H), then h'
template <typename T>
void gru_before_state(int64_t B, int64_t H_, int64_t t, Rows<const T> x, const T* a2,
                      const T* b_hh, Rows<const T> hp, Rows<T> h, Rows<T> work,
                      const int64_t* len) {
  at::parallel_for(0, B, grain(4 * H_), [&](int64_t b0, int64_t b1) {
  const int64_t H = H_;  // local copies (see forward_step)
  const T* const bias = b_hh;
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
    T* n = w + 2 * H;
    const T* z = w + H;
    sum_row(n, xb + 2 * H, ab, bias ? bias + 2 * H : nullptr, H);
    tanh_inplace(n, H);
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) hb[j] = (T(1) - z[j]) * n[j] + z[j] * hpb[j];
  }
  });
}

// recurrent dropout's mask m (B, H), already scaled by 1 / (1 - p), or undefined: none
at::Tensor recurrent_mask(const std::optional<at::Tensor>& m, int64_t B, int64_t H) {
  if (!m.has_value() || !m->defined()) return at::Tensor();
  TORCH_CHECK(m->dim() == 2 && m->size(0) == B && m->size(1) == H,
              "rnnkit: the recurrent dropout mask must be (B, H)");
  return m->contiguous().detach();
}

std::optional<at::Tensor> defined_or_none(const std::optional<at::Tensor>& t, bool as_long) {
  if (!t.has_value() || !t->defined()) return std::nullopt;
  return as_long ? t->to(at::kLong).contiguous() : t->contiguous();
}

// the state before step t: h0 at t = 0, else step t-1 of the (B, T, H) buffer
inline at::Tensor before(const at::Tensor& first, const at::Tensor& all, int64_t t) {
  return t == 0 ? first : all.select(1, t - 1);
}

// Rows are independent through the whole sequence, so with several threads each takes a
// block of rows through ALL steps: its own matmuls (MKL runs single-threaded inside a
// parallel region) and gate loops, with no barrier per step. Splitting every step instead
// (MKL's threads on one small matmul, then the gate loop's) costs a few fork/joins per step,
// and a thread that is descheduled stalls the other at each one: under load that way ran
// 1.6-3.2x slower (BENCHMARKS.md). The price: each thread's matmuls have fewer rows (B 32 on 2
// threads: 16 rows, ~15 % fewer FLOP/s than 32 rows on one thread). One block (1 thread, or
// under 2 x kMinRows rows): the steps as before, each matmul and gate loop free to use all
// threads. RNNKIT_GATED_SPLIT=0 forces one block (to compare the two).
constexpr int64_t kMinRows = 8;
inline int64_t row_blocks(int64_t B) {
  const char* env = std::getenv("RNNKIT_GATED_SPLIT");
  if (env != nullptr && env[0] == '0') return 1;
  return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), B / kMinRows));
}
// the most rows a block has: the row count the per-step products are prepared for
inline int64_t largest_block(int64_t B) {
  const int64_t blocks = row_blocks(B);
  return (B + blocks - 1) / blocks;
}
// fn(r0, r1) for each block of rows, the blocks in parallel
template <typename F> void over_row_blocks(int64_t B, const F& fn) {
  const int64_t blocks = row_blocks(B);
  if (blocks == 1) return fn(int64_t(0), B);
  at::parallel_for(0, blocks, 1, [&](int64_t k0, int64_t k1) {
    at::NoGradGuard no_grad;  // a worker thread's own grad mode; nothing here is recorded
    for (int64_t k = k0; k < k1; ++k) fn(B * k / blocks, B * (k + 1) / blocks);
  });
}
// rows r0..r1 of a (B, ...) tensor; an undefined or empty one as it is
inline at::Tensor part(const at::Tensor& t, int64_t r0, int64_t r1) {
  return (t.defined() && t.dim() > 0 && t.numel() > 0) ? t.narrow(0, r0, r1 - r0) : t;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gated_forward(
    int64_t kind, const at::Tensor& xp_in, const at::Tensor& h0_in,
    const std::optional<at::Tensor>& c0_in, const at::Tensor& w_hh_in,
    const std::optional<at::Tensor>& b_hh_in, const std::optional<at::Tensor>& lengths_in,
    const std::optional<at::Tensor>& drop_in) {
  const int64_t G = gates_of(kind);
  TORCH_CHECK(xp_in.dim() == 3, "rnnkit gated_forward: xp must be (B, T, G*H)");
  // detached: worker threads call ATen ops on them with their own grad mode
  at::Tensor xp = xp_in.contiguous().detach(), w_hh = w_hh_in.contiguous().detach();
  at::Tensor h0 = h0_in.contiguous().detach();
  const int64_t B = xp.size(0), steps = xp.size(1), H = w_hh.size(1);
  TORCH_CHECK(xp.size(2) == G * H && w_hh.size(0) == G * H, "rnnkit gated_forward: sizes");
  auto opts = xp.options();
  at::Tensor hs = pooled({B, steps, H}, opts);
  at::Tensor cs = kind == kLstm ? pooled({B, steps, H}, opts) : at::empty({0}, opts);
  at::Tensor work = pooled({B, steps, work_of(kind) * H}, opts);
  at::Tensor c0 = kind == kLstm ? c0_in->contiguous().detach() : at::Tensor();
  auto b_hh = defined_or_none(b_hh_in, false);
  auto lengths = defined_or_none(lengths_in, true);
  const at::Tensor drop = recurrent_mask(drop_in, B, H);
  // the per-step products, on weights reordered once for all steps (step_matmul.h)
  const int64_t block = largest_block(B);
  const rnnkit_matmul::StepWeight w_first(kind == kGruBefore ? w_hh.narrow(0, 0, 2 * H) : w_hh,
                                          block, steps);
  const rnnkit_matmul::StepWeight w_n = kind == kGruBefore
      ? rnnkit_matmul::StepWeight(w_hh.narrow(0, 2 * H, H), block, steps)
      : rnnkit_matmul::StepWeight();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_gated_forward", [&] {
    using S = scalar_t;
    const S* bptr = b_hh ? b_hh->data_ptr<S>() : nullptr;
    over_row_blocks(B, [&](int64_t r0, int64_t r1) {
      const int64_t n = r1 - r0;
      const at::Tensor xp_ = part(xp, r0, r1), hs_ = part(hs, r0, r1), h0_ = part(h0, r0, r1);
      const at::Tensor cs_ = part(cs, r0, r1), c0_ = part(c0, r0, r1);
      const at::Tensor work_ = part(work, r0, r1);
      const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() + r0 : nullptr;
      at::Tensor acc = at::empty({n, kind == kGruBefore ? 2 * H : G * H}, opts);
      at::Tensor acc2 = kind == kGruBefore ? at::empty({n, H}, opts) : at::Tensor();
      at::Tensor rh = kind == kGruBefore ? at::empty({n, H}, opts) : at::Tensor();
      const at::Tensor drop_ = part(drop, r0, r1);
      at::Tensor hd_buf = drop.defined() ? at::empty({n, H}, opts) : at::Tensor();
      for (int64_t t = 0; t < steps; ++t) {
        at::Tensor h_prev = before(h0_, hs_, t);
        // what W_hh reads: h_{t-1}, or h_{t-1} * m with recurrent dropout (the gates' direct
        // uses of h_{t-1}, z * h in the GRU, read it unmasked, as the cells do)
        const at::Tensor hd = drop.defined() ? at::mul_out(hd_buf, h_prev, drop_) : h_prev;
        Rows<const S> x = step_rows<const S>(xp_, t), hp = rows<const S>(h_prev);
        Rows<S> h = step_rows<S>(hs_, t);
        Rows<S> wk = work.numel() ? step_rows<S>(work_, t) : Rows<S>{nullptr, 0};
        const at::Tensor rec = w_first.times(hd, acc);  // h_{t-1} W_hh^T
        if (kind == kGruBefore) {  // r * h_{t-1} as W_hn reads it
          gru_before_gates<S>(n, H, t, x, rows<const S>(rec), bptr, rows<const S>(hd), wk,
                              rh.data_ptr<S>(), lptr);
          const at::Tensor rec2 = w_n.times(rh, acc2);  // (r * h_{t-1}) W_hn^T
          gru_before_state<S>(n, H, t, x, rec2.data_ptr<S>(), bptr, hp, h, wk, lptr);
          continue;
        }
        Rows<const S> cp{nullptr, 0};
        Rows<S> c{nullptr, 0};
        if (kind == kLstm) {
          cp = rows<const S>(before(c0_, cs_, t));
          c = step_rows<S>(cs_, t);
        }
        forward_step<S>(kind, n, H, t, x, rows<const S>(rec), bptr, hp, cp, h, c, wk, lptr);
      }
    });
  });
  return {hs, cs, work};
}

// ------------------------------------------------------------------------------ backward
// One step's gate gradients. dh: total gradient reaching h_t (B, H); dc (LSTM): reaching c_t,
// updated in place to the gradient reaching c_{t-1}. Writes g (the gradient of the input-side
// pre-activations: step t of dxp), for the reset-after GRU rec (step t of the gradient of its
// recurrent side h W_hh^T + b_hh: the matrix the next matmul multiplies, and W_hh's and
// b_hh's gradients at the end; for the other cells it is g itself), and direct (the part of
// dh_{t-1} that does not go through W_hh).
template <typename T>
void backward_step(int64_t kind, int64_t B, int64_t H_, int64_t t, const T* dh, T* dc,
                   Rows<const T> h_t, Rows<const T> hp, Rows<const T> cp, Rows<const T> c_t,
                   Rows<const T> work, Rows<T> g, Rows<T> rec, T* direct,
                   const int64_t* len) {
  const int64_t G = gates_of(kind);
  at::parallel_for(0, B, grain(4 * H_), [&](int64_t b0, int64_t b1) {
  const int64_t H = H_;  // a local copy (see forward_step)
  std::vector<T> tc_row(kind == kLstm ? H : 0);  // LSTM: tanh(c_t), in a loop of its own
  for (int64_t b = b0; b < b1; ++b) {
    const T* d = dh + b * H;
    T* gb = g[b];
    T* dir = direct + b * H;
    if (!valid(len, b, t)) {  // state held: the gradient passes straight through
      for (int64_t j = 0; j < G * H; ++j) gb[j] = T(0);
      if (kind == kGruAfter) for (int64_t j = 0; j < 3 * H; ++j) rec[b][j] = T(0);
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
      T* tcr = tc_row.data();
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) tcr[j] = cb[j];
      tanh_inplace(tcr, H);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T i = w[j], f = w[H + j], gg = w[2 * H + j], o = w[3 * H + j];
        T tc = tcr[j];
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
      T* rb = rec[b];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T r = w[j], z = w[H + j], n = w[2 * H + j], hn = w[3 * H + j];
        T dn = d[j] * (T(1) - z) * (T(1) - n * n);
        T dz = d[j] * (hpb[j] - n) * z * (T(1) - z);
        T dr = dn * hn * r * (T(1) - r);
        gb[j] = dr; gb[H + j] = dz; gb[2 * H + j] = dn;
        rb[j] = dr; rb[H + j] = dz; rb[2 * H + j] = dn * r;
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
// the state before each step. a (B*T, X) (rows b*T + t; any row stride), h0 (B, H), hs
// (B, T, H). ONE matmul over all B*T rows, the states before each step copied into a pooled
// (B, T, H) buffer first: one matmul per sequence (K = T) ran at 55 GFLOP/s against 75 for
// the copy and one matmul at B 64, T 100, H 256 (1 thread).
void add_state_weight_grad(at::Tensor dw, const at::Tensor& a, const at::Tensor& h0,
                           const at::Tensor& hs, const at::Tensor& drop = at::Tensor()) {
  const int64_t B = hs.size(0), steps = hs.size(1), H = hs.size(2);
  at::Tensor h_prev = pooled({B, steps, H}, hs.options());
  h_prev.select(1, 0).copy_(h0);
  if (steps > 1) h_prev.narrow(1, 1, steps - 1).copy_(hs.narrow(1, 0, steps - 1));
  if (drop.defined()) h_prev.mul_(drop.unsqueeze(1));  // what W_hh read: h_{t-1} * m
  rnnkit_matmul::mm_into(dw, a.t(), h_prev.view({B * steps, H}), 1.0);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gated_backward(
    int64_t kind, const at::Tensor& grad_hs, const std::optional<at::Tensor>& grad_cs_in,
    const at::Tensor& h0_in, const std::optional<at::Tensor>& c0_in, const at::Tensor& hs,
    const at::Tensor& cs, const at::Tensor& work, const at::Tensor& w_hh_in,
    const std::optional<at::Tensor>& lengths_in, bool has_bias,
    const std::optional<at::Tensor>& drop_in) {
  const int64_t G = gates_of(kind);
  at::Tensor w_hh = w_hh_in.contiguous().detach(), h0 = h0_in.contiguous().detach();
  const int64_t B = hs.size(0), steps = hs.size(1), H = hs.size(2);
  auto opts = hs.options();
  auto lengths = defined_or_none(lengths_in, true);
  at::Tensor grad_cs;  // any strides: read a step at a time
  if (kind == kLstm && grad_cs_in.has_value() && grad_cs_in->defined())
    grad_cs = grad_cs_in->detach();
  at::Tensor c0 = kind == kLstm ? c0_in->contiguous().detach() : at::Tensor();
  at::Tensor dg = pooled({B, steps, G * H}, opts);  // = dxp
  at::Tensor rec = kind == kGruAfter ? pooled({B, steps, 3 * H}, opts) : at::Tensor();
  at::Tensor dh = at::empty({B, H}, opts);
  at::Tensor carry = at::zeros({B, H}, opts);  // gradient reaching h_t through step t+1
  at::Tensor dc = kind == kLstm ? at::zeros({B, H}, opts) : at::Tensor();
  at::Tensor direct = at::empty({B, H}, opts);
  at::Tensor drh = kind == kGruBefore ? at::empty({B, H}, opts) : at::Tensor();
  const at::Tensor drop = recurrent_mask(drop_in, B, H);
  // dg W as a product with the weight (W^T): reordered once for all steps (step_matmul.h)
  const int64_t block = largest_block(B);
  const rnnkit_matmul::StepWeight w_rz((kind == kGruBefore ? w_hh.narrow(0, 0, 2 * H) : w_hh).t(),
                                       block, steps);
  const rnnkit_matmul::StepWeight w_n = kind == kGruBefore
      ? rnnkit_matmul::StepWeight(w_hh.narrow(0, 2 * H, H).t(), block, steps)
      : rnnkit_matmul::StepWeight();
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnnkit_gated_backward", [&] {
    using S = scalar_t;
    const Rows<const S> none{nullptr, 0};
    over_row_blocks(B, [&](int64_t r0, int64_t r1) {  // each block of rows through all steps
      const int64_t n = r1 - r0;
      const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() + r0 : nullptr;
      const at::Tensor grad_hs_ = part(grad_hs, r0, r1), grad_cs_ = part(grad_cs, r0, r1);
      const at::Tensor h0_ = part(h0, r0, r1), c0_ = part(c0, r0, r1);
      const at::Tensor hs_ = part(hs, r0, r1), cs_ = part(cs, r0, r1), work_ = part(work, r0, r1);
      const at::Tensor dg_ = part(dg, r0, r1), rec_ = part(rec, r0, r1);
      at::Tensor dh_ = part(dh, r0, r1), carry_ = part(carry, r0, r1), dc_ = part(dc, r0, r1);
      at::Tensor direct_ = part(direct, r0, r1), drh_ = part(drh, r0, r1);
      // recurrent dropout: the gradient reaching h_{t-1} through what W_hh read (h * m) is
      // gathered in `through` and masked: carry = direct + through * m
      const at::Tensor drop_ = part(drop, r0, r1);
      at::Tensor hd_buf, through;
      if (drop.defined()) {
        hd_buf = at::empty({n, H}, opts);
        through = at::empty({n, H}, opts);
      }
      for (int64_t t = steps - 1; t >= 0; --t) {
        at::add_out(dh_, grad_hs_.select(1, t), carry_);
        if (grad_cs_.defined()) dc_.add_(grad_cs_.select(1, t));
        at::Tensor h_prev = before(h0_, hs_, t);
        Rows<const S> hp = rows<const S>(h_prev);
        Rows<const S> cp = kind == kLstm ? rows<const S>(before(c0_, cs_, t)) : none;
        Rows<const S> ct = kind == kLstm ? step_rows<const S>(cs_, t) : none;
        Rows<const S> wk = work.numel() ? step_rows<const S>(work_, t) : none;
        Rows<S> g = step_rows<S>(dg_, t);
        at::Tensor dg_t = dg_.select(1, t);
        backward_step<S>(kind, n, H, t, dh_.data_ptr<S>(),
                         kind == kLstm ? dc_.data_ptr<S>() : nullptr,
                         step_rows<const S>(hs_, t), hp, cp, ct, wk, g,
                         kind == kGruAfter ? step_rows<S>(rec_, t) : Rows<S>{nullptr, 0},
                         direct_.data_ptr<S>(), lptr);
        const at::Tensor rec_t = kind == kGruAfter ? rec_.select(1, t)
                               : kind == kGruBefore ? dg_t.narrow(1, 0, 2 * H) : dg_t;
        // what reaches h_{t-1} through W_hh's products gathers in `via`: direct itself, or
        // with recurrent dropout `through`, masked at the end
        at::Tensor& via = drop.defined() ? through : direct_;
        if (drop.defined()) through.zero_();
        if (kind == kGruBefore) {  // r * (what W_hn reads): r's gradient reads it too
          const at::Tensor hd = drop.defined() ? at::mul_out(hd_buf, h_prev, drop_) : h_prev;
          const at::Tensor drh = w_n.times(dg_t.narrow(1, 2 * H, H), drh_);
          gru_before_reset_grad<S>(n, H, t, drh.data_ptr<S>(), rows<const S>(hd), wk, g,
                                   via.data_ptr<S>(), lptr);
        }
        if (!drop.defined()) {
          w_rz.add_times(carry_, direct_, rec_t);
        } else {
          w_rz.add_times(through, through, rec_t);
          at::addcmul_out(carry_, direct_, through, drop_);
        }
      }
    });
  });
  // weight and bias gradients: a few large matmuls and sums over all (B, T)
  at::Tensor d_w_hh = at::zeros({G * H, H}, opts);
  at::Tensor none = at::empty({0}, opts);
  at::Tensor d_b_hh = none;
  if (kind == kGruAfter) {
    add_state_weight_grad(d_w_hh, rec.view({B * steps, 3 * H}), h0, hs, drop);
    if (has_bias) d_b_hh = rec.sum({0, 1});
  } else if (kind == kGruBefore) {
    at::Tensor dg2 = dg.view({B * steps, G * H});
    add_state_weight_grad(d_w_hh.narrow(0, 0, 2 * H), dg2.narrow(1, 0, 2 * H), h0, hs, drop);
    at::Tensor dn = dg2.narrow(1, 2 * H, H);
    at::Tensor rh = work.view({B * steps, 4 * H}).narrow(1, 3 * H, H);  // r * h_{t-1}
    rnnkit_matmul::mm_into(d_w_hh.narrow(0, 2 * H, H), dn.t(), rh, 1.0);
    if (has_bias) d_b_hh = dg.sum({0, 1});
  } else {
    add_state_weight_grad(d_w_hh, dg.view({B * steps, G * H}), h0, hs, drop);
    if (has_bias) d_b_hh = dg.sum({0, 1});
  }
  return {dg, carry, kind == kLstm ? dc : none, d_w_hh, d_b_hh};
}

// an uninitialised CPU tensor from the pool (functions.py: the input projections xp, x's
// gradient), so that the callers' big buffers are reused as the kernels' own are
at::Tensor pooled_empty(at::IntArrayRef sizes, at::ScalarType dtype) {
  return pooled(sizes, at::TensorOptions().dtype(dtype));
}

}  // namespace rnnkit_gated

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("pooled_empty(int[] sizes, ScalarType dtype) -> Tensor", &rnnkit_gated::pooled_empty);
  m.def("mm_into(Tensor(a!) out, Tensor a, Tensor b, float beta) -> ()",
        &rnnkit_matmul::mm_into_op);
  m.def("onednn_calls() -> int", &rnnkit_matmul::onednn_calls_op);
  m.def("packed_calls() -> int", &rnnkit_matmul::packed_calls_op);
  m.def("step_mm(Tensor a, Tensor b) -> Tensor");  // CPU only, below: Inductor traces its fake
  m.def("step_mm_reset(int steps=0) -> ()", &rnnkit_matmul::step_mm_reset_op);
  m.def("gated_forward(int kind, Tensor xp, Tensor h0, Tensor? c0, Tensor w_hh, Tensor? b_hh, "
        "Tensor? lengths, Tensor? drop=None) -> (Tensor, Tensor, Tensor)");
  m.def("gated_backward(int kind, Tensor grad_hs, Tensor? grad_cs, Tensor h0, Tensor? c0, "
        "Tensor hs, Tensor cs, Tensor work, Tensor w_hh, Tensor? lengths, bool has_bias, "
        "Tensor? drop=None) -> "
        "(Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("gated_forward", &rnnkit_gated::gated_forward);
  m.impl("gated_backward", &rnnkit_gated::gated_backward);
  m.impl("step_mm", &rnnkit_matmul::step_mm_op);
}
