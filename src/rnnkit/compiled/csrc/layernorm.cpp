// LayerNorm-LSTM and LayerNorm-GRU (Ba et al. 2016, rnnkit/ln_cells.py) over a whole sequence,
// forward and backward: per step one matmul and a few short loops per batch row.
//
// As in gated.cpp (whose helpers this file uses: kernels.cpp compiles it after gated.cpp), the
// input projection a = W_ih x of every step is one matmul by the caller (functions.py's
// _LayerNorm, into a buffer of the pool), which also does its gradients; its norm, xp = LN(a; gain_ih) + bias_ih, is done here, row by row (ATen's
// layer_norm over all of a, forward and backward, added 6-12 ms to a training step at B 32,
// T 100, H 128-256: BENCHMARKS.md). Per step: acc = h_{t-1} W_hh^T (one matmul), then per row a
// few short loops: normalise the row of a and of acc over their G*H units, apply the gains,
// the gate arithmetic (and, for the LSTM, the norm of c_t before its tanh).
// Backward is written out: per step and row the gates', then the norms' gradients (the
// gains' gradients summed per block of rows as it goes), then dh_{t-1} = d(acc) W_hh; W_hh's gradient
// is one large matmul at the end.
//
// Per (b, t) the forward keeps, in `work`:
//   LSTM: â = (acc - mean) * rstd (4H) | n_c = LN(c) before its gain (H) |
//         tanh(LN(c; gain_c, bias_c)) (H) | rstd of acc | rstd of c | mean, rstd of a
//                                                                             = 6H + 4
//   GRU:  r z n (3H) | â (3H) | rstd of acc | mean, rstd of a                 = 6H + 3
// each row padded to a multiple of 16 values (64 bytes: every row and section aligned).
// The normalised a is recomputed in the backward from a (kept for it anyway), and so are
// the LSTM's gates, from a and â (4H exps per row): at B 64 the forward's time went to
// storing work rows that miss the cache (perf annotate), 10H + 4 values per row before.
// Past a sequence's end (lengths) the state is held and the saved values are zeros.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "cell_math.h"
#include "pool.h"

namespace rnnkit_layernorm {

using namespace rnnkit_math;
using rnnkit_pool::pooled;
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
// where the per-row scalars start in `work` (rstd of acc, [rstd of c,] mean and rstd of a)
int64_t stats_of(int64_t kind, int64_t H) { (void)kind; return 6 * H; }
int64_t work_of(int64_t kind, int64_t H) {
  return (stats_of(kind, H) + (kind == kLnLstm ? 4 : 3) + 15) / 16 * 16;
}
// where â starts in `work`
int64_t ahat_of(int64_t kind, int64_t H) { return kind == kLnLstm ? 0 : 3 * H; }

// the mean of a (n,) and rstd = 1 / sqrt(its biased variance + eps), in ONE pass over a,
// shifted by a[0] (E[(a-k)²] - E[a-k]² with k = a[0], a value of the row itself, so the
// difference does not cancel the way E[a²] - mean² does when the mean is large against the
// spread; two passes cost 3-4 % of a B 64 training step); the caller normalises
// (a - mean) * rstd in its own next pass
template <typename T> inline std::pair<T, T> moments(const T* a, int64_t n, T eps) {
  const T k = a[0];
  T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const T d = a[j] - k;
    s1 += d;
    s2 += d * d;
  }
  const T md = s1 / T(n);
  T var = s2 / T(n) - md * md;
  var = var > T(0) ? var : T(0);
  return {k + md, T(1) / std::sqrt(var + eps)};
}

// Prefetch n values at p (rw 1: about to be written). A step's rows lie T*X values apart in
// (B, T, X) buffers written long before (the backward reads what the forward saved), so each
// row starts with cache misses the hardware prefetcher has no stream to predict; the loops
// ask for the next row while they work on this one.
template <typename T> inline void prefetch_row(const T* p, int64_t n, int rw) {
  const char* c = reinterpret_cast<const char*>(p);
  const int64_t bytes = n * int64_t(sizeof(T));
  if (rw) {
    for (int64_t k = 0; k < bytes; k += 64) __builtin_prefetch(c + k, 1, 3);
  } else {
    for (int64_t k = 0; k < bytes; k += 64) __builtin_prefetch(c + k, 0, 3);
  }
}

// ------------------------------------------------------------------------------- forward
// Per row: the moments of acc; one loop writes â and the pre-activations xp + gain_hh ⊙ â
// (the LSTM's into a per-thread row, the GRU's into its gates' slots of `work`); the
// activations in place; then the state update. Few arrays per loop, all of a row in L1.
template <typename T>
void forward_step(int64_t kind, int64_t B, int64_t H_, int64_t t, T eps, Rows<const T> x,
                  Rows<const T> acc, const T* gain_ih, const T* bias_ih, const T* gain_hh,
                  const T* gain_c, const T* bias_c, Rows<const T> hp, Rows<const T> cp,
                  Rows<T> h, Rows<T> c, Rows<T> work, const int64_t* len) {
  const int64_t G = gates_of(kind), W = work_of(kind, H_), GH = G * H_;
  at::parallel_for(0, B, grain(W), [&](int64_t b0, int64_t b1) {
  // local copies: GCC reloads what the lambda captures by reference after every store
  // (and vectorised gain_hh[j] as a gather)
  const int64_t H = H_, S0 = stats_of(kind, H_);
  const T* const gih = gain_ih;
  const T* const bih = bias_ih;
  const T* const ghh = gain_hh;
  const T* const gc_ = gain_c;
  const T* const bc_ = bias_c;
  std::vector<T> xrow(GH);  // this row's xp = LN(a; gain_ih) + bias_ih
  std::vector<T> gates(kind == kLnLstm ? GH : 0);  // the LSTM's i f g o (not kept)
  const int64_t AH = ahat_of(kind, H_);
  for (int64_t b = b0; b < b1; ++b) {
    const T* xb = xrow.data();
    const T* hpb = hp[b];
    T* hb = h[b];
    T* w = work[b];
    if (b + 1 < b1) {
      prefetch_row(x[b + 1], GH, 0);
      prefetch_row(work[b + 1], W, 1);
    }
    if (!valid(len, b, t)) {  // held
      for (int64_t j = 0; j < H; ++j) hb[j] = hpb[j];
      if (kind == kLnLstm) for (int64_t j = 0; j < H; ++j) c[b][j] = cp[b][j];
      for (int64_t j = 0; j < W; ++j) w[j] = T(0);
      continue;
    }
    {  // the input norm
      const T* ar = x[b];
      T* xr = xrow.data();
      const std::pair<T, T> mx = moments(ar, GH, eps);
      const T mean_x = mx.first, rstd_x = mx.second;
      if (bih) {
#pragma omp simd
        for (int64_t j = 0; j < GH; ++j) xr[j] = gih[j] * ((ar[j] - mean_x) * rstd_x) + bih[j];
      } else {
#pragma omp simd
        for (int64_t j = 0; j < GH; ++j) xr[j] = gih[j] * ((ar[j] - mean_x) * rstd_x);
      }
      w[W - 2] = mean_x;
      w[W - 1] = rstd_x;
    }
    const T* ab = acc[b];
    T* ahat = w + AH;
    const std::pair<T, T> m = moments(ab, GH, eps);
    const T mean = m.first, rstd = m.second;
    // the pre-activations: the LSTM's into `gates`, the GRU's into its slots of `work`; the
    // GRU's n reads its norm through r: only r and z are pre-activations here
    T* pre = kind == kLnLstm ? gates.data() : w;
    const int64_t P = kind == kLnLstm ? GH : 2 * H;
#pragma omp simd
    for (int64_t j = 0; j < P; ++j) {
      const T a = (ab[j] - mean) * rstd;
      ahat[j] = a;
      pre[j] = xb[j] + ghh[j] * a;
    }
    if (kind == kLnLstm) {
      T* gt = gates.data();
      sigmoid_inplace(gt, 2 * H);      // i, f
      tanh_inplace(gt + 2 * H, H);     // g
      sigmoid_inplace(gt + 3 * H, H);  // o
      const T* cpb = cp[b];
      T* cb = c[b];
      const T *i = gt, *f = gt + H, *g = gt + 2 * H, *o = gt + 3 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) cb[j] = f[j] * cpb[j] + i[j] * g[j];
      T* nc = w + 4 * H;
      T* tc = w + 5 * H;
      const std::pair<T, T> mc = moments(static_cast<const T*>(cb), H, eps);
      const T mean_c = mc.first, rstd_c = mc.second;
      if (bc_) {
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T n = (cb[j] - mean_c) * rstd_c;
          nc[j] = n;
          tc[j] = gc_[j] * n + bc_[j];
        }
      } else {
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T n = (cb[j] - mean_c) * rstd_c;
          nc[j] = n;
          tc[j] = gc_[j] * n;
        }
      }
      tanh_inplace(tc, H);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) hb[j] = o[j] * tc[j];
      w[S0] = rstd;
      w[S0 + 1] = rstd_c;
    } else {
      sigmoid_inplace(w, 2 * H);  // r, z
      const T *r = w, *z = w + H;
      T* n = w + 2 * H;
      const T* xn = xb + 2 * H;
      const T* gn = ghh + 2 * H;
      const T* an = ab + 2 * H;
      T* ahn = ahat + 2 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T a = (an[j] - mean) * rstd;
        ahn[j] = a;
        n[j] = xn[j] + r[j] * (gn[j] * a);
      }
      tanh_inplace(n, H);
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) hb[j] = (T(1) - z[j]) * n[j] + z[j] * hpb[j];
      w[S0] = rstd;
    }
  }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ln_forward(
    int64_t kind, const at::Tensor& a_in, const at::Tensor& h0_in,
    const std::optional<at::Tensor>& c0_in, const at::Tensor& w_hh_in,
    const at::Tensor& gain_ih_in, const std::optional<at::Tensor>& bias_ih_in,
    const at::Tensor& gain_hh_in, const std::optional<at::Tensor>& gain_c_in,
    const std::optional<at::Tensor>& bias_c_in, double eps,
    const std::optional<at::Tensor>& lengths_in, const std::optional<at::Tensor>& drop_in) {
  const int64_t G = gates_of(kind);
  TORCH_CHECK(a_in.dim() == 3, "rnnkit ln_forward: a must be (B, T, G*H)");
  at::Tensor xp = a_in.contiguous(), w_hh = w_hh_in.contiguous(), h0 = h0_in.contiguous();
  at::Tensor gain_hh = gain_hh_in.contiguous(), gain_ih = gain_ih_in.contiguous();
  const int64_t B = xp.size(0), steps = xp.size(1), H = w_hh.size(1);
  TORCH_CHECK(xp.size(2) == G * H && w_hh.size(0) == G * H && gain_hh.numel() == G * H &&
              gain_ih.numel() == G * H, "rnnkit ln_forward: sizes");
  auto opts = xp.options();
  at::Tensor hs = pooled({B, steps, H}, opts);
  at::Tensor cs = kind == kLnLstm ? pooled({B, steps, H}, opts) : at::empty({0}, opts);
  at::Tensor work = pooled({B, steps, work_of(kind, H)}, opts);
  at::Tensor c0 = kind == kLnLstm ? c0_in->contiguous() : at::Tensor();
  auto gain_c = defined_or_none(gain_c_in, false);
  auto bias_c = defined_or_none(bias_c_in, false);
  auto bias_ih = defined_or_none(bias_ih_in, false);
  TORCH_CHECK(kind != kLnLstm || gain_c.has_value(), "rnnkit ln_forward: the LSTM needs gain_c");
  auto lengths = defined_or_none(lengths_in, true);
  at::Tensor acc = at::empty({B, G * H}, opts);
  const rnnkit_matmul::StepWeight w(w_hh, B, steps);  // reordered once (step_matmul.h)
  // recurrent dropout: W_hh reads h_{t-1} * m (gated.cpp); the GRU's z * h reads h_{t-1}
  const at::Tensor drop = rnnkit_gated::recurrent_mask(drop_in, B, H);
  at::Tensor hd_buf = drop.defined() ? at::empty({B, H}, opts) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_ln_forward", [&] {
    using S = scalar_t;
    const S* gc = gain_c ? gain_c->data_ptr<S>() : nullptr;
    const S* bc = bias_c ? bias_c->data_ptr<S>() : nullptr;
    const S* bi = bias_ih ? bias_ih->data_ptr<S>() : nullptr;
    const int64_t* lptr = lengths ? lengths->data_ptr<int64_t>() : nullptr;
    for (int64_t t = 0; t < steps; ++t) {
      at::Tensor h_prev = before(h0, hs, t);
      const at::Tensor hd = drop.defined() ? at::mul_out(hd_buf, h_prev, drop) : h_prev;
      const at::Tensor rec = w.times(hd, acc);  // h_{t-1} W_hh^T
      Rows<const S> cp{nullptr, 0};
      Rows<S> c{nullptr, 0};
      if (kind == kLnLstm) {
        cp = rows<const S>(before(c0, cs, t));
        c = step_rows<S>(cs, t);
      }
      forward_step<S>(kind, B, H, t, S(eps), step_rows<const S>(xp, t), rows<const S>(rec),
                      gain_ih.data_ptr<S>(), bi, gain_hh.data_ptr<S>(), gc, bc,
                      rows<const S>(h_prev), cp,
                      step_rows<S>(hs, t), c, step_rows<S>(work, t), lptr);
    }
  });
  return {hs, cs, work};
}

// ------------------------------------------------------------------------------ backward
// One step. dh: gradient reaching h_t (B, H); dc (LSTM): reaching c_t, updated in place to
// the one reaching c_{t-1}. Writes g (step t of dxp: the gates' pre-activation gradients),
// dacc (the gradient of acc = h_{t-1} W_hh^T) and direct (the part of dh_{t-1} not through
// W_hh), and adds this step's share of the gains' gradients to gsum
// (B, G*H [+ 2H] + 2*G*H): d gain_hh (G*H), for the LSTM d gain_c (H) and d bias_c (H), then
// d gain_ih (G*H), d bias_ih (G*H). g ends as the gradient reaching a (through the input
// norm), which functions.py's _LayerNorm takes on to W_ih and x. Each thread owns its rows, and adds the
// gains' gradients into row b0 of gsum (b0 its block's first row).
template <typename T>
void backward_step(int64_t kind, int64_t B, int64_t H_, int64_t t, const T* dh, T* dc,
                   Rows<const T> x, Rows<const T> hp, Rows<const T> cp, Rows<const T> work,
                   const T* gain_ih, const T* bias_ih, const T* gain_hh, const T* gain_c,
                   Rows<T> g, Rows<T> dacc, Rows<T> gsum, T* direct, const int64_t* len) {
  const int64_t G = gates_of(kind);
  at::parallel_for(0, B, grain(4 * G * H_), [&](int64_t b0, int64_t b1) {
  // local copies, as in forward_step
  const int64_t H = H_, GH = G * H_, W = work_of(kind, H_), S0 = stats_of(kind, H_);
  const int64_t IH = GH + (kind == kLnLstm ? 2 * H_ : 0);  // d gain_ih's place in gsum
  const int64_t AH = ahat_of(kind, H_);
  const T* const gih = gain_ih;
  const T* const bih = bias_ih;
  const T* const ghh = gain_hh;
  const T* const gc_ = gain_c;
  // per-thread scratch: the gradient reaching â (G*H); then the one reaching the normalised
  // c (H, LSTM) or, for the GRU, the one reaching ĥ before its gain (3H); then, for the
  // LSTM, its gates i f g o recomputed (4H)
  std::vector<T> scratch(GH + (kind == kLnLstm ? H + GH : GH));
  // the gains' gradients of this block of rows add up in ONE row of gsum (its first row's):
  // one row per batch row was 14H values read and written per row and step, which at B 64,
  // H 256 (900 KB a step) no longer stayed in L2
  T* const gs = gsum[b0];
  for (int64_t b = b0; b < b1; ++b) {
    const T* d = dh + b * H;
    T* gb = g[b];
    T* db = dacc[b];
    T* dir = direct + b * H;
    if (b + 1 < b1) {
      prefetch_row(work[b + 1], W, 0);
      prefetch_row(x[b + 1], GH, 0);
      prefetch_row(g[b + 1], GH, 1);
      prefetch_row(dacc[b + 1], GH, 1);
      if (kind == kLnLstm) prefetch_row(cp[b + 1], H, 0);
      else prefetch_row(hp[b + 1], H, 0);  // only the GRU reads h_{t-1} here
    }
    if (!valid(len, b, t)) {  // state held: the gradient passes straight through
      for (int64_t j = 0; j < GH; ++j) { gb[j] = T(0); db[j] = T(0); }
      for (int64_t j = 0; j < H; ++j) dir[j] = d[j];
      continue;
    }
    const T* w = work[b];
    const T* ahat = w + AH;
    T* sa = scratch.data();  // d â (G*H)
    T* e = sa + GH;          // LSTM: d n_c (H); GRU: d ĥ (3H)
    const T* ar = x[b];
    const T mean_x = w[W - 2], rstd_x = w[W - 1];
    // Few arrays per loop (a loop over a dozen streams ran out of registers and GCC
    // gathered). A norm's backward: with s the gradient reaching its normalised output x̂
    // (gain applied), its input's is rstd * (s - mean(s) - x̂ * mean(s * x̂)).
    const T* gate_grad = gb;  // the gradient reaching gain_hh ⊙ â, per unit
    if (kind == kLnLstm) {
      // the gates again, as the forward made them: LN(a; gain_ih) + bias_ih + gain_hh ⊙ â
      T* gt = e + H;
      if (bih) {
#pragma omp simd
        for (int64_t j = 0; j < GH; ++j) {
          const T xp = gih[j] * ((ar[j] - mean_x) * rstd_x) + bih[j];
          gt[j] = xp + ghh[j] * ahat[j];
        }
      } else {
#pragma omp simd
        for (int64_t j = 0; j < GH; ++j) {
          const T xp = gih[j] * ((ar[j] - mean_x) * rstd_x);
          gt[j] = xp + ghh[j] * ahat[j];
        }
      }
      sigmoid_inplace(gt, 2 * H);      // i, f
      tanh_inplace(gt + 2 * H, H);     // g
      sigmoid_inplace(gt + 3 * H, H);  // o
      const T *i = gt, *f = gt + H, *gg = gt + 2 * H, *o = gt + 3 * H;
      const T* nc = w + 4 * H;
      const T* tc = w + 5 * H;
      const T rstd_c = w[S0 + 1];
      T* dgc = gs + 4 * H;  // d gain_c
      T* dbc = gs + 5 * H;  // d bias_c
      T* go = gb + 3 * H;
      T c1 = 0, c2 = 0;  // the cell norm's two sums
#pragma omp simd reduction(+ : c1, c2)
      for (int64_t j = 0; j < H; ++j) {
        const T ov = o[j], tv = tc[j], dj = d[j];
        const T dln = dj * ov * (T(1) - tv * tv);  // d LN(c; gain_c, bias_c)
        const T sc = dln * gc_[j];              // d n_c
        e[j] = sc;
        c1 += sc;
        c2 += sc * nc[j];
        dgc[j] += dln * nc[j];
        dbc[j] += dln;
        go[j] = dj * tv * ov * (T(1) - ov);
      }
      c1 /= T(H);
      c2 /= T(H);
      T* dcb = dc + b * H;
      const T* cpb = cp[b];
      T *gi = gb, *gf = gb + H, *gg_ = gb + 2 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T dcv = dcb[j] + rstd_c * (e[j] - c1 - nc[j] * c2);  // d c_t: carried + norm's
        const T iv = i[j], fv = f[j], gv = gg[j];
        gi[j] = dcv * gv * iv * (T(1) - iv);
        gf[j] = dcv * cpb[j] * fv * (T(1) - fv);
        gg_[j] = dcv * iv * (T(1) - gv * gv);
        dcb[j] = dcv * fv;
      }
      for (int64_t j = 0; j < H; ++j) dir[j] = T(0);
    } else {
      const T *r = w, *z = w + H, *n = w + 2 * H;
      const T* hpb = hp[b];
      const T* ahn = ahat + 2 * H;
      const T* gn = ghh + 2 * H;
      T *dr = gb, *dz = gb + H, *dn = gb + 2 * H;
      T* en = e + 2 * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T dj = d[j], rv = r[j], zv = z[j], nv = n[j];
        const T dnv = dj * (T(1) - zv) * (T(1) - nv * nv);
        dz[j] = dj * (hpb[j] - nv) * zv * (T(1) - zv);
        dr[j] = dnv * (gn[j] * ahn[j]) * rv * (T(1) - rv);
        dn[j] = dnv;
        en[j] = dnv * rv;  // n reads the norm through r
        dir[j] = dj * zv;
      }
#pragma omp simd
      for (int64_t j = 0; j < 2 * H; ++j) e[j] = gb[j];
      gate_grad = e;
    }
    // the recurrent norm: d gain_hh and the two sums over all G*H units
    T a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
    for (int64_t j = 0; j < GH; ++j) {
      const T q = gate_grad[j], av = ahat[j];
      const T sv = q * ghh[j];
      sa[j] = sv;
      a1 += sv;
      a2 += sv * av;
      gs[j] += q * av;
    }
    a1 /= T(GH);
    a2 /= T(GH);
    const T rstd = w[S0];
#pragma omp simd
    for (int64_t j = 0; j < GH; ++j) db[j] = rstd * (sa[j] - a1 - ahat[j] * a2);
    // the input norm: gb holds d xp; d gain_ih, d bias_ih, then gb becomes d a
    T* dgi = gs + IH;
    T* dbi = gs + IH + GH;
    T x1 = 0, x2 = 0;
#pragma omp simd reduction(+ : x1, x2)
    for (int64_t j = 0; j < GH; ++j) {
      const T q = gb[j], xh = (ar[j] - mean_x) * rstd_x;
      const T sv = q * gih[j];
      sa[j] = sv;
      x1 += sv;
      x2 += sv * xh;
      dgi[j] += q * xh;
      dbi[j] += q;
    }
    x1 /= T(GH);
    x2 /= T(GH);
#pragma omp simd
    for (int64_t j = 0; j < GH; ++j)
      gb[j] = rstd_x * (sa[j] - x1 - ((ar[j] - mean_x) * rstd_x) * x2);
  }
  });
}

std::vector<at::Tensor>
ln_backward(int64_t kind, const at::Tensor& grad_hs, const std::optional<at::Tensor>& grad_cs_in,
            const at::Tensor& a_in, const at::Tensor& h0_in,
            const std::optional<at::Tensor>& c0_in, const at::Tensor& hs, const at::Tensor& cs,
            const at::Tensor& work, const at::Tensor& w_hh_in, const at::Tensor& gain_ih_in,
            const std::optional<at::Tensor>& bias_ih_in, const at::Tensor& gain_hh_in,
            const std::optional<at::Tensor>& gain_c_in,
            const std::optional<at::Tensor>& lengths_in,
            const std::optional<at::Tensor>& drop_in) {
  const int64_t G = gates_of(kind);
  at::Tensor w_hh = w_hh_in.contiguous(), h0 = h0_in.contiguous(), a = a_in.contiguous();
  at::Tensor gain_hh = gain_hh_in.contiguous(), gain_ih = gain_ih_in.contiguous();
  const int64_t B = hs.size(0), steps = hs.size(1), H = hs.size(2);
  auto opts = hs.options();
  auto lengths = defined_or_none(lengths_in, true);
  auto gain_c = defined_or_none(gain_c_in, false);
  auto bias_ih = defined_or_none(bias_ih_in, false);
  at::Tensor grad_cs;  // any strides: read a step at a time
  if (kind == kLnLstm && grad_cs_in.has_value() && grad_cs_in->defined()) grad_cs = *grad_cs_in;
  at::Tensor c0 = kind == kLnLstm ? c0_in->contiguous() : at::Tensor();
  at::Tensor dg = pooled({B, steps, G * H}, opts);    // = d a
  at::Tensor dacc = pooled({B, steps, G * H}, opts);  // d(h_{t-1} W_hh^T)
  const int64_t IH = G * H + (kind == kLnLstm ? 2 * H : 0);  // d gain_ih's place in gsum
  at::Tensor gsum = at::zeros({B, IH + 2 * G * H}, opts);
  at::Tensor dh = at::empty({B, H}, opts);
  at::Tensor carry = at::zeros({B, H}, opts);  // gradient reaching h_t through step t+1
  at::Tensor dc = kind == kLnLstm ? at::zeros({B, H}, opts) : at::empty({0}, opts);
  at::Tensor direct = at::empty({B, H}, opts);
  const rnnkit_matmul::StepWeight w_back(w_hh.t(), B, steps);  // dacc W_hh, reordered once
  const at::Tensor drop = rnnkit_gated::recurrent_mask(drop_in, B, H);
  at::Tensor through = drop.defined() ? at::empty({B, H}, opts) : at::Tensor();
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
                       kind == kLnLstm ? dc.data_ptr<S>() : nullptr,
                       step_rows<const S>(a, t), hp, cp, step_rows<const S>(work, t),
                       gain_ih.data_ptr<S>(), bias_ih ? bias_ih->data_ptr<S>() : nullptr,
                       gain_hh.data_ptr<S>(),
                       gain_c ? gain_c->data_ptr<S>() : nullptr, step_rows<S>(dg, t),
                       step_rows<S>(dacc, t), rows<S>(gsum), direct.data_ptr<S>(), lptr);
      if (drop.defined())  // through what W_hh read, h_{t-1} * m
        at::addcmul_out(carry, direct, w_back.times(dacc.select(1, t), through), drop);
      else
        w_back.add_times(carry, direct, dacc.select(1, t));
    }
  });
  // W_hh's gradient: sum over (b, t) of dacc[b, t]^T h_{t-1}[b], as ONE matmul over all
  // B*T rows (h_{t-1} gathered into a pooled (B, T, H) copy), not one per sequence
  at::Tensor d_w_hh = at::zeros({G * H, H}, opts);
  rnnkit_gated::add_state_weight_grad(d_w_hh, dacc.view({B * steps, G * H}), h0, hs, drop);
  at::Tensor sums = gsum.sum(0);
  at::Tensor none = at::empty({0}, opts);
  at::Tensor d_gain_hh = sums.narrow(0, 0, G * H);
  at::Tensor d_gain_c = kind == kLnLstm ? sums.narrow(0, G * H, H) : none;
  at::Tensor d_bias_c = kind == kLnLstm ? sums.narrow(0, G * H + H, H) : none;
  at::Tensor d_gain_ih = sums.narrow(0, IH, G * H);
  at::Tensor d_bias_ih = sums.narrow(0, IH + G * H, G * H);
  return {dg, carry, dc, d_w_hh, d_gain_hh, d_gain_c, d_bias_c, d_gain_ih, d_bias_ih};
}

}  // namespace rnnkit_layernorm

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("ln_forward(int kind, Tensor a, Tensor h0, Tensor? c0, Tensor w_hh, Tensor gain_ih, "
        "Tensor? bias_ih, Tensor gain_hh, Tensor? gain_c, Tensor? bias_c, float eps, "
        "Tensor? lengths, Tensor? drop=None) -> (Tensor, Tensor, Tensor)");
  m.def("ln_backward(int kind, Tensor grad_hs, Tensor? grad_cs, Tensor a, Tensor h0, "
        "Tensor? c0, Tensor hs, Tensor cs, Tensor work, Tensor w_hh, Tensor gain_ih, "
        "Tensor? bias_ih, Tensor gain_hh, Tensor? gain_c, Tensor? lengths, Tensor? drop=None) "
        "-> Tensor[]");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("ln_forward", &rnnkit_layernorm::ln_forward);
  m.impl("ln_backward", &rnnkit_layernorm::ln_backward);
}
