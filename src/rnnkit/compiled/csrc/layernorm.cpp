// LayerNorm-LSTM and LayerNorm-GRU (Ba et al. 2016, rnnkit/ln_cells.py) over a whole sequence,
// forward and backward, one fused pass per step.
//
// As in gated.cpp (whose helpers this file uses: kernels.cpp compiles it after gated.cpp), the
// input side xp = LN(W_ih x; gain_ih) + bias_ih of every step is computed by the caller at
// once and differentiated by autograd. Here per step: acc = h_{t-1} W_hh^T (one matmul), then
// ONE loop per batch row that normalises acc over its G*H units, applies gain_hh, adds xp and
// does the gate arithmetic (and, for the LSTM, the norm of c_t before its tanh).
// Backward is written out: per step one fused loop (the gates', then the norms' gradients;
// the gains' gradients summed per row as it goes), then dh_{t-1} = d(acc) W_hh; W_hh's
// gradient is one large matmul at the end.
//
// Per (b, t) the forward keeps, in `work`:
//   LSTM: i f g o (4H) | â = (acc - mean) * rstd (4H) | n_c = LN(c) before its gain (H) |
//         tanh(LN(c; gain_c, bias_c)) (H) | rstd of acc | rstd of c           = 10H + 2
//   GRU:  r z n (3H) | â (3H) | rstd of acc                                   = 6H + 1
// Past a sequence's end (lengths) the state is held and the saved values are zeros.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "cell_math.h"

namespace rnnkit_layernorm {

using namespace rnnkit_math;
using rnnkit_gated::Rows;
using rnnkit_gated::before;
using rnnkit_gated::defined_or_none;
using rnnkit_gated::grain;
using rnnkit_gated::rows;
using rnnkit_gated::step_rows;
using rnnkit_gated::valid;

enum Kind : int64_t { kLnLstm = 0, kLnGru = 1 };

int64_t gates_of(int64_t kind) {
  TORCH_CHECK(kind == kLnLstm || kind == kLnGru, "rnnkit layernorm kernel: unknown kind ", kind);
  return kind == kLnLstm ? 4 : 3;
}
int64_t work_of(int64_t kind, int64_t H) { return kind == kLnLstm ? 10 * H + 2 : 6 * H + 1; }

// the mean of a (n,) and rstd = 1 / sqrt(its biased variance + eps), in two passes (a
// one-pass E[a²] - mean² loses digits when the mean is large); the caller normalises
// (a - mean) * rstd in its own next pass
template <typename T> std::pair<T, T> moments(const T* a, int64_t n, T eps) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += a[j];
  const T mean = sum / T(n);
  T sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < n; ++j) sq += (a[j] - mean) * (a[j] - mean);
  return {mean, T(1) / std::sqrt(sq / T(n) + eps)};
}

// ------------------------------------------------------------------------------- forward
template <typename T>
void forward_step(int64_t kind, int64_t B, int64_t H, int64_t t, T eps, Rows<const T> x,
                  Rows<const T> acc, const T* gain_hh, const T* gain_c, const T* bias_c,
                  Rows<const T> hp, Rows<const T> cp, Rows<T> h, Rows<T> c, Rows<T> work,
                  const int64_t* len) {
  const int64_t G = gates_of(kind), W = work_of(kind, H);
  at::parallel_for(0, B, grain(W), [&](int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const T* xb = x[b];
    const T* hpb = hp[b];
    T* hb = h[b];
    T* w = work[b];
    if (!valid(len, b, t)) {  // held
      for (int64_t j = 0; j < H; ++j) hb[j] = hpb[j];
      if (kind == kLnLstm) for (int64_t j = 0; j < H; ++j) c[b][j] = cp[b][j];
      for (int64_t j = 0; j < W; ++j) w[j] = T(0);
      continue;
    }
    const T* ab = acc[b];
    T* ahat = w + G * H;
    const std::pair<T, T> m = moments(ab, G * H, eps);
    const T mean = m.first, rstd = m.second;
    if (kind == kLnLstm) {
      const T* cpb = cp[b];
      T* cb = c[b];
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T a0 = (ab[j] - mean) * rstd, a1 = (ab[H + j] - mean) * rstd;
        T a2 = (ab[2 * H + j] - mean) * rstd, a3 = (ab[3 * H + j] - mean) * rstd;
        T i = sigmoid(xb[j] + gain_hh[j] * a0);
        T f = sigmoid(xb[H + j] + gain_hh[H + j] * a1);
        T g = tanh_(xb[2 * H + j] + gain_hh[2 * H + j] * a2);
        T o = sigmoid(xb[3 * H + j] + gain_hh[3 * H + j] * a3);
        cb[j] = f * cpb[j] + i * g;
        w[j] = i; w[H + j] = f; w[2 * H + j] = g; w[3 * H + j] = o;
        ahat[j] = a0; ahat[H + j] = a1; ahat[2 * H + j] = a2; ahat[3 * H + j] = a3;
      }
      T* nc = w + 8 * H;
      T* tc = w + 9 * H;
      const std::pair<T, T> mc = moments(static_cast<const T*>(cb), H, eps);
      const T mean_c = mc.first, rstd_c = mc.second;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        nc[j] = (cb[j] - mean_c) * rstd_c;
        tc[j] = tanh_(gain_c[j] * nc[j] + (bias_c ? bias_c[j] : T(0)));
        hb[j] = w[3 * H + j] * tc[j];
      }
      w[10 * H] = rstd;
      w[10 * H + 1] = rstd_c;
    } else {
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        T a0 = (ab[j] - mean) * rstd, a1 = (ab[H + j] - mean) * rstd;
        T a2 = (ab[2 * H + j] - mean) * rstd;
        T r = sigmoid(xb[j] + gain_hh[j] * a0);
        T z = sigmoid(xb[H + j] + gain_hh[H + j] * a1);
        T n = tanh_(xb[2 * H + j] + r * gain_hh[2 * H + j] * a2);
        hb[j] = (T(1) - z) * n + z * hpb[j];
        w[j] = r; w[H + j] = z; w[2 * H + j] = n;
        ahat[j] = a0; ahat[H + j] = a1; ahat[2 * H + j] = a2;
      }
      w[6 * H] = rstd;
    }
  }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ln_forward(
    int64_t kind, const at::Tensor& xp_in, const at::Tensor& h0_in,
    const std::optional<at::Tensor>& c0_in, const at::Tensor& w_hh_in,
    const at::Tensor& gain_hh_in, const std::optional<at::Tensor>& gain_c_in,
    const std::optional<at::Tensor>& bias_c_in, double eps,
    const std::optional<at::Tensor>& lengths_in) {
  const int64_t G = gates_of(kind);
  TORCH_CHECK(xp_in.dim() == 3, "rnnkit ln_forward: xp must be (B, T, G*H)");
  at::Tensor xp = xp_in.contiguous(), w_hh = w_hh_in.contiguous(), h0 = h0_in.contiguous();
  at::Tensor gain_hh = gain_hh_in.contiguous();
  const int64_t B = xp.size(0), steps = xp.size(1), H = w_hh.size(1);
  TORCH_CHECK(xp.size(2) == G * H && w_hh.size(0) == G * H && gain_hh.numel() == G * H,
              "rnnkit ln_forward: sizes");
  auto opts = xp.options();
  at::Tensor hs = at::empty({B, steps, H}, opts);
  at::Tensor cs = kind == kLnLstm ? at::empty({B, steps, H}, opts) : at::empty({0}, opts);
  at::Tensor work = at::empty({B, steps, work_of(kind, H)}, opts);
  at::Tensor c0 = kind == kLnLstm ? c0_in->contiguous() : at::Tensor();
  auto gain_c = defined_or_none(gain_c_in, false);
  auto bias_c = defined_or_none(bias_c_in, false);
  TORCH_CHECK(kind != kLnLstm || gain_c.has_value(), "rnnkit ln_forward: the LSTM needs gain_c");
  auto lengths = defined_or_none(lengths_in, true);
  at::Tensor acc = at::empty({B, G * H}, opts);
  at::Tensor w_t = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_ln_forward", [&] {
    using S = scalar_t;
    const S* gc = gain_c ? gain_c->data_ptr<S>() : nullptr;
    const S* bc = bias_c ? bias_c->data_ptr<S>() : nullptr;
    const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    for (int64_t t = 0; t < steps; ++t) {
      at::Tensor h_prev = before(h0, hs, t);
      at::mm_out(acc, h_prev, w_t);
      Rows<const S> cp{nullptr, 0};
      Rows<S> c{nullptr, 0};
      if (kind == kLnLstm) {
        cp = rows<const S>(before(c0, cs, t));
        c = step_rows<S>(cs, t);
      }
      forward_step<S>(kind, B, H, t, S(eps), step_rows<const S>(xp, t), rows<const S>(acc),
                      gain_hh.data_ptr<S>(), gc, bc, rows<const S>(h_prev), cp,
                      step_rows<S>(hs, t), c, step_rows<S>(work, t), lptr);
    }
  });
  return {hs, cs, work};
}

// ------------------------------------------------------------------------------ backward
// One step. dh: gradient reaching h_t (B, H); dc (LSTM): reaching c_t, updated in place to
// the one reaching c_{t-1}. Writes g (step t of dxp: the gates' pre-activation gradients),
// dacc (the gradient of acc = h_{t-1} W_hh^T) and direct (the part of dh_{t-1} not through
// W_hh), and adds this step's share of the gains' gradients to row b of gsum (B, G*H [+ 2H]):
// d gain_hh (G*H), and for the LSTM d gain_c (H), d bias_c (H). Each thread owns its rows.
template <typename T>
void backward_step(int64_t kind, int64_t B, int64_t H, int64_t t, const T* dh, T* dc,
                   Rows<const T> hp, Rows<const T> cp, Rows<const T> work, const T* gain_hh,
                   const T* gain_c, Rows<T> g, Rows<T> dacc, Rows<T> gsum, T* direct,
                   const int64_t* len) {
  const int64_t G = gates_of(kind);
  at::parallel_for(0, B, grain(4 * G * H), [&](int64_t b0, int64_t b1) {
  // per-thread scratch: the gradients reaching the normalised c (H, LSTM) and acc (G*H)
  std::vector<T> scratch((G + 1) * H);
  for (int64_t b = b0; b < b1; ++b) {
    const T* d = dh + b * H;
    T* gb = g[b];
    T* db = dacc[b];
    T* dir = direct + b * H;
    if (!valid(len, b, t)) {  // state held: the gradient passes straight through
      for (int64_t j = 0; j < G * H; ++j) { gb[j] = T(0); db[j] = T(0); }
      for (int64_t j = 0; j < H; ++j) dir[j] = d[j];
      continue;
    }
    const T* w = work[b];
    const T* ahat = w + G * H;
    T* s = scratch.data();
    T* gs = gsum[b];
    // A norm's backward: with s the gradient reaching its normalised output x̂ (gain
    // applied), its input's is rstd * (s - mean(s) - x̂ * mean(s * x̂)); the two means are
    // summed in the loop that makes s, and one more pass writes the result.
    if (kind == kLnLstm) {
      const T* nc = w + 8 * H;
      const T* tc = w + 9 * H;
      const T rstd = w[10 * H], rstd_c = w[10 * H + 1];
      T c1 = 0, c2 = 0;  // the cell norm's two sums
#pragma omp simd reduction(+ : c1, c2)
      for (int64_t j = 0; j < H; ++j) {
        T o = w[3 * H + j];
        T dln = d[j] * o * (T(1) - tc[j] * tc[j]);  // d LN(c; gain_c, bias_c)
        T sc = dln * gain_c[j];                      // d n_c
        s[j] = sc;
        c1 += sc;
        c2 += sc * nc[j];
        gs[4 * H + j] += dln * nc[j];
        gs[5 * H + j] += dln;
        gb[3 * H + j] = d[j] * tc[j] * o * (T(1) - o);
      }
      c1 /= T(H);
      c2 /= T(H);
      T* dcb = dc + b * H;
      const T* cpb = cp[b];
      T* sa = s + H;     // d â (4H)
      T a1 = 0, a2 = 0;  // the recurrent norm's two sums
#pragma omp simd reduction(+ : a1, a2)
      for (int64_t j = 0; j < H; ++j) {
        T i = w[j], f = w[H + j], gg = w[2 * H + j];
        T dcv = dcb[j] + rstd_c * (s[j] - c1 - nc[j] * c2);  // d c_t: carried + the norm's
        T gi = dcv * gg * i * (T(1) - i);
        T gf = dcv * cpb[j] * f * (T(1) - f);
        T gg_ = dcv * i * (T(1) - gg * gg);
        T go = gb[3 * H + j];
        gb[j] = gi; gb[H + j] = gf; gb[2 * H + j] = gg_;
        dcb[j] = dcv * f;
        dir[j] = T(0);
        T s0 = gi * gain_hh[j], s1 = gf * gain_hh[H + j];
        T s2 = gg_ * gain_hh[2 * H + j], s3 = go * gain_hh[3 * H + j];
        sa[j] = s0; sa[H + j] = s1; sa[2 * H + j] = s2; sa[3 * H + j] = s3;
        a1 += s0 + s1 + s2 + s3;
        a2 += s0 * ahat[j] + s1 * ahat[H + j] + s2 * ahat[2 * H + j] + s3 * ahat[3 * H + j];
        gs[j] += gi * ahat[j];
        gs[H + j] += gf * ahat[H + j];
        gs[2 * H + j] += gg_ * ahat[2 * H + j];
        gs[3 * H + j] += go * ahat[3 * H + j];
      }
      a1 /= T(4 * H);
      a2 /= T(4 * H);
#pragma omp simd
      for (int64_t j = 0; j < 4 * H; ++j) db[j] = rstd * (sa[j] - a1 - ahat[j] * a2);
    } else {
      const T rstd = w[6 * H];
      const T* hpb = hp[b];
      T a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
      for (int64_t j = 0; j < H; ++j) {
        T r = w[j], z = w[H + j], n = w[2 * H + j];
        T hn = gain_hh[2 * H + j] * ahat[2 * H + j];
        T dn = d[j] * (T(1) - z) * (T(1) - n * n);
        T dz = d[j] * (hpb[j] - n) * z * (T(1) - z);
        T dr = dn * hn * r * (T(1) - r);
        gb[j] = dr; gb[H + j] = dz; gb[2 * H + j] = dn;
        T s0 = dr * gain_hh[j], s1 = dz * gain_hh[H + j];
        T s2 = dn * r * gain_hh[2 * H + j];  // n reads the norm through r
        s[j] = s0; s[H + j] = s1; s[2 * H + j] = s2;
        a1 += s0 + s1 + s2;
        a2 += s0 * ahat[j] + s1 * ahat[H + j] + s2 * ahat[2 * H + j];
        gs[j] += dr * ahat[j];
        gs[H + j] += dz * ahat[H + j];
        gs[2 * H + j] += dn * r * ahat[2 * H + j];
        dir[j] = d[j] * z;
      }
      a1 /= T(3 * H);
      a2 /= T(3 * H);
#pragma omp simd
      for (int64_t j = 0; j < 3 * H; ++j) db[j] = rstd * (s[j] - a1 - ahat[j] * a2);
    }
  }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
ln_backward(int64_t kind, const at::Tensor& grad_hs, const std::optional<at::Tensor>& grad_cs_in,
            const at::Tensor& h0_in, const std::optional<at::Tensor>& c0_in, const at::Tensor& hs,
            const at::Tensor& cs, const at::Tensor& work, const at::Tensor& w_hh_in,
            const at::Tensor& gain_hh_in, const std::optional<at::Tensor>& gain_c_in,
            const std::optional<at::Tensor>& lengths_in) {
  const int64_t G = gates_of(kind);
  at::Tensor w_hh = w_hh_in.contiguous(), h0 = h0_in.contiguous();
  at::Tensor gain_hh = gain_hh_in.contiguous();
  const int64_t B = hs.size(0), steps = hs.size(1), H = hs.size(2);
  auto opts = hs.options();
  auto lengths = defined_or_none(lengths_in, true);
  auto gain_c = defined_or_none(gain_c_in, false);
  at::Tensor grad_cs;  // any strides: read a step at a time
  if (kind == kLnLstm && grad_cs_in.has_value() && grad_cs_in->defined()) grad_cs = *grad_cs_in;
  at::Tensor c0 = kind == kLnLstm ? c0_in->contiguous() : at::Tensor();
  at::Tensor dg = at::empty({B, steps, G * H}, opts);    // = dxp
  at::Tensor dacc = at::empty({B, steps, G * H}, opts);  // d(h_{t-1} W_hh^T)
  at::Tensor gsum = at::zeros({B, G * H + (kind == kLnLstm ? 2 * H : 0)}, opts);
  at::Tensor dh = at::empty({B, H}, opts);
  at::Tensor carry = at::zeros({B, H}, opts);  // gradient reaching h_t through step t+1
  at::Tensor dc = kind == kLnLstm ? at::zeros({B, H}, opts) : at::empty({0}, opts);
  at::Tensor direct = at::empty({B, H}, opts);
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnnkit_ln_backward", [&] {
    using S = scalar_t;
    const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    const Rows<const S> none{nullptr, 0};
    for (int64_t t = steps - 1; t >= 0; --t) {
      at::add_out(dh, grad_hs.select(1, t), carry);
      if (grad_cs.defined()) dc.add_(grad_cs.select(1, t));
      Rows<const S> hp = rows<const S>(before(h0, hs, t));
      Rows<const S> cp = kind == kLnLstm ? rows<const S>(before(c0, cs, t)) : none;
      backward_step<S>(kind, B, H, t, dh.data_ptr<S>(),
                       kind == kLnLstm ? dc.data_ptr<S>() : nullptr, hp, cp,
                       step_rows<const S>(work, t), gain_hh.data_ptr<S>(),
                       gain_c ? gain_c->data_ptr<S>() : nullptr, step_rows<S>(dg, t),
                       step_rows<S>(dacc, t), rows<S>(gsum), direct.data_ptr<S>(), lptr);
      at::addmm_out(carry, direct, dacc.select(1, t), w_hh);
    }
  });
  // W_hh's gradient: sum over (b, t) of dacc[b, t]^T h_{t-1}[b], as ONE matmul over all
  // B*T rows (h_{t-1} gathered into a (B, T, H) copy), not one per sequence
  at::Tensor h_prev = at::cat({h0.unsqueeze(1), hs.narrow(1, 0, steps - 1)}, 1);
  at::Tensor d_w_hh = at::mm(dacc.view({B * steps, G * H}).t(), h_prev.view({B * steps, H}));
  at::Tensor sums = gsum.sum(0);
  at::Tensor none = at::empty({0}, opts);
  at::Tensor d_gain_hh = sums.narrow(0, 0, G * H);
  at::Tensor d_gain_c = kind == kLnLstm ? sums.narrow(0, G * H, H) : none;
  at::Tensor d_bias_c = kind == kLnLstm ? sums.narrow(0, G * H + H, H) : none;
  return {dg, carry, dc, d_w_hh, d_gain_hh, d_gain_c, d_bias_c};
}

}  // namespace rnnkit_layernorm

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("ln_forward(int kind, Tensor xp, Tensor h0, Tensor? c0, Tensor w_hh, Tensor gain_hh, "
        "Tensor? gain_c, Tensor? bias_c, float eps, Tensor? lengths) -> (Tensor, Tensor, Tensor)");
  m.def("ln_backward(int kind, Tensor grad_hs, Tensor? grad_cs, Tensor h0, Tensor? c0, "
        "Tensor hs, Tensor cs, Tensor work, Tensor w_hh, Tensor gain_hh, Tensor? gain_c, "
        "Tensor? lengths) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("ln_forward", &rnnkit_layernorm::ln_forward);
  m.impl("ln_backward", &rnnkit_layernorm::ln_backward);
}
